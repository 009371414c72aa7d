"""Screenshot of Help › Processing Backend… in the packaged app running on the CPU while an
NVIDIA GPU is present: the status-bar field warns, the dialog offers the CUDA runtime.

Run under Xvfb from the repository root::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python tests/screenshots/shoot_backend.py

The state is faked: the hardware probe reads a profile with an RTX 3060
(``SFUMATO_HARDWARE_PROFILE``), the active runtime is a CPU runtime folder, the app counts as
frozen, and the engine "probes" the CPU. The advice is the real ``backend_advice``. The screen is
captured with ImageMagick's ``import -window root`` into ``resources/screenshots/backend.png``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from sfumato import torch_runtime
from sfumato.inference.device import profile_for
from sfumato.model_store.hardware import GpuInfo, HardwareProfile
from sfumato.settings import Settings
from sfumato.torch_runtime import ActiveRuntime, advice
from sfumato.ui.app import dark_palette
from sfumato.ui.backend import dialog as backend_dialog
from sfumato.ui.backend.dialog import BackendDialog
from sfumato.ui.common.resources import stylesheet
from sfumato.ui.main_window import MainWindow

OUT = Path(__file__).resolve().parents[2] / "resources" / "screenshots" / "backend.png"
GIB = 1024**3
MACHINE = HardwareProfile(
    cpu_cores=12, ram_total=32 * GIB, system="Linux",
    gpus=(GpuInfo("cuda", "NVIDIA GeForce RTX 3060", 12 * GIB, 11 * GIB, "8.6", "560.35", "12.6"),),
)
CPU_RUNTIME = ActiveRuntime("runtime", "cpu", "2.13.0+cpu", Path.home() / ".local/share/Sfumato/runtime")


def fake_state() -> None:
    """A packaged app with the CPU runtime on a PC with an RTX 3060."""
    profile = Path(tempfile.mkdtemp()) / "hardware.json"
    profile.write_text(json.dumps(MACHINE.to_dict()), encoding="utf-8")
    os.environ["SFUMATO_HARDWARE_PROFILE"] = str(profile)
    torch_runtime.active_runtime = lambda: CPU_RUNTIME  # type: ignore[assignment]
    advice.is_frozen = backend_dialog.is_frozen = lambda: True  # type: ignore[assignment]


def main() -> int:
    fake_state()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(stylesheet())
    window = MainWindow(Settings())
    window.setGeometry(0, 0, 1600, 1000)
    window.show()

    def open_dialog() -> None:
        window.generation.service.device_probed.emit(profile_for("cpu"))  # as after a first job
        window.show_backend()
        dialog = window.findChild(BackendDialog, "backendDialog")
        assert dialog is not None
        dialog.move(window.geometry().center() - dialog.rect().center())
        QTimer.singleShot(800, shoot)

    def shoot() -> None:
        subprocess.run(["import", "-window", "root", str(OUT)], check=True)
        print("wrote", OUT, flush=True)
        window.close()
        app.quit()

    def wait_for_probe() -> None:
        if window.backend.advice is None:
            QTimer.singleShot(100, wait_for_probe)
        else:
            open_dialog()

    window.backend.probe()
    wait_for_probe()
    app.exec()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
