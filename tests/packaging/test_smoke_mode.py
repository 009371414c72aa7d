"""``sfumato --smoke`` in the dev install: window, tiny txt2img through the GUI path, exit status.

The packaged app runs the same mode from ``packaging/build.py``; here it runs from the source
checkout, as a subprocess (it owns its QApplication and exits).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "QT_QPA_PLATFORM": "offscreen",
        "SFUMATO_DATA_DIR": str(tmp_path / "data"),
        "SFUMATO_CONFIG_DIR": str(tmp_path / "config"),
        "SFUMATO_CACHE_DIR": str(tmp_path / "cache"),
        "SFUMATO_LOG_DIR": str(tmp_path / "log"),
        "TMPDIR": str(tmp_path),
        **extra,
    })
    return env


def _smoke(tmp_path: Path, timeout: float, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sfumato", "--smoke"], env=_env(tmp_path, **extra),
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_smoke_mode_generates_through_the_window_and_exits_0(tmp_path: Path) -> None:
    done = _smoke(tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.splitlines()
    assert "smoke: window shown" in lines
    report_lines = [line for line in lines if line.startswith("smoke: {")]
    assert len(report_lines) == 1, done.stdout
    assert lines.index("smoke: window shown") < lines.index(report_lines[0])
    report = json.loads(report_lines[0].removeprefix("smoke: "))
    assert report["ok"] is True
    assert report["backend"] == "cpu" and report["device"]
    assert report["torch"].startswith("2.") and Path(report["torch_file"]).name == "__init__.py"
    assert report["frozen"] is False
    assert report["qt_platform"] == "offscreen"
    assert report["layers"] == 2 and report["layer"].endswith("· 1234")  # background + the result
    assert report["seconds_to_window"] > 0 and report["seconds_to_generate"] > 0
    # no first-run wizard or recovery dialog ran, and the temporary model folder is gone
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("sfumato-smoke-")]


def test_smoke_mode_fails_with_status_1_on_timeout(tmp_path: Path) -> None:
    done = _smoke(tmp_path, timeout=120, SFUMATO_SMOKE_TIMEOUT="0.05")
    assert done.returncode == 1
    assert "smoke failed: no result after" in done.stderr
    assert "smoke: {" not in done.stdout


def test_smoke_is_a_hidden_option_of_the_gui_parser() -> None:
    from sfumato.ui.app import _parse

    assert _parse(["--smoke"]).smoke is True
    assert _parse([]).smoke is False
