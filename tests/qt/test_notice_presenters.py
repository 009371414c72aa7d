"""The notice widgets: a panel's inline bar, the status bar's field, details on demand."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from qt_helpers import Dialogs

from sfumato.session.notices import Notice, NoticeBoard, Severity, Source
from sfumato.ui.common.notices import STATUS_MS, NoticeBar, StatusNotices


def test_an_inline_bar_shows_its_sources_latest_notice_and_its_details_on_demand(
        qtbot: QtBot, dialogs: Dialogs) -> None:
    board = NoticeBoard()
    panel = QWidget()
    qtbot.addWidget(panel)
    bar = NoticeBar(board, Source.GENERATE, panel)
    panel.show()
    assert not bar.isVisible()

    board.info(Source.FILES, "Saved a.ora")  # another source's: not this bar's
    assert not bar.isVisible()
    board.error(Source.GENERATE, "The model could not be loaded.", "unet/config.json is missing")
    assert bar.isVisible() and bar.message.text() == "The model could not be loaded."
    assert bar.mark.text() == "⚠" and bar.details_button.isVisibleTo(bar)
    assert dialogs.messages == []  # nothing modal until asked
    bar.details_button.click()
    assert dialogs.messages == ["The model could not be loaded."]
    assert dialogs.details == ["unet/config.json is missing"]

    board.info(Source.GENERATE, "Steps raised to 4.")
    assert bar.message.text() == "Steps raised to 4." and not bar.details_button.isVisibleTo(bar)
    bar.dismiss_button.click()
    assert not bar.isVisible() and board.latest(Source.GENERATE).value is None


def test_the_status_field_shows_the_rest_and_an_error_stays(qtbot: QtBot) -> None:
    board = NoticeBoard()
    field = StatusNotices(board, inline={Source.GENERATE})
    qtbot.addWidget(field)
    field.show()

    board.error(Source.GENERATE, "Choose a model first.")  # the Generate panel shows that one
    assert field.text() == ""
    board.info(Source.FILES, "Saved a.ora")
    assert field.text() == "Saved a.ora" and field.mark.text() == "ℹ"
    assert field._timer.isActive() and field._timer.interval() == STATUS_MS[Severity.INFO]
    field._timer.timeout.emit()  # its time is up
    assert field.text() == "" and not field.isVisible()

    board.post(Notice(Severity.ERROR, "a.ora could not be opened.", Source.FILES, "not a zip file"))
    assert field.text() == "a.ora could not be opened." and not field._timer.isActive()
    board.clear(Source.LAYERS)  # another source's notice taken back: this one stays
    assert field.text() == "a.ora could not be opened."
    board.info(Source.FILES, "Opening b.ora…")
    board.clear(Source.FILES)
    assert field.text() == ""


def test_a_bar_without_a_board_is_shown_to_directly(qtbot: QtBot) -> None:
    bar = NoticeBar()
    qtbot.addWidget(bar)
    bar.show_notice(Notice(Severity.WARNING, "The server had an error (500); try again.", Source.MODELS))
    assert bar.isVisible() and bar.mark.text() == "⚠"
    bar.dismiss_button.click()
    assert not bar.isVisible() and bar.notice is None


def test_work_under_way_stays_until_its_source_clears_it(qtbot: QtBot) -> None:
    board = NoticeBoard()
    field = StatusNotices(board)
    qtbot.addWidget(field)
    board.info(Source.FILES, "Opening “Sketch”…", ongoing=True)
    assert field.text() == "Opening “Sketch”…" and not field._timer.isActive()
    board.clear(Source.FILES)
    assert field.text() == ""
