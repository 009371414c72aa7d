"""The main window: shortcuts, drops, files, errors and autosave, driven like a user would."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from qt_helpers import Dialogs, show_document, widget_pos, write_png

from sfumato.document.autosave import AutosaveWriter, find_recoverable
from sfumato.document.document import new_document
from sfumato.document.layers import LayerKind
from sfumato.document.ora import load_ora, save_ora
from sfumato.session.notices import Severity, Source
from sfumato.session.tools import CanvasTool
from sfumato.ui.app import install_excepthook, offer_recovery
from sfumato.ui.files.new_document_dialog import NewDocumentDialog
from sfumato.ui.files.recovery_dialog import RecoveryDialog
from sfumato.ui.main_window import MainWindow


def key(win: MainWindow, sequence: str) -> None:
    """Type a shortcut into the canvas, as a user would."""
    QTest.keySequence(win.canvas, sequence)


def stroke(win: MainWindow, points: list[tuple[float, float]]) -> None:
    view = win.canvas
    first, *rest = [widget_pos(view, x, y) for x, y in points]
    QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, first)
    for pos in rest:
        QTest.mouseMove(view, pos)
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rest[-1])


def drop(win: MainWindow, paths: list[Path], pos: QPoint) -> None:
    """Drag files from outside and drop them on the canvas at widget position ``pos``."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    actions = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(pos, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win.canvas, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(pos), actions, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win.canvas, event)


def test_the_window_fits_a_laptop_screen_with_the_generate_panel_scrolling(window: MainWindow) -> None:
    window.resize(1366, 700)  # a 768-pixel-high laptop screen, less the taskbar and title
    QApplication.processEvents()
    assert window.minimumSizeHint().height() <= 700 and window.height() <= 700
    progress, panel = window.generation.progress, window.generation.panel
    assert progress.isVisible()  # the progress stays in view; the panel above it scrolls
    assert panel.height() > panel.visibleRegion().boundingRect().height()


def test_undo_and_redo_shortcuts(window: MainWindow) -> None:
    doc = show_document(window, new_document(400, 300))
    before = doc.layers[0].pixels.copy()
    stroke(window, [(50, 50), (300, 200)])
    painted = doc.layers[0].pixels.copy()
    assert not np.array_equal(painted, before)
    key(window, "Ctrl+Z")
    assert np.array_equal(doc.layers[0].pixels, before)
    key(window, "Ctrl+Shift+Z")
    assert np.array_equal(doc.layers[0].pixels, painted)
    key(window, "Ctrl+Z")
    key(window, "Ctrl+Y")
    assert np.array_equal(doc.layers[0].pixels, painted)
    assert window.menu_actions.by_name["undo"].text() == "&Undo Brush stroke"


def test_tool_and_brush_size_shortcuts(window: MainWindow) -> None:
    show_document(window, new_document(100, 100))
    key(window, "E")
    assert window.session.tool.value is CanvasTool.ERASER
    key(window, "M")
    assert window.session.tool.value is CanvasTool.RECT_SELECT
    key(window, "B")
    assert window.session.tool.value is CanvasTool.BRUSH
    size = window.session.brush.value.size
    key(window, "]")
    assert window.session.brush.value.size > size
    key(window, "[")
    key(window, "[")
    assert window.session.brush.value.size < size


def test_select_then_delete_clears_only_the_selection(window: MainWindow) -> None:
    doc = show_document(window, new_document(400, 300))
    window.session.tool.set(CanvasTool.RECT_SELECT)
    stroke(window, [(100, 100), (200, 200)])
    key(window, "Delete")
    alpha = doc.layers[0].pixels[..., 3]
    assert alpha[150, 150] == 0 and alpha[50, 50] == 255 and alpha[250, 250] == 255
    key(window, "Ctrl+D")
    assert not doc.selection.active
    key(window, "Ctrl+A")
    assert doc.selection.active
    key(window, "Ctrl+Shift+I")
    assert not doc.selection.active  # everything inverted is nothing
    key(window, "Ctrl+Z")
    key(window, "Ctrl+Z")
    key(window, "Ctrl+Z")
    key(window, "Ctrl+Z")
    assert np.all(doc.layers[0].pixels[..., 3] == 255)


def test_dropping_images_adds_layers_centred_at_the_drop_point(window: MainWindow, tmp_path: Path,
                                                               qtbot: QtBot) -> None:
    doc = show_document(window, new_document(800, 600))
    red = write_png(tmp_path / "red.png", 40, 20, (255, 0, 0, 255))
    blue = write_png(tmp_path / "blue.png", 10, 10, (0, 0, 255, 255))
    drop(window, [red, blue], widget_pos(window.canvas, 300, 200))
    qtbot.waitUntil(lambda: len(doc.layers) == 3)
    assert [layer.name for layer in doc.layers] == ["Background", "red", "blue"]
    placed = np.argwhere(doc.layers[1].pixels[..., 3] == 255)
    (y0, x0), (y1, x1) = placed.min(axis=0), placed.max(axis=0)
    assert abs((x0 + x1 + 1) / 2 - 300) <= 1 and abs((y0 + y1 + 1) / 2 - 200) <= 1
    assert (x1 - x0 + 1, y1 - y0 + 1) == (40, 20)
    key(window, "Ctrl+Z")
    assert len(doc.layers) == 2  # each drop is its own undo step


def test_dropping_on_an_empty_window_opens_a_document_of_the_image_size(
        window: MainWindow, tmp_path: Path, qtbot: QtBot) -> None:
    picture = write_png(tmp_path / "photo.png", 123, 45, (1, 2, 3, 255))
    drop(window, [picture], QPoint(200, 200))
    qtbot.waitUntil(lambda: window.session.doc is not None)
    doc = window.session.doc
    assert doc is not None and (doc.width, doc.height) == (123, 45)
    assert np.all(doc.layers[0].pixels == (1, 2, 3, 255))
    assert not doc.modified and "photo" in window.windowTitle()


def test_a_corrupt_image_is_reported_and_the_document_is_untouched(
        window: MainWindow, tmp_path: Path, qtbot: QtBot, dialogs: Dialogs) -> None:
    doc = show_document(window, new_document(200, 200))
    good = write_png(tmp_path / "good.png", 64, 64, (9, 9, 9, 255))
    broken = tmp_path / "broken.png"
    broken.write_bytes(good.read_bytes()[:60])
    revision = doc.revision
    drop(window, [broken], QPoint(100, 100))
    qtbot.waitUntil(lambda: bool(dialogs.notices) and dialogs.notices[-1].severity is Severity.ERROR)
    message = dialogs.notices[-1].message
    assert "broken.png" in message and "Traceback" not in message
    assert window.status_notices.text() == message and dialogs.messages == []  # said, not modal
    assert len(doc.layers) == 1 and doc.revision == revision and len(doc.history) == 0


def test_save_with_ctrl_s_and_reopen(window: MainWindow, tmp_path: Path, qtbot: QtBot,
                                     dialogs: Dialogs) -> None:
    doc = show_document(window, new_document(320, 240))
    stroke(window, [(20, 20), (300, 220)])
    window.session.tool.set(CanvasTool.MASK_BRUSH)
    stroke(window, [(200, 40), (250, 60)])
    assert doc.modified and window.isWindowModified()
    target = tmp_path / "painting"  # no suffix typed: .ora is added
    dialogs.file_answers.append(str(target))
    key(window, "Ctrl+S")
    qtbot.waitUntil(lambda: not window.session.busy.value and not doc.modified)
    saved = tmp_path / "painting.ora"
    assert saved.is_file() and doc.path == saved
    assert window.windowTitle().startswith("painting") and not window.isWindowModified()
    reopened = load_ora(saved)
    for a, b in zip(doc.layers, reopened.layers, strict=True):
        assert a.kind == b.kind and np.array_equal(a.pixels, b.pixels)
    dialogs.file_answers.append(str(saved))
    window.session.show(None)
    key(window, "Ctrl+O")
    qtbot.waitUntil(lambda: window.session.doc is not None)
    assert window.session.doc is not None and window.session.doc.path == saved
    assert [layer.kind for layer in window.session.doc.layers] == [layer.kind for layer in doc.layers]
    assert str(saved.resolve()) == window.settings.recent_files[0]


def test_a_failed_save_shows_a_message_and_keeps_the_document_modified(
        window: MainWindow, tmp_path: Path, qtbot: QtBot, dialogs: Dialogs) -> None:
    doc = show_document(window, new_document(64, 64))
    stroke(window, [(10, 10), (50, 50)])
    dialogs.file_answers.append(str(tmp_path / "missing-folder" / "x.ora"))
    key(window, "Ctrl+Shift+S")
    qtbot.waitUntil(lambda: bool(dialogs.notices) and dialogs.notices[-1].severity is Severity.ERROR)
    assert doc.modified and "Traceback" not in dialogs.notices[-1].message
    assert window.status_notices.text() == dialogs.notices[-1].message


def test_unsaved_changes_prompt_can_cancel_a_new_document(window: MainWindow, dialogs: Dialogs) -> None:
    from PySide6.QtWidgets import QMessageBox

    doc = show_document(window, new_document(64, 64))
    stroke(window, [(10, 10), (50, 50)])
    dialogs.question_answer = QMessageBox.StandardButton.Cancel
    window.files.new_document()
    assert window.session.doc is doc and dialogs.messages and "Save the changes" in dialogs.messages[0]


def test_ctrl_n_asks_for_a_size(window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    def answer(dialog: NewDocumentDialog) -> int:
        dialog._width.setValue(640)
        dialog._height.setValue(360)
        return int(NewDocumentDialog.DialogCode.Accepted.value)

    monkeypatch.setattr(NewDocumentDialog, "exec", answer)
    key(window, "Ctrl+N")
    doc = window.session.doc
    assert doc is not None and (doc.width, doc.height) == (640, 360) and not doc.modified
    assert np.all(doc.layers[0].pixels == 255)


def test_paste_clipboard_image_as_a_layer(qtbot: QtBot, window: MainWindow) -> None:
    doc = show_document(window, new_document(300, 300))
    image = QImage(30, 20, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.green)
    QGuiApplication.clipboard().setImage(image)
    key(window, "Ctrl+V")
    qtbot.waitUntil(lambda: len(doc.layers) == 2)  # the layer is made in the background
    assert doc.layers[1].name == "Pasted image"
    assert np.count_nonzero(doc.layers[1].pixels[..., 3]) == 30 * 20


def test_zoom_shortcuts(window: MainWindow) -> None:
    show_document(window, new_document(500, 500))
    key(window, "Ctrl+1")
    assert window.canvas.zoom == 1.0
    key(window, "Ctrl++")
    assert window.canvas.zoom == 1.5
    key(window, "-")
    assert window.canvas.zoom == 1.0
    key(window, "Ctrl+0")
    assert window.canvas.zoom == pytest.approx(min((window.canvas.width() - 48) / 500,
                                                   (window.canvas.height() - 48) / 500))


def test_autosave_snapshot_is_recoverable(window: MainWindow, tmp_path: Path) -> None:
    writer = AutosaveWriter(tmp_path / "autosave")
    window.autosave.writer = writer
    doc = show_document(window, new_document(96, 64))
    stroke(window, [(10, 10), (80, 50)])
    window.autosave.save_now()
    assert writer.flush(timeout=10)
    files = list(writer.session_dir.glob("*.ora"))
    assert len(files) == 1
    assert np.array_equal(load_ora(files[0]).layers[0].pixels, doc.layers[0].pixels)
    assert find_recoverable(tmp_path / "autosave") == []  # this session is still alive
    window.autosave.writer = None
    writer.close()


def test_recovery_at_start_reopens_what_a_killed_process_autosaved(
        qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "autosave"
    child = f"""
import os, signal
from sfumato.document.autosave import AutosaveWriter, take_snapshot
from sfumato.document.document import new_document
doc = new_document(50, 40)
doc.layers[0].pixels[10:20, 10:30] = (7, 8, 9, 255)
doc.revision += 1
writer = AutosaveWriter({str(directory)!r})
writer.submit(take_snapshot(doc, "Sketch"))
writer.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""
    result = subprocess.run([sys.executable, "-c", child], check=False, timeout=60)
    assert result.returncode == -signal.SIGKILL

    def choose_recover(dialog: RecoveryDialog) -> int:
        assert dialog.list.count() == 1 and "Sketch" in dialog.list.item(0).text()
        dialog._finish("recover")
        return 1

    monkeypatch.setattr(RecoveryDialog, "exec", choose_recover)
    writer = AutosaveWriter(directory)  # this session's
    window.autosave.writer = writer
    offer_recovery(window.files, window, directory)
    session = window.session
    qtbot.waitUntil(lambda: session.doc is not None and not session.busy.value)  # read in the background
    doc = window.session.doc
    assert doc is not None and (doc.width, doc.height) == (50, 40) and doc.modified
    assert tuple(doc.layers[0].pixels[15, 15]) == (7, 8, 9, 255)
    assert find_recoverable(directory) == []  # recovered once, not offered again
    assert writer.flush(timeout=10)
    kept = list(writer.session_dir.glob("*.ora"))  # already autosaved again by this session
    assert len(kept) == 1 and tuple(load_ora(kept[0]).layers[0].pixels[15, 15]) == (7, 8, 9, 255)
    window.autosave.writer = None
    writer.close()


def test_export_writes_the_visible_image(window: MainWindow, tmp_path: Path, qtbot: QtBot,
                                         dialogs: Dialogs) -> None:
    doc = show_document(window, new_document(40, 30, background=(10, 20, 30, 255)))
    doc.add_layer(LayerKind.MASK).pixels[...] = 255  # masks are not part of the picture
    dialogs.file_answers.append(str(tmp_path / "out.png"))
    key(window, "Ctrl+Shift+E")
    qtbot.waitUntil(lambda: not window.session.busy.value)
    with Image.open(tmp_path / "out.png") as image:
        assert image.size == (40, 30)
        assert image.convert("RGBA").getpixel((5, 5)) == (10, 20, 30, 255)
    assert not dialogs.messages and dialogs.notice_messages == ["Exporting out.png…", "Exported out.png"]


def test_dropping_an_ora_asks_about_unsaved_changes_then_opens_it(
        window: MainWindow, tmp_path: Path, qtbot: QtBot, dialogs: Dialogs) -> None:
    other = new_document(30, 20)
    other.add_layer(LayerKind.MASK, name="Hole")
    save_ora(other, tmp_path / "other.ora")
    doc = show_document(window, new_document(64, 64))
    stroke(window, [(10, 10), (50, 50)])
    drop(window, [tmp_path / "other.ora"], QPoint(100, 100))
    assert dialogs.messages and "Save the changes" in dialogs.messages[0]  # answered Discard
    qtbot.waitUntil(lambda: window.session.doc is not doc)
    doc = window.session.doc
    assert doc is not None and [layer.name for layer in doc.layers] == ["Background", "Hole"]


def test_unexpected_errors_are_logged_and_shown_briefly(
        window: MainWindow, dialogs: Dialogs, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    install_excepthook(window.session.notices)
    try:
        raise ValueError("internal detail")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    message = "Something went wrong. The details are in the log file; please report them."
    assert dialogs.notice_messages == [message] and dialogs.notices[0].source is Source.APP
    assert "internal detail" in dialogs.notices[0].details and window.status_notices.text() == message
    window.status_notices.details_button.click()  # the details on demand
    assert dialogs.messages == [message] and "internal detail" in dialogs.details[0]
    assert "Traceback" in caplog.text and "internal detail" in caplog.text


def test_a_failing_autosave_is_reported_in_the_status_bar(window: MainWindow, tmp_path: Path,
                                                          qtbot: QtBot, dialogs: Dialogs) -> None:
    blocked = tmp_path / "autosave"
    writer = AutosaveWriter(blocked, on_error=lambda exc: window.files.autosave_failed.emit(str(exc)))
    window.autosave.writer = writer
    show_document(window, new_document(32, 32))
    stroke(window, [(5, 5), (25, 25)])
    shutil.rmtree(writer.session_dir)
    (writer.session_dir).write_bytes(b"")  # a file where the folder was: the write must fail
    window.autosave.save_now()
    qtbot.waitUntil(lambda: window.status_notices.text().startswith("Autosave failed"))
    assert dialogs.notices[-1].severity is Severity.WARNING
    window.autosave.writer = None
    writer.close()


def test_closing_with_unsaved_changes_can_cancel_or_save_first(
        window: MainWindow, tmp_path: Path, qtbot: QtBot, dialogs: Dialogs) -> None:
    from PySide6.QtWidgets import QMessageBox

    doc = show_document(window, new_document(48, 48))
    stroke(window, [(5, 5), (40, 40)])
    dialogs.question_answer = QMessageBox.StandardButton.Cancel
    window.close()
    assert window.isVisible() and window.session.doc is doc
    dialogs.question_answer = QMessageBox.StandardButton.Save
    dialogs.file_answers.append(str(tmp_path / "kept.ora"))
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible())
    assert not doc.modified and load_ora(tmp_path / "kept.ora").width == 48


def test_open_an_image_then_reopen_it_from_the_recent_menu(
        window: MainWindow, tmp_path: Path, qtbot: QtBot, dialogs: Dialogs) -> None:
    picture = write_png(tmp_path / "scan.png", 20, 10, (50, 60, 70, 255))
    dialogs.file_answers.append(str(picture))
    key(window, "Ctrl+O")
    qtbot.waitUntil(lambda: window.session.doc is not None)
    first = window.session.doc
    assert first is not None and (first.width, first.height) == (20, 10)
    recent = window.menu_actions.recent_menu.actions()
    assert recent[0].toolTip() == str(picture.resolve())
    recent[0].trigger()
    qtbot.waitUntil(lambda: window.session.doc is not first)
    doc = window.session.doc
    assert doc is not None and tuple(doc.layers[0].pixels[5, 5]) == (50, 60, 70, 255)
