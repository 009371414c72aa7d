"""Per-tile coverage: bounds and peaks kept from the changed rectangles agree with a full scan."""

from __future__ import annotations

import numpy as np
import pytest

from sfumato.document.brush import BrushSettings, Tool
from sfumato.document.coverage import PlaneCoverage
from sfumato.document.document import Document, new_document
from sfumato.document.geometry import Rect, nonzero_bounds
from sfumato.document.layers import Layer, LayerKind
from sfumato.document.mask_ops import clear_mask, feather_mask, invert_mask
from sfumato.document.stroke import Stroke


def _random_rect(rng: np.random.Generator, width: int, height: int) -> Rect:
    x, y = int(rng.integers(-20, width)), int(rng.integers(-20, height))
    return Rect(x, y, int(rng.integers(1, 90)), int(rng.integers(1, 90)))


@pytest.mark.parametrize(("seed", "shape"), [(0, (200, 131)), (1, (64, 64)), (2, (257, 63)), (3, (1, 300))])
def test_marked_changes_keep_bounds_and_peak_exact(seed: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    plane = np.zeros(shape, np.uint8)
    coverage = PlaneCoverage(*shape)
    for _ in range(120):
        rect = _random_rect(rng, shape[1], shape[0]).clamp(shape[1], shape[0])
        value = int(rng.choice([0, 0, 1, 90, 255]))  # erasing as often as painting
        plane[rect.slices] = value
        if rng.random() < 0.3:  # a soft, scattered change inside the rectangle
            plane[rect.slices] = rng.integers(0, 2, (rect.h, rect.w)) * value
        coverage.mark(rect)
        if rng.random() < 0.5:
            continue  # several changes may wait for one refresh
        coverage.refresh(plane)
        assert coverage.bounds() == nonzero_bounds(plane)
        assert coverage.peak() == int(plane.max())


def test_a_known_zero_coverage_scans_only_what_was_marked() -> None:
    plane = np.zeros((300, 300), np.uint8)
    plane[10:20, 10:20] = 7  # not marked: a known-zero coverage never looks there
    coverage = PlaneCoverage(300, 300, known_zero=True)
    assert not coverage.stale and coverage.bounds() is None
    plane[200:210, 150:170] = 9
    coverage.mark(Rect(150, 200, 20, 10))
    coverage.refresh(plane)
    assert coverage.bounds() == Rect(150, 200, 20, 10) and coverage.peak() == 9


def _truth(doc: Document) -> tuple[int, Rect | None]:
    union = np.zeros((doc.height, doc.width), np.uint8)
    for layer in doc.mask_layers():
        np.maximum(union, layer.pixels, out=union)
    return int(union.max()), nonzero_bounds(union)


def _check(doc: Document) -> None:
    summary = doc.mask_summary()
    assert (summary.peak, summary.bounds) == _truth(doc)
    for layer in doc.layers:
        plane = layer.pixels if layer.is_mask else layer.pixels[..., 3]
        assert layer.content_bounds() == nonzero_bounds(plane)


def _stroke(doc: Document, layer: Layer, tool: Tool, points: list[tuple[float, float]]) -> None:
    stroke = Stroke(doc, layer, tool, BrushSettings(size=18, hardness=0.5))
    for x, y in points:
        stroke.add_point(x, y)
        _check(doc)  # while the stroke is still going
    stroke.finish()


def test_the_document_keeps_mask_bounds_through_strokes_undo_and_operations() -> None:
    doc = new_document(300, 220)
    mask = doc.add_layer(LayerKind.MASK)
    other = doc.add_layer(LayerKind.MASK)
    _check(doc)
    _stroke(doc, mask, Tool.MASK_BRUSH, [(40, 40), (120, 60), (150, 150)])
    _stroke(doc, other, Tool.MASK_BRUSH, [(250, 200), (280, 210)])
    _stroke(doc, mask, Tool.ERASER, [(30, 30), (125, 62)])  # erasing shrinks the bounds
    _stroke(doc, doc.layers[0], Tool.ERASER, [(0, 0), (299, 219)])  # the background's alpha too
    for _ in range(4):
        doc.undo()
        _check(doc)
    for _ in range(4):
        doc.redo()
        _check(doc)
    feather_mask(doc, mask, 6)
    _check(doc)
    invert_mask(doc, other)
    _check(doc)
    clear_mask(doc, other)
    _check(doc)
    doc.set_layer_props(mask, visible=False)
    _check(doc)
    doc.resize_canvas(200, 260, (-50, 10))
    _check(doc)
    doc.undo()
    _check(doc)
    copy = doc.duplicate_layer(mask)
    _check(doc)
    doc.delete_layer(copy)
    doc.delete_layer(other)
    _check(doc)


def test_the_selection_summary_follows_each_new_selection() -> None:
    doc = new_document(100, 80)
    assert doc.selection_summary().bounds is None
    doc.change_selection(lambda s: s.select_rect(10, 10, 30, 20), "Select")
    assert doc.selection_summary().bounds == Rect(10, 10, 20, 10)
    doc.change_selection(lambda s: s.invert(), "Invert")
    summary = doc.selection_summary()
    assert summary.peak == 255 and summary.bounds == Rect(0, 0, 100, 80)
    doc.undo()
    assert doc.selection_summary().bounds == Rect(10, 10, 20, 10)
    doc.change_selection(lambda s: s.clear(), "Deselect")
    assert doc.selection_summary().peak == 0


def test_a_placed_image_layer_knows_its_bounds_and_the_canvas_cuts_it() -> None:
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[5:10, 20:30, 3] = 200
    layer = Layer.placed("picture", 100, 60, rgba, (70, -2))
    assert layer.content_bounds() == Rect(90, 3, 10, 5)
    assert np.array_equal(layer.pixels[0:38, 70:100], rgba[2:40, 0:30])
    assert layer.pixels[..., 3].sum() == 200 * 5 * 10


@pytest.mark.parametrize("at", [(0, 0), (70, -2), (-30, 41), (130, 9), (200, 200)])
def test_an_opaque_placed_layer_has_the_coverage_a_scan_finds_without_scanning(at: tuple[int, int]) -> None:
    rgba = np.full((77, 150, 4), 255, np.uint8)
    layer = Layer.placed("result", 257, 131, rgba, at, opaque=True)
    assert not layer.coverage().stale  # nothing waits for a scan
    scanned = PlaneCoverage(131, 257)
    scanned.refresh(layer.pixels[..., 3])
    assert (layer.content_bounds(), layer.peak()) == (scanned.bounds(), scanned.peak())
    layer.pixels[:, : 257 // 2] = 0  # erase the left half, told: the tiles rescanned agree too
    layer.mark_changed(Rect(0, 0, 257 // 2, 131))
    scanned.mark(Rect(0, 0, 257 // 2, 131))
    scanned.refresh(layer.pixels[..., 3])
    assert (layer.content_bounds(), layer.peak()) == (scanned.bounds(), scanned.peak())
