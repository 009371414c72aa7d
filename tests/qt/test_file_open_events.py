"""macOS-style file-open events (Finder double-click) open the file like a drop."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from sfumato.document.document import new_document
from sfumato.document.layers import LayerKind
from sfumato.document.ora import save_ora
from sfumato.ui.files.open_events import FileOpenHandler
from sfumato.ui.main_window import MainWindow


def test_a_file_open_event_opens_the_ora_in_the_window(
        window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    doc = new_document(30, 20)
    doc.add_layer(LayerKind.MASK, name="Hole")
    save_ora(doc, tmp_path / "finder.ora")
    app = QApplication.instance()
    handler = FileOpenHandler(window.files.open_dropped, window)
    app.installEventFilter(handler)
    try:
        QApplication.sendEvent(app, QFileOpenEvent(str(tmp_path / "finder.ora")))
        qtbot.waitUntil(lambda: window.session.doc is not None and len(window.session.doc.layers) == 2)
        assert [layer.name for layer in window.session.doc.layers] == ["Background", "Hole"]
    finally:
        app.removeEventFilter(handler)


def test_other_events_pass_through(window: MainWindow) -> None:
    handler = FileOpenHandler(window.files.open_dropped, window)
    assert handler.eventFilter(window, QEvent(QEvent.Type.Show)) is False
    assert window.session.doc is None
