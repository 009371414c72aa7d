"""Which task the canvas asks for, what a job captures, and where results land (no model needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sfumato.document.document import Document, new_document
from sfumato.document.geometry import Rect
from sfumato.document.layers import Layer, LayerKind
from sfumato.generation.outpaint import growth_context
from sfumato.generation.region import Box, plan_region
from sfumato.generation.requests import InpaintRequest, Margins, OutpaintRequest, Task
from sfumato.inference.planning import plan_request
from sfumato.inference.results import GeneratedImage
from sfumato.session.generation_source import (
    INPAINT_PADDING,
    OUTPAINT_PADDING,
    Capture,
    capture,
    describe_task,
    detect_task,
    landing,
)


def gradient(width: int, height: int) -> np.ndarray:
    """An opaque RGBA picture with structure (the Qt tests' ``generate_helpers.gradient``)."""
    y, x = np.mgrid[0:height, 0:width]
    rgba = np.stack([x * 4 % 256, y * 4 % 256, (x + y) * 2 % 256, np.full_like(x, 255)], axis=2)
    return rgba.astype(np.uint8)


def _paint_mask(doc: Document, mask: Layer, rows: slice, cols: slice, value: int = 255) -> None:
    with doc.edit_pixels(mask, None, "Mask"):
        mask.pixels[rows, cols] = value


def test_the_task_follows_the_canvas() -> None:
    assert detect_task(None, None) is Task.TXT2IMG
    doc = new_document(64, 48)
    assert detect_task(doc, None) is Task.TXT2IMG  # a blank white canvas
    doc.add_image_layer(gradient(64, 48), "Photo")
    assert detect_task(doc, None) is Task.IMG2IMG
    doc.change_selection(lambda s: s.select_rect(4, 4, 20, 20), "Select")
    assert detect_task(doc, None) is Task.INPAINT
    assert describe_task(doc, None).startswith("Inpaint: the selection (16 × 16 px)")
    mask = doc.add_layer(LayerKind.MASK)
    _paint_mask(doc, mask, slice(10, 30), slice(10, 40))
    assert describe_task(doc, None).startswith("Inpaint: the masked area (30 × 20 px)")
    assert detect_task(doc, Rect(8, 8, 40, 30)) is Task.INPAINT  # a frame inside adds nothing
    assert detect_task(doc, Rect(-16, 0, 60, 48)) is Task.OUTPAINT
    assert describe_task(doc, Rect(-16, -8, 60, 48)) == "Outpaint: extend the canvas to 80 × 56 px"
    _paint_mask(doc, mask, slice(10, 30), slice(10, 40), 100)  # too faint: the selection again
    assert describe_task(doc, None).startswith("Inpaint: the selection (16 × 16 px)")


def test_an_inpaint_result_covers_only_the_mask() -> None:
    doc = new_document(64, 64)
    doc.add_image_layer(gradient(64, 64), "Photo")
    mask = doc.add_layer(LayerKind.MASK)
    _paint_mask(doc, mask, slice(20, 30), slice(20, 40))
    _paint_mask(doc, mask, slice(30, 31), slice(20, 21), 40)  # a soft edge pixel: blended, so covered
    cap = capture(doc, Task.INPAINT, None)
    assert cap.target == Rect(0, 0, 64, 64)  # the mask box padded by 32, moved inside the canvas
    box = Box(0, 0, cap.target.w, cap.target.h)  # in the captured picture
    pixels = np.full((box.height, box.width, 3), 200, np.uint8)
    result = landing(cap, GeneratedImage(pixels, 7, "p", box, cap.source()))
    assert result.rect == cap.target and result.grow is None
    alpha = result.rgba[..., 3]
    assert alpha.sum() == (10 * 20 + 1) * 255  # opaque exactly where the mask is above 0
    assert alpha[20, 20] == 255 and alpha[0, 0] == 0


def test_an_outpaint_to_the_left_and_top_grows_the_canvas_and_lands_beyond_the_old_edge() -> None:
    doc = new_document(40, 30)
    doc.add_image_layer(gradient(40, 30), "Photo")
    cap = capture(doc, Task.OUTPAINT, Rect(-10, -6, 50, 36))
    assert cap.margins is not None and cap.margins.as_tuple() == (10, 6, 0, 0)
    assert cap.target == Rect(-10, -6, 50, 36)
    grown = np.zeros((36, 50, 3), np.uint8)
    box = Box(0, 0, 50, 36)
    result = landing(cap, GeneratedImage(np.full((36, 50, 3), 90, np.uint8), 3, "p", box, grown))
    assert result.grow == (50, 36, (10, 6))
    assert result.rect == Rect(0, 0, 50, 36) and result.overlay == Rect(-10, -6, 50, 36)
    alpha = result.rgba[..., 3]
    assert alpha[6:, 10:].max() == 0  # the old picture is not covered
    assert alpha[:6].min() == 255 and alpha[:, :10].min() == 255


class _Guarded(np.ndarray):
    """Layer pixels that fail the test when anything outside ``allowed`` is read."""

    allowed: Rect

    def __getitem__(self, key: Any) -> Any:
        rows, cols = key[0], key[1]
        assert isinstance(rows, slice) and isinstance(cols, slice), f"read {key!r}"
        inside = (rows.start >= self.allowed.y and rows.stop <= self.allowed.bottom
                  and cols.start >= self.allowed.x and cols.stop <= self.allowed.right)
        assert inside, f"read rows {rows}, columns {cols} outside {self.allowed}"
        return self.view(np.ndarray)[key]

    def __array_ufunc__(self, *_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the whole layer was read")


def _guard(doc: Document, allowed: Rect) -> None:
    for layer in doc.layers:
        layer.coverage()  # what the document already knew before the press
        guarded = layer.pixels.view(_Guarded)
        guarded.allowed = allowed
        layer.pixels = guarded


def _big_document() -> tuple[Document, Layer]:
    doc = new_document(1200, 900)
    doc.add_image_layer(gradient(1200, 900), "Photo")
    mask = doc.add_layer(LayerKind.MASK)
    _paint_mask(doc, mask, slice(500, 540), slice(700, 760))
    return doc, mask


def test_an_inpaint_press_reads_only_the_region() -> None:
    doc, mask = _big_document()
    box = plan_region(mask.pixels, INPAINT_PADDING, 64 * 64, 8).box
    region = Rect(box.x0, box.y0, box.width, box.height)
    assert region.w * region.h < doc.width * doc.height / 20
    _guard(doc, region)
    assert describe_task(doc, None) == "Inpaint: the masked area (60 × 40 px)"
    cap = capture(doc, Task.INPAINT, None)
    assert cap.target == region and cap.origin == (region.x, region.y)
    source = cap.source()  # composited (later, on the inference thread) from the region only
    assert source is not None and source.shape == (region.h, region.w, 4)
    np.testing.assert_array_equal(source, gradient(1200, 900)[region.slices])
    assert cap.mask is not None and cap.mask.shape == (region.h, region.w)


def test_a_one_sided_outpaint_press_reads_only_the_canvas_inside_its_region() -> None:
    doc, _mask = _big_document()
    cap_rect = Rect(0, 0, 1200 + 96, 900)  # 96 px more on the right
    grown = np.full((900, 1296), 255, np.uint8)
    grown[:, :1200] = 0
    box = plan_region(grown, OUTPAINT_PADDING, 64 * 64, 8).box
    left = min(box.x0, 1200 - growth_context(Margins(0, 0, 96, 0)))
    inside = Rect(left, box.y0, 1200 - left, box.height)
    assert inside.w < 1200 / 3
    _guard(doc, inside)
    cap = capture(doc, Task.OUTPAINT, cap_rect)
    source = cap.source()
    assert source is not None and source.shape[:2] == (inside.h, inside.w)
    assert cap.origin == (left, 0) and cap.preview == Rect(box.x0, 0, box.width, 900)


def _stand_in_model(plan_image: Any) -> np.ndarray:
    """A deterministic 'model' that depends on what it is shown: colours rotated and darkened."""
    rgb = np.asarray(plan_image)
    return (rgb[..., [1, 2, 0]] // 2 + 40).astype(np.uint8)


def _full_canvas_result(request: InpaintRequest | OutpaintRequest) -> GeneratedImage:
    plan = plan_request(request, 64, 8, inpaint_only=False)
    return plan.finish(_stand_in_model(plan.image), 5, "p")


def _region_layer(doc: Document, cap: Capture, image: GeneratedImage) -> np.ndarray:
    result = landing(cap, image)
    if result.grow is not None:
        doc.resize_canvas(result.grow[0], result.grow[1], result.grow[2])
    layer = doc.add_image_layer(result.pixels(), "result", (result.rect.x, result.rect.y))
    return layer.pixels


@pytest.mark.parametrize("seed", range(6))
def test_an_inpaint_from_the_region_lands_the_pixels_a_whole_canvas_inpaint_did(seed: int) -> None:
    rng = np.random.default_rng(seed)
    width, height = int(rng.integers(80, 400)), int(rng.integers(80, 400))
    doc = new_document(width, height)
    doc.add_image_layer(rng.integers(0, 256, (height, width, 4), dtype=np.uint8), "Noise")
    mask = doc.add_layer(LayerKind.MASK)
    x, y = int(rng.integers(0, width - 4)), int(rng.integers(0, height - 4))
    w, h = int(rng.integers(1, width - x)), int(rng.integers(1, height - y))
    _paint_mask(doc, mask, slice(y, y + h), slice(x, x + w))
    soft = rng.integers(0, 255, (h, w), dtype=np.uint8)
    _paint_mask(doc, mask, slice(y, y + h), slice(x, x + w // 2 + 1), 255)
    with doc.edit_pixels(mask, None, "Soft"):
        mask.pixels[y : y + h, x + w // 2 + 1 : x + w] = soft[:, w // 2 + 1 :]

    whole = InpaintRequest(model="m", prompt="", source=doc.composite(), mask=doc.combined_mask())
    before = _full_canvas_result(whole)
    expected = np.zeros((height, width, 4), np.uint8)
    assert before.box is not None
    rows, cols = before.box.slices()
    expected[rows, cols, :3] = before.pixels[..., :3]
    expected[rows, cols, 3] = np.where(doc.combined_mask()[rows, cols] > 0, 255, 0)

    cap = capture(doc, Task.INPAINT, None)
    source = cap.source()
    assert source is not None and cap.mask is not None
    region = InpaintRequest(model="m", prompt="", source=source, mask=cap.mask)
    image = _full_canvas_result(region)
    assert image.pixels.shape[:2] == (cap.target.h, cap.target.w)  # region-sized until applied
    np.testing.assert_array_equal(_region_layer(doc, cap, image), expected)


@pytest.mark.parametrize("frame", [
    Rect(0, 0, 300, 200), Rect(0, 0, 620, 200), Rect(-400, 0, 620, 200), Rect(0, -20, 220, 220),
    Rect(0, 0, 220, 700), Rect(-40, 0, 260, 230),
])
def test_an_outpaint_from_the_region_lands_the_pixels_a_whole_canvas_outpaint_did(frame: Rect) -> None:
    rng = np.random.default_rng(frame.w)
    doc = new_document(220, 200)
    doc.add_image_layer(rng.integers(0, 256, (200, 220, 4), dtype=np.uint8), "Noise")
    cap = capture(doc, Task.OUTPAINT, frame)
    source = cap.source()
    assert cap.margins is not None and source is not None
    whole = OutpaintRequest(model="m", prompt="", source=doc.composite(), margins=cap.margins)
    before = _full_canvas_result(whole)
    assert before.box is not None
    expected = np.zeros((cap.target.h, cap.target.w, 4), np.uint8)
    rows, cols = before.box.slices()
    expected[rows, cols, :3] = before.pixels[..., :3]
    expected[rows, cols, 3] = 255
    m = cap.margins
    expected[m.top : m.top + 200, m.left : m.left + 220, 3] = 0  # the old picture is not covered

    region = OutpaintRequest(model="m", prompt="", source=source, margins=cap.margins)
    image = _full_canvas_result(region)
    assert image.pixels.shape == before.pixels.shape  # region-sized, not the grown canvas
    np.testing.assert_array_equal(_region_layer(doc, cap, image), expected)
