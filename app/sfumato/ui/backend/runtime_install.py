"""Installing a PyTorch runtime from the Backend dialog: a download for this GPU, or wheel files
for an offline machine; progress and Cancel while it runs, then ready (or restart) when done.

The install itself is :func:`sfumato.torch_runtime.install_runtime`, run as a
:class:`~sfumato.qt_bridge.model_tasks.ModelTasks` task so it stays off the GUI thread.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sfumato import torch_runtime
from sfumato.paths import is_frozen
from sfumato.qt_bridge.model_tasks import ModelTasks
from sfumato.session.notices import Source, notice_from_error
from sfumato.torch_runtime import variants
from sfumato.ui.backend.monitor import BackendMonitor
from sfumato.ui.common.model_views import progress_bar, size_text
from sfumato.ui.common.notices import NoticeBar

if TYPE_CHECKING:
    from sfumato.torch_runtime import InstallResult, RuntimeProgress
    from sfumato.torch_runtime.variants import TorchBuild

INSTALL_TASK = "_runtime_install"
WHEEL_FILTER = "Python wheels (*.whl)"


def relaunch_command() -> tuple[str, list[str]]:
    """The program and arguments that start this Sfumato again (options kept, files left out)."""
    options = [a for a in sys.argv[1:] if a.startswith("-")]
    if is_frozen():
        return sys.executable, options
    return sys.executable, ["-m", "sfumato", *options]


class RuntimeInstallPanel(QWidget):
    """The install buttons, a progress bar with Cancel and the current step, and what to do
    once installed. ``rows_changed()`` says that rows appeared or went (the dialog resizes).

    ``restart`` closes the app (after the unsaved-changes prompt) and starts it again; it is
    offered only when this process has already imported torch (see
    :attr:`BackendMonitor.restart_needed`); otherwise the new runtime is activated in place.
    """

    rows_changed = Signal()

    def __init__(self, monitor: BackendMonitor, tasks: ModelTasks, restart: Callable[[], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._monitor, self._tasks, self._restart = monitor, tasks, restart
        self.variant: TorchBuild | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.install_button = QPushButton("Install")
        self.install_button.setDefault(True)
        self.install_button.clicked.connect(self.install)
        row.addWidget(self.install_button)
        self.wheel_button = QPushButton("Install from wheel file…")
        self.wheel_button.setToolTip("For a computer without internet: wheel files downloaded elsewhere "
                                     "(torch and, for CUDA, its nvidia-* wheels).")
        self.wheel_button.clicked.connect(self.install_wheels_dialog)
        row.addWidget(self.wheel_button)
        row.addStretch(1)
        layout.addLayout(row)
        progress_row = QHBoxLayout()
        self.bar: QProgressBar = progress_bar()
        progress_row.addWidget(self.bar, 1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(lambda: self._tasks.cancel(INSTALL_TASK))
        progress_row.addWidget(self.cancel_button)
        layout.addLayout(progress_row)
        self.step = QLabel("")
        self.step.setObjectName("installStep")
        self.step.setWordWrap(True)
        layout.addWidget(self.step)
        done_row = QHBoxLayout()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        done_row.addWidget(self.status, 1)
        self.restart_button = QPushButton("Restart now")
        self.restart_button.clicked.connect(lambda: self._restart())
        done_row.addWidget(self.restart_button)
        layout.addLayout(done_row)
        self.notice_bar = NoticeBar(parent=self)
        """Why the install failed (details on demand)."""
        layout.addWidget(self.notice_bar)
        for widget in (self.bar, self.cancel_button, self.step, self.status, self.restart_button):
            widget.hide()
        tasks.progress.connect(self._on_progress)
        tasks.cancelled.connect(self._on_cancelled)
        self._set_running(tasks.is_running(INSTALL_TASK))

    @property
    def running(self) -> bool:
        """Whether an install is under way."""
        return self._tasks.is_running(INSTALL_TASK)

    def set_variant(self, variant: TorchBuild | None) -> None:
        """The variant the Install button installs (``None``: not known yet)."""
        self.variant = variant
        self.install_button.setText(f"Install {variant.label}" if variant is not None else "Install")
        self._set_running(self.running)

    # ------------------------------------------------------------ starting
    def install(self) -> None:
        """Download and install :attr:`variant` — the build chosen for this machine's GPU; should
        its index have no wheel for this system, the installer goes on to the next candidate."""
        variant, hardware = self.variant, self._monitor.hardware
        if variant is not None:
            self._start(f"Installing {variant.label}…",
                        lambda report, cancel: torch_runtime.install_runtime(
                            hardware=hardware, cancel=cancel, on_progress=report))

    def install_wheels_dialog(self) -> None:
        """Ask for wheel files and install them."""
        paths, _ = QFileDialog.getOpenFileNames(self, "Install PyTorch from wheel files", str(Path.home()),
                                                WHEEL_FILTER)
        if paths:
            self.install_wheels([Path(p) for p in paths])

    def install_wheels(self, wheels: Sequence[Path]) -> None:
        """Install the runtime from ``wheels`` (no download)."""
        files, hardware = tuple(wheels), self._monitor.hardware
        self._start("Installing from wheel files…",
                    lambda report, cancel: torch_runtime.install_runtime(
                        wheels=files, hardware=hardware, cancel=cancel, on_progress=report))

    def _start(self, text: str, work: Callable[[Any, Any], InstallResult]) -> None:
        if self._tasks.run(INSTALL_TASK, work, self._installed, self._failed):
            self._say("")
            self.notice_bar.dismiss()  # the last attempt's failure
            self.restart_button.hide()
            self.bar.setRange(0, 0)
            self.bar.setFormat("")
            self.step.setText(text)
            self._set_running(True)

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))
        self.rows_changed.emit()

    def _set_running(self, running: bool) -> None:
        self.install_button.setEnabled(not running and self.variant is not None)
        self.wheel_button.setEnabled(not running)
        self.bar.setVisible(running)
        self.step.setVisible(running)
        self.cancel_button.setVisible(running)
        self.rows_changed.emit()

    # ------------------------------------------------------------- reports
    def _on_progress(self, key: str, progress: RuntimeProgress) -> None:
        if key != INSTALL_TASK:
            return
        self.step.setText(progress.message)
        if progress.total_bytes:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(progress.done_bytes / progress.total_bytes, 1.0)))
            self.bar.setFormat(f"{size_text(progress.done_bytes)} of {size_text(progress.total_bytes)}")
        else:
            self.bar.setRange(0, 0)  # a busy bar while the phase has no byte count
            self.bar.setFormat("")

    def _installed(self, result: InstallResult) -> None:
        self._set_running(False)
        record = result.record
        what = f"PyTorch {record.torch_version} ({variants.variant(record.variant).label})"
        torch_runtime.activate()  # puts it on sys.path, or only notes that a restart is needed
        if self._monitor.restart_needed:
            text = f"{what} is installed. Restart Sfumato to use it."
            self.restart_button.show()
        else:
            text = f"{what} is installed and ready: generate to use it."
        self._say(" ".join((text, *result.warnings)))
        self._monitor.probe()

    def _failed(self, error: BaseException) -> None:
        self._set_running(False)
        self._say("The install failed; the runtime in use was not changed.")
        self.notice_bar.show_notice(notice_from_error(error, Source.BACKEND))

    def _on_cancelled(self, key: str) -> None:
        if key == INSTALL_TASK:
            self._set_running(False)
            self._say("Install cancelled; nothing was changed.")
