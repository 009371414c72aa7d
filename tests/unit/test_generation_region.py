"""Region geometry: bounds, sizes that keep the aspect, soft paste-back and the
bit-identical-outside-the-mask property."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sfumato.generation import Margins
from sfumato.generation.outpaint import grow_canvas
from sfumato.generation.region import (
    MAX_ASPECT,
    MIN_SIDE,
    MODEL_MASK_GROW,
    Box,
    Region,
    crop_for_model,
    grow_mask,
    mask_bounds,
    pad_box,
    paste_region,
    plan_region,
    scaled_size,
)


def _irregular_mask(seed: int, shape: tuple[int, int]) -> np.ndarray:
    """Random blobs, strokes and isolated pixels, with soft values scattered around."""
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
    soft = (mask == 0) & (rng.random(shape) < 0.05)
    mask[soft] = rng.integers(1, 255, int(soft.sum()))
    return mask


def _strip(canvas: tuple[int, int], box: Box) -> np.ndarray:
    mask = np.zeros(canvas, np.uint8)
    mask[box.slices()] = 255
    return mask


def _scales(region: Region) -> tuple[float, float]:
    """How much the model's picture is scaled horizontally and vertically."""
    return region.size[0] / region.frame.width, region.size[1] / region.frame.height


def test_bounds_include_every_soft_pixel_and_padding_clips() -> None:
    mask = np.zeros((50, 80), np.uint8)
    mask[10:20, 30:35] = 200
    mask[40, 70] = 1
    assert mask_bounds(mask) == Box(30, 10, 71, 41)
    assert mask_bounds(np.zeros((5, 5), np.uint8)) is None
    assert pad_box(Box(30, 10, 35, 20), 12, 80, 50) == Box(18, 0, 47, 32)


@pytest.mark.parametrize(("native", "multiple"), [(512, 8), (768, 8), (1024, 8), (1024, 16)])
def test_scaled_size_keeps_the_aspect_within_one_percent_at_the_native_area(
    native: int, multiple: int
) -> None:
    rng = np.random.default_rng(native + multiple)
    for _ in range(400):
        width = int(rng.integers(1, 4097))
        height = int(np.clip(width / np.exp(rng.uniform(-np.log(4), np.log(4))), 1, None))
        w, h = scaled_size(width, height, native * native, multiple)
        assert w % multiple == 0 and h % multiple == 0
        assert abs(w / h / (width / height) - 1) <= 0.01, (width, height, w, h)
        assert abs(w * h / native**2 - 1) <= 0.1


def test_scaled_size_of_a_very_long_region_keeps_its_aspect_too() -> None:
    w, h = scaled_size(5000, 10, 512 * 512, 8)
    assert abs(w / h / 500 - 1) <= 0.01 and h % 8 == 0


def test_a_192_by_4096_strip_gets_context_beside_it_and_keeps_its_shape() -> None:
    strip = Box(900, 0, 1092, 4096)
    region = plan_region(_strip((4096, 2048), strip), 0, 1024 * 1024, 8)
    assert region.frame == region.box == Box(484, 0, 1508, 4096)  # 1024 wide, centred on it
    assert region.size == (512, 2048)
    sx, sy = _scales(region)
    assert abs(sx / sy - 1) <= 0.01


def test_a_4096_by_64_strip_gets_context_above_and_below() -> None:
    strip = Box(0, 500, 4096, 564)
    region = plan_region(_strip((1024, 4096), strip), 0, 1024 * 1024, 8)
    assert region.box == region.frame == Box(0, 0, 4096, 1024)  # moved down to stay inside
    assert region.size == (2048, 512)
    sx, sy = _scales(region)
    assert abs(sx / sy - 1) <= 0.01


@pytest.mark.parametrize("canvas", [(4096, 192), (64, 4096)])
def test_a_canvas_too_narrow_for_context_is_mirrored_beyond_its_edge(canvas: tuple[int, int]) -> None:
    height, width = canvas
    mask = np.zeros(canvas, np.uint8)
    if height > width:
        mask[:, : width // 2] = 255  # a 96×4096 strip on a 192-wide canvas
    else:
        mask[: height // 2] = 255  # a 4096×32 strip on a 64-high canvas
    region = plan_region(mask, 0, 1024 * 1024, 8)
    assert region.box == Box(0, 0, width, height)
    frame = region.frame
    assert max(frame.width, frame.height) <= MAX_ASPECT * min(frame.width, frame.height)
    sx, sy = _scales(region)
    assert abs(sx / sy - 1) <= 0.01
    rng = np.random.default_rng(1)
    source = rng.integers(0, 256, (*canvas, 3), dtype=np.uint8)
    image, model_mask = crop_for_model(source, mask, region)
    assert image.size == model_mask.size == region.size
    generated = np.full((region.size[1], region.size[0], 3), 77, np.uint8)
    out = paste_region(source, mask, region, generated)
    assert np.array_equal(out[mask == 0], source[mask == 0])
    assert (out[mask == 255] == 77).all()


@pytest.mark.parametrize(("x", "y"), [(500, 400), (0, 0), (999, 3)])
@pytest.mark.parametrize("padding", [0, 32])
def test_a_one_pixel_mask_gets_a_native_size_region_centred_on_it(x: int, y: int, padding: int) -> None:
    mask = np.zeros((800, 1000), np.uint8)
    mask[y, x] = 255
    region = plan_region(mask, padding, 1024 * 1024, 8)
    box = region.box
    assert region.size == (1024, 1024) and region.frame == box
    assert box.width == box.height == max(MIN_SIDE, 2 * padding + 1)
    assert 0 <= box.x0 <= x < box.x1 <= 1000 and 0 <= box.y0 <= y < box.y1 <= 800
    if (x, y) == (500, 400):
        assert abs((box.x0 + box.x1 - 1) / 2 - x) <= 0.5 and abs((box.y0 + box.y1 - 1) / 2 - y) <= 0.5
    tiny = np.zeros((20, 30), np.uint8)
    tiny[5, 5] = 255
    assert plan_region(tiny, padding, 512 * 512, 8).box == Box(0, 0, 30, 20)


def test_soft_mask_values_are_the_blend_weights() -> None:
    source = np.random.default_rng(2).integers(0, 256, (64, 256, 3), dtype=np.uint8)
    mask = np.tile(np.arange(256, dtype=np.uint8), (64, 1))
    region = plan_region(mask, 0, 256 * 64, 8)
    assert region.frame == region.box == Box(1, 0, 256, 64)  # column 0 is 0: not in the box
    generated = np.full((region.size[1], region.size[0], 3), 200, np.uint8)
    out = paste_region(source, mask, region, generated)
    weight = mask[..., None].astype(np.float64) / 255
    expected = np.rint(source * (1 - weight) + 200 * weight)
    assert np.abs(out.astype(np.float64) - expected).max() <= 1  # float32 arithmetic
    assert np.array_equal(out[:, 0], source[:, 0]) and (out[:, 255] == 200).all()
    assert len(np.unique(out[:, 64:192, 0])) > 64  # a ramp, not a step


def test_the_model_mask_covers_the_soft_band_and_a_latent_cell_more() -> None:
    mask = np.zeros((200, 200), np.uint8)
    mask[80:120, 60:140] = 255
    mask[70:80, 60:140] = 10  # a faint soft edge above
    region = plan_region(mask, 32, 200 * 200, 8)
    _image, model = crop_for_model(np.zeros((200, 200, 3), np.uint8), mask, region)
    repaint = np.asarray(model)
    assert set(np.unique(repaint)) == {0, 255}
    scale = region.size[0] / region.box.width
    top = round((70 - region.box.y0) * scale)
    left = round((60 - region.box.x0) * scale)
    assert (repaint[top - MODEL_MASK_GROW : top, left : left + 40] == 255).all()
    assert (repaint[: top - MODEL_MASK_GROW - 2] == 0).all()


def test_grow_mask_is_a_square_dilation() -> None:
    repaint = np.zeros((9, 11), bool)
    repaint[4, 5] = True
    grown = grow_mask(repaint, 2)
    assert grown.sum() == 25 and grown[2:7, 3:8].all()
    assert np.array_equal(grow_mask(repaint, 0), repaint)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("match_colours", [False, True])
def test_pixels_outside_the_mask_are_bit_identical(seed: int, channels: int, match_colours: bool) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(40, 160)), int(rng.integers(40, 160)))
    source = rng.integers(0, 256, (*shape, channels), dtype=np.uint8)
    mask = _irregular_mask(seed, shape)
    region = plan_region(mask, int(rng.integers(0, 40)), int(rng.integers(16, 96)) ** 2, 8)
    generated = rng.integers(0, 256, (region.size[1], region.size[0], 3), dtype=np.uint8)
    out = paste_region(source, mask, region, generated, match_colours)
    keep = mask == 0
    assert out.dtype == np.uint8 and out.shape == source.shape
    assert np.array_equal(out[keep], source[keep])
    assert not np.array_equal(out[~keep], source[~keep])
    if channels == 4:
        assert (out[mask == 255][:, 3] == 255).all()


def test_colour_match_leaves_what_the_model_meant_to_paint() -> None:
    """A model that keeps the context exactly has no drift to correct, whatever it paints."""
    y, x = np.mgrid[0:160, 0:160]
    source = np.stack([x, y, x + y // 2], axis=-1).astype(np.uint8)
    mask = np.zeros((160, 160), np.uint8)
    mask[52:108, 52:108] = 255
    region = plan_region(mask, 32, 120 * 120, 8)
    assert region.size == (region.box.width, region.box.height)  # 1:1, the context comes back exact
    image, model_mask = crop_for_model(source, mask, region)
    painted = np.asarray(image).copy()
    painted[np.asarray(model_mask) > 0] = (230, 20, 20)
    plain = paste_region(source, mask, region, painted)
    matched = paste_region(source, mask, region, painted, match_colours=True)
    assert np.abs(matched.astype(int) - plain.astype(int)).max() <= 1


def test_outpaint_canvas_keeps_the_original_at_its_offset() -> None:
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    canvas, mask = grow_canvas(source, Margins(5, 7, 11, 0))
    assert canvas.shape == (37, 56, 3) and mask.shape == (37, 56)
    assert np.array_equal(canvas[7:37, 5:45], source)
    assert (mask[7:37, 5:45] == 0).all() and (mask[:7] == 255).all() and (mask[:, 45:] == 255).all()
    left_edge_mean = source[:, 0].mean(axis=0)
    assert np.abs(canvas[7:37, 0].mean(axis=0) - left_edge_mean).max() < 40
