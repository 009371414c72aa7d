"""The window's actions, declared in one table: name, text, keys, what each does and what it needs.

:func:`build_menus` turns a table of :class:`Menu` rows into the menu bar; each
:class:`Action` says what it needs (:class:`~sfumato.session.enablement.Needs`: a document open,
no file being read or written, a mask layer active, results waiting, …) and
:class:`WindowActions` enables every action from the session's state whenever that changes,
instead of lists of widgets to enable and disable. The window (the composition root) writes the
table, since only it knows every part an action reaches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from sfumato.document.document import Document
from sfumato.session.canvas_session import CanvasSession
from sfumato.session.enablement import Needs, conditions, enabled
from sfumato.ui.common.questions import show_about, show_reading


@dataclass(frozen=True)
class Action:
    """One menu action. ``run()`` does it; a ``checkable`` action is ``toggle(checked)``ed
    instead, starting as ``checked``. Checkable actions of one ``group`` are exclusive (a radio
    choice). ``unavailable`` says why it cannot be chosen on this machine: it is shown after the
    text and the action stays disabled."""

    name: str
    text: str
    run: Callable[[], object] | None = None
    keys: tuple[str, ...] = ()
    needs: Needs = Needs.NOTHING
    checkable: bool = False
    checked: bool = False
    toggle: Callable[[bool], object] | None = None
    group: str = ""
    unavailable: str = ""


@dataclass(frozen=True)
class Submenu:
    """A menu inside a menu."""

    title: str
    items: Sequence[Item]


@dataclass(frozen=True)
class Recent:
    """File › Open Recent, filled from ``files()`` (the settings' list): ``open_path(path)``
    opens one, ``forget()`` empties the list."""

    files: Callable[[], list[str]]
    open_path: Callable[[Path], object]
    forget: Callable[[], object]


SEPARATOR = None
Item = Action | Submenu | Recent | QAction | None
"""A table row: an :class:`Action`, a submenu, the recent files, an action made elsewhere (a
tool, a dock's toggle) or ``SEPARATOR``."""


@dataclass(frozen=True)
class Menu:
    """A menu of the menu bar."""

    title: str
    items: Sequence[Item] = field(default_factory=list)


class WindowActions:
    """The menu bar of ``window`` built from ``menus``, enabled from ``session``.

    ``by_name`` holds every action by its table name (tools as ``tool_<name>``), for the
    shortcut list and for tests.
    """

    def __init__(self, window: QMainWindow, session: CanvasSession, menus: Sequence[Menu]) -> None:
        self._w = window
        self._session = session
        self.by_name: dict[str, QAction] = {}
        self._needs: dict[str, Needs] = {}
        self._groups: dict[str, QActionGroup] = {}
        self._unavailable: set[str] = set()
        self.recent_menu: QMenu | None = None
        """File › Open Recent (the table's :class:`Recent` row)."""
        self._recent: Recent | None = None
        self._doc: Document | None = None
        bar = window.menuBar()
        for menu in menus:
            self._fill(bar.addMenu(menu.title), menu.items)
        for prop in (session.busy, session.results, session.generating):
            prop.changed.connect(lambda _value: self.refresh())
        session.document.bind(self._follow_document)
        self.refresh_recent()

    # ------------------------------------------------------------ building
    def _fill(self, menu: QMenu, items: Sequence[Item]) -> None:
        for item in items:
            if item is SEPARATOR:
                menu.addSeparator()
            elif isinstance(item, Submenu):
                self._fill(menu.addMenu(item.title), item.items)
            elif isinstance(item, Recent):
                self.recent_menu, self._recent = menu.addMenu("Open &Recent"), item
            elif isinstance(item, QAction):
                menu.addAction(item)
            else:
                menu.addAction(self._make(item))

    def _make(self, spec: Action) -> QAction:
        text = f"{spec.text} ({spec.unavailable})" if spec.unavailable else spec.text
        action = QAction(text, self._w)
        if spec.group:
            group = self._groups.get(spec.group)
            if group is None:
                group = self._groups[spec.group] = QActionGroup(self._w)
            group.addAction(action)
        if spec.unavailable:
            self._unavailable.add(spec.name)
        if spec.keys:
            action.setShortcuts([QKeySequence(k) for k in spec.keys])
        if spec.checkable:
            action.setCheckable(True)
            action.setChecked(spec.checked)
            toggle = spec.toggle
            assert toggle is not None, spec.name
            action.triggered.connect(lambda checked: toggle(checked))
        else:
            run = spec.run
            assert run is not None, spec.name
            action.triggered.connect(lambda _=False: run())
        self.by_name[spec.name] = action
        self._needs[spec.name] = spec.needs
        return action

    def add_named(self, actions: dict[str, QAction]) -> None:
        """List actions made elsewhere (the tools) under their names too."""
        self.by_name.update(actions)

    # ------------------------------------------------------------ enabling
    def _follow_document(self, doc: Document | None) -> None:
        if self._doc is not None:
            self._doc.events.history_changed.disconnect(self.refresh)
            self._doc.events.layers_changed.disconnect(self.refresh)
        self._doc = doc
        if doc is not None:
            doc.events.history_changed.connect(self.refresh)
            doc.events.layers_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Enable each action whose needs hold, and label Undo/Redo with their step."""
        held = conditions(self._session)
        for name, needs in self._needs.items():
            self.by_name[name].setEnabled(enabled(needs, held) and name not in self._unavailable)
        doc = self._session.doc
        for name, text in (("undo", "&Undo"), ("redo", "&Redo")):
            action = self.by_name.get(name)
            if action is None:
                continue
            label = None if doc is None else (doc.history.undo_label if name == "undo"
                                              else doc.history.redo_label)
            action.setText(f"{text} {label}" if label else text)

    def refresh_recent(self) -> None:
        """Rebuild File › Open Recent from the settings."""
        menu, recent = self.recent_menu, self._recent
        if menu is None or recent is None:
            return
        menu.clear()
        files = recent.files()
        for i, text in enumerate(files):
            action = menu.addAction(f"&{i + 1}  {Path(text).name}", self._opener(recent, Path(text)))
            action.setToolTip(text)
        if files:
            menu.addSeparator()
            menu.addAction("Clear List", recent.forget)
        menu.setEnabled(bool(files))

    @staticmethod
    def _opener(recent: Recent, path: Path) -> Callable[[], None]:
        def open_it() -> None:
            recent.open_path(path)

        return open_it

    # ---------------------------------------------------------------- help
    def show_shortcuts(self) -> None:
        """Help › Keyboard Shortcuts: every action with keys, and the pointer gestures."""
        rows = []
        for action in self.by_name.values():
            keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())
            if keys:
                rows.append(f"<tr><td>{action.text().replace('&', '')}</td><td><b>{keys}</b></td></tr>")
        for what, keys in (("Pan", "Space + drag, middle button, wheel"),
                           ("Zoom around the pointer", "Ctrl + wheel"),
                           ("Add / subtract / intersect selection", "Shift / Alt / both")):
            rows.append(f"<tr><td>{what}</td><td><b>{keys}</b></td></tr>")
        show_reading(self._w, "Keyboard shortcuts", "<table cellspacing=6>" + "".join(rows) + "</table>")

    def show_about(self) -> None:
        """Help › About Sfumato."""
        show_about(self._w, "About Sfumato",
                   "<b>Sfumato</b><br>Paint with layers and masks, and let Stable Diffusion "
                   "inpaint, outpaint and vary your work.")
