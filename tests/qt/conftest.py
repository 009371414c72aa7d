"""Fixtures for the window tests: a main window with no modal dialog ever left open.

Modal dialogs would block a test forever, so message boxes, file dialogs and the new-document
dialog are replaced: message boxes record their text in ``dialogs``; file dialogs answer what
a test put in ``file_answers``. ``dialogs.notices`` records what the window's session posted.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox
from pytestqt.qtbot import QtBot
from qt_helpers import Dialogs

from sfumato.document.document import new_document
from sfumato.session.canvas_session import CanvasSession
from sfumato.settings.model import Settings
from sfumato.ui.canvas.view import CanvasView
from sfumato.ui.main_window import MainWindow


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> Dialogs:
    """Replace modal dialogs by recorders."""
    seen = Dialogs()

    def fake_exec(box: QMessageBox) -> int:
        seen.messages.append(box.text())
        seen.details.append(box.detailedText())
        return int(QMessageBox.StandardButton.Ok.value)

    def fake_question(_parent: object, _title: str, text: str, *_a: object, **_k: object) -> object:
        seen.messages.append(text)
        return seen.question_answer

    def unexpected_dialog(dialog: QDialog) -> int:
        raise AssertionError(f"a {type(dialog).__name__} opened that the test did not answer")

    monkeypatch.setattr(QDialog, "exec", unexpected_dialog)
    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    monkeypatch.setattr(QMessageBox, "question", fake_question)
    monkeypatch.setattr(QMessageBox, "warning", fake_question)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (seen.next_file(), ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (seen.next_file(), ""))
    return seen


@pytest.fixture
def window(qtbot: QtBot, dialogs: Dialogs) -> Iterator[MainWindow]:
    """A shown, active main window without a document."""
    win = MainWindow(Settings())
    win.session.notices.posted.connect(dialogs.notices.append)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win)
    yield win
    if win.session.doc is not None:
        win.session.doc.saved_revision = win.session.doc.revision  # no unsaved-changes prompt at teardown
    win.close()


@pytest.fixture
def canvas(qtbot: QtBot) -> Iterator[CanvasView]:
    """A bare 800×600 canvas showing a white 640×480 document, fitted."""
    view = CanvasView(CanvasSession())
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    qtbot.waitExposed(view)
    view.session.show(new_document(640, 480))
    yield view
    view.shutdown()
