"""Result layers built ahead of Apply (session.jobs.PendingResults): used once, bounded, and the
same layer Apply would have built itself (no model needed)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from sfumato.document.document import Document, new_document
from sfumato.document.geometry import Rect
from sfumato.document.layers import LayerKind
from sfumato.generation.region import Box
from sfumato.generation.requests import Task
from sfumato.inference.results import GeneratedImage
from sfumato.session import jobs
from sfumato.session.generation_source import capture
from sfumato.session.jobs import JobContext, Parameters, PendingResults, apply_results


def _inpaint_batch(count: int = 3) -> tuple[Document, PendingResults]:
    """A 300×200 document with a painted mask and ``count`` inpaint results of its region."""
    doc = new_document(300, 200)
    doc.layers[0].pixels[...] = 40
    doc.notify_pixels(doc.layers[0], doc.rect)
    mask = doc.add_layer(LayerKind.MASK)
    mask.pixels[60:110, 100:180] = 255
    mask.pixels[110, 100:180] = 30  # a soft edge: blended, so covered
    doc.notify_pixels(mask, doc.rect)
    cap = capture(doc, Task.INPAINT, None)
    box = Box(0, 0, cap.target.w, cap.target.h)
    images = tuple(GeneratedImage(np.full((box.height, box.width, 3), 100 + 30 * i, np.uint8), 5 + i,
                                  f"parameters {i}", box, cap.source()) for i in range(count))
    params = Parameters("a lighthouse", "", None, 1.0, 4, 7.0, "Euler", 5, count, None)
    return doc, PendingResults(JobContext(doc, cap, params), images)


def _result_layers(doc: Document) -> list[str]:
    return [layer.name for layer in doc.layers if layer.metadata.get("sfumato:mode")]


def test_a_prepared_layer_is_the_one_apply_would_build_and_goes_in_as_it_is() -> None:
    doc, results = _inpaint_batch()
    results.prepare(1)
    prepared = results.prepared[1]
    built = results.build_layer(1)
    assert np.array_equal(prepared.pixels, built.pixels)
    assert prepared.metadata == built.metadata == {"parameters": "parameters 1", "sfumato:mode": "inpaint",
                                                   "sfumato:seed": "6"}
    assert prepared.content_bounds() == Rect(100, 60, 80, 51)  # where the mask is above 0
    [layer] = apply_results(results, [1])
    assert layer is prepared and 1 not in results.prepared
    assert doc.layers.index(layer) == 1  # above the picture, below the mask
    assert layer.content_bounds() == built.content_bounds()


def test_apply_undo_apply_gets_a_new_layer_each_time() -> None:
    doc, results = _inpaint_batch()
    results.prepare(0)
    first = apply_results(results, [0])[0]
    doc.undo()
    assert _result_layers(doc) == []
    second = apply_results(results, [0])[0]
    assert second is not first and second.uid != first.uid
    assert np.array_equal(second.pixels, first.pixels)
    assert _result_layers(doc) == [second.name]
    doc.undo()
    doc.redo()
    assert [layer.uid for layer in doc.layers if layer.metadata] == [second.uid]
    results.prepare(0)  # taken once: it is not prepared again
    assert results.prepared == {}


def test_apply_while_the_layer_is_being_built_waits_for_it_instead_of_building_another() -> None:
    _doc, results = _inpaint_batch()
    results.landing(0)
    started, go = threading.Event(), threading.Event()
    build = results.build_layer
    made = []

    def slow_build(index: int):  # type: ignore[no-untyped-def]
        started.set()
        go.wait(10)
        made.append(build(index))
        return made[-1]

    results.build_layer = slow_build  # type: ignore[method-assign]
    worker = threading.Thread(target=results.prepare, args=(0,))
    worker.start()
    assert started.wait(10)
    threading.Timer(0.05, go.set).start()
    [layer] = apply_results(results, [0])
    worker.join(10)
    assert made == [layer]  # built once, by the worker


def test_a_layer_not_prepared_yet_is_built_on_apply_and_the_late_one_is_dropped() -> None:
    doc, results = _inpaint_batch()
    [layer] = apply_results(results, [2])
    assert np.array_equal(layer.pixels, results.build_layer(2).pixels)
    results.prepare(2)  # the background gets to it after Apply
    assert results.prepared == {} and len(_result_layers(doc)) == 1


def test_prepared_layers_stay_within_the_budget_and_the_one_on_show_makes_room(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _doc, results = _inpaint_batch(4)
    rect = results.landing(0).rect
    monkeypatch.setattr(jobs, "PREPARED_BYTES", 2 * rect.w * rect.h * 4)
    for index in range(4):
        results.prepare(index)
    assert sorted(results.prepared) == [0, 1]
    results.prepare(3, evict=True)
    assert 3 in results.prepared and len(results.prepared) == 2
    # each holds its rectangle of pages only: the rest of the layer is the lazily zeroed mapping
    layer = results.prepared[3]
    outside = np.ones(layer.pixels.shape[:2], bool)
    outside[rect.slices] = False
    assert not layer.pixels[outside].any()


def test_closed_results_prepare_nothing_and_still_apply() -> None:
    _doc, results = _inpaint_batch()
    results.prepare(0)
    results.close()
    results.prepare(1)
    assert results.prepared == {}
    assert len(apply_results(results, [0, 1])) == 2


def test_an_outpaint_layer_is_prepared_at_the_grown_canvas_size() -> None:
    doc = new_document(40, 30)
    doc.layers[0].pixels[...] = 255
    doc.notify_pixels(doc.layers[0], doc.rect)
    cap = capture(doc, Task.OUTPAINT, Rect(-10, -6, 50, 36))
    image = GeneratedImage(np.full((36, 50, 3), 90, np.uint8), 3, "p", Box(0, 0, 50, 36),
                           np.zeros((36, 50, 3), np.uint8))
    params = Parameters("", "", None, 1.0, 4, 7.0, "Euler", 3, 1, None)
    results = PendingResults(JobContext(doc, cap, params), (image,))
    results.prepare(0)
    assert results.prepared[0].pixels.shape == (36, 50, 4)
    [layer] = apply_results(results, [0])
    assert (doc.width, doc.height) == (50, 36) and layer.pixels[0, 0, 3] == 255
    assert layer.pixels[10, 20, 3] == 0  # the old picture is not covered
