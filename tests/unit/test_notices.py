"""Notices without Qt: errors become one notice each, and the board keeps each source's latest."""

from __future__ import annotations

import errno
import logging

import pytest

from sfumato.errors import UserFacingError
from sfumato.session.canvas_session import CanvasSession
from sfumato.session.notices import Notice, NoticeBoard, Severity, Source, notice_from_error


def test_a_user_facing_error_keeps_its_message_and_details() -> None:
    notice = notice_from_error(UserFacingError("The file is not an image.", "PIL said: cannot identify"),
                               Source.FILES)
    assert notice == Notice(Severity.ERROR, "The file is not an image.", Source.FILES,
                            "PIL said: cannot identify")


def test_an_os_error_names_the_file_and_an_unexpected_one_logs_its_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    denied = notice_from_error(PermissionError(errno.EACCES, "Permission denied", "/x/a.ora"), Source.FILES)
    assert denied.message == "The file “/x/a.ora” could not be used: Permission denied."
    with caplog.at_level(logging.ERROR, logger="sfumato.session.notices"):
        try:
            raise KeyError("internal detail")
        except KeyError as exc:
            notice = notice_from_error(exc, Source.APP)
    assert notice.message.startswith("Something went wrong") and "internal detail" in notice.details
    assert "Traceback" not in notice.message + notice.details
    assert caplog.records and caplog.records[0].exc_info is not None  # the traceback went to the log


def test_the_board_keeps_each_sources_latest_and_tells_every_post() -> None:
    board = NoticeBoard()
    posted: list[Notice] = []
    cleared: list[Source] = []
    board.posted.connect(posted.append)
    board.cleared.connect(cleared.append)
    shown: list[Notice | None] = []
    board.latest(Source.GENERATE).bind(shown.append)

    first = board.error(Source.GENERATE, "Choose a model first.")
    board.error(Source.GENERATE, "Choose a model first.")  # the same again is still told
    note = board.info(Source.FILES, "Saved a.ora")
    assert posted == [first, first, note]
    assert shown == [None, first]  # the files notice is not the Generate panel's
    assert board.latest(Source.FILES).value == note

    board.clear(Source.GENERATE)
    board.clear(Source.GENERATE)  # nothing left to take back
    assert shown == [None, first, None] and cleared == [Source.GENERATE]


def test_a_session_has_one_board() -> None:
    session = CanvasSession()
    notice = session.notices.report(UserFacingError("Select an area first."), Source.LAYERS)
    assert session.notices.latest(Source.LAYERS).value is notice and notice.severity is Severity.ERROR
