"""The inference thread on its own, with a scripted engine: signal order, the engine made on
the worker thread, stages relayed and a load cancelled, and a crash in the engine reported
instead of killing the thread."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from pytestqt.qtbot import QtBot

from sfumato.generation.jobs import JobState
from sfumato.generation.requests import Txt2ImgRequest
from sfumato.inference.results import GeneratedImage, GenerationResult, StepProgress
from sfumato.qt_bridge.inference_thread import InferenceService


class ScriptedEngine:
    """A loading stage, then three steps with a preview each; a prompt of "crash" raises an
    unexpected error, a prompt of "slow load" loads until cancelled."""

    def __init__(self) -> None:
        self.thread = threading.current_thread()

    def run(self, request: Any, on_step: Any, cancel: threading.Event, on_stage: Any) -> GenerationResult:
        if request.prompt == "crash":
            raise KeyError("surprise")
        on_stage("Loading tiny…")
        if request.prompt == "slow load":
            cancel.wait(10)
            return GenerationResult((), (request.seed,), cancelled=True)
        for step in (1, 2, 3):
            on_step(StepProgress(step, 3, np.full((4, 4, 3), 50 * step, np.uint8)))
            if cancel.is_set():
                return GenerationResult((), (request.seed,), cancelled=True)
        image = GeneratedImage(np.zeros((8, 8, 3), np.uint8), request.seed, "params")
        return GenerationResult((image,), (request.seed,), ("rounded",))


def _request(prompt: str = "a cat") -> Txt2ImgRequest:
    return Txt2ImgRequest(model="/nowhere", prompt=prompt, seed=5, width=64, height=64)


def test_signals_arrive_in_order_on_the_gui_thread(qtbot: QtBot) -> None:
    engines: list[ScriptedEngine] = []
    service = InferenceService(lambda: engines.append(ScriptedEngine()) or engines[-1])
    seen: list[str] = []
    threads: set[threading.Thread] = set()

    def note(name: str) -> Any:
        def slot(*args: Any) -> None:
            seen.append(name)
            threads.add(threading.current_thread())
        return slot

    for name in ("queued", "started", "stage", "progress", "finished"):
        getattr(service, name).connect(note(name))
    previews: list[Any] = []
    service.progress.connect(lambda _job, _step, _total, preview: previews.append(preview))
    with qtbot.waitSignal(service.finished, timeout=10_000) as finished:
        job = service.submit(_request(), "first")
    assert seen == ["queued", "started", "stage", "progress", "progress", "progress", "finished"]
    assert threads == {threading.main_thread()}
    assert engines[0].thread is not threading.main_thread()  # the engine lives on the worker
    assert previews[0].width() == 4 and previews[0].pixelColor(0, 0).red() == 50
    assert finished.args[0] is job and finished.args[2] == (5,)
    assert job.state is JobState.DONE and (job.step, job.total) == (3, 3)
    assert service.notices(job) == ("rounded",) and not service.busy
    service.shutdown()


def test_a_job_cancelled_while_loading_ends_cancelled(qtbot: QtBot) -> None:
    service = InferenceService(ScriptedEngine)
    stages: list[tuple[Any, str]] = []
    service.stage.connect(lambda job, text: stages.append((job, text)))
    with qtbot.waitSignal(service.stage, timeout=10_000):
        job = service.submit(_request("slow load"), "slow")
    assert stages == [(job, "Loading tiny…")] and job.stage == "Loading tiny…"
    with qtbot.waitSignal(service.cancelled, timeout=10_000):
        service.cancel(job)
    assert job.state is JobState.CANCELLED and not service.busy
    service.shutdown()


def test_an_unexpected_engine_error_is_reported_and_the_thread_goes_on(qtbot: QtBot) -> None:
    service = InferenceService(ScriptedEngine)
    with qtbot.waitSignal(service.failed, timeout=10_000) as failed:
        crash = service.submit(_request("crash"), "crash")
    assert failed.args[0] is crash and crash.state is JobState.FAILED
    assert "unexpectedly" in failed.args[1] and "KeyError" in failed.args[2]
    with qtbot.waitSignal(service.finished, timeout=10_000):
        service.submit(_request(), "after")
    service.shutdown()
    assert service._loop is not None and service._loop.done()  # the worker loop has ended


def test_a_job_cancelled_while_queued_never_starts(qtbot: QtBot) -> None:
    service = InferenceService(ScriptedEngine)
    started: list[Any] = []
    service.started.connect(started.append)
    first = service.submit(_request(), "first")
    second = service.submit(_request(), "second")
    with qtbot.waitSignal(service.cancelled, timeout=1000):
        service.cancel(second)
    qtbot.waitUntil(lambda: not service.busy, timeout=10_000)
    assert started == [first] and second.state is JobState.CANCELLED
    service.shutdown()


STUCK_DRIVER = """
import sys, threading, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from sfumato.generation.requests import Txt2ImgRequest
from sfumato.qt_bridge.inference_thread import InferenceService

class SlowStep:
    def run(self, request, on_step, cancel, on_stage):
        time.sleep(30)  # one very long step that never looks at cancel

app = QApplication(sys.argv[:1])
service = InferenceService(SlowStep)
service.submit(Txt2ImgRequest(model="/nowhere", prompt="x", width=64, height=64), "slow")

def leave():
    service.shutdown(wait_ms=200)
    print("SHUTDOWN", flush=True)
    app.quit()

QTimer.singleShot(300, leave)
app.exec()
"""


def test_quitting_during_a_long_step_exits_cleanly() -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", STUCK_DRIVER], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr  # a running QThread destroyed at exit would abort
    assert "SHUTDOWN" in result.stdout
