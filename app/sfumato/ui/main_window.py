"""The main window, the composition root: it makes the session and the parts, and wires them.

Canvas in the middle, toolbox on the left, Generate and Layers on the right, results under the
canvas, menus on top. Each part binds to the Qt-free :class:`CanvasSession` and gets what it
needs passed in here; the parts never import each other. What the menus do and when each entry
applies is the action table in :meth:`MainWindow._menus`. The document's lifecycle (open, save,
drops, autosave, closing) is the :class:`FileController`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QPointF, QProcess, Qt, QTimer, QUrl
from PySide6.QtGui import QCloseEvent, QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QProgressBar,
    QToolBar,
    QWidget,
)

from sfumato.cpu_backend import CpuBackend, openvino_installed
from sfumato.document.autosave import AutosaveWriter
from sfumato.document.brush import BrushSettings
from sfumato.document.document import Document
from sfumato.document.layers import LayerKind
from sfumato.errors import UserFacingError
from sfumato.generation.requests import STRONG_VARIATION, SUBTLE_VARIATION
from sfumato.paths import log_dir
from sfumato.qt_bridge.work import BackgroundWork
from sfumato.session.autosave import SessionAutosave
from sfumato.session.canvas_session import CanvasSession
from sfumato.session.enablement import Needs
from sfumato.session.notices import Source
from sfumato.settings import Settings, save_settings
from sfumato.ui.actions import SEPARATOR, Action, Menu, Recent, Submenu, WindowActions
from sfumato.ui.backend.monitor import BackendMonitor
from sfumato.ui.backend.status import BackendField
from sfumato.ui.canvas.tool_options import BrushOptionsBar, tool_actions
from sfumato.ui.canvas.view import CanvasView
from sfumato.ui.common.notices import StatusNotices
from sfumato.ui.files.controller import FileController
from sfumato.ui.generate.controller import GenerationController
from sfumato.ui.layers.panel import LayersPanel

if TYPE_CHECKING:
    from sfumato.model_store import ModelManager
    from sfumato.ui.backend.dialog import BackendDialog
    from sfumato.ui.models.services import ModelServices

log = logging.getLogger(__name__)

BACKEND_PROBE_MS = 1000  # after the window is up: the probe runs subprocesses and imports the store
MASK_ACTIONS = (("from_selection", "Mask from &Selection"), ("invert", "&Invert Mask"),
                ("grow", "&Grow Mask"), ("shrink", "S&hrink Mask"), ("feather", "&Feather Mask"),
                ("clear", "&Clear Mask"))


def _dock(title: str, name: str, widget: QWidget, parent: QMainWindow,
          features: QDockWidget.DockWidgetFeature) -> QDockWidget:
    dock = QDockWidget(title, parent)
    dock.setObjectName(name)
    dock.setWidget(widget)
    dock.setFeatures(features)
    return dock


class MainWindow(QMainWindow):
    """Sfumato's window around one painting session (``session``)."""

    def __init__(self, settings: Settings, autosave: AutosaveWriter | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setObjectName("mainWindow")
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.session = CanvasSession(self._brush_from_settings(), int(settings.history_budget_mb) * 2**20)
        session = self.session
        self._model_services: ModelServices | None = None
        self._backend_dialog: BackendDialog | None = None

        self.tasks = BackgroundWork(self)
        self.tasks.busy_changed.connect(session.busy.set)
        self.canvas = CanvasView(session)
        self.setCentralWidget(self.canvas)
        self.autosave = SessionAutosave(session, autosave)
        self.files = FileController(session, settings, self.autosave, self.tasks, self,
                                    self.canvas.view_center_point)

        self.layers_panel = LayersPanel(session)
        movable = QDockWidget.DockWidgetFeature.DockWidgetMovable
        self.layers_dock = _dock("Layers", "layersDock", self.layers_panel, self,
                                 movable | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.layers_dock)

        self.tool_actions = tool_actions(session, self)
        self.toolbox = QToolBar("Tools", self)
        self.toolbox.setObjectName("toolbox")
        self.toolbox.setMovable(False)
        self.toolbox.setOrientation(Qt.Orientation.Vertical)
        for action in self.tool_actions.values():
            self.toolbox.addAction(action)
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, self.toolbox)
        self.options_bar = BrushOptionsBar(session, self)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.options_bar)

        self.status_notices = StatusNotices(session.notices, inline={Source.GENERATE})
        """The status bar's notices: every source's but the Generate panel's (it has its own bar)."""
        self.statusBar().addWidget(self.status_notices, 1)
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

        self.generation = GenerationController(session, settings, self)
        self.generate_dock = _dock("Generate", "generateDock", self.generation.column, self,
                                   movable)  # no menu brings it back
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.generate_dock)
        self.splitDockWidget(self.generate_dock, self.layers_dock, Qt.Orientation.Vertical)
        self._docks_split = False  # the Generate/Layers split is made on first show (real heights)
        self.results_dock = _dock("Results", "resultsDock", self.generation.strip, self,
                                  movable)  # Discard closes it
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.results_dock)  # under the canvas
        self.results_dock.hide()

        self.backend = BackendMonitor(self.generation.service, self)
        self.backend.runtime_missing.connect(self.show_backend)
        self.backend_field = BackendField(self.backend)
        self.backend_field.clicked.connect(self.show_backend)
        self.statusBar().addPermanentWidget(self.backend_field)
        QTimer.singleShot(BACKEND_PROBE_MS, self.backend, self.backend.probe)

        self.menu_actions = WindowActions(self, session, self._menus())
        self.menu_actions.add_named({f"tool_{tool.value}": a for tool, a in self.tool_actions.items()})
        layer_list = self.layers_panel.list  # its context menu: the Layer menu's entries for one layer
        layer_list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        for name in ("reuse_parameters", "duplicate_layer", "delete_layer"):
            layer_list.addAction(self.menu_actions.by_name[name])
        self.generation.service.set_force_float32(settings.force_float32)
        self.generation.service.set_cpu_backend(settings.cpu_backend)
        self.files.recent_changed.connect(self.menu_actions.refresh_recent)
        self.files.task_progress.connect(self._show_task_progress)

        self.canvas.view_changed.connect(self._show_zoom)
        self.canvas.cursor_moved.connect(self._show_cursor)
        self.canvas.files_dropped.connect(self.files.open_dropped)
        session.busy.changed.connect(self._show_busy)
        session.results.changed.connect(lambda results: self.results_dock.setVisible(results is not None))
        session.title.changed.connect(lambda _title: self._show_title())
        session.saved.connect(self._show_title)
        self._doc: Document | None = None
        session.document.bind(self._follow_document)

        self.resize(1400, 900)
        if settings.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(settings.window_geometry.encode("ascii")))
        if settings.window_state:
            state = QByteArray.fromBase64(settings.window_state.encode("ascii"))
            self._docks_split = self.restoreState(state)

    # ------------------------------------------------------------ the table
    def _menus(self) -> list[Menu]:
        """Every menu entry: what it does, its keys, and what it needs to apply."""
        files, session, canvas, gen = self.files, self.session, self.canvas, self.generation
        layer_commands = self.layers_panel.commands
        doc, idle = Needs.DOCUMENT, Needs.IDLE
        return [
            Menu("&File", [
                Action("new", "&New…", files.new_document, ("Ctrl+N",), idle),
                Action("open", "&Open…", files.open_dialog, ("Ctrl+O",), idle),
                Recent(lambda: self.settings.recent_files, files.open_path, files.forget_recent),
                SEPARATOR,
                Action("save", "&Save", lambda: files.save(), ("Ctrl+S",), doc),
                Action("save_as", "Save &As…", lambda: files.save_as(), ("Ctrl+Shift+S",), doc),
                SEPARATOR,
                Action("import", "&Import Images as Layers…", files.import_dialog, ("Ctrl+I",), doc),
                Action("export", "&Export PNG/JPEG/WebP…", files.export_dialog, ("Ctrl+Shift+E",), doc),
                Action("reuse_image", "&Reuse Parameters From Image…", gen.reuse_dialog),
                SEPARATOR,
                Action("quit", "&Quit", self.close, ("Ctrl+Q",), idle),
            ]),
            Menu("&Edit", [
                Action("undo", "&Undo", lambda: self._edit(lambda d: d.undo(), while_drawing=False),
                       ("Ctrl+Z",), doc | Needs.UNDO),
                Action("redo", "&Redo", lambda: self._edit(lambda d: d.redo(), while_drawing=False),
                       ("Ctrl+Shift+Z", "Ctrl+Y"), doc | Needs.REDO),
                SEPARATOR,
                Action("paste", "&Paste Image as Layer", files.paste, ("Ctrl+V",), idle),
                Action("clear", "C&lear Selected Pixels", lambda: self._edit(lambda d: d.delete_selected()),
                       ("Delete",), doc),
                SEPARATOR,
                Action("brush_bigger", "Brush &Bigger", lambda: session.step_brush_size(+1), ("]",)),
                Action("brush_smaller", "Brush &Smaller", lambda: session.step_brush_size(-1), ("[",)),
            ]),
            Menu("&Select", [
                Action("select_all", "Select &All",
                       lambda: self._select(lambda s: s.select_all(), "Select all"), ("Ctrl+A",), doc),
                Action("deselect", "&Deselect", lambda: self._select(lambda s: s.clear(), "Deselect"),
                       ("Ctrl+D",), doc),
                Action("invert_selection", "&Invert Selection",
                       lambda: self._select(lambda s: s.invert(), "Invert selection"), ("Ctrl+Shift+I",),
                       doc),
            ]),
            Menu("&Layer", [
                Action("new_layer", "New &Paint Layer",
                       lambda: self._edit(lambda d: d.add_layer(LayerKind.RASTER)), ("Ctrl+Shift+N",), doc),
                Action("new_mask", "New &Mask Layer",
                       lambda: self._edit(lambda d: d.add_layer(LayerKind.MASK)), ("Ctrl+Shift+M",), doc),
                Action("duplicate_layer", "&Duplicate Layer", layer_commands["layer_duplicate"], ("Ctrl+J",),
                       doc | Needs.LAYER),
                Action("delete_layer", "De&lete Layer", layer_commands["layer_delete"], (),
                       doc | Needs.LAYER),
                Action("reuse_parameters", "&Reuse Parameters", gen.reuse_layer, (),
                       doc | Needs.LAYER | Needs.PARAMETERS),
                SEPARATOR,
                Action("layer_up", "Move Layer &Up", layer_commands["layer_up"], ("Ctrl+]",),
                       doc | Needs.LAYER),
                Action("layer_down", "Move Layer D&own", layer_commands["layer_down"], ("Ctrl+[",),
                       doc | Needs.LAYER),
                SEPARATOR,
                Submenu("M&ask", [
                    Action(f"mask_{name}", text, layer_commands[f"mask_{name}"], (),
                           doc if name == "from_selection" else doc | Needs.MASK)
                    for name, text in MASK_ACTIONS]),
            ]),
            Menu("&Tools", list(self.tool_actions.values())),
            Menu("&View", [
                Action("zoom_in", "Zoom &In", lambda: canvas.zoom_step(+1),
                       ("Ctrl++", "Ctrl+=", "+", "=")),
                Action("zoom_out", "Zoom &Out", lambda: canvas.zoom_step(-1), ("Ctrl+-", "-")),
                Action("fit", "&Fit to Window", canvas.fit_to_view, ("Ctrl+0",)),
                Action("actual_size", "&Actual Pixels (100 %)", canvas.zoom_actual_size, ("Ctrl+1",)),
                SEPARATOR,
                self.layers_dock.toggleViewAction(),
                self.options_bar.toggleViewAction(),
                self.toolbox.toggleViewAction(),
            ]),
            Menu("&Models", [
                Action("model_manager", "Model &Manager…", lambda: self.model_services().show_manager()),
                SEPARATOR,
                Action("force_float32", "Compute in &Float32 (Slower)", checkable=True,
                       checked=self.settings.force_float32, toggle=self._force_float32),
                Submenu("&CPU Backend", [self._cpu_backend_action(backend) for backend in CpuBackend]),
            ]),
            Menu("&Generate", [
                Action("generate", "Generate", lambda: gen.generate(), ("Ctrl+Return",)),
                Action("variations_subtle", "Subtle &Variations", lambda: gen.generate(SUBTLE_VARIATION),
                       ("Ctrl+Shift+Return",)),
                Action("variations_strong", "&Strong Variations", lambda: gen.generate(STRONG_VARIATION)),
                Action("cancel_generation", "Cancel Generation", gen.cancel_running, ("Esc",), Needs.RUNNING),
                SEPARATOR,
                Action("previous_result", "&Previous Result", lambda: gen.step_result(-1), ("Alt+Left",),
                       Needs.RESULTS),
                Action("next_result", "&Next Result", lambda: gen.step_result(+1), ("Alt+Right",),
                       Needs.RESULTS),
                Action("apply_result", "&Apply Result as Layer", gen.apply_current, ("Ctrl+Shift+A",),
                       Needs.RESULTS),
                Action("discard_results", "&Discard Results", gen.discard, (), Needs.RESULTS),
            ]),
            Menu("&Help", [
                Action("shortcuts", "&Keyboard Shortcuts", lambda: self.menu_actions.show_shortcuts(),
                       ("F1",)),
                Action("backend", "Processing &Backend…", self.show_backend),
                Action("log_folder", "Open &Log Folder",
                       lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_dir())))),
                Action("about", "&About Sfumato", lambda: self.menu_actions.show_about()),
            ]),
        ]

    def _edit(self, call: Callable[[Document], object], *, while_drawing: bool = True) -> None:
        """Run a menu edit on the document (undo and redo wait for a stroke to end)."""
        doc = self.session.doc
        if doc is None or self.session.busy.value:
            return
        if not while_drawing and self.session.gesture_active.value:
            return
        try:
            call(doc)
        except UserFacingError as exc:
            self.session.notices.report(exc, Source.CANVAS)

    def _select(self, change: Callable[..., None], label: str) -> None:
        self._edit(lambda d: d.change_selection(change, label))

    def _force_float32(self, forced: bool) -> None:
        """Models › Compute in Float32: kept in the settings, used from the next job on (the
        status bar then shows the dtype the model runs in), and by the Model Manager's plans."""
        self.settings.force_float32 = forced
        self.generation.service.set_force_float32(forced)
        self.model_services().set_force_float32(forced)

    def _cpu_backend_action(self, backend: CpuBackend) -> Action:
        """Models › CPU Backend › one choice (OpenVINO only where the package is installed)."""
        texts = {CpuBackend.AUTO: "&Automatic (OpenVINO When Faster)", CpuBackend.TORCH: "&PyTorch",
                 CpuBackend.OPENVINO: "&OpenVINO"}

        def choose(checked: bool) -> None:
            if checked:
                self.settings.cpu_backend = backend.value
                self.generation.service.set_cpu_backend(backend.value)

        missing = backend is CpuBackend.OPENVINO and not openvino_installed()
        return Action(f"cpu_backend_{backend.value}", texts[backend], checkable=True,
                      checked=self.settings.cpu_backend == backend.value, toggle=choose,
                      group="cpu_backend", unavailable="not installed" if missing else "")

    # -------------------------------------------------------------- services
    def model_services(self, make_manager: Callable[[], ModelManager] | None = None) -> ModelServices:
        """The window's model services, made on the first call (``make_manager`` applies then);
        the model store loads only then."""
        if self._model_services is None:
            from sfumato.ui.models.services import ModelServices

            self._model_services = ModelServices(
                self, self.settings, lambda: self.backend.active.source == "none", self.show_backend,
                make_manager)
            self._model_services.models_changed.connect(self.generation.refresh_models)
        return self._model_services

    def show_backend(self) -> None:
        """Open (or raise) Help › Processing Backend (not once the window has closed: a job that
        found no runtime may report just then, and the dialog would keep the app from quitting)."""
        if not self.isVisible():
            return
        from sfumato.ui.backend.dialog import show_backend_dialog  # loads the model store

        self._backend_dialog = show_backend_dialog(
            self._backend_dialog, self.backend, lambda: self.model_services().tasks, self.restart, self)

    def restart(self) -> None:
        """Close (after the unsaved-changes prompt) and start Sfumato again, e.g. for a new runtime."""
        self.files.confirm_discard(self._restart_now)

    def _restart_now(self) -> None:
        from sfumato.ui.backend.runtime_install import relaunch_command

        self.files.close_now()
        if self.isVisible():
            return  # a file is still being written: the status bar says so
        program, args = relaunch_command()
        if not QProcess.startDetached(program, args):
            log.error("could not start %s %s again", program, args)

    # ------------------------------------------------------------ the display
    def _brush_from_settings(self) -> BrushSettings:
        s = self.settings
        try:
            return BrushSettings(size=s.brush_size, hardness=s.brush_hardness, opacity=s.brush_opacity)
        except ValueError:
            return BrushSettings()

    def _show_busy(self, busy: bool) -> None:
        self.canvas.setEnabled(not busy)
        self.layers_panel.setEnabled(not busy)
        self.task_bar.setRange(0, 0)  # a busy bar until the task counts its steps
        self.task_bar.setVisible(busy)
        if busy:
            QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        else:
            QApplication.restoreOverrideCursor()

    def _show_task_progress(self, done: int, total: int) -> None:
        self.task_bar.setRange(0, max(1, total))
        self.task_bar.setValue(done)

    def _follow_document(self, doc: Document | None) -> None:
        if self._doc is not None:
            self._doc.events.history_changed.disconnect(self._show_title)
            self._doc.events.size_changed.disconnect(self._show_size)
        self._doc = doc
        if doc is not None:
            doc.events.history_changed.connect(self._show_title)
            doc.events.size_changed.connect(self._show_size)
        self._show_size()
        self._show_title()
        if doc is not None:
            self.canvas.setFocus()

    def _show_size(self) -> None:
        doc = self.session.doc
        self._size_label.setText(f"{doc.width} × {doc.height} px" if doc is not None else "")

    def _show_title(self) -> None:
        doc = self.session.doc
        if doc is None:
            self.setWindowTitle("Sfumato")
        else:
            self.setWindowTitle(f"{self.session.title.value}[*] — Sfumato")
            self.setWindowModified(doc.modified)

    def _show_zoom(self, zoom: float) -> None:
        if self.session.doc is None:
            self._zoom_label.setText("")
            return
        percent = zoom * 100
        self._zoom_label.setText(f"{percent:.0f} %" if percent >= 10 else f"{percent:.1f} %")

    def _show_cursor(self, point: QPointF | None) -> None:
        doc = self.session.doc
        if point is None or doc is None or not (0 <= point.x() < doc.width and 0 <= point.y() < doc.height):
            self._cursor_label.setText("")
        else:
            self._cursor_label.setText(f"{int(point.x())}, {int(point.y())}")

    # --------------------------------------------------------------- closing
    def showEvent(self, event: QShowEvent) -> None:
        """On first show without a saved layout: the Generate panel gets its own height (as much
        of it as the screen allows), the layers the rest."""
        super().showEvent(event)
        if not self._docks_split:
            self._docks_split = True
            both = self.generate_dock.height() + self.layers_dock.height()
            panel = min(self.generate_dock.sizeHint().height(), max(both - 240, both // 2))
            self.resizeDocks([self.generate_dock, self.layers_dock], [panel, max(both - panel, 1)],
                             Qt.Orientation.Vertical)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.files.ready_to_close():
            event.ignore()
            return
        self.canvas.shutdown()
        self.files.shutdown()
        self.generation.shutdown()
        self._store_settings()
        event.accept()

    def _store_settings(self) -> None:
        s = self.settings
        brush = self.session.brush.value
        s.brush_size, s.brush_hardness, s.brush_opacity = brush.size, brush.hardness, brush.opacity
        s.window_geometry = bytes(self.saveGeometry().toBase64().data()).decode("ascii")
        s.window_state = bytes(self.saveState().toBase64().data()).decode("ascii")
        try:
            save_settings(s)
        except (OSError, UserFacingError):
            log.exception("could not save the settings")
