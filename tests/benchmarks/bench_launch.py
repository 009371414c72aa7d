"""Time from launching Sfumato to a visible, responsive window: cold and warm.

Run ``xvfb-run -s "-screen 0 1600x1000x24" python tests/benchmarks/bench_launch.py`` (or with
``QT_QPA_PLATFORM=offscreen``). Each launch is a new process running the real start-up
(``run_app``); the clock runs from just before the process is spawned until the window is
exposed *and* the event loop has answered a zero-delay timer after that (it responds to input).

*Cold*: a launch with an empty bytecode cache (``PYTHONPYCACHEPREFIX`` pointing at a new folder,
so every module — Qt's bindings, numpy, Pillow, Sfumato — is compiled from source, the worst
first start) and fresh user folders. *Warm*: launches with the ordinary bytecode cache, as every
start after the first (median of ``--runs``). The OS file cache is not dropped (that needs root),
so "cold" measures compilation, not disk reads. Target: < 1.5 s. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DRIVER = r"""
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

app = QApplication(sys.argv[:1])
state = {"shown": False}

def poll():
    window = next((w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow"), None)
    handle = window.windowHandle() if window is not None else None
    if handle is not None and handle.isExposed() and not state["shown"]:
        state["shown"] = True
        QTimer.singleShot(0, lambda: ready(window))  # answered only once the loop spins again
        return
    if not state["shown"]:
        QTimer.singleShot(1, poll)

def ready(window):
    print("READY", "torch" in sys.modules, flush=True)
    window.close()

QTimer.singleShot(0, poll)
from sfumato.ui.app import run_app
sys.exit(run_app([]))
"""


def launch(env: dict[str, str]) -> tuple[float, str]:
    """Seconds until the window is visible and responsive, and the driver's READY line."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", DRIVER], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = ""
    for line in proc.stdout:
        if line.startswith("READY"):
            break
    elapsed = time.perf_counter() - started
    proc.communicate(timeout=60)
    if not line.startswith("READY"):
        raise RuntimeError(f"the app did not come up (exit {proc.returncode})")
    return elapsed, line.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = dict(os.environ)
        for name in ("CONFIG", "DATA", "CACHE", "LOG"):
            env[f"SFUMATO_{name}_DIR"] = str(root / name.lower())
        cold, line = launch(dict(env, PYTHONPYCACHEPREFIX=str(root / "pycache")))
        launch(env)  # fills the ordinary bytecode cache if it was empty
        warm = [launch(env)[0] for _ in range(args.runs)]
    print(f"platform: {os.environ.get('QT_QPA_PLATFORM') or 'xcb'}; torch imported at READY: "
          f"{line.split()[1]}")
    print(f"cold launch → responsive window: {cold:.2f} s (every module compiled, fresh user folders)")
    print(f"warm launch → responsive window: median {statistics.median(warm):.2f} s, "
          f"min {min(warm):.2f} s, max {max(warm):.2f} s over {len(warm)} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
