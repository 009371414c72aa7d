"""Help › Processing Backend…: the GPUs this computer has, what Sfumato runs on now, the advice
for that state, and the way to act on it — install a runtime (packaged app) or a pip command
to copy (a Python install)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sfumato import torch_runtime
from sfumato.model_store import HardwareProfile
from sfumato.paths import is_frozen
from sfumato.qt_bridge.model_tasks import ModelTasks
from sfumato.torch_runtime.variants import TorchBuild, variant
from sfumato.ui.backend.monitor import BackendMonitor
from sfumato.ui.backend.runtime_install import RuntimeInstallPanel
from sfumato.ui.common.model_views import GIB, MODEL_STYLE

MUTED_COLOR = "#8a8f9a"
COPIED_MS = 1500
ADVICE_STYLE = """
QFrame#backendAdvice { background: #23252a; border: 1px solid #17181b; border-radius: 6px; }
QLabel#adviceHeadline { font-size: 12pt; font-weight: bold; }
QLabel#adviceHeadline[warning="true"] { color: #e0b050; }
QLabel#installStep { color: #8a8f9a; }
QPushButton:disabled { color: #646873; }
"""
SOURCES = {
    "runtime": "from Sfumato's runtime folder",
    "environment": "from this Python environment",
}


def gpu_lines(hardware: HardwareProfile | None) -> str:
    """Rich text, one line per GPU: name, memory, compute capability, driver (and its CUDA)."""
    if hardware is None:
        return f"<span style='color:{MUTED_COLOR}'>Looking at this computer…</span>"
    if not hardware.gpus:
        return "<b>No GPU found</b>: images are made on the CPU."
    lines = []
    for gpu in hardware.gpus:
        memory = "shared memory" if gpu.backend == "mps" else "VRAM"
        parts = [f"<b>{gpu.name}</b>", f"{gpu.vram_total / GIB:.1f} GiB {memory}"]
        if gpu.compute_capability:
            parts.append(f"compute capability {gpu.compute_capability}")
        if gpu.driver:
            cuda = f" (CUDA {gpu.cuda_driver_version})" if gpu.cuda_driver_version else ""
            parts.append(f"driver {gpu.driver}{cuda}")
        lines.append(" · ".join(parts))
    return "<br>".join(lines)


class BackendDialog(QDialog):
    """Shows and acts on :class:`BackendMonitor`'s state; non-modal, kept up to date."""

    def __init__(self, monitor: BackendMonitor, tasks: ModelTasks, restart: Callable[[], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("backendDialog")
        self.setWindowTitle("Processing Backend")
        self.setStyleSheet(MODEL_STYLE + ADVICE_STYLE)
        self.setModal(False)
        self._monitor = monitor
        layout = QVBoxLayout(self)
        layout.setSpacing(10)

        box = QFrame()  # what to do: the advice and the action it asks for
        box.setObjectName("backendAdvice")
        column = QVBoxLayout(box)
        column.setContentsMargins(14, 12, 14, 12)
        column.setSpacing(8)
        self.headline = QLabel()
        self.headline.setObjectName("adviceHeadline")
        self.headline.setWordWrap(True)
        column.addWidget(self.headline)
        self.advice = QLabel()
        self.advice.setWordWrap(True)
        self.advice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        column.addWidget(self.advice)
        self.installer = RuntimeInstallPanel(monitor, tasks, restart)
        self.installer.rows_changed.connect(lambda: QTimer.singleShot(0, self._fit_height))
        column.addWidget(self.installer)
        self.pip_row = QWidget()
        pip = QHBoxLayout(self.pip_row)
        pip.setContentsMargins(0, 0, 0, 0)
        self.pip_command = QLineEdit()
        self.pip_command.setReadOnly(True)
        self.pip_command.setObjectName("pipCommand")
        pip.addWidget(self.pip_command, 1)
        self.copy_button = QPushButton("Copy")
        self.copy_button.clicked.connect(self.copy_command)
        pip.addWidget(self.copy_button)
        column.addWidget(self.pip_row)
        layout.addWidget(box)

        running = QGroupBox("Sfumato runs on")
        QVBoxLayout(running).addWidget(now := QLabel())
        self.now = now
        now.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(running)

        machine = QGroupBox("This computer")
        QVBoxLayout(machine).addWidget(gpus := QLabel())
        self.gpus = gpus
        gpus.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(machine)

        layout.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        monitor.changed.connect(self.refresh)
        self.setMinimumWidth(700)
        self.refresh()
        self.resize(700, self.sizeHint().height())

    def refresh(self) -> None:
        """Show the monitor's current state."""
        m = self._monitor
        self.gpus.setText(gpu_lines(m.hardware))
        self.now.setText(self._now_text())
        advice = m.advice
        action = advice.action if advice is not None else "none"
        self.headline.setText(advice.headline if advice is not None else "Looking at this computer…")
        self.headline.setProperty("warning", action != "none")
        self.headline.style().unpolish(self.headline)
        self.headline.style().polish(self.headline)
        self.advice.setText(advice.detail if advice is not None else "")
        self.advice.setVisible(bool(self.advice.text()))
        self.installer.setVisible(is_frozen() or action == "install")
        if self.installer.isVisibleTo(self) and not self.installer.running:
            self.installer.set_variant(self._install_variant())
        self.pip_row.setVisible(action == "pip")
        if action == "pip" and advice is not None and advice.suggested_variant is not None:
            self.pip_command.setText(torch_runtime.pip_command(advice.suggested_variant))
            self.pip_command.setCursorPosition(0)

    def _now_text(self) -> str:
        m = self._monitor
        text = f"<b>{m.label.text}</b>"
        if m.device is None and not m.missing:
            text += (f"<br><span style='color:{MUTED_COLOR}'>The device is confirmed when the first "
                     "image is made.</span>")
        if m.active.source in SOURCES:
            text += f"<br>PyTorch {m.active.torch_version or ''} {SOURCES[m.active.source]}"
        if m.active.restart_needed:
            text += "<br><b>Another runtime is installed: restart Sfumato to use it.</b>"
        return text

    def _install_variant(self) -> TorchBuild | None:
        m = self._monitor
        if m.advice is not None and m.advice.suggested_variant is not None:
            return variant(m.advice.suggested_variant)
        if m.hardware is None:
            return None
        return torch_runtime.choose_variant(m.hardware).variant

    def _fit_height(self) -> None:
        """Grow or shrink to the contents' height (rows come and go), keeping the width."""
        self.resize(self.width(), self.heightForWidth(self.width()) if self.hasHeightForWidth()
                    else self.sizeHint().height())

    def copy_command(self) -> None:
        """Put the pip command on the clipboard."""
        QGuiApplication.clipboard().setText(self.pip_command.text())
        self.copy_button.setText("Copied")
        QTimer.singleShot(COPIED_MS, self.copy_button, lambda: self.copy_button.setText("Copy"))


def show_backend_dialog(dialog: BackendDialog | None, monitor: BackendMonitor,
                        tasks: Callable[[], ModelTasks], restart: Callable[[], None],
                        parent: QWidget) -> BackendDialog:
    """Open ``dialog`` (made over ``parent`` if ``None``) or raise it, probing again if the
    machine is not known yet. ``tasks`` gives the model store's runner (made on first use)."""
    if dialog is None:
        dialog = BackendDialog(monitor, tasks(), restart, parent)
    if monitor.hardware is None:
        monitor.probe()
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
