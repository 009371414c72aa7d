"""Killed at any moment, nothing saved is lost; ended by the system, the app autosaves first.

Each child runs the real window (``run_app``, offscreen) through one kind of work from
``session_driver`` — painting, autosave, Save, Save As over an existing file, applying a result —
and is killed with SIGKILL at a seeded random moment. Afterwards every file the session saved
holds exactly what one of its saves wrote (the last one finished, or the one under way), and the
autosave the next start recovers is the last one written (or the one under way, or none once a
save removed it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from session_driver import PHASES, document_digest

from sfumato.document.autosave import find_recoverable
from sfumato.document.document import Document, new_document
from sfumato.document.ora import load_ora, save_ora

DRIVER = Path(__file__).with_name("session_driver.py")
KILL_POINTS = 32
KILL_WITHIN_S = 1.0  # after READY
TIMEOUT_S = 60


@dataclass(frozen=True)
class Ended:
    """What one child printed and how it ended."""

    lines: list[str]
    returncode: int
    stderr: str


def _environment(root: Path) -> dict[str, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for name in ("CONFIG", "DATA", "CACHE", "LOG"):
        env[f"SFUMATO_{name}_DIR"] = str(root / name.lower())
    config = root / "config"
    config.mkdir(parents=True)
    (config / "settings.json").write_text('{"version": 1, "first_run_done": true}')  # no wizard
    return env


def _session(phase: str, root: Path, seed: int, end: signal.Signals, delay: float) -> Ended:
    """Run ``phase`` in ``root``, send ``end`` ``delay`` seconds after READY, wait for the exit."""
    proc = subprocess.Popen([sys.executable, str(DRIVER), phase, str(root), str(seed)],
                            env=_environment(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    ready = threading.Event()
    errors: list[str] = []

    def read_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.endswith("\n"):  # a line cut by the kill is not an event
                lines.append(line[:-1])
            if line == "READY\n":
                ready.set()
        ready.set()

    def read_stderr() -> None:
        assert proc.stderr is not None
        errors.append(proc.stderr.read())

    readers = [threading.Thread(target=read_stdout), threading.Thread(target=read_stderr)]
    for reader in readers:
        reader.start()
    try:
        assert ready.wait(TIMEOUT_S) and "READY" in lines, "the session did not start"
        try:
            proc.wait(delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(end)
        proc.wait(TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for reader in readers:
            reader.join(TIMEOUT_S)
    return Ended(lines, proc.returncode, "".join(errors))


def _possible(lines: list[str], kinds: tuple[str, ...], target: str, before: str | None) -> set[str | None]:
    """The states a kill may leave ``target`` in: the last one finished, or one under way.

    Events are ``BEGIN|END KIND TARGET DIGEST``; a digest ``-`` means "no file".
    """
    states = {before}
    for line in lines:
        words = line.split()
        if len(words) != 4 or words[1] not in kinds or words[2] != target:
            continue
        digest = None if words[3] == "-" else words[3]
        states = states | {digest} if words[0] == "BEGIN" else {digest}
    return states


def _digest(doc: Document) -> str:
    return document_digest(doc.width, doc.height, doc.layers)


def _other_file(path: Path) -> str:
    """An existing file for Save As to replace; its digest."""
    doc = new_document(64, 48, background=(30, 60, 90, 255))
    save_ora(doc, path)
    return _digest(doc)


def _killed(run: int, root: Path) -> tuple[str, Ended, str]:
    phase = PHASES[run % len(PHASES)]
    rng = np.random.default_rng(1000 + run)
    root.mkdir()
    other = _other_file(root / "other.ora")
    ended = _session(phase, root, 1000 + run, signal.SIGKILL, float(rng.uniform(0, KILL_WITHIN_S)))
    return phase, ended, other


def test_killed_at_random_moments_nothing_saved_is_lost(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda i: (i, *_killed(i, tmp_path / f"run-{i}")), range(KILL_POINTS)))
    under_way = 0
    for run, phase, ended, other in runs:
        where = f"run {run} ({phase}): {ended.lines[-3:]}"
        assert ended.returncode == -signal.SIGKILL, f"{where} ended by itself: {ended.stderr}"
        root = tmp_path / f"run-{run}"
        for target, before in ((root / "picture.ora", None), (root / "other.ora", other)):
            possible = _possible(ended.lines, ("save",), str(target), before)
            found = _digest(load_ora(target)) if target.exists() else None  # intact: it loads
            assert found in possible, f"{where}: {target.name} holds {found}, not one of {possible}"
        possible = _possible(ended.lines, ("autosave", "drop"), "-", None)
        recovered = [_digest(entry.load()) for entry in find_recoverable(root / "data" / "autosave")]
        assert len(recovered) <= 1 and (recovered[0] if recovered else None) in possible, \
            f"{where}: recovered {recovered}, expected one of {possible}"
        under_way += ended.lines[-1].startswith("BEGIN")
    assert {phase for _run, phase, _ended, _other in runs} == set(PHASES)
    assert under_way >= KILL_POINTS // 4  # most kills land while something is being written


def test_sigterm_autosaves_before_exiting_and_the_next_start_recovers_it(tmp_path: Path) -> None:
    ended = _session("idle", tmp_path, 7, signal.SIGTERM, 0.3)
    assert ended.returncode == 0, ended.stderr
    assert "Traceback" not in ended.stderr
    recovered = find_recoverable(tmp_path / "data" / "autosave")
    assert len(recovered) == 1
    doc = recovered[0].load()
    assert doc.path == tmp_path / "picture.ora"
    painted = next(line.split()[3] for line in ended.lines if line.startswith("PAINTED"))
    assert _digest(doc) == painted
    log = (tmp_path / "log" / "sfumato.log").read_text(encoding="utf-8")
    assert "SIGTERM received" in log and "closed for the system" in log
