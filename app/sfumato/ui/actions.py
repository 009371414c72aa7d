"""The menu bar and keyboard shortcuts of the main window (File, Edit, Select, Layer, View, Models,
Help)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox

from sfumato.document.layers import LayerKind
from sfumato.errors import UserFacingError
from sfumato.paths import log_dir

if TYPE_CHECKING:
    from sfumato.ui.main_window import MainWindow

class WindowActions:
    """Builds the menus of ``window`` and keeps their enabled state and labels current."""

    def __init__(self, window: MainWindow) -> None:
        self._w = window
        self.by_name: dict[str, QAction] = {}
        self._needs_doc: list[QAction] = []
        bar = window.menuBar()
        w = window

        file = bar.addMenu("&File")
        self._add(file, "new", "&New…", w.new_document, "Ctrl+N")
        self._add(file, "open", "&Open…", w.open_dialog, "Ctrl+O")
        self.recent_menu = file.addMenu("Open &Recent")
        file.addSeparator()
        self._add(file, "save", "&Save", lambda: w.save(), "Ctrl+S", doc=True)
        self._add(file, "save_as", "Save &As…", lambda: w.save_as(), "Ctrl+Shift+S", doc=True)
        file.addSeparator()
        self._add(file, "import", "&Import Images as Layers…", w.import_dialog, "Ctrl+I", doc=True)
        self._add(file, "export", "&Export PNG/JPEG/WebP…", w.export_dialog, "Ctrl+Shift+E", doc=True)
        file.addSeparator()
        self._add(file, "quit", "&Quit", w.close, "Ctrl+Q")

        edit = bar.addMenu("&Edit")
        self._add(edit, "undo", "&Undo", self._undo, ["Ctrl+Z"], doc=True)
        self._add(edit, "redo", "&Redo", self._redo, ["Ctrl+Shift+Z", "Ctrl+Y"], doc=True)
        edit.addSeparator()
        self._add(edit, "paste", "&Paste Image as Layer", w.paste, "Ctrl+V")
        self._add(edit, "clear", "C&lear Selected Pixels", self._clear, "Delete", doc=True)
        edit.addSeparator()
        self._add(edit, "brush_bigger", "Brush &Bigger", lambda: w.tools.step_size(+1), "]")
        self._add(edit, "brush_smaller", "Brush &Smaller", lambda: w.tools.step_size(-1), "[")

        select = bar.addMenu("&Select")
        self._add(select, "select_all", "Select &All",
                  lambda: self._select(lambda s: s.select_all(), "Select all"), "Ctrl+A", doc=True)
        self._add(select, "deselect", "&Deselect",
                  lambda: self._select(lambda s: s.clear(), "Deselect"), "Ctrl+D", doc=True)
        self._add(select, "invert_selection", "&Invert Selection",
                  lambda: self._select(lambda s: s.invert(), "Invert selection"), "Ctrl+Shift+I", doc=True)

        layer = bar.addMenu("&Layer")
        panel = w.layers_panel
        self._add(layer, "new_layer", "New &Paint Layer",
                  lambda: self._doc_call(lambda d: d.add_layer(LayerKind.RASTER)), "Ctrl+Shift+N", doc=True)
        self._add(layer, "new_mask", "New &Mask Layer",
                  lambda: self._doc_call(lambda d: d.add_layer(LayerKind.MASK)), "Ctrl+Shift+M", doc=True)
        self._add(layer, "duplicate_layer", "&Duplicate Layer", panel.buttons["layer_duplicate"].click,
                  "Ctrl+J", doc=True)
        self._add(layer, "delete_layer", "De&lete Layer", panel.buttons["layer_delete"].click, doc=True)
        layer.addSeparator()
        self._add(layer, "layer_up", "Move Layer &Up", panel.buttons["layer_up"].click, "Ctrl+]", doc=True)
        self._add(layer, "layer_down", "Move Layer D&own", panel.buttons["layer_down"].click, "Ctrl+[",
                  doc=True)
        layer.addSeparator()
        mask = layer.addMenu("M&ask")
        for name, text in (("from_selection", "Mask from &Selection"), ("invert", "&Invert Mask"),
                           ("grow", "&Grow Mask"), ("shrink", "S&hrink Mask"),
                           ("feather", "&Feather Mask"), ("clear", "&Clear Mask")):
            self._add(mask, f"mask_{name}", text, panel.mask_buttons[name].click, doc=True)

        tools = bar.addMenu("&Tools")
        for tool, action in w.tool_actions.items():
            tools.addAction(action)
            self.by_name[f"tool_{tool.value}"] = action

        view = bar.addMenu("&View")
        canvas = w.canvas
        self._add(view, "zoom_in", "Zoom &In", lambda: canvas.zoom_step(+1), ["Ctrl++", "Ctrl+=", "+", "="])
        self._add(view, "zoom_out", "Zoom &Out", lambda: canvas.zoom_step(-1), ["Ctrl+-", "-"])
        self._add(view, "fit", "&Fit to Window", canvas.fit_to_view, "Ctrl+0")
        self._add(view, "actual_size", "&Actual Pixels (100 %)", canvas.zoom_actual_size, "Ctrl+1")
        view.addSeparator()
        view.addAction(w.layers_dock.toggleViewAction())
        view.addAction(w.options_bar.toggleViewAction())
        view.addAction(w.toolbox.toggleViewAction())

        models = bar.addMenu("&Models")
        self._add(models, "model_manager", "Model &Manager…", self._model_manager)
        models.addSeparator()
        float32 = self._add(models, "force_float32", "Compute in &Float32 (Slower)", self._force_float32)
        float32.setCheckable(True)
        float32.setChecked(w.settings.force_float32)
        w.generation.service.set_force_float32(w.settings.force_float32)

        help_menu = bar.addMenu("&Help")
        self._add(help_menu, "shortcuts", "&Keyboard Shortcuts", self._show_shortcuts, "F1")
        self._add(help_menu, "backend", "Processing &Backend…", w.show_backend)
        self._add(help_menu, "log_folder", "Open &Log Folder",
                  lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_dir()))))
        self._add(help_menu, "about", "&About Sfumato", self._about)
        self.refresh_recent()

    # ------------------------------------------------------------ building
    def _add(self, menu: QMenu, name: str, text: str, slot: Callable[[], object],
             shortcut: str | list[str] | None = None, *, doc: bool = False) -> QAction:
        action = QAction(text, self._w)
        if shortcut:
            keys = [shortcut] if isinstance(shortcut, str) else shortcut
            action.setShortcuts([QKeySequence(k) for k in keys])
        action.triggered.connect(lambda _=False: slot())
        menu.addAction(action)
        self.by_name[name] = action
        if doc:
            self._needs_doc.append(action)
        return action

    def refresh(self) -> None:
        """Enable what applies to the current document and label Undo/Redo with their step."""
        w = self._w
        doc = w.doc
        usable = doc is not None and not w.busy
        for action in self._needs_doc:
            action.setEnabled(usable)
        for name in ("new", "open", "paste", "quit"):
            self.by_name[name].setEnabled(not w.busy)
        undo, redo = self.by_name["undo"], self.by_name["redo"]
        undo_label = doc.history.undo_label if doc is not None else None
        redo_label = doc.history.redo_label if doc is not None else None
        undo.setText(f"&Undo {undo_label}" if undo_label else "&Undo")
        redo.setText(f"&Redo {redo_label}" if redo_label else "&Redo")
        undo.setEnabled(usable and undo_label is not None)
        redo.setEnabled(usable and redo_label is not None)

    def refresh_recent(self) -> None:
        """Rebuild File > Open Recent from the settings."""
        menu = self.recent_menu
        menu.clear()
        recent = self._w.settings.recent_files
        for i, text in enumerate(recent):
            path = Path(text)
            action = menu.addAction(f"&{i + 1}  {path.name}", lambda p=path: self._w.open_path(p))
            action.setToolTip(text)
        if recent:
            menu.addSeparator()
            menu.addAction("Clear List", self._w.forget_recent)
        menu.setEnabled(bool(recent))

    # ------------------------------------------------------------- handlers
    def _doc_call(self, call: Callable[..., object]) -> None:
        w = self._w
        if w.doc is None or w.busy:
            return
        try:
            call(w.doc)
        except UserFacingError as exc:
            w.show_error(exc)

    def _undo(self) -> None:
        if not self._w.canvas.gesture_active:
            self._doc_call(lambda d: d.undo())

    def _redo(self) -> None:
        if not self._w.canvas.gesture_active:
            self._doc_call(lambda d: d.redo())

    def _clear(self) -> None:
        self._doc_call(lambda d: d.delete_selected())

    def _select(self, change: Callable[..., None], label: str) -> None:
        self._doc_call(lambda d: d.change_selection(change, label))

    def _force_float32(self) -> None:
        """Models › Compute in Float32: kept in the settings, used from the next job on (the
        status bar then shows the dtype the model runs in)."""
        forced = self.by_name["force_float32"].isChecked()
        self._w.settings.force_float32 = forced
        self._w.generation.service.set_force_float32(forced)

    def _model_manager(self) -> None:
        from sfumato.ui.model_services import services_for  # the model store loads on first use

        services_for(self._w).show_manager()

    def _show_shortcuts(self) -> None:
        rows = []
        for action in self.by_name.values():
            keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())
            if keys:
                rows.append(f"<tr><td>{action.text().replace('&', '')}</td><td><b>{keys}</b></td></tr>")
        for what, keys in (("Pan", "Space + drag, middle button, wheel"),
                           ("Zoom around the pointer", "Ctrl + wheel"),
                           ("Add / subtract / intersect selection", "Shift / Alt / both")):
            rows.append(f"<tr><td>{what}</td><td><b>{keys}</b></td></tr>")
        box = QMessageBox(self._w)
        box.setWindowTitle("Keyboard shortcuts")
        box.setText("<table cellspacing=6>" + "".join(rows) + "</table>")
        box.exec()

    def _about(self) -> None:
        QMessageBox.about(self._w, "About Sfumato",
                          "<b>Sfumato</b><br>Paint with layers and masks, and let Stable Diffusion "
                          "inpaint, outpaint and vary your work.")
