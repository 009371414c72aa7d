"""Bad input through the window: File › Open, drops on the canvas and Edit › Paste of damaged,
mislabeled, oversized, hostile and pickle files (the corpus of ``tests/bad_inputs.py``).

Every case shows one short message and nothing else: the open document stays as it was (same
pixels, not modified), an empty window stays empty, no traceback reaches a dialog, and nothing
is written anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from bad_inputs import image_corpus, ora_corpus, pickle_corpus, tree
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from qt_helpers import Dialogs, show_document, widget_pos
from session_driver import digest_of

from sfumato.document.document import new_document
from sfumato.document.image_io import load_image
from sfumato.document.ora import load_ora
from sfumato.errors import UserFacingError
from sfumato.ui.main_window import MainWindow


@pytest.fixture(scope="module")
def unreadable(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The corpus files neither reader accepts (readable damage would rightly open)."""
    folder = tmp_path_factory.mktemp("bad-input")
    files = {**image_corpus(folder, seed=21, cuts=4, flips=3), **pickle_corpus(folder),
             **ora_corpus(folder, seed=21, cuts=4, flips=3)}
    refused = []
    for path in files.values():
        try:
            (load_ora if path.suffix == ".ora" else load_image)(path)
        except UserFacingError:
            refused.append(path)
    return refused


def _drop(window: MainWindow, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = widget_pos(window.canvas, 10, 10) if window.session.doc is not None else QPoint(50, 50)
    copy, left, none = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(pos, copy, mime, left, none)
    QApplication.sendEvent(window.canvas, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(window.canvas, QDropEvent(QPointF(pos), copy, mime, left, none))


def _paste_file(window: MainWindow, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    QGuiApplication.clipboard().setMimeData(mime)
    QTest.keySequence(window.canvas, "Ctrl+V")


def _open(window: MainWindow, dialogs: Dialogs, path: Path) -> None:
    dialogs.file_answers.append(str(path))
    QTest.keySequence(window.canvas, "Ctrl+O")


def _one_message(qtbot: QtBot, window: MainWindow, dialogs: Dialogs, what: str) -> None:
    qtbot.waitUntil(lambda: not window.session.busy.value and len(dialogs.errors) == 1)
    qtbot.wait(1)  # a second message would come from the same delivery
    assert len(dialogs.errors) == 1, f"{what}: {dialogs.errors}"
    message, details = dialogs.errors[0].message, dialogs.errors[0].details
    assert window.status_notices.text() == message and not dialogs.messages, what  # not modal
    assert message and "\n" not in message, what
    assert not message.startswith("Something went wrong"), f"{what}: not expected: {details}"
    assert "Traceback" not in message + details and 'File "' not in details, what
    dialogs.notices.clear()


PATHS: dict[str, Callable[[MainWindow, Dialogs, Path], None]] = {
    "open": _open,
    "drop": lambda window, _dialogs, path: _drop(window, path),
    "paste": lambda window, _dialogs, path: _paste_file(window, path),
}


@pytest.mark.parametrize("way", list(PATHS))
def test_bad_files_leave_the_open_document_untouched(
        way: str, unreadable: list[Path], window: MainWindow, dialogs: Dialogs, qtbot: QtBot) -> None:
    doc = show_document(window, new_document(120, 90, background=(10, 20, 30, 255)))
    doc.saved_revision = doc.revision
    before, revision = digest_of(doc), doc.revision
    files = tree(unreadable[0].parent)
    for path in unreadable:
        PATHS[way](window, dialogs, path)
        _one_message(qtbot, window, dialogs, f"{way} {path.name}")
        assert window.session.doc is doc and doc.revision == revision and digest_of(doc) == before, path.name
    assert tree(unreadable[0].parent) == files
    assert len(unreadable) > 60


@pytest.mark.parametrize("way", list(PATHS))
def test_bad_files_leave_an_empty_window_empty(
        way: str, unreadable: list[Path], window: MainWindow, dialogs: Dialogs, qtbot: QtBot) -> None:
    for path in unreadable[::7]:
        PATHS[way](window, dialogs, path)
        _one_message(qtbot, window, dialogs, f"{way} {path.name}")
        assert window.session.doc is None, path.name


def test_pasting_an_oversized_image_is_refused_in_one_message(
        window: MainWindow, dialogs: Dialogs, qtbot: QtBot) -> None:
    doc = show_document(window, new_document(64, 48))
    before, revision = digest_of(doc), doc.revision
    QGuiApplication.clipboard().setImage(QImage(16_385, 2, QImage.Format.Format_ARGB32))
    QTest.keySequence(window.canvas, "Ctrl+V")
    _one_message(qtbot, window, dialogs, "paste 16385×2")
    assert window.session.doc is doc and doc.revision == revision and digest_of(doc) == before
    window.session.show(None)
    QTest.keySequence(window.canvas, "Ctrl+V")
    _one_message(qtbot, window, dialogs, "paste 16385×2 into an empty window")
    assert window.session.doc is None
