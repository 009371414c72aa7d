"""Isolated groups: layers placed at offsets, composited alone over a transparent backdrop."""

from __future__ import annotations

import numpy as np

from sfumato.document.compositing import composite_placed, composite_rgba
from sfumato.document.geometry import Rect
from sfumato.document.layers import BlendMode, Layer, LayerKind


def _solid(w: int, h: int, rgba: tuple[int, int, int, int], **props: object) -> Layer:
    pixels = np.empty((h, w, 4), np.uint8)
    pixels[...] = rgba
    return Layer("solid", LayerKind.RASTER, pixels, **props)  # type: ignore[arg-type]


def test_layers_land_at_their_offsets_inside_the_frame() -> None:
    out = composite_placed([(_solid(2, 2, (255, 0, 0, 255)), -1, 3), (_solid(1, 1, (0, 0, 255, 128)), 2, 0)],
                           Rect(-1, 0, 4, 5))
    assert out.shape == (5, 4, 4)
    assert out[3:5, 0:2].tolist() == [[[255, 0, 0, 255]] * 2] * 2
    assert out[0, 3].tolist() == [0, 0, 255, 128]
    assert out[..., 3].astype(bool).sum() == 5


def test_the_frame_cuts_what_lies_outside_it() -> None:
    out = composite_placed([(_solid(4, 4, (9, 9, 9, 255)), -2, -2)], Rect(0, 0, 3, 3))
    assert out[:2, :2, 3].all() and out[2].sum() == 0 and out[:, 2].sum() == 0


def test_the_backdrop_is_transparent_so_blend_modes_have_nothing_to_blend_with() -> None:
    out = composite_placed([(_solid(1, 1, (100, 150, 200, 255), blend=BlendMode.MULTIPLY), 0, 0)],
                           Rect(0, 0, 1, 1))
    assert out[0, 0].tolist() == [100, 150, 200, 255]


def test_it_matches_the_document_compositor_on_whole_canvas_layers() -> None:
    rng = np.random.default_rng(1)
    layers = [Layer("l", LayerKind.RASTER, rng.integers(0, 256, (6, 7, 4), dtype=np.uint8),
                    opacity=op, blend=blend)
              for op, blend in [(1.0, BlendMode.NORMAL), (0.6, BlendMode.SCREEN), (0.8, BlendMode.OVERLAY)]]
    placed = composite_placed([(layer, 0, 0) for layer in layers], Rect(0, 0, 7, 6))
    assert np.array_equal(placed, composite_rgba(layers, Rect(0, 0, 7, 6)))


def test_hidden_and_mask_layers_draw_nothing() -> None:
    hidden = _solid(1, 1, (255, 0, 0, 255), visible=False)
    mask = Layer("m", LayerKind.MASK, np.full((1, 1), 255, np.uint8))
    assert composite_placed([(hidden, 0, 0), (mask, 0, 0)], Rect(0, 0, 1, 1)).sum() == 0
