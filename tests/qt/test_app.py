"""The real start-up path: ``run_app`` in its own process, with a file on the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from qt_helpers import write_png

DRIVER = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from sfumato.ui.app import run_app

app = QApplication(sys.argv[:1])

def finish():
    window = next(w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow")
    doc = window.session.doc
    print("TITLE", window.windowTitle())
    print("SIZE", doc.width, doc.height, len(doc.layers))
    print("TORCH", "torch" in sys.modules)
    window.close()

QTimer.singleShot(1500, finish)
sys.exit(run_app(sys.argv[1:]))
"""


def test_the_app_opens_a_file_from_the_command_line_and_exits_cleanly(tmp_path: Path) -> None:
    picture = write_png(tmp_path / "sketch.png", 64, 48, (200, 10, 10, 255))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", DRIVER, str(picture)], env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "TITLE sketch[*] — Sfumato" in result.stdout  # [*]: where Qt marks changes
    assert "SIZE 64 48 1" in result.stdout
    assert "TORCH False" in result.stdout  # the window never waits for torch
    autosave = Path(env["SFUMATO_DATA_DIR"]) / "autosave"
    assert not any(autosave.glob("*/*.ora"))  # a clean exit leaves nothing to recover
    log = (Path(env["SFUMATO_LOG_DIR"]) / "sfumato.log").read_text(encoding="utf-8")
    assert "closed normally" in log
