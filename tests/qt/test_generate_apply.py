"""Applying results whose layers are built in the background when the batch arrives: before the
layer is ready, and again after an undo (tiny model)."""

from __future__ import annotations

import threading

import numpy as np
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
from pytestqt.qtbot import QtBot

from sfumato.document.document import Document, new_document
from sfumato.document.layers import LayerKind
from sfumato.session.jobs import PendingResults
from sfumato.ui.generate.controller import GenerationController
from sfumato.ui.main_window import MainWindow


def _masked_document() -> Document:
    doc = new_document(64, 64)
    doc.add_image_layer(gradient(64, 64), "Photo")
    mask = doc.add_layer(LayerKind.MASK)
    mask.pixels[20:40, 16:44] = 255
    doc.notify_pixels(mask, doc.rect)
    doc.saved_revision = doc.revision
    return doc


def _results(qtbot: QtBot, gen: GenerationController) -> PendingResults:
    gen.refresh_target()
    qtbot.waitUntil(lambda: gen.panel.mode_label.text().startswith("Inpaint"))
    with job_end(qtbot, gen, gen.service.finished, JOB_TIMEOUT_MS):
        gen.panel.generate_button.click()
    results = gen.session.results.value
    assert results is not None
    return results


def test_apply_before_the_layer_is_ready_builds_it_and_the_late_one_is_dropped(
        qtbot: QtBot, window: MainWindow, gen: GenerationController,
        monkeypatch: pytest.MonkeyPatch) -> None:
    doc = open_document(window, _masked_document())
    gate, waiting, done = threading.Event(), threading.Event(), threading.Event()
    prepare = PendingResults.prepare

    def held(self: PendingResults, index: int, evict: bool = False) -> None:
        waiting.set()
        gate.wait(30)
        prepare(self, index, evict)
        done.set()

    monkeypatch.setattr(PendingResults, "prepare", held)
    results = _results(qtbot, gen)
    qtbot.waitUntil(waiting.is_set)
    layers_before = len(doc.layers)

    [layer] = gen.apply(gen.strip.current)  # the background is still held
    assert results.prepared == {}
    assert len(doc.layers) == layers_before + 1 and doc.layers[-2] is layer
    expected = results.build_layer(0)
    np.testing.assert_array_equal(layer.pixels, expected.pixels)
    assert layer.content_bounds() == expected.content_bounds()

    gate.set()  # the background's layer arrives after Apply: nobody takes it
    qtbot.waitUntil(done.is_set)
    assert results.prepared == {} and len(doc.layers) == layers_before + 1
    doc.undo()
    assert len(doc.layers) == layers_before


def test_apply_undo_and_apply_again_adds_a_layer_of_its_own(
        qtbot: QtBot, window: MainWindow, gen: GenerationController) -> None:
    doc = open_document(window, _masked_document())
    layers_before = len(doc.layers)
    results = _results(qtbot, gen)
    qtbot.waitUntil(lambda: 0 in results.prepared)
    prepared = results.prepared[0]

    [first] = gen.apply(gen.strip.current)
    assert first is prepared  # Apply only inserted it
    doc.undo()
    assert len(doc.layers) == layers_before

    again = _results(qtbot, gen)  # the same seed again
    [second] = gen.apply(gen.strip.current)
    assert second is not first and second.uid != first.uid
    np.testing.assert_array_equal(second.pixels, first.pixels)
    assert [lyr.uid for lyr in doc.layers if lyr.metadata] == [second.uid]
    assert results.prepared == {} and again.prepared == {}
    doc.undo()
    doc.redo()
    assert doc.layers[-2] is second
