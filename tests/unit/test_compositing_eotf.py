"""Compositing in linear light (``eotf`` other than 1), as MyPaint 2.0 blends the files it writes.

Expected values are worked out by hand from the transfer ``(c / 255) ** eotf`` and its inverse.
"""

from __future__ import annotations

import numpy as np
import pytest

from sfumato.document.compositing import composite_placed, composite_rgba
from sfumato.document.geometry import Rect
from sfumato.document.layers import BlendMode, Layer, LayerKind

ONE = Rect(0, 0, 1, 1)


def _solid(rgba: tuple[int, int, int, int], **props: object) -> Layer:
    pixels = np.empty((1, 1, 4), np.uint8)
    pixels[...] = rgba
    return Layer("solid", LayerKind.RASTER, pixels, **props)  # type: ignore[arg-type]


def _pixel(layers: list[Layer], eotf: float, **kwargs: bool) -> list[int]:
    return composite_rgba(layers, ONE, eotf=eotf, **kwargs)[0, 0].tolist()


def test_every_opaque_level_comes_back_as_it_was_stored() -> None:
    ramp = np.full((1, 256, 4), 255, np.uint8)
    ramp[0, :, 0] = ramp[0, :, 2] = np.arange(256)
    ramp[0, :, 1] = np.arange(256)[::-1]
    layer = Layer("ramp", LayerKind.RASTER, ramp)
    out = composite_rgba([layer], Rect(0, 0, 256, 1), eotf=2.2)
    assert np.array_equal(out, layer.pixels)


def test_partial_alpha_mixes_light_not_stored_values() -> None:
    white, black_half = _solid((255, 255, 255, 255)), _solid((0, 0, 0, 128))
    assert _pixel([white, black_half], 1.0) == [127, 127, 127, 255]
    # linear light 1 − 128/255 = 0.498, encoded: 255 · 0.498 ** (1 / 2.2) = 185.8
    assert _pixel([white, black_half], 2.2) == [186, 186, 186, 255]
    half_gray = _solid((128, 128, 128, 255), opacity=0.5)
    # (0.5 · (128/255) ** 2.2 + 0.5 · 1) ** (1 / 2.2) · 255 = (0.5 · 0.2195 + 0.5) ** 0.4545 · 255
    # = 203.7 (stored values would give 191.5)
    assert _pixel([white, half_gray], 1.0) == [192, 192, 192, 255]
    assert _pixel([white, half_gray], 2.2) == [204, 204, 204, 255]


def test_blend_modes_work_on_linear_light() -> None:
    base = _solid((100, 200, 255, 255))
    top = (200, 100, 50, 255)
    # multiply commutes with a power: the same as on stored values, a·b/255
    assert _pixel([base, _solid(top, blend=BlendMode.MULTIPLY)], 2.2) == [78, 78, 50, 255]
    # screen does not: 255 · (x + y − x·y) ** (1 / 2.2) with x, y = (c / 255) ** 2.2; for 100 and
    # 200: x = 0.1275, y = 0.5860, (0.7135 − 0.0747) ** 0.4545 · 255 = 208.0 (stored: 222)
    assert _pixel([base, _solid(top, blend=BlendMode.SCREEN)], 2.2) == [208, 208, 255, 255]


def test_straight_and_premultiplied_results_encode_the_colour_not_the_coverage() -> None:
    red_half = _solid((255, 0, 0, 128))
    assert _pixel([red_half], 2.2) == [255, 0, 0, 128]
    assert _pixel([red_half], 2.2, premultiplied=True) == [128, 0, 0, 128]
    gray = _solid((128, 64, 32, 51))
    assert _pixel([gray], 2.2) == [128, 64, 32, 51]


def test_a_mask_shows_its_tint_where_it_is_full() -> None:
    mask = Layer("m", LayerKind.MASK, np.full((1, 1), 255, np.uint8), opacity=1.0, tint=(230, 40, 70))
    assert _pixel([_solid((0, 0, 0, 255)), mask], 2.2, show_masks=True) == [230, 40, 70, 255]


@pytest.mark.parametrize("eotf", [1.0, 2.2])
def test_an_isolated_group_composites_in_the_same_light(eotf: float) -> None:
    rng = np.random.default_rng(3)
    layers = [Layer("l", LayerKind.RASTER, rng.integers(0, 256, (5, 6, 4), dtype=np.uint8),
                    opacity=op, blend=blend)
              for op, blend in [(1.0, BlendMode.NORMAL), (0.6, BlendMode.SCREEN), (0.8, BlendMode.OVERLAY)]]
    placed = composite_placed([(layer, 0, 0) for layer in layers], Rect(0, 0, 6, 5), eotf=eotf)
    assert np.array_equal(placed, composite_rgba(layers, Rect(0, 0, 6, 5), eotf=eotf))
    if eotf != 1.0:
        assert not np.array_equal(placed, composite_placed([(lyr, 0, 0) for lyr in layers], Rect(0, 0, 6, 5)))
