"""Helpers shared by the window tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, QPointF
from PySide6.QtWidgets import QMessageBox

from sfumato.document.document import Document
from sfumato.session.notices import Notice, Severity
from sfumato.ui.canvas.view import CanvasView
from sfumato.ui.main_window import MainWindow


def show_document(win: MainWindow, doc: Document) -> Document:
    """Put ``doc`` in ``win`` with its display fully composited."""
    win.session.show(doc)
    assert win.canvas.cache is not None
    win.canvas.cache.flush()
    return doc


def widget_pos(view: CanvasView, x: float, y: float) -> QPoint:
    """The widget pixel showing document point ``(x, y)``."""
    wx, wy = view.viewport.to_widget(x, y)
    return QPointF(wx, wy).toPoint()


def write_png(path: Path, w: int, h: int, rgba: tuple[int, int, int, int]) -> Path:
    """A solid ``w × h`` PNG."""
    Image.fromarray(np.full((h, w, 4), rgba, np.uint8), "RGBA").save(path)
    return path


class Dialogs:
    """What the patched dialogs were asked, and what they answer; and the notices the window's
    session posted (``notices``), in order."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.details: list[str] = []
        self.notices: list[Notice] = []
        self.file_answers: list[str] = []
        self.question_answer = QMessageBox.StandardButton.Discard

    @property
    def notice_messages(self) -> list[str]:
        """The messages of the notices posted so far."""
        return [notice.message for notice in self.notices]

    @property
    def errors(self) -> list[Notice]:
        """The error notices posted so far."""
        return [notice for notice in self.notices if notice.severity is Severity.ERROR]

    def next_file(self) -> str:
        assert self.file_answers, "a file dialog opened that the test did not expect"
        return self.file_answers.pop(0)
