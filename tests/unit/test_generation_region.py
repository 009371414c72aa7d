"""Region geometry: bounds, sizes, and the bit-identical-outside-the-mask property."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sfumato.generation import Margins
from sfumato.generation.outpaint import grow_canvas
from sfumato.generation.region import (
    Box,
    feather_weights,
    mask_bounds,
    pad_box,
    paste_region,
    plan_region,
    scaled_size,
)


def _irregular_mask(seed: int, shape: tuple[int, int]) -> np.ndarray:
    """Random blobs, strokes and isolated pixels, with soft (sub-threshold) values around."""
    rng = np.random.default_rng(seed)
    layer = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(layer)
    for _ in range(rng.integers(1, 6)):
        x, y = rng.integers(0, shape[1]), rng.integers(0, shape[0])
        rx, ry = rng.integers(1, 30), rng.integers(1, 30)
        draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=255)
    points = [(int(rng.integers(0, shape[1])), int(rng.integers(0, shape[0]))) for _ in range(4)]
    draw.line(points, fill=255, width=int(rng.integers(1, 6)))
    mask = np.asarray(layer).copy()
    mask[rng.integers(0, shape[0], 5), rng.integers(0, shape[1], 5)] = 255
    mask[(mask == 0) & (rng.random(shape) < 0.05)] = 127
    return mask


def test_bounds_and_padding() -> None:
    mask = np.zeros((50, 80), np.uint8)
    mask[10:20, 30:35] = 200
    mask[40, 70] = 127
    assert mask_bounds(mask) == Box(30, 10, 35, 20)
    assert pad_box(Box(30, 10, 35, 20), 12, 80, 50) == Box(18, 0, 47, 32)
    assert mask_bounds(np.full((5, 5), 127, np.uint8)) is None


def test_scaled_size_keeps_aspect_and_multiples() -> None:
    assert scaled_size(100, 50, 512 * 512, 8) == (728, 360)
    assert scaled_size(4000, 4000, 512 * 512, 64) == (512, 512)
    width, height = scaled_size(5000, 10, 512 * 512, 8)
    assert width == 1024 and height % 8 == 0 and height >= 8


def test_feather_lies_inside_the_mask_and_reaches_full_strength() -> None:
    repaint = np.zeros((40, 40), bool)
    repaint[5:35, 5:35] = True
    repaint[0, 0] = True
    weights = feather_weights(repaint, 6)
    assert weights[~repaint].max() == 0
    assert weights[20, 20] == 1.0
    assert 0 < weights[5, 20] < weights[7, 20] < 1.0
    thin = np.zeros((10, 10), bool)
    thin[5, :] = True
    assert feather_weights(thin, 6)[thin].min() == 1.0


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("channels", [3, 4])
def test_pixels_outside_the_mask_are_bit_identical(seed: int, channels: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(40, 160)), int(rng.integers(40, 160)))
    source = rng.integers(0, 256, (*shape, channels), dtype=np.uint8)
    mask = _irregular_mask(seed, shape)
    region = plan_region(mask, int(rng.integers(0, 40)), int(rng.integers(16, 96)) ** 2, 8)
    generated = rng.integers(0, 256, (region.size[1], region.size[0], 3), dtype=np.uint8)
    out = paste_region(source, mask, region, generated)
    keep = mask < 128
    assert out.dtype == np.uint8 and out.shape == source.shape
    assert np.array_equal(out[keep], source[keep])
    assert not np.array_equal(out[~keep], source[~keep])
    if channels == 4:
        deep = feather_weights(~keep, 4) == 1.0
        assert (out[deep][:, 3] == 255).all()


def test_outpaint_canvas_keeps_the_original_at_its_offset() -> None:
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    canvas, mask = grow_canvas(source, Margins(5, 7, 11, 0))
    assert canvas.shape == (37, 56, 3) and mask.shape == (37, 56)
    assert np.array_equal(canvas[7:37, 5:45], source)
    assert (mask[7:37, 5:45] == 0).all() and (mask[:7] == 255).all() and (mask[:, 45:] == 255).all()
    left_edge_mean = source[:, 0].mean(axis=0)
    assert np.abs(canvas[7:37, 0].mean(axis=0) - left_edge_mean).max() < 40
