"""The window's models: one :class:`ModelManager` and one :class:`ModelTasks` shared by the
model manager dialog, the first-run wizard and the backend dialog, made on first use and stopped
when the app quits. The window makes one :class:`ModelServices` when it is first needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Signal
from PySide6.QtWidgets import QWidget

from sfumato.errors import UserFacingError
from sfumato.model_store import ModelManager, RunPlan, starter_set
from sfumato.qt_bridge.model_tasks import ModelTasks
from sfumato.session.model_state import StoreState, read_state
from sfumato.settings import Settings, save_settings
from sfumato.ui.models.first_run_wizard import FirstRunWizard
from sfumato.ui.models.manager_dialog import IMPORT_TASK, ModelManagerDialog

log = logging.getLogger(__name__)

FIRST_RUN_TASK = "_first_run"


class ModelServices(QObject):
    """Owns the window's model manager, background tasks, dialog and wizard.

    ``window`` is the dialogs' parent; ``runtime_missing()`` says whether no PyTorch runtime was
    found, and ``set_up_runtime()`` opens the backend dialog (the wizard offers it then).
    ``models_changed()`` is emitted after an install, repair, removal or import finished
    (whichever window started it), so a model picker can list the installed models again.
    """

    models_changed = Signal()

    def __init__(self, window: QWidget, settings: Settings, runtime_missing: Callable[[], bool],
                 set_up_runtime: Callable[[], None],
                 make_manager: Callable[[], ModelManager] | None = None) -> None:
        super().__init__(window)
        self.setObjectName("modelServices")
        self.window = window
        self.settings = settings
        self._runtime_missing = runtime_missing
        self._set_up_runtime = set_up_runtime
        self._make_manager = make_manager or self._default_manager
        self._tasks: ModelTasks | None = None
        self.dialog: ModelManagerDialog | None = None
        self.wizard: FirstRunWizard | None = None
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    def _default_manager(self) -> ModelManager:
        folder = self.settings.model_cache_dir
        return ModelManager(Path(folder) if folder else None)

    def set_force_float32(self, forced: bool) -> None:
        """The "compute in float32" setting changed: the plans (the Model Manager's Runs column)
        say float32 from now on, or the hardware's own dtype again."""
        if self._tasks is not None:
            self._tasks.manager.force_float32 = forced
            if self.dialog is not None:
                self.dialog.reload()

    @property
    def tasks(self) -> ModelTasks:
        """The background runner (and its manager), made on first use."""
        if self._tasks is None:
            manager = self._make_manager()
            manager.force_float32 = self.settings.force_float32
            self._tasks = ModelTasks(manager, self)
            self._tasks.finished.connect(self._task_finished)
        return self._tasks

    def _task_finished(self, key: str, _result: object) -> None:
        if not key.startswith("_") or key == IMPORT_TASK:
            self.models_changed.emit()

    def show_manager(self) -> ModelManagerDialog:
        """Open (or raise) Models › Model Manager."""
        if self.dialog is None:
            self.dialog = ModelManagerDialog(self.tasks, self.window)
        else:
            self.dialog.reload()
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        return self.dialog

    # ------------------------------------------------------------ first run
    def offer_first_run(self) -> None:
        """Unless done before, check in the background whether any model is installed; if
        none is, open the first-run wizard (non-modal) with the starter set for this machine."""
        if self.settings.first_run_done:
            return

        def work(_report: object, _cancel: object) -> tuple[StoreState, list[RunPlan]] | None:
            manager = self.tasks.manager
            if manager.installed():
                return None
            state = read_state(manager)
            return state, starter_set(state.catalog, state.profile)

        self.tasks.run(FIRST_RUN_TASK, work, self._propose,
                       lambda exc: log.warning("first-run check failed: %s", exc))

    def _propose(self, found: tuple[StoreState, list[RunPlan]] | None) -> None:
        if found is None:
            self._first_run_done()  # models are there already: nothing to propose
            return
        if not self.window.isVisible():
            return  # the window closed while the store was read: offer it next time
        state, plans = found
        wizard = FirstRunWizard(self.tasks, state, plans, self.window,
                                set_up_runtime=self._set_up_runtime if self._runtime_missing() else None)
        wizard.finished.connect(lambda _result: self._wizard_closed(wizard))
        self.wizard = wizard
        wizard.show()

    def _wizard_closed(self, wizard: FirstRunWizard) -> None:
        # Skipped or closed by the person, or downloads were started: done. Closed because the
        # app is quitting (the window is already gone) without an answer: offer it next time.
        if self.window.isVisible() or wizard.downloading or wizard.installed:
            self._first_run_done()

    def _first_run_done(self) -> None:
        settings = self.settings
        if settings.first_run_done:
            return
        settings.first_run_done = True
        try:
            save_settings(settings)
        except UserFacingError:
            log.exception("could not save the settings after the first-run wizard")

    def shutdown(self) -> None:
        """Cancel running downloads (their bytes stay staged) and wait briefly for them."""
        if self._tasks is not None:
            self._tasks.shutdown()
