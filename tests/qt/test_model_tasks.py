"""ModelTasks: work runs on worker threads; progress and outcomes arrive on the GUI thread."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from model_helpers import CPU_16GB, offline_manager
from pytestqt.qtbot import QtBot

from sfumato.model_store import DownloadCancelled, DownloadProgress, ModelStoreError
from sfumato.qt_bridge import work
from sfumato.qt_bridge.model_tasks import ModelTasks


def progress(n: int) -> DownloadProgress:
    return DownloadProgress("m", "f", n, 10, 0, 0, 1, 1.0, 1.0)


def test_progress_and_result_arrive_on_the_gui_thread(qtbot: QtBot, tmp_path: Path) -> None:
    tasks = ModelTasks(offline_manager(tmp_path / "cache", CPU_16GB))
    seen: list[tuple[str, object, bool]] = []
    tasks.progress.connect(lambda k, p: seen.append((k, p.bytes_done, threading.current_thread() is
                                                      threading.main_thread())))
    worker: list[bool] = []
    done: list[object] = []

    def work(report: object, _cancel: threading.Event) -> str:
        worker.append(threading.current_thread() is threading.main_thread())
        for n in (3, 10):
            report(progress(n))  # type: ignore[operator]
        return "ok"

    with qtbot.waitSignal(tasks.finished, timeout=5000) as blocker:
        assert tasks.run("a", work, on_done=done.append)
        assert not tasks.run("a", work)  # one task per key
        assert tasks.is_running("a")
    assert blocker.args == ["a", "ok"] and done == ["ok"]
    assert worker == [False]
    assert seen == [("a", 3, True), ("a", 10, True)]
    assert not tasks.running()


def test_failures_and_cancels_are_reported_apart(qtbot: QtBot, tmp_path: Path) -> None:
    tasks = ModelTasks(offline_manager(tmp_path / "cache", CPU_16GB))
    errors: list[BaseException] = []

    def fail(_r: object, _c: threading.Event) -> None:
        raise ModelStoreError("nope")

    with qtbot.waitSignal(tasks.failed, timeout=5000) as blocker:
        tasks.run("f", fail, on_error=errors.append)
    assert blocker.args[0] == "f" and str(blocker.args[1]) == "nope" and errors == [blocker.args[1]]

    def wait_for_cancel(_r: object, cancel: threading.Event) -> None:
        cancel.wait(5)
        raise DownloadCancelled("cancelled")

    tasks.run("c", wait_for_cancel)
    with qtbot.waitSignal(tasks.cancelled, timeout=5000) as blocker:
        assert tasks.cancel("c") and not tasks.cancel("unknown")
    assert blocker.args == ["c"]


def test_shutdown_cancels_and_waits(qtbot: QtBot, tmp_path: Path) -> None:
    tasks = ModelTasks(offline_manager(tmp_path / "cache", CPU_16GB))
    started, stopped = threading.Event(), threading.Event()

    def long_work(_r: object, cancel: threading.Event) -> None:
        started.set()
        cancel.wait(30)
        stopped.set()
        raise DownloadCancelled("cancelled")

    tasks.run("long", long_work)
    assert started.wait(5)  # running (a task still queued on its lane would simply never start)
    tasks.shutdown(timeout=5)
    assert stopped.is_set()


def test_a_coroutine_awaits_a_task_for_its_result_or_its_error(qtbot: QtBot, tmp_path: Path) -> None:
    tasks = ModelTasks(offline_manager(tmp_path / "cache", CPU_16GB))
    signalled: list[str] = []
    tasks.finished.connect(lambda k, _r: signalled.append(k))
    tasks.failed.connect(lambda k, _e: signalled.append(k))

    async def awaited() -> tuple[object, str]:
        assert tasks.run("a", lambda report, _cancel: (report(progress(10)), "ok")[1])
        result = await tasks.outcome("a")
        assert signalled == ["a"] and not tasks.is_running("a")  # after the signal, like a slot
        assert tasks.install("b", "no-such-model")  # the store refuses an unknown model
        try:
            await tasks.outcome("b")
        except ModelStoreError as error:
            return result, str(error)
        return result, "no error"

    result, error = work.event_loop().run_until_complete(awaited())
    assert result == "ok" and "no-such-model" in error and signalled == ["a", "b"]
    with pytest.raises(KeyError):
        tasks.outcome("a")  # no longer running


def test_an_awaited_task_cancelled_raises_download_cancelled(qtbot: QtBot, tmp_path: Path) -> None:
    tasks = ModelTasks(offline_manager(tmp_path / "cache", CPU_16GB))

    def wait_for_cancel(_r: object, cancel: threading.Event) -> None:
        cancel.wait(5)
        raise DownloadCancelled("cancelled")

    async def cancelled() -> str:
        tasks.run("c", wait_for_cancel)
        outcome = tasks.outcome("c")
        tasks.cancel("c")
        try:
            await outcome
        except DownloadCancelled:
            return "cancelled"
        return "not cancelled"

    assert work.event_loop().run_until_complete(cancelled()) == "cancelled"


def test_cancelling_the_awaiting_coroutine_leaves_the_task_running(qtbot: QtBot, tmp_path: Path) -> None:
    tasks = ModelTasks(offline_manager(tmp_path / "cache", CPU_16GB))
    go = threading.Event()
    tasks.run("long", lambda _r, _c: go.wait(5) and "done")
    outcome = tasks.outcome("long")

    async def waiting() -> None:
        await outcome

    awaiting = work.start(waiting())
    qtbot.waitUntil(lambda: tasks.is_running("long"))
    awaiting.cancel()
    qtbot.waitUntil(awaiting.done)
    assert awaiting.cancelled() and tasks.is_running("long")
    with qtbot.waitSignal(tasks.finished, timeout=5000) as blocker:
        go.set()
    assert blocker.args == ["long", "done"]


def test_shutting_down_cancels_an_awaiting_coroutine(qtbot: QtBot, tmp_path: Path) -> None:
    tasks = ModelTasks(offline_manager(tmp_path / "cache", CPU_16GB))
    tasks.run("long", lambda _r, cancel: cancel.wait(5))
    outcome = tasks.outcome("long")

    async def waiting() -> None:
        await outcome

    awaiting = work.start(waiting())
    tasks.shutdown(timeout=5)
    qtbot.waitUntil(awaiting.done)
    assert awaiting.cancelled()
