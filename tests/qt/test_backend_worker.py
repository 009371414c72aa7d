"""The inference thread tells the GUI what device the engine probed, and a missing torch fails
the job with a message that says what to do instead of a ModuleNotFoundError."""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from sfumato.generation.jobs import JobState
from sfumato.generation.requests import Txt2ImgRequest
from sfumato.inference.device import DeviceProfile, profile_for
from sfumato.inference.results import GeneratedImage, GenerationResult
from sfumato.qt_bridge.inference_thread import NO_RUNTIME_MESSAGE, InferenceService

RTX = profile_for("cuda", "NVIDIA GeForce RTX 3060", (8, 6), 12 * 2**30)


class ProbedEngine:
    """An engine that has probed a CUDA card and makes one black image per job."""

    def __init__(self) -> None:
        self.profile = RTX

    def run(self, request: Any, _on_step: Any, _cancel: threading.Event, _on_stage: Any) -> GenerationResult:
        image = GeneratedImage(np.zeros((8, 8, 3), np.uint8), request.seed, "params")
        return GenerationResult((image,), (request.seed,))


def _request() -> Txt2ImgRequest:
    return Txt2ImgRequest(model="/nowhere", prompt="a cat", seed=5, width=64, height=64)


def test_the_probed_device_reaches_the_gui_thread_once(qtbot: QtBot) -> None:
    service = InferenceService(ProbedEngine)
    seen: list[tuple[DeviceProfile | None, threading.Thread]] = []
    service.device_probed.connect(lambda device: seen.append((device, threading.current_thread())))
    with qtbot.waitSignal(service.finished, timeout=10_000):
        service.submit(_request(), "first")
    with qtbot.waitSignal(service.finished, timeout=10_000):
        service.submit(_request(), "second")
    service.shutdown()
    assert seen == [(RTX, threading.main_thread())]


def test_without_torch_the_job_fails_with_what_to_do(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch → ModuleNotFoundError
    service = InferenceService(ProbedEngine, torch_threads=1)
    devices: list[DeviceProfile | None] = []
    service.device_probed.connect(devices.append)
    with qtbot.waitSignal(service.failed, timeout=10_000) as failed:
        job = service.submit(_request(), "no torch")
    assert failed.args[1] == NO_RUNTIME_MESSAGE
    assert "ModuleNotFoundError" in failed.args[2]
    assert job.state is JobState.FAILED and devices == [None]
    monkeypatch.undo()  # a runtime appears (installed and activated): the next job runs
    with qtbot.waitSignal(service.finished, timeout=10_000):
        service.submit(_request(), "with torch")
    service.shutdown()
    assert devices == [None, RTX]
