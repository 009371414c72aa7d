"""The one background-work primitive: calls on lanes of daemon threads, outcomes on the GUI thread,
awaited by coroutines on the qasync loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from sfumato.qt_bridge import work
from sfumato.qt_bridge.work import BackgroundWork, Lane


@pytest.fixture
def bg() -> Iterator[BackgroundWork]:
    owner = BackgroundWork()
    yield owner
    owner.shutdown(timeout=5)


def test_a_result_and_an_error_arrive_on_the_gui_thread(qtbot: QtBot, bg: BackgroundWork) -> None:
    seen: list[tuple[str, object, threading.Thread]] = []
    ran_on: list[threading.Thread] = []

    def double(x: int) -> int:
        ran_on.append(threading.current_thread())
        return 2 * x

    def fail() -> None:
        raise ValueError("no")

    bg.run("io", double, 21, on_done=lambda r: seen.append(("done", r, threading.current_thread())))
    bg.run("io", fail, on_error=lambda e: seen.append(("error", str(e), threading.current_thread())))
    qtbot.waitUntil(lambda: len(seen) == 2)
    assert sorted(seen, key=lambda s: s[0]) == [("done", 42, threading.main_thread()),
                                                ("error", "no", threading.main_thread())]
    assert ran_on[0] is not threading.main_thread() and ran_on[0].daemon
    assert ran_on[0].name.startswith("sfumato-io")


def test_busy_says_whether_anything_runs(qtbot: QtBot, bg: BackgroundWork) -> None:
    states: list[bool] = []
    bg.busy_changed.connect(states.append)
    go = threading.Event()
    bg.run("io", go.wait, 5)
    bg.run("io", lambda: None)
    assert bg.busy and states == [True]
    go.set()
    qtbot.waitUntil(lambda: not bg.busy)
    assert states == [True, False]


def test_a_generator_reports_progress_and_stops_at_the_next_yield_when_cancelled(
        qtbot: QtBot, bg: BackgroundWork) -> None:
    reports: list[int] = []
    outcome: list[str] = []
    step = threading.Semaphore(0)
    closed = threading.Event()

    def count() -> Iterator[int]:
        try:
            for i in range(100):
                step.acquire(timeout=5)
                yield i
        finally:
            closed.set()

    item = bg.run("io", count, on_progress=reports.append, on_done=lambda _r: outcome.append("done"),
                  on_cancelled=lambda: outcome.append("cancelled"))
    step.release()
    step.release()
    qtbot.waitUntil(lambda: reports == [0, 1])
    item.cancel()
    step.release()
    qtbot.waitUntil(lambda: outcome == ["cancelled"])
    assert closed.is_set() and reports == [0, 1]


def test_a_queued_call_cancelled_never_starts(qtbot: QtBot, bg: BackgroundWork) -> None:
    serial = Lane("test-serial")
    go = threading.Event()
    started: list[str] = []
    outcome: list[str] = []
    bg.run(serial, go.wait, 5)
    second = bg.run(serial, lambda: started.append("second"),
                    on_cancelled=lambda: outcome.append("cancelled"))
    second.cancel()
    go.set()
    qtbot.waitUntil(lambda: outcome == ["cancelled"])
    serial.shutdown(timeout=5)
    assert started == []


def test_a_coroutine_awaits_results_and_errors() -> None:
    bg = BackgroundWork()

    async def both() -> tuple[int, str]:
        value = await bg.run("io", lambda: 7)
        try:
            await bg.run("io", int, "x")
        except ValueError as exc:
            return value, type(exc).__name__
        return value, "no error"

    assert work.event_loop().run_until_complete(both()) == (7, "ValueError")
    bg.shutdown()


def test_shutting_down_cancels_an_awaiting_coroutine_and_delivers_nothing(qtbot: QtBot) -> None:
    bg = BackgroundWork()
    go = threading.Event()
    ended: list[str] = []
    delivered: list[object] = []

    async def waiting() -> None:
        item = bg.run("io", go.wait, 5)
        ended.append("waiting")
        try:
            await item
        except asyncio.CancelledError:
            ended.append("cancelled")
            raise

    task = work.start(waiting())
    bg.run("io", go.wait, 5, on_done=delivered.append)
    qtbot.waitUntil(lambda: ended == ["waiting"])
    go.set()
    bg.shutdown(timeout=5)
    qtbot.waitUntil(task.done)
    assert ended == ["waiting", "cancelled"] and delivered == []


def test_a_lane_runs_no_more_threads_than_it_may(qtbot: QtBot, bg: BackgroundWork) -> None:
    two = Lane("test-two", threads=2)
    go = threading.Event()
    names: set[str] = set()

    def hold() -> None:
        names.add(threading.current_thread().name)
        go.wait(5)

    for _ in range(4):
        bg.run(two, hold)
    qtbot.waitUntil(lambda: len(names) == 2)
    go.set()
    qtbot.waitUntil(lambda: not bg.busy)
    two.shutdown(timeout=5)
    assert names == {"sfumato-test-two-1", "sfumato-test-two-2"}
