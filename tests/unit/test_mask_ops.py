"""Mask operations: pure functions against references, and their undoable document versions."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, ImageFilter

from sfumato.document import mask_ops
from sfumato.document.document import Document, new_document
from sfumato.document.layers import Layer, LayerKind


def _blobs(rng: np.random.Generator, shape: tuple[int, int], count: int) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    for _ in range(count):
        y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        h, w = rng.integers(1, 12, 2)
        mask[y : y + h, x : x + w] = rng.integers(1, 256)
    return mask


def _reference(mask: np.ndarray, px: int, pick: str) -> np.ndarray:
    """Max/min over every (2px+1)² window of the edge-extended mask, the slow obvious way."""
    windows = sliding_window_view(np.pad(mask, px, mode="edge"), (2 * px + 1, 2 * px + 1))
    return getattr(windows, pick)(axis=(2, 3)).astype(np.uint8)


def _mask_doc() -> tuple[Document, Layer]:
    doc = new_document(160, 120)
    return doc, doc.add_layer(LayerKind.MASK)


@pytest.mark.parametrize("px", [0, 1, 2, 5, 13])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grow_and_shrink_match_a_brute_force_reference(px: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = _blobs(rng, (70, 90), 6)
    mask[60:, 80:] = 255  # touches the border
    assert np.array_equal(mask_ops.grow(mask, px), _reference(mask, px, "max"))
    assert np.array_equal(mask_ops.shrink(mask, px), _reference(mask, px, "min"))


def test_shrink_keeps_a_mask_attached_to_the_border_and_removes_thin_parts() -> None:
    mask = np.zeros((50, 50), np.uint8)
    mask[:, :20] = 255
    mask[10:13, 30:45] = 255  # three pixels thick
    shrunk = mask_ops.shrink(mask, 2)
    assert shrunk[:, :18].all() and not shrunk[:, 18:].any()


def test_feather_equals_a_blur_of_the_whole_mask_and_softens_the_edge() -> None:
    rng = np.random.default_rng(3)
    mask = np.zeros((300, 400), np.uint8)
    mask[100:160, 150:230] = 255
    mask[280:, 390:] = rng.integers(0, 256, (20, 10), dtype=np.uint8)
    for radius in (0.5, 2.0, 7.3):
        whole = np.asarray(Image.fromarray(mask).filter(ImageFilter.GaussianBlur(radius)))
        assert np.array_equal(mask_ops.feather(mask, radius), whole)
    soft = mask_ops.feather(mask, 4.0)
    edge = soft[130, 140:160]
    assert edge[0] < 20 and edge[-1] > 235 and np.all(np.diff(edge.astype(int)) >= 0)


def test_invert_clear_and_from_selection() -> None:
    doc = new_document(40, 30)
    mask = np.arange(40 * 30, dtype=np.uint32).reshape(30, 40).astype(np.uint8)
    assert np.array_equal(mask_ops.invert(mask).astype(int), 255 - mask.astype(int))
    assert not mask_ops.clear(mask).any() and mask_ops.clear(mask).shape == mask.shape
    assert not mask_ops.from_selection(doc.selection).any()
    doc.selection.select_rect(5, 5, 15, 10)
    selected = mask_ops.from_selection(doc.selection)
    assert selected.sum() == 10 * 5 * 255 and selected[5, 5] == 255
    doc.selection.clear()
    assert selected.any()  # a copy, not a view of the selection


def test_empty_masks_stay_empty() -> None:
    empty = np.zeros((20, 20), np.uint8)
    for result in (mask_ops.grow(empty, 3), mask_ops.shrink(empty, 3), mask_ops.feather(empty, 3)):
        assert not result.any()


@pytest.mark.parametrize("operation", [mask_ops.grow, mask_ops.shrink, mask_ops.feather])
def test_negative_amounts_are_refused(operation: object) -> None:
    with pytest.raises(ValueError):
        operation(np.zeros((4, 4), np.uint8), -1)  # type: ignore[operator]


def test_document_mask_operations_are_single_undo_steps_and_undo_exactly() -> None:
    rng = np.random.default_rng(5)
    doc, layer = _mask_doc()
    layer.pixels[...] = _blobs(rng, layer.pixels.shape, 8)
    operations = [
        lambda: mask_ops.grow_mask(doc, layer, int(rng.integers(1, 9))),
        lambda: mask_ops.shrink_mask(doc, layer, int(rng.integers(1, 4))),
        lambda: mask_ops.feather_mask(doc, layer, float(rng.uniform(0.5, 5))),
        lambda: mask_ops.invert_mask(doc, layer),
        lambda: mask_ops.clear_mask(doc, layer),
        lambda: mask_ops.mask_from_selection(doc, layer),
        lambda: doc.change_selection(lambda s: s.select_ellipse(*rng.uniform(0, 160, 4)), "Select"),
    ]
    snapshots = [layer.pixels.copy()]
    for _ in range(30):
        steps = len(doc.history)
        before = layer.pixels.copy()
        operations[int(rng.integers(len(operations)))]()
        added = len(doc.history) - steps
        assert added == 1 or (added == 0 and np.array_equal(before, layer.pixels))
        if added:
            snapshots.append(layer.pixels.copy())
    assert len(snapshots) > 15
    for expected in reversed(snapshots):
        assert np.array_equal(layer.pixels, expected)
        doc.undo()


def test_mask_helpers_match_the_pure_functions() -> None:
    rng = np.random.default_rng(9)
    doc, layer = _mask_doc()
    layer.pixels[...] = _blobs(rng, layer.pixels.shape, 5)
    for helper, pure, amount in [(mask_ops.grow_mask, mask_ops.grow, 4),
                                 (mask_ops.shrink_mask, mask_ops.shrink, 1),
                                 (mask_ops.feather_mask, mask_ops.feather, 2.5)]:
        expected = pure(layer.pixels, amount)  # type: ignore[operator]
        helper(doc, layer, amount)  # type: ignore[operator]
        assert np.array_equal(layer.pixels, expected)


def test_a_small_mask_on_a_big_document_touches_a_small_region() -> None:
    doc = new_document(4096, 4096, background=None)
    layer = doc.add_layer(LayerKind.MASK)
    layer.pixels[2000:2010, 3000:3010] = 255
    doc.history.clear()
    mask_ops.grow_mask(doc, layer, 20)
    mask_ops.feather_mask(doc, layer, 6)
    assert layer.pixels[1980, 2980] > 0 and not layer.pixels[1900].any()
    assert doc.history.nbytes <= 2 * 2 * 4 * 64 * 64  # two steps of at most four 64×64 tiles each


def test_new_mask_from_selection_and_refusals() -> None:
    doc = new_document(60, 40)
    raster = doc.active_layer
    assert raster is not None
    doc.selection.select_rect(10, 10, 30, 20)
    steps = len(doc.history)
    layer = mask_ops.new_mask_from_selection(doc)
    assert layer.is_mask and layer in doc.layers and doc.active_layer is layer
    assert np.array_equal(layer.pixels, doc.selection.mask)
    assert len(doc.history) == steps + 1
    doc.undo()
    assert layer not in doc.layers
    for helper in (mask_ops.invert_mask, mask_ops.clear_mask, mask_ops.mask_from_selection):
        with pytest.raises(ValueError):
            helper(doc, raster)
    with pytest.raises(ValueError):
        mask_ops.grow_mask(doc, raster, 2)
