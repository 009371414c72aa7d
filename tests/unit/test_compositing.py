"""Compositing: blend modes against hand-computed values, opacity, visibility, masks, rectangles."""

from __future__ import annotations

import numpy as np
import pytest

from sfumato.document.compositing import composite_rgba
from sfumato.document.geometry import Rect
from sfumato.document.layers import BlendMode, Layer


def _solid(rgba: tuple[int, int, int, int], *, blend: BlendMode = BlendMode.NORMAL,
           opacity: float = 1.0, size: tuple[int, int] = (3, 2)) -> Layer:
    layer = Layer.raster("solid", *size)
    layer.pixels[...] = rgba
    layer.blend, layer.opacity = blend, opacity
    return layer


def _pixel(layers: list[Layer], **kwargs: bool) -> list[int]:
    return composite_rgba(layers, Rect(0, 0, 3, 2), **kwargs)[1, 2].tolist()


WHITE = (255, 255, 255, 255)


def test_normal_source_over() -> None:
    assert _pixel([_solid((10, 20, 30, 255))]) == [10, 20, 30, 255]
    # 128/255 red over white: G = B = 255 · (1 − 128/255) = 127
    assert _pixel([_solid(WHITE), _solid((255, 0, 0, 128))]) == [255, 127, 127, 255]
    assert _pixel([_solid((255, 0, 0, 128))]) == [255, 0, 0, 128]  # straight alpha out
    assert _pixel([_solid((255, 0, 0, 128))], premultiplied=True) == [128, 0, 0, 128]
    # two half-transparent layers: a = 1 − (1 − 0.6)(1 − 0.4) = 0.76
    out = _pixel([_solid((0, 0, 255, 153)), _solid((255, 0, 0, 102))])
    assert out == [round(255 * 0.4 / 0.76), 0, round(255 * 0.6 * 0.6 / 0.76), round(255 * 0.76)]


def test_multiply_and_screen_on_opaque_layers() -> None:
    base = _solid((100, 200, 255, 255))
    top = (200, 100, 50, 255)
    assert _pixel([base, _solid(top, blend=BlendMode.MULTIPLY)]) == [78, 78, 50, 255]  # a·b/255
    # screen: 255 − (255 − a)(255 − b)/255
    assert _pixel([base, _solid(top, blend=BlendMode.SCREEN)]) == [222, 222, 255, 255]


def test_multiply_with_partial_alpha_follows_the_w3c_formula() -> None:
    # Cb = 0.8 at αb = 0.6 below Cs = 0.5 at αs = 0.4:
    # co = cs(1 − αb) + cb(1 − αs) + αs·αb·Cb·Cs with premultiplied cs = 0.2, cb = 0.48
    # = 0.2·0.4 + 0.48·0.6 + 0.24·0.4 = 0.464; αo = 0.76
    out = composite_rgba([_solid((204, 204, 204, 153)), _solid((0, 0, 0, 0)),
                          _solid((128, 128, 128, 102), blend=BlendMode.MULTIPLY)],
                         Rect(0, 0, 1, 1), premultiplied=True)
    assert out[0, 0].tolist() == [118, 118, 118, 194]  # 0.4643·255 = 118.4, 0.76·255 = 193.8


def test_layer_opacity_scales_alpha() -> None:
    assert _pixel([_solid(WHITE), _solid((0, 0, 0, 255), opacity=0.25)]) == [191, 191, 191, 255]
    assert _pixel([_solid((0, 0, 0, 200), opacity=0.5)]) == [0, 0, 0, 100]


def test_hidden_and_zero_opacity_layers_are_skipped() -> None:
    hidden = _solid((0, 0, 0, 255))
    hidden.visible = False
    assert _pixel([_solid(WHITE), hidden, _solid((0, 0, 0, 255), opacity=0.0)]) == list(WHITE)
    assert _pixel([]) == [0, 0, 0, 0]


def test_masks_are_left_out_of_the_export_and_tinted_when_shown() -> None:
    mask = Layer.mask("mask", 3, 2)
    mask.pixels[...] = 255
    mask.tint = (230, 40, 70)  # opacity 0.5 by default
    layers = [_solid(WHITE), mask]
    assert _pixel(layers) == list(WHITE)
    assert _pixel(layers, show_masks=True) == [243, 148, 163, 255]  # (tint + white) / 2
    mask.pixels[...] = 0
    assert _pixel(layers, show_masks=True) == list(WHITE)


def _reference(layers: list[Layer]) -> np.ndarray:
    """Straight RGBA in [0, 1], float64, pixel by pixel from the W3C source-over formulas."""
    height, width = layers[0].pixels.shape[:2]
    co = np.zeros((height, width, 3))
    ao = np.zeros((height, width, 1))
    for layer in layers:
        src = layer.pixels / 255.0
        a_s = src[..., 3:] * layer.opacity
        cs = src[..., :3]
        cb = np.divide(co, ao, out=np.zeros_like(co), where=ao > 0)
        mixed = {BlendMode.NORMAL: cs, BlendMode.MULTIPLY: cb * cs,
                 BlendMode.SCREEN: cb + cs - cb * cs, BlendMode.DARKEN: np.minimum(cb, cs),
                 BlendMode.LIGHTEN: np.maximum(cb, cs),
                 BlendMode.OVERLAY: np.where(cb <= 0.5, 2 * cb * cs, 1 - 2 * (1 - cb) * (1 - cs))
                 }[layer.blend]
        co = a_s * (1 - ao) * cs + a_s * ao * mixed + (1 - a_s) * co
        ao = a_s + ao * (1 - a_s)
    straight = np.divide(co, ao, out=np.zeros_like(co), where=ao > 0)
    return np.concatenate([straight, ao], axis=-1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_stacks_match_the_formulas(seed: int) -> None:
    rng = np.random.default_rng(seed)
    layers = []
    for blend in rng.permutation(list(BlendMode)):
        layer = Layer.raster("random", 40, 30)
        layer.pixels[...] = rng.integers(0, 256, layer.pixels.shape, dtype=np.uint8)
        layer.blend, layer.opacity = BlendMode(blend), float(rng.uniform(0.2, 1.0))
        layers.append(layer)
    out = composite_rgba(layers, Rect(0, 0, 40, 30)).astype(float)
    expected = _reference(layers) * 255
    assert np.abs(out[..., 3] - expected[..., 3]).max() <= 1
    visible = expected[..., 3] > 20  # straight colour is ill-conditioned where alpha is tiny
    assert np.abs(out[..., :3] - expected[..., :3])[visible].max() <= 1


def test_a_rectangle_equals_the_same_crop_of_the_whole_composite() -> None:
    rng = np.random.default_rng(4)
    layers = []
    for blend in (BlendMode.NORMAL, BlendMode.SCREEN, BlendMode.MULTIPLY):
        layer = Layer.raster("random", 700, 200)
        layer.pixels[...] = rng.integers(0, 256, layer.pixels.shape, dtype=np.uint8)
        layer.blend = blend
        layers.append(layer)
    mask = Layer.mask("mask", 700, 200)
    mask.pixels[...] = rng.integers(0, 256, mask.pixels.shape, dtype=np.uint8)
    layers.append(mask)
    whole = composite_rgba(layers, Rect(0, 0, 700, 200), show_masks=True, premultiplied=True)
    part = Rect(7, 50, 650, 120)  # both cross compositing bands
    assert np.array_equal(composite_rgba(layers, part, show_masks=True, premultiplied=True),
                          whole[part.slices])
    assert composite_rgba(layers, Rect(5, 5, 0, 0)).shape == (0, 0, 4)
