"""The main window: canvas in the middle, toolbox on the left, layers on the right, menus on top.

It owns the open document's lifecycle: new, open, import, paste, drops, save, export, the
unsaved-changes prompt, recent files and autosave. Disk work runs in the background; while it
runs the document is read-only so what is written is what is shown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QByteArray, QPointF, QProcess, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QToolBar,
    QWidget,
)

from sfumato.document.autosave import (
    AutosaveWriter,
    RecoveryEntry,
    Snapshot,
    document_id,
    take_snapshot,
)
from sfumato.document.brush import BrushSettings
from sfumato.document.document import Document, new_document
from sfumato.document.image_io import (
    SUPPORTED_IMPORT_SUFFIXES,
    check_image_size,
    export_image,
    load_image,
)
from sfumato.document.ora import load_ora, save_ora
from sfumato.errors import UserFacingError
from sfumato.qt_bridge.images import qimage_to_rgba
from sfumato.settings import Settings, save_settings
from sfumato.ui import error_dialog
from sfumato.ui.actions import WindowActions
from sfumato.ui.backend_monitor import BackendMonitor
from sfumato.ui.backend_status import BackendField
from sfumato.ui.background import BackgroundTasks
from sfumato.ui.canvas_view import CanvasView, dropped_files
from sfumato.ui.generation_controller import GenerationController, export_metadata
from sfumato.ui.image_import import (
    Arrival,
    add_layers,
    decode_images,
    image_document,
    image_name,
    placed_layers,
    prepare_arrival,
)
from sfumato.ui.layers_panel import LayersPanel
from sfumato.ui.new_document_dialog import NewDocumentDialog
from sfumato.ui.tool_options import BrushOptionsBar, tool_actions
from sfumato.ui.tool_state import ToolState

log = logging.getLogger(__name__)

MAX_RECENT = 10
SESSION_END_WAIT_S = 20  # how long ending the session waits for the last autosave to be written
BACKEND_PROBE_MS = 1000  # after the window is up: the probe runs subprocesses and imports the store
OPEN_FILTER = "Images and OpenRaster ({})".format(
    " ".join(f"*{s}" for s in (".ora", *SUPPORTED_IMPORT_SUFFIXES)))
IMPORT_FILTER = "Images ({})".format(" ".join(f"*{s}" for s in SUPPORTED_IMPORT_SUFFIXES))
ORA_FILTER = "OpenRaster (*.ora)"
EXPORT_FILTERS = {"PNG image (*.png)": ".png", "JPEG image (*.jpg *.jpeg)": ".jpg",
                  "WebP image (*.webp)": ".webp"}


def _name_of(path: Path) -> str:
    return path.stem or path.name


class MainWindow(QMainWindow):
    """Sfumato's window around one document at a time.

    ``autosave_failed(message)`` may be emitted from any thread (the autosave writer's); the
    message then shows in the status bar. ``task_progress(done, total)`` may be emitted from a
    background task's thread: the status bar's progress bar (shown while a task runs) counts it.
    """

    autosave_failed = Signal(str)
    task_progress = Signal(int, int)

    def __init__(self, settings: Settings, autosave: AutosaveWriter | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.doc: Document | None = None
        self._title = "Untitled"
        self._autosave = autosave
        self._autosaved_revision: int | None = None
        self._last_snapshot: Snapshot | None = None
        self._close_confirmed = False
        self._session_ending = False
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        self.tools = ToolState(self._brush_from_settings())
        self._when_idle: list[Callable[[], None]] = []
        self.tasks = BackgroundTasks(self)
        self.tasks.busy_changed.connect(self._busy_changed)

        self.canvas = CanvasView(self.tools)
        self.setCentralWidget(self.canvas)
        self.canvas.view_changed.connect(self._show_zoom)
        self.canvas.cursor_moved.connect(self._show_cursor)
        self.canvas.files_dropped.connect(self.open_dropped)
        self.canvas.message.connect(lambda text: self.statusBar().showMessage(text, 5000))

        self.layers_panel = LayersPanel(self.show_error)
        self.layers_dock = QDockWidget("Layers", self)
        self.layers_dock.setObjectName("layersDock")
        self.layers_dock.setWidget(self.layers_panel)
        self.layers_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                                     | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.layers_dock)

        self.tool_actions = tool_actions(self.tools, self)
        self.toolbox = QToolBar("Tools", self)
        self.toolbox.setObjectName("toolbox")
        self.toolbox.setMovable(False)
        self.toolbox.setOrientation(Qt.Orientation.Vertical)
        for action in self.tool_actions.values():
            self.toolbox.addAction(action)
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, self.toolbox)
        self.options_bar = BrushOptionsBar(self.tools, self)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.options_bar)

        self._cursor_label = QLabel()
        self._size_label = QLabel()
        self._zoom_label = QLabel()
        for label in (self._cursor_label, self._size_label, self._zoom_label):
            label.setObjectName("statusField")
            self.statusBar().addPermanentWidget(label)
        self.task_bar = QProgressBar()
        self.task_bar.setObjectName("taskProgress")
        self.task_bar.setMaximumWidth(160)
        self.task_bar.setTextVisible(False)
        self.task_bar.hide()
        self.statusBar().addPermanentWidget(self.task_bar)
        self.task_progress.connect(self._show_task_progress)

        self.generation = GenerationController(self)
        self.backend = BackendMonitor(self.generation.service, self)
        self.backend.runtime_missing.connect(self.show_backend)
        self.backend_field = BackendField(self.backend)
        self.backend_field.clicked.connect(self.show_backend)
        self.statusBar().addPermanentWidget(self.backend_field)
        QTimer.singleShot(BACKEND_PROBE_MS, self.backend, self.backend.probe)
        self.menu_actions = WindowActions(self)
        self.generation.add_menu(self.menuBar(), self.menu_actions.by_name)
        self.autosave_failed.connect(
            lambda text: self.statusBar().showMessage(f"Autosave failed: {text}", 15000))
        self._autosave_timer = QTimer(self)
        self._autosave_timer.timeout.connect(self.autosave_now)
        self._autosave_timer.start(max(5, int(settings.autosave_interval_s)) * 1000)

        self.resize(1400, 900)
        if settings.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(settings.window_geometry.encode("ascii")))
        if settings.window_state:
            self.restoreState(QByteArray.fromBase64(settings.window_state.encode("ascii")))
        self.set_document(None)

    # ---------------------------------------------------------------- helpers
    def _brush_from_settings(self) -> BrushSettings:
        s = self.settings
        try:
            return BrushSettings(size=s.brush_size, hardness=s.brush_hardness, opacity=s.brush_opacity)
        except ValueError:
            return BrushSettings()

    def show_error(self, error: BaseException | str) -> None:
        """Tell the user about ``error`` (short message, details on request; traceback to the log)."""
        error_dialog.show_error(self, error)

    def show_backend(self) -> None:
        """Open (or raise) Help › Processing Backend (not once the window has closed: a job that
        found no runtime may report just then, and the dialog would keep the app from quitting)."""
        if not self.isVisible():
            return
        from sfumato.ui.backend_dialog import show_backend_dialog  # loads the model store

        show_backend_dialog(self)

    def restart(self) -> None:
        """Close (after the unsaved-changes prompt) and start Sfumato again, e.g. for a new runtime."""
        self.confirm_discard(self._restart_now)

    def _restart_now(self) -> None:
        from sfumato.ui.runtime_install import relaunch_command

        self._close_now()
        if self.isVisible():
            return  # a file is still being written: the status bar says so
        program, args = relaunch_command()
        if not QProcess.startDetached(program, args):
            log.error("could not start %s %s again", program, args)

    @property
    def busy(self) -> bool:
        """True while a file is being read or written."""
        return self.tasks.busy

    def _busy_changed(self, busy: bool) -> None:
        self.canvas.setEnabled(not busy)
        self.layers_panel.setEnabled(not busy)
        self.task_bar.setRange(0, 0)  # a busy bar until the task counts its steps
        self.task_bar.setVisible(busy)
        if not busy and self._when_idle:
            QTimer.singleShot(0, self._run_when_idle)
        if busy:
            QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        else:
            QApplication.restoreOverrideCursor()
            self.statusBar().clearMessage()
        self.menu_actions.refresh()

    def when_idle(self, action: Callable[[], None]) -> None:
        """Run ``action`` now, or once the file being read or written is done."""
        if self.busy:
            self._when_idle.append(action)
        else:
            action()

    def _run_when_idle(self) -> None:
        while self._when_idle and not self.busy:
            self._when_idle.pop(0)()

    def _show_task_progress(self, done: int, total: int) -> None:
        self.task_bar.setRange(0, max(1, total))
        self.task_bar.setValue(done)

    # --------------------------------------------------------------- document
    def set_document(self, doc: Document | None, title: str | None = None) -> None:
        """Show ``doc`` in the window (replacing the current one without asking)."""
        if self.doc is not None:
            self.doc.events.history_changed.disconnect(self._history_changed)
            self.doc.events.size_changed.disconnect(self._show_size)
            self._drop_autosave()
        self.doc = doc
        # a document that arrives modified (recovered) is on no disk yet: autosave it soon
        self._autosaved_revision = doc.revision if doc is not None and not doc.modified else None
        if doc is not None:
            self._title = title or (_name_of(doc.path) if doc.path else "Untitled")
            doc.events.history_changed.connect(self._history_changed)
            doc.events.size_changed.connect(self._show_size)
            doc.history.set_budget(int(self.settings.history_budget_mb) * 2**20)
        self.canvas.set_document(doc)
        self.generation.set_document(doc)
        self.layers_panel.set_document(doc)
        self._show_size()
        self._history_changed()
        if doc is not None:
            self.canvas.setFocus()

    def _show_size(self) -> None:
        doc = self.doc
        self._size_label.setText(f"{doc.width} × {doc.height} px" if doc is not None else "")

    def _history_changed(self) -> None:
        doc = self.doc
        if doc is None:
            self.setWindowTitle("Sfumato")
        else:
            self.setWindowTitle(f"{self._title}[*] — Sfumato")
            self.setWindowModified(doc.modified)
        self.menu_actions.refresh()

    def _show_zoom(self, zoom: float) -> None:
        if self.doc is None:
            self._zoom_label.setText("")
            return
        percent = zoom * 100
        self._zoom_label.setText(f"{percent:.0f} %" if percent >= 10 else f"{percent:.1f} %")

    def _show_cursor(self, point: QPointF | None) -> None:
        doc = self.doc
        if point is None or doc is None or not (0 <= point.x() < doc.width and 0 <= point.y() < doc.height):
            self._cursor_label.setText("")
        else:
            self._cursor_label.setText(f"{int(point.x())}, {int(point.y())}")

    # ------------------------------------------------------- unsaved changes
    def confirm_discard(self, then: Callable[[], None]) -> None:
        """Run ``then`` once the user has saved or discarded unsaved changes (or there are none)."""
        doc = self.doc
        if doc is None or not doc.modified:
            then()
            return
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to “{self._title}” first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Discard:
            then()
        elif answer == QMessageBox.StandardButton.Save:
            self.save(on_saved=then)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.busy and not self._session_ending:  # ending the session waits for the task below
            self.statusBar().showMessage("Please wait until the file is written.", 4000)
            event.ignore()
            return
        if not self._close_confirmed and self.doc is not None and self.doc.modified:
            event.ignore()
            self.confirm_discard(self._close_now)
            return
        self._autosave_timer.stop()
        self.canvas.shutdown()
        self.tasks.shutdown()
        self.generation.shutdown()
        self._store_settings()
        if not self._session_ending:
            self._drop_autosave()  # a clean exit leaves nothing to recover
        event.accept()

    def _close_now(self) -> None:
        self._close_confirmed = True
        self.close()

    def _store_settings(self) -> None:
        s = self.settings
        brush = self.tools.brush
        s.brush_size, s.brush_hardness, s.brush_opacity = brush.size, brush.hardness, brush.opacity
        s.window_geometry = bytes(self.saveGeometry().toBase64().data()).decode("ascii")
        s.window_state = bytes(self.saveState().toBase64().data()).decode("ascii")
        try:
            save_settings(s)
        except (OSError, UserFacingError):
            log.exception("could not save the settings")

    # ---------------------------------------------------------------- new/open
    def new_document(self) -> None:
        """Ask for a size and start a new document (after the unsaved-changes prompt)."""
        self.confirm_discard(self._ask_new_document)

    def _ask_new_document(self) -> None:
        dialog = NewDocumentDialog(self)
        if dialog.exec() != NewDocumentDialog.DialogCode.Accepted:
            return
        width, height = dialog.size
        try:
            doc = new_document(width, height, background=dialog.background)
        except UserFacingError as exc:
            self.show_error(exc)
            return
        self.set_document(doc, "Untitled")

    def open_dialog(self) -> None:
        """File > Open: choose an OpenRaster file or an image."""
        self.confirm_discard(self._ask_open)

    def _ask_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open", self._start_dir(), OPEN_FILTER)
        if path:
            self._open_now(Path(path))

    def open_path(self, path: Path) -> None:
        """Open ``path`` (.ora or an image), asking about unsaved changes first."""
        self.confirm_discard(lambda: self._open_now(path))

    def _open_now(self, path: Path) -> None:
        if path.suffix.lower() == ".ora":
            self._run(f"Opening {path.name}…", lambda: load_ora(path),
                      lambda doc: self._opened(doc, path))
        else:
            self._run(f"Opening {path.name}…", lambda: image_document(load_image(path), _name_of(path)),
                      lambda doc: self._opened(doc, path))

    def _opened(self, doc: Document, path: Path) -> None:
        self.set_document(doc, _name_of(path))
        self.remember_recent(path)

    def recover(self, entry: RecoveryEntry) -> None:
        """Open the autosave ``entry`` (read in the background, the status bar saying so).

        Once it is open it moves into this session's autosave and the old one goes; with
        autosave off the old one stays until the next start. If it cannot be read, the error
        shows and the window keeps what it had.
        """
        def opened(doc: Document) -> None:
            self.set_document(doc, entry.title)
            if self.autosave_enabled:
                self.autosave_now()  # into this session's folder, before the old autosave goes
                entry.discard()

        self._run(f"Recovering “{entry.title}”…", entry.load, opened)

    # ------------------------------------------------------ import/paste/drop
    def import_dialog(self) -> None:
        """File > Import: add image files as layers in the middle of the view."""
        paths, _ = QFileDialog.getOpenFileNames(self, "Import images as layers", self._start_dir(),
                                                IMPORT_FILTER)
        if paths:
            self.import_images([Path(p) for p in paths], self.canvas.view_center_point())

    def open_dropped(self, paths: Sequence[Path], point: QPointF | None) -> None:
        """Files dropped: an .ora opens; images become layers centred at ``point``.

        Without a document the first image opens as a document of its own size. Files handed
        over while a file is read or written (a recovery at start-up) open once it is done.
        """
        if self.busy:
            self.when_idle(lambda: self.open_dropped(paths, point))
            return
        ora = [p for p in paths if p.suffix.lower() == ".ora"]
        images = [p for p in paths if p.suffix.lower() != ".ora"]
        if ora:
            self.open_path(ora[0])
            if len(ora) > 1:
                self.statusBar().showMessage("Only one OpenRaster file can be opened at a time.", 5000)
            return
        if images:
            self.import_images(images, point)

    def import_images(self, paths: Sequence[Path], point: QPointF | None) -> None:
        """Decode ``paths`` in the background (counting files in the status bar) and add each as
        a layer centred at ``point``; the layers are made there too."""
        paths = list(paths)
        canvas, centre = self._landing_place(point)

        def work() -> Arrival:
            decoded = decode_images(paths, self.task_progress.emit)
            return prepare_arrival([(image_name(path), rgba) for path, rgba in decoded], canvas, centre)

        self._run("Reading images…", work, self._arrived)

    def _landing_place(
            self, point: QPointF | None) -> tuple[tuple[int, int] | None, tuple[float, float] | None]:
        """The open document's size and where pictures arriving at ``point`` are centred."""
        doc = self.doc
        if doc is None:
            return None, None
        centre = point or self.canvas.view_center_point() or QPointF(doc.width / 2, doc.height / 2)
        return (doc.width, doc.height), (centre.x(), centre.y())

    def _arrived(self, arrival: Arrival) -> None:
        """Pictures made ready in the background join the window: a document, then layers."""
        images, layers = arrival.images, arrival.layers
        if arrival.document is not None:
            if self.doc is None:
                self.set_document(arrival.document, arrival.title)
            else:  # a document was opened meanwhile: the first picture joins it too
                images = [(arrival.title, arrival.document.layers[0].pixels), *images]
                layers = []
        doc = self.doc
        if doc is not None and images:
            if (doc.width, doc.height) != arrival.canvas or len(layers) != len(images):
                layers = placed_layers(images, (doc.width, doc.height), (doc.width / 2, doc.height / 2))
            add_layers(doc, layers)
        errors = arrival.errors
        if errors:
            more = f" ({len(errors) - 1} more could not be read either.)" if len(errors) > 1 else ""
            self.show_error(UserFacingError(f"{errors[0]}{more}", errors[0].details))

    def paste(self) -> None:
        """Edit > Paste: a clipboard image (or copied image files) as a new layer."""
        clipboard = QGuiApplication.clipboard()
        mime = clipboard.mimeData()
        if mime is not None and mime.hasImage():
            image = clipboard.image()
            if not image.isNull():
                try:
                    check_image_size(image.width(), image.height(), "The pasted image")
                    rgba = qimage_to_rgba(image)
                    canvas, centre = self._landing_place(self.canvas.view_center_point())
                    self._run("Pasting…", lambda: prepare_arrival([("Pasted image", rgba)], canvas, centre),
                              self._arrived)
                except UserFacingError as exc:
                    self.show_error(exc)
                return
        if mime is not None and mime.hasUrls():
            paths = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
            if paths:
                self.open_dropped(paths, self.canvas.view_center_point())
                return
        self.statusBar().showMessage("The clipboard holds no image.", 4000)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_files(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = dropped_files(event)
        if paths:
            event.acceptProposedAction()
            self.open_dropped(paths, self.canvas.view_center_point())

    # ---------------------------------------------------------- save/export
    def save(self, on_saved: Callable[[], None] | None = None) -> None:
        """File > Save: write the document as OpenRaster to its file (asking for one if new)."""
        doc = self.doc
        if doc is None:
            return
        if doc.path is None or doc.path.suffix.lower() != ".ora":
            self.save_as(on_saved)
            return
        self._save_to(doc.path, on_saved)

    def save_as(self, on_saved: Callable[[], None] | None = None) -> None:
        """File > Save As: choose an .ora file name and save there."""
        if self.doc is None:
            return
        suggested = str(Path(self._start_dir()) / f"{self._title}.ora")
        path, _ = QFileDialog.getSaveFileName(self, "Save as OpenRaster", suggested, ORA_FILTER)
        if not path:
            return
        target = Path(path)
        if target.suffix.lower() != ".ora":
            target = target.with_name(target.name + ".ora")
        self._save_to(target, on_saved)

    def _save_to(self, path: Path, on_saved: Callable[[], None] | None) -> None:
        doc = self.doc
        if doc is None:
            return

        def done(_result: object) -> None:
            self._drop_autosave()
            self._title = _name_of(path)
            self.remember_recent(path)
            self._history_changed()
            self.statusBar().showMessage(f"Saved {path.name}", 4000)
            if on_saved is not None:
                on_saved()

        self._run(f"Saving {path.name}…", lambda: save_ora(doc, path), done)

    def export_dialog(self) -> None:
        """File > Export: write the visible image as PNG, JPEG or WebP."""
        doc = self.doc
        if doc is None:
            return
        suggested = str(Path(self._start_dir()) / f"{self._title}.png")
        path, chosen = QFileDialog.getSaveFileName(self, "Export image", suggested,
                                                   ";;".join(EXPORT_FILTERS))
        if not path:
            return
        target = Path(path)
        if target.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
            target = target.with_name(target.name + EXPORT_FILTERS.get(chosen, ".png"))
        metadata = export_metadata(doc)  # the parameters of the result layer on top
        self._run(f"Exporting {target.name}…", lambda: export_image(doc, target, metadata),
                  lambda _r: self.statusBar().showMessage(f"Exported {target.name}", 4000))

    def _run(self, message: str, work: Callable[[], object], on_done: Callable[[object], None]) -> None:
        """Do ``work`` in the background, then ``on_done(result)`` here; errors are shown."""
        self.statusBar().showMessage(message)

        def done(result: object) -> None:
            try:
                on_done(result)
            except UserFacingError as exc:
                self.show_error(exc)

        self.tasks.run(work, done, self.show_error)

    def _start_dir(self) -> str:
        if self.doc is not None and self.doc.path is not None:
            return str(self.doc.path.parent)
        recent = self.settings.recent_files
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    # ---------------------------------------------------------- recent files
    def remember_recent(self, path: Path) -> None:
        """Put ``path`` first in File > Open Recent."""
        text = str(path.resolve())
        recent = [p for p in self.settings.recent_files if p != text]
        self.settings.recent_files = [text, *recent][:MAX_RECENT]
        self.menu_actions.refresh_recent()

    def forget_recent(self) -> None:
        """Empty File > Open Recent."""
        self.settings.recent_files = []
        self.menu_actions.refresh_recent()

    # -------------------------------------------------------------- autosave
    def autosave_now(self, urgent: bool = False) -> None:
        """Hand a snapshot of a changed document to the autosave writer (cheap on this thread).

        It waits while a file is read or written or a stroke is under way, unless ``urgent``
        (the session is ending: what is there now is all there will be).
        """
        doc = self.doc
        if doc is None or self._autosave is None:
            return
        if not urgent and (self.busy or self.canvas.gesture_active):
            return
        if not doc.modified or doc.revision == self._autosaved_revision:
            return
        self._autosaved_revision = doc.revision
        previous = self._last_snapshot
        if previous is not None and previous.doc_id != document_id(doc):
            previous = None
        # unchanged layers share the previous snapshot's copies: only what changed is copied
        self._last_snapshot = take_snapshot(doc, self._title, previous)
        self._autosave.submit(self._last_snapshot)

    def commit_session(self) -> None:
        """The system asks for unsaved work to be kept (logout, SIGTERM): autosave it now and
        wait until it is on disk, so the next start offers it."""
        self.autosave_now(urgent=True)
        if self._autosave is not None and not self._autosave.flush(SESSION_END_WAIT_S):
            log.error("the last autosave was not written within %d s", SESSION_END_WAIT_S)

    def end_session(self) -> None:
        """Close for the system without asking, keeping unsaved work as an autosave (SIGTERM).

        A file being written is finished first; the autosave stays for the next start.
        """
        self.commit_session()
        self._session_ending = True
        self._close_confirmed = True
        self.close()

    @property
    def autosave_enabled(self) -> bool:
        """Whether this window has an autosave writer (autosave may be off: see the start notice)."""
        return self._autosave is not None

    @property
    def session_ended(self) -> bool:
        """True once :meth:`end_session` closed the window (its autosave is to be kept)."""
        return self._session_ending

    def _drop_autosave(self) -> None:
        """Forget the current document's autosave (it was saved, closed or replaced)."""
        if self.doc is not None and self._autosave is not None:
            self._autosave.remove(document_id(self.doc))
            self._autosaved_revision = self.doc.revision
