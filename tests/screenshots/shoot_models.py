"""Screenshot of Models › Model Manager on a machine with a 12 GB RTX 3060: every catalog entry
with its fit, how it runs (the one planner's words) and its download size from the Hub pages.

Run under Xvfb from the repository root::

    xvfb-run -a -s "-screen 0 1600x640x24" .venv/bin/python tests/screenshots/shoot_models.py

The hardware is faked (an RTX 3060 profile handed to the model manager), the hub is not asked
(offline), so the sizes shown are the catalog's, taken from the Hub pages. The screen is captured
with ImageMagick's ``import -window root`` into ``resources/screenshots/model-manager.png``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from sfumato.model_store import GpuInfo, HardwareProfile, ModelManager
from sfumato.qt_bridge.model_tasks import ModelTasks
from sfumato.ui.app import dark_palette
from sfumato.ui.common.resources import stylesheet
from sfumato.ui.models.manager_dialog import ModelManagerDialog

OUT = Path(__file__).resolve().parents[2] / "resources" / "screenshots"
RTX_3060 = HardwareProfile(
    cpu_cores=8,
    ram_total=32 * 2**30,
    gpus=(GpuInfo("cuda", "NVIDIA GeForce RTX 3060", 12 * 2**30, 11 * 2**30, "8.6"),),
)


def main() -> int:
    """Open the dialog, wait for the plans, capture the screen."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(stylesheet())
    manager = ModelManager(Path(tempfile.mkdtemp()), profile=RTX_3060)
    tasks = ModelTasks(manager)
    dialog = ModelManagerDialog(tasks)
    dialog.setGeometry(0, 0, 1600, 640)
    dialog.show()

    def shoot() -> None:
        if dialog.state is None or tasks.running():
            QTimer.singleShot(200, shoot)
            return
        app.processEvents()
        subprocess.run(["import", "-window", "root", str(OUT / "model-manager.png")], check=True)
        print("wrote", OUT / "model-manager.png", flush=True)
        tasks.shutdown()
        app.quit()

    QTimer.singleShot(800, shoot)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
