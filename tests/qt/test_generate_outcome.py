"""Generation jobs awaited from a coroutine on the qasync loop (``InferenceService.outcome``):
the result, the failure and the cancel, each after its signal; cancelling the awaiting coroutine
leaves the job running; shutting down cancels the awaiting coroutine."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from pytestqt.qtbot import QtBot
from test_generate_service import ScriptedEngine, _request

from sfumato.generation.jobs import JobState
from sfumato.inference.results import GeneratedImage, GenerationResult
from sfumato.qt_bridge import work
from sfumato.qt_bridge.inference_thread import InferenceService, JobCancelled, JobFailed

TIMEOUT_MS = 10_000


class HeldEngine:
    """One image, once ``go`` is set (or a cancel once ``cancel`` is)."""

    def __init__(self) -> None:
        self.go = threading.Event()

    def run(self, request: Any, _on_step: Any, cancel: threading.Event, _on_stage: Any) -> GenerationResult:
        while not self.go.wait(0.01):
            if cancel.is_set():
                return GenerationResult((), (request.seed,), cancelled=True)
        image = GeneratedImage(np.zeros((8, 8, 3), np.uint8), request.seed, "params")
        return GenerationResult((image,), (request.seed,))


def test_an_awaited_job_gives_its_result_after_the_finished_signal(qtbot: QtBot) -> None:
    service = InferenceService(ScriptedEngine)
    signalled: list[object] = []
    service.finished.connect(lambda job, _images, _seeds: signalled.append(job))

    async def awaited() -> tuple[object, GenerationResult]:
        job = service.submit(_request(), "first")
        result = await service.outcome(job)
        assert signalled == [job] and job.state is JobState.DONE  # after the signal, like a slot
        return job, result

    job, result = work.event_loop().run_until_complete(awaited())
    assert [image.seed for image in result.images] == [5] and result.notices == ("rounded",)
    with pytest.raises(KeyError):
        service.outcome(job)  # over: nothing left to await
    service.shutdown()


def test_an_awaited_job_that_fails_raises_its_message_and_details(qtbot: QtBot) -> None:
    service = InferenceService(ScriptedEngine)
    failed: list[tuple[str, str]] = []
    service.failed.connect(lambda _job, message, details: failed.append((message, details)))

    async def awaited() -> JobFailed | None:
        job = service.submit(_request("crash"), "crash")
        try:
            await service.outcome(job)
        except JobFailed as error:
            return error
        return None

    error = work.event_loop().run_until_complete(awaited())
    assert error is not None and failed == [(error.message, error.details)]
    assert "unexpectedly" in error.message and "KeyError" in error.details
    service.shutdown()


def test_an_awaited_job_cancelled_raises_job_cancelled(qtbot: QtBot) -> None:
    service = InferenceService(ScriptedEngine)
    cancelled: list[object] = []
    service.cancelled.connect(cancelled.append)

    async def awaited() -> str:
        job = service.submit(_request(), "job")
        outcome = service.outcome(job)
        service.cancel(job)  # a queued job at once; a running one at its next stage
        try:
            await outcome
        except JobCancelled:
            return "cancelled" if cancelled[-1] is job else "cancelled before the signal"
        return "not cancelled"

    queued = work.start(awaited())  # (the loop run here, as under app.exec())
    qtbot.waitUntil(queued.done, timeout=TIMEOUT_MS)
    assert queued.result() == "cancelled"
    with qtbot.waitSignal(service.stage, timeout=TIMEOUT_MS):
        running = service.submit(_request("slow load"), "slow")
    outcome = service.outcome(running)

    async def cancel_running() -> str:
        service.cancel(running)
        try:
            await outcome
        except JobCancelled:
            return "cancelled" if cancelled[-1] is running else "cancelled before the signal"
        return "not cancelled"

    loading = work.start(cancel_running())
    qtbot.waitUntil(loading.done, timeout=TIMEOUT_MS)
    assert loading.result() == "cancelled"  # while loading
    service.shutdown()


def test_cancelling_the_awaiting_coroutine_leaves_the_job_running(qtbot: QtBot) -> None:
    engine = HeldEngine()
    service = InferenceService(lambda: engine)
    with qtbot.waitSignal(service.started, timeout=TIMEOUT_MS):
        job = service.submit(_request(), "held")
    outcome = service.outcome(job)

    async def waiting() -> None:
        await outcome

    awaiting = work.start(waiting())
    qtbot.waitUntil(lambda: job.state is JobState.RUNNING)
    awaiting.cancel()
    qtbot.waitUntil(awaiting.done)
    assert awaiting.cancelled() and job.state is JobState.RUNNING and not job.cancel_event.is_set()
    with qtbot.waitSignal(service.finished, timeout=TIMEOUT_MS) as finished:
        engine.go.set()
    assert finished.args[0] is job and job.state is JobState.DONE
    service.shutdown()


def test_shutting_down_cancels_an_awaiting_coroutine(qtbot: QtBot) -> None:
    engine = HeldEngine()
    service = InferenceService(lambda: engine)
    with qtbot.waitSignal(service.started, timeout=TIMEOUT_MS):
        job = service.submit(_request(), "held")
    outcome = service.outcome(job)

    async def waiting() -> None:
        await outcome

    awaiting = work.start(waiting())
    service.shutdown()
    qtbot.waitUntil(awaiting.done)
    assert awaiting.cancelled() and job.cancel_event.is_set()
