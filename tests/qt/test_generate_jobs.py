"""The generation queue: cancel a running job mid-run, queue two, cancel a queued one, and the
error path with a broken model (short message, details, document untouched)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from generate_helpers import (  # noqa: F401  (fixtures)
    JOB_TIMEOUT_MS,
    broken_sd_fixture,
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

from sfumato.document.document import Document, new_document
from sfumato.generation.jobs import JobState
from sfumato.qt_bridge.inference_thread import GenerationJob
from sfumato.ui.generate.controller import GenerationController
from sfumato.ui.main_window import MainWindow


def _picture(window: MainWindow) -> Document:
    doc = new_document(64, 64)
    doc.add_image_layer(gradient(64, 64), "Photo")
    return open_document(window, doc)


def test_cancel_stops_a_running_job_after_the_current_step(
        qtbot: QtBot, window: MainWindow, gen: GenerationController) -> None:
    doc = _picture(window)
    layers, steps = len(doc.layers), len(doc.history)
    gen.panel.steps.setValue(200)
    previews: list[object] = []

    def first_step(job: GenerationJob, step: int, _total: int, preview: object) -> None:
        previews.append(preview)
        if step == 1:
            QTest.keyClick(window, Qt.Key.Key_Escape)  # Esc cancels the running job

    gen.service.progress.connect(first_step)
    with job_end(qtbot, gen, gen.service.cancelled, JOB_TIMEOUT_MS) as cancelled:
        job = gen.generate()
    assert cancelled.args == [job]
    assert job is not None and job.state is JobState.CANCELLED
    assert 1 <= job.step < 200  # stopped early, after a step
    assert previews and previews[0] is not None  # the preview reached the GUI as an image
    assert window.session.results.value is None and window.session.overlay.value is None
    assert (len(doc.layers), len(doc.history)) == (layers, steps)
    assert gen.progress.bar.format() == "Cancelled"


def test_generate_while_a_job_runs_queues_the_next(
        qtbot: QtBot, window: MainWindow, gen: GenerationController) -> None:
    _picture(window)
    done: list[GenerationJob] = []
    gen.service.finished.connect(lambda job, _images, _seeds: done.append(job))
    first = gen.generate()
    gen.panel.seed.setValue(99)
    second = gen.generate()
    third = gen.generate()
    assert first is not None and second is not None and third is not None
    assert [row.job for row in gen.progress.rows()] == [first, second, third]  # the visible queue
    assert third.state is JobState.QUEUED
    gen.progress.rows()[2].cancel_button.click()  # each job has its own cancel
    assert third.state is JobState.CANCELLED
    qtbot.waitUntil(lambda: not gen.busy, timeout=JOB_TIMEOUT_MS)
    assert done == [first, second]  # in order; the cancelled one never ran
    assert gen.strip.count == 1 and gen.strip.list.item(0).text() == "seed 99"  # the newest batch
    assert gen.progress.rows() == []


def test_a_broken_model_fails_with_a_short_message_and_details(
        qtbot: QtBot, window: MainWindow, gen: GenerationController, broken_sd: Path, tiny_sd: Path) -> None:
    doc = _picture(window)
    before = doc.composite()
    layers, steps = len(doc.layers), len(doc.history)
    gen.panel.use_model_path(broken_sd)
    with job_end(qtbot, gen, gen.service.failed, JOB_TIMEOUT_MS) as failed:
        gen.generate()
    _job, message, details = failed.args
    assert "not a complete .safetensors file" in message
    assert "broken-sd15" in details
    bar = gen.progress.notice_bar
    assert bar.isVisible() and bar.message.text() == message and bar.mark.text() == "⚠"
    assert bar.details_button.isVisible() and window.status_notices.text() == ""  # shown once, inline
    assert (len(doc.layers), len(doc.history)) == (layers, steps)
    np.testing.assert_array_equal(doc.composite(), before)
    # the thread survives: the next job with a good model runs
    gen.panel.use_model_path(tiny_sd)
    with job_end(qtbot, gen, gen.service.finished, JOB_TIMEOUT_MS):
        gen.generate()
    assert not gen.progress.notice_bar.isVisible()


def test_without_a_model_generate_says_what_to_do(window: MainWindow) -> None:
    _picture(window)
    assert window.generation.panel.current_model is None
    assert window.generation.generate() is None
    assert "Choose a model" in window.generation.progress.notice_bar.message.text()
    assert not window.generation.service.busy


def test_the_model_picker_lists_installed_models_after_the_window_comes_back(
        qtbot: QtBot, window: MainWindow, tiny_sd: Path) -> None:
    from sfumato.model_store import ModelManager

    ModelManager().import_path(tiny_sd)  # as the model manager dialog's import does
    controller = window.generation
    controller.refresh_models()
    qtbot.waitUntil(lambda: controller.panel.model.count() == 1, timeout=10_000)
    choice = controller.panel.current_model
    assert choice is not None and Path(choice.path) == tiny_sd.resolve()
    assert choice.family == "sd15" and choice.defaults.size == 512
    assert controller.panel.steps.value() == choice.defaults.steps  # its defaults were applied


def test_a_pending_batch_shows_again_after_a_later_job_is_cancelled(
        qtbot: QtBot, window: MainWindow, gen: GenerationController) -> None:
    _picture(window)
    with job_end(qtbot, gen, gen.service.finished, JOB_TIMEOUT_MS):
        gen.generate()
    results, overlay = window.session.results.value, window.session.overlay.value
    assert results is not None and overlay is not None and overlay.rgba is results.landing(0).rgba
    gen.panel.steps.setValue(200)
    gen.service.progress.connect(lambda job, step, _t, _p: gen.service.cancel(job) if step == 2 else None)
    with job_end(qtbot, gen, gen.service.cancelled, JOB_TIMEOUT_MS):
        gen.generate()
    assert window.session.results.value is not None
    results, overlay = window.session.results.value, window.session.overlay.value
    assert results is not None and overlay is not None
    assert overlay.rgba is results.landing(0).rgba  # the result again, not the last preview


def test_out_of_memory_reaches_the_person_as_a_short_message(
        qtbot: QtBot, window: MainWindow, gen: GenerationController) -> None:
    import torch

    from sfumato.inference import Engine, profile_for

    class NoMemory(Engine):
        def _invoke(self, pipe: object, kwargs: dict[str, object]) -> object:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    gen.service.configure(lambda: NoMemory(profile_for("cpu")))
    doc = _picture(window)
    before = doc.composite()
    layers, steps = len(doc.layers), len(doc.history)
    with job_end(qtbot, gen, gen.service.failed, JOB_TIMEOUT_MS) as failed:
        gen.generate()
    message = failed.args[1]
    assert "memory" in message and "smaller" in message  # says what to do
    assert gen.progress.notice_bar.isVisible() and window.session.results.value is None
    assert (len(doc.layers), len(doc.history)) == (layers, steps)
    np.testing.assert_array_equal(doc.composite(), before)
