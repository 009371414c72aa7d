"""Degraded starts: folders that cannot be created or written, no file locks, a full disk.

The window starts anyway, says once (one notice) what is off — autosave, settings, the model
cache — and where to fix it, and nothing crashes. The whole start runs in a child process; the
pieces it is made of are tested here too, and the session-end hooks (SIGTERM, logout).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import SIGNAL
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from qt_helpers import show_document

from sfumato import paths
from sfumato.document.autosave import AutosaveWriter, find_recoverable, take_snapshot
from sfumato.document.document import new_document
from sfumato.document.ora import load_ora
from sfumato.model_store.cache import ModelCache
from sfumato.model_store.errors import ModelStoreError
from sfumato.session.notices import Severity
from sfumato.settings.model import Settings
from sfumato.ui.app import (
    SessionEndWatcher,
    folder_problems,
    offer_recovery,
    show_startup_problems,
    start_autosave,
)
from sfumato.ui.files.recovery_dialog import RecoveryDialog
from sfumato.ui.main_window import MainWindow

DRIVER = """
import sys
{prelude}
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from sfumato.document.document import new_document
from sfumato.session.notices import Source
from sfumato.ui.app import run_app

app = QApplication(sys.argv[:1])

def finish():
    window = next(w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow")
    notice = window.session.notices.latest(Source.APP).value
    if notice is not None:
        print("NOTICE", notice.severity.value, notice.message, notice.details.replace("\\n\\n", " | "))
        print("SHOWN", window.status_notices.text() == notice.message)
    print("AUTOSAVE", window.autosave.enabled)
    window.session.show(new_document(64, 48))  # it still paints, and closes cleanly
    window.close()

QTimer.singleShot(1500, finish)
sys.exit(run_app([]))
"""

NO_LOCKS = """
import errno, fcntl
def flock(*_args):
    raise OSError(errno.ENOLCK, "No locks available")
fcntl.flock = flock
"""

EVERY_WRITE_REFUSED = """
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # as on a full disk: no file can grow
"""


def _start(env_dirs: dict[str, Path], prelude: str = "") -> tuple[list[str], str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.update({f"SFUMATO_{name.upper()}_DIR": str(path) for name, path in env_dirs.items()})
    script = DRIVER.format(prelude=prelude)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout.splitlines(), done.stderr


def _dirs(root: Path) -> dict[str, Path]:
    return {name: root / name for name in ("config", "data", "cache", "log")}


def test_folders_that_cannot_be_created_turn_features_off_with_one_notice(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"keep me")
    # every per-user folder but the log's would have to be inside a file
    lines, _stderr = _start({**_dirs(blocker), "log": tmp_path / "log"})
    notices = [line for line in lines if line.startswith("NOTICE")]
    assert len(notices) == 1 and notices[0].startswith("NOTICE warning Sfumato started, but 3 things are off")
    assert "SHOWN True" in lines
    notice = notices[0]
    for said in (f"Autosave is off: a file is in the way of the folder ({blocker}/data/autosave)",
                 "SFUMATO_DATA_DIR", f"Settings will not be kept: a file is in the way of the folder "
                 f"({blocker}/config)", "SFUMATO_CONFIG_DIR", "Models cannot be downloaded or installed",
                 f"({blocker}/cache/models)", "SFUMATO_CACHE_DIR"):
        assert said in notice
    assert "AUTOSAVE False" in lines
    assert blocker.read_bytes() == b"keep me"
    log = (tmp_path / "log" / "sfumato.log").read_text(encoding="utf-8")
    assert log.count("WARNING sfumato.ui.app: start:") == 3 and "closed normally" in log


def test_without_file_locks_only_autosave_is_off(tmp_path: Path) -> None:
    lines, _stderr = _start(_dirs(tmp_path), NO_LOCKS)
    notices = [line for line in lines if line.startswith("NOTICE")]
    assert len(notices) == 1 and "Autosave is off: file locks are not supported there" in notices[0]
    assert "Settings" not in notices[0] and "Models" not in notices[0]
    assert "AUTOSAVE False" in lines
    assert not list((tmp_path / "data" / "autosave").glob("*/*"))  # no half-made session left


def test_when_no_file_can_be_written_the_window_still_starts(tmp_path: Path) -> None:
    lines, _stderr = _start(_dirs(tmp_path), EVERY_WRITE_REFUSED)
    notices = [line for line in lines if line.startswith("NOTICE")]
    assert len(notices) == 1
    assert all(said in notices[0] for said in ("Autosave is off", "Settings will not be kept",
                                               "Models cannot be downloaded"))
    assert "AUTOSAVE False" in lines


def test_a_command_without_a_log_or_cache_folder_is_one_error_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    env = dict(os.environ, SFUMATO_CACHE_DIR=str(blocker / "cache"), SFUMATO_LOG_DIR=str(blocker / "log"))
    done = subprocess.run([sys.executable, "-m", "sfumato", "models", "list"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: The model cache folder {blocker / 'cache' / 'models'} cannot be "
                                  "created (a file is in the way of the folder)")
    assert done.stderr.count("\n") == 1


# ----------------------------------------------------------------------------- the pieces
def test_folder_problem_finds_what_stops_a_folder_and_leaves_nothing_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert paths.folder_problem(tmp_path / "new" / "folder") is None
    assert list((tmp_path / "new" / "folder").iterdir()) == []
    (tmp_path / "file").write_bytes(b"")
    assert paths.folder_problem(tmp_path / "file" / "sub") == "a file is in the way of the folder"
    monkeypatch.setenv("SFUMATO_DATA_DIR", str(tmp_path / "file" / "data"))
    assert paths.data_dir() == tmp_path / "file" / "data"  # no exception: users of it report

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    assert paths.folder_problem(tmp_path / "new") == "the disk is full"
    assert list((tmp_path / "new").iterdir()) == [tmp_path / "new" / "folder"]


def test_a_full_disk_is_named_once_for_each_feature(
        window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    writer, problem = start_autosave(tmp_path / "autosave", lambda _exc: None)
    assert writer is None and problem is not None and problem.feature == "autosave"
    assert problem.message.startswith(f"Autosave is off: the disk is full ({tmp_path / 'autosave'})")
    problems = [problem, *folder_problems(Settings(model_cache_dir=str(tmp_path / "models")))]
    assert [p.feature for p in problems] == ["autosave", "settings", "models"]
    assert all("the disk is full" in p.message for p in problems)
    notice = show_startup_problems(window.session.notices, problems)
    assert notice.severity is Severity.WARNING and notice.details.count("the disk is full") == 3
    assert window.status_notices.text() == notice.message  # said in the status bar, not modal


def test_a_model_cache_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ModelStoreError, match=r"model cache folder .* cannot be created .*SFUMATO_CACHE_DIR"):
        ModelCache(tmp_path / "file" / "models")


def test_with_autosave_off_a_recovered_document_keeps_its_old_autosave(
        window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qtbot: QtBot) -> None:
    directory = tmp_path / "autosave"
    doc = new_document(40, 30)
    doc.layers[0].pixels[5:10, 5:10] = (1, 2, 3, 255)
    doc.revision += 1
    with AutosaveWriter(directory) as old_session:
        old_session.submit(take_snapshot(doc, "Sketch"))
        assert old_session.flush(10)
        old_session.close(keep=True)  # ended by the system: its autosave stays
    monkeypatch.setattr(RecoveryDialog, "exec", lambda dialog: dialog._finish("recover") or 1)
    assert not window.autosave.enabled
    offer_recovery(window.files, window, directory)
    qtbot.waitUntil(lambda: window.session.doc is not None and not window.session.busy.value)
    doc = window.session.doc
    assert doc is not None and tuple(doc.layers[0].pixels[7, 7]) == (1, 2, 3, 255)
    assert len(find_recoverable(directory)) == 1  # still there until the document is saved


# ------------------------------------------------------------------------------ session end
def test_the_session_managers_commit_request_autosaves_and_waits(window: MainWindow, tmp_path: Path) -> None:
    writer = AutosaveWriter(tmp_path / "autosave")
    window.autosave.writer = writer
    app = QApplication.instance()
    assert app is not None
    connected = app.receivers(SIGNAL("commitDataRequest(QSessionManager&)"))
    previous = signal.getsignal(signal.SIGTERM)
    watcher = SessionEndWatcher(window.files)
    try:
        assert app.receivers(SIGNAL("commitDataRequest(QSessionManager&)")) == connected + 1
        assert signal.getsignal(signal.SIGTERM) is not previous
        doc = show_document(window, new_document(48, 32))
        doc.layers[0].pixels[...] = (9, 9, 9, 255)
        doc.revision += 1
        watcher.commit()  # what Qt calls on logout
        saved = list(writer.session_dir.glob("*.ora"))  # written already: commit waited for it
        assert len(saved) == 1 and np.array_equal(load_ora(saved[0]).layers[0].pixels, doc.layers[0].pixels)
        assert window.isVisible()  # a logout may still be cancelled
    finally:
        watcher.close()
        window.autosave.writer = None
        writer.close()
    assert signal.getsignal(signal.SIGTERM) is previous
    assert app.receivers(SIGNAL("commitDataRequest(QSessionManager&)")) == connected
