"""Recovery, opening and importing pictures run off the GUI thread, with progress in the status
bar, and leave the document as it was when they fail."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pytestqt.qtbot import QtBot
from qt_helpers import Dialogs, show_document, write_png

from sfumato.document.autosave import RecoveryEntry
from sfumato.document.document import Document, new_document
from sfumato.document.layers import Layer
from sfumato.document.ora import save_ora
from sfumato.ui.main_window import MainWindow


def _entry(tmp_path: Path, doc: Document, title: str) -> RecoveryEntry:
    path = tmp_path / "old-session" / f"{title}.ora"
    path.parent.mkdir(exist_ok=True)
    save_ora(doc, path)  # an autosave is an OpenRaster file
    return RecoveryEntry(path, title, None, path.stat().st_mtime, doc.width, doc.height, None, None)


def _threads_of(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[threading.Thread]:
    """Record the thread each call of ``owner.name`` runs on."""
    threads: list[threading.Thread] = []
    original = getattr(owner, name)

    def recorded(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)
    return threads


def test_recovery_reads_in_the_background_and_says_so(
        qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sketch = new_document(60, 40, background=(9, 8, 7, 255))
    entry = _entry(tmp_path, sketch, "Sketch")
    threads: list[threading.Thread] = []
    release = threading.Event()
    load = RecoveryEntry.load

    def slow_load(self: RecoveryEntry) -> Document:
        threads.append(threading.current_thread())
        release.wait(10)
        return load(self)

    monkeypatch.setattr(RecoveryEntry, "load", slow_load)
    window.files.recover(entry)
    assert window.session.busy.value and window.task_bar.isVisible() and window.session.doc is None
    assert window.status_notices.text() == "Recovering “Sketch”…"
    release.set()
    qtbot.waitUntil(lambda: not window.session.busy.value)
    assert threads and threading.main_thread() not in threads
    doc = window.session.doc
    assert doc is not None and doc.modified and (doc.width, doc.height) == (60, 40)
    assert tuple(doc.layers[0].pixels[5, 5]) == (9, 8, 7, 255)
    assert not window.task_bar.isVisible() and window.status_notices.text() == ""  # the work is done


def test_an_unreadable_autosave_leaves_the_open_document_as_it_was(
        qtbot: QtBot, window: MainWindow, tmp_path: Path, dialogs: Dialogs) -> None:
    doc = show_document(window, new_document(30, 20))
    revision, layers = doc.revision, len(doc.layers)
    entry = _entry(tmp_path, new_document(10, 10), "Broken")
    entry.path.write_bytes(b"PK\x03\x04 not a zip at all")
    window.files.recover(entry)
    qtbot.waitUntil(lambda: not window.session.busy.value)
    assert len(dialogs.errors) == 1 and window.status_notices.text() == dialogs.errors[0].message
    assert window.session.doc is doc and doc.revision == revision and len(doc.layers) == layers
    assert entry.path.exists()  # still offered next time


def test_files_dropped_during_a_recovery_open_after_it_and_ask_first(
        qtbot: QtBot, window: MainWindow, tmp_path: Path, dialogs: Dialogs,
        monkeypatch: pytest.MonkeyPatch) -> None:
    entry = _entry(tmp_path, new_document(60, 40), "Sketch")
    other = tmp_path / "other.ora"
    save_ora(new_document(8, 6), other)
    dialogs.question_answer = dialogs.question_answer.Cancel  # keep the recovered document
    release = threading.Event()
    load = RecoveryEntry.load
    monkeypatch.setattr(RecoveryEntry, "load", lambda self: (release.wait(10), load(self))[1])
    window.files.recover(entry)
    window.files.open_dropped([other], None)  # handed over while the recovery is read
    release.set()
    qtbot.waitUntil(lambda: not window.session.busy.value and window.session.doc is not None)
    qtbot.waitUntil(lambda: bool(dialogs.messages))
    assert "Save the changes" in dialogs.messages[-1]  # the recovered work is not replaced unasked
    doc = window.session.doc
    assert doc is not None and (doc.width, doc.height) == (60, 40)


def test_importing_decodes_and_places_in_the_background_counting_files(
        qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = show_document(window, new_document(200, 100))
    files = [write_png(tmp_path / f"p{i}.png", 20 + i, 10, (i, 2, 3, 255)) for i in range(3)]
    counts: list[tuple[int, int]] = []
    window.files.task_progress.connect(lambda done, total: counts.append((done, total)))
    placed = _threads_of(monkeypatch, Layer, "placed")
    window.files.import_images(files, None)
    qtbot.waitUntil(lambda: not window.session.busy.value and len(counts) == 3)
    assert counts == [(1, 3), (2, 3), (3, 3)]
    assert len(placed) == 3 and threading.main_thread() not in placed
    assert [layer.name for layer in doc.layers[1:]] == ["p0", "p1", "p2"]
    assert len(doc.history) == 3  # one undo step each
    assert doc.layers[3].content_bounds() is not None


def test_an_unreadable_file_adds_nothing(
        qtbot: QtBot, window: MainWindow, tmp_path: Path, dialogs: Dialogs) -> None:
    doc = show_document(window, new_document(50, 50))
    before = doc.composite()
    revision, steps = doc.revision, len(doc.history)
    bad = tmp_path / "cut.png"
    bad.write_bytes(write_png(tmp_path / "whole.png", 40, 40, (5, 5, 5, 255)).read_bytes()[:60])
    window.files.import_images([bad], None)
    qtbot.waitUntil(lambda: not window.session.busy.value)
    assert len(dialogs.errors) == 1
    assert (len(doc.layers), len(doc.history), doc.revision) == (1, steps, revision)
    np.testing.assert_array_equal(doc.composite(), before)


def test_opening_a_picture_builds_its_document_in_the_background(
        qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    picture = write_png(tmp_path / "photo.png", 33, 22, (40, 50, 60, 255))
    placed = _threads_of(monkeypatch, Layer, "placed")
    window.files.open_path(picture)
    qtbot.waitUntil(lambda: not window.session.busy.value)
    assert placed and threading.main_thread() not in placed
    doc = window.session.doc
    assert doc is not None and (doc.width, doc.height) == (33, 22) and not doc.modified
