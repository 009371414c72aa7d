"""Loading as a step of its own in the window: the progress line says what loads, Esc cancels
it and the next Generate loads afresh; what the engine noted (steps raised for a low strength,
a leaner memory strategy) shows under the progress bar."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from generate_helpers import (  # noqa: F401  (fixtures)
    JOB_TIMEOUT_MS,
    cpu_engine_fixture,
    gen_fixture,
    gradient,
    job_end,
    open_document,
    tiny_sd_fixture,
)
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from sfumato.document.document import new_document
from sfumato.generation.jobs import JobState
from sfumato.session.notices import Severity
from sfumato.ui.generate.controller import GenerationController
from sfumato.ui.main_window import MainWindow


def _picture(window: MainWindow) -> None:
    doc = new_document(64, 64)
    doc.add_image_layer(gradient(64, 64), "Photo")
    open_document(window, doc)


def test_loading_shows_in_the_progress_line_and_esc_cancels_it(
        qtbot: QtBot, window: MainWindow, gen: GenerationController, tiny_sd: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from sfumato.inference import Engine, pipelines, profile_for

    engine = Engine(profile_for("cpu"))  # a fresh engine: the model is not loaded yet
    gen.service.configure(lambda: engine)
    loading, release = threading.Event(), threading.Event()
    original = pipelines.load_pipeline

    def slow_load(*args: Any) -> Any:
        loading.set()
        release.wait(JOB_TIMEOUT_MS / 1000)  # the weights take their time
        return original(*args)

    monkeypatch.setattr(pipelines, "load_pipeline", slow_load)
    _picture(window)
    job = gen.generate()
    assert job is not None
    qtbot.waitUntil(lambda: gen.progress.status.text() == f"Loading {tiny_sd.name}…", timeout=JOB_TIMEOUT_MS)
    assert loading.is_set() and gen.progress.bar.maximum() == 0  # an indeterminate bar
    with job_end(qtbot, gen, gen.service.cancelled, JOB_TIMEOUT_MS):
        QTest.keyClick(window, Qt.Key.Key_Escape)
        assert gen.progress.status.text() == f"Loading {tiny_sd.name} — then stopping…"
        release.set()
    assert job.state is JobState.CANCELLED and engine.model is None and window.session.results.value is None
    assert gen.progress.bar.format() == "Cancelled"

    with job_end(qtbot, gen, gen.service.finished, JOB_TIMEOUT_MS):
        gen.generate()
    assert engine.model is not None and window.session.results.value is not None


def test_steps_raised_for_a_low_strength_are_shown_under_the_bar(
        qtbot: QtBot, window: MainWindow, gen: GenerationController) -> None:
    _picture(window)
    gen.panel.steps.setValue(1)
    gen.panel.strength.setValue(0.3)
    assert gen.panel.steps_hint.isVisible() and "will run 4 steps" in gen.panel.steps_hint.text()
    with job_end(qtbot, gen, gen.service.finished, JOB_TIMEOUT_MS) as finished:
        gen.generate()
    job = finished.args[0]
    assert job.request.steps == 1 and job.total >= 1  # the engine ran a step all the same
    bar = gen.progress.notice_bar
    assert bar.isVisible() and bar.mark.text() == "ℹ"
    assert "raised from 1 to 4" in bar.message.text()
    with qtbot.waitSignal(gen.service.started, timeout=JOB_TIMEOUT_MS):
        gen.panel.steps.setValue(4)
        gen.generate()
    assert not bar.isVisible()  # a new job starts with a clean line
    qtbot.waitUntil(lambda: not gen.busy, timeout=JOB_TIMEOUT_MS)


def test_out_of_memory_while_placing_is_retried_and_said(
        qtbot: QtBot, window: MainWindow, gen: GenerationController) -> None:
    import torch

    from sfumato.inference import Engine, profile_for

    class TightCard(Engine):
        """Runs out of memory the first time the model is placed."""

        failed = False

        def _place(self, pipe: Any, strategy: Any, tiled_vae: bool) -> None:
            if not self.failed:
                self.failed = True
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            super()._place(pipe, strategy, tiled_vae)

    gen.service.configure(lambda: TightCard(profile_for("cpu")))
    _picture(window)
    with job_end(qtbot, gen, gen.service.finished, JOB_TIMEOUT_MS):
        gen.generate()
    notice = gen.progress.notice_bar.notice
    assert window.session.results.value is not None and notice is not None
    assert notice.severity is Severity.INFO and "Ran out of GPU memory" in notice.message
