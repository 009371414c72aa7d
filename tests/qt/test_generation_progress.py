"""The progress panel's queue: rows follow the jobs one change at a time."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from sfumato.generation.jobs import JobState
from sfumato.generation.requests import Txt2ImgRequest
from sfumato.qt_bridge.inference_thread import GenerationJob
from sfumato.session.notices import NoticeBoard
from sfumato.ui.generate.progress import GenerationProgress


def _job(label: str) -> GenerationJob:
    return GenerationJob(Txt2ImgRequest(model="m", prompt=label), label)


def test_queue_rows_are_kept_added_and_removed_one_at_a_time(qtbot: QtBot) -> None:
    panel = GenerationProgress(NoticeBoard())
    qtbot.addWidget(panel)
    panel.show()
    first, second, third = _job("first"), _job("second"), _job("third")
    first.state = JobState.RUNNING
    panel.set_jobs([first])
    assert [row.job for row in panel.rows()] == [first]
    assert panel.rows()[0].isHidden() and panel.queue_title.isHidden()  # one job: the bar shows it
    row_first = panel.rows()[0]
    panel.set_jobs([first, second])
    panel.set_jobs([first, second, third])
    rows = panel.rows()
    assert [row.job for row in rows] == [first, second, third]
    assert rows[0] is row_first  # the running job's row was not rebuilt
    qtbot.waitUntil(lambda: all(row.isVisible() for row in rows))  # shown from the event loop
    assert not panel.queue_title.isHidden()
    assert [row.text for row in rows] == ["first — running", "second — queued", "third — queued"]

    first.state = JobState.DONE
    second.state = JobState.RUNNING
    panel.set_jobs([second, third])
    assert panel.rows() == rows[1:]  # the finished job's row left, the others stayed
    assert [row.text for row in panel.rows()] == ["second — running", "third — queued"]
    panel.set_jobs([second])
    assert panel.rows() == rows[1:2] and panel.rows()[0].isHidden() and panel.queue_title.isHidden()
    panel.set_jobs([])
    assert panel.rows() == []


def test_a_long_job_label_does_not_widen_the_panel(qtbot: QtBot) -> None:
    panel = GenerationProgress(NoticeBoard())
    qtbot.addWidget(panel)
    panel.show()
    panel.set_jobs([_job("short"), _job("short too")])
    width = panel.minimumSizeHint().width()
    long_label = "a lighthouse on a cliff at dusk, " * 20
    panel.set_jobs([_job("short"), _job(long_label)])
    assert panel.minimumSizeHint().width() == width
    row = panel.rows()[1]
    assert row.label.toolTip() == long_label and row.text == f"{long_label} — queued"
    assert row.label.text() != row.text  # elided to the room it has
