"""Which mode the canvas asks for, what a job captures, and where results land (no model needed)."""

from __future__ import annotations

import numpy as np
from generate_helpers import gradient

from sfumato.document.document import new_document
from sfumato.document.geometry import Rect
from sfumato.document.layers import LayerKind
from sfumato.generation.region import Box
from sfumato.inference.results import GeneratedImage
from sfumato.ui.generation_source import Mode, capture, describe_mode, detect_mode, landing


def test_the_mode_follows_the_canvas() -> None:
    assert detect_mode(None, None) is Mode.TXT2IMG
    doc = new_document(64, 48)
    assert detect_mode(doc, None) is Mode.TXT2IMG  # a blank white canvas
    doc.add_image_layer(gradient(64, 48), "Photo")
    assert detect_mode(doc, None) is Mode.IMG2IMG
    doc.change_selection(lambda s: s.select_rect(4, 4, 20, 20), "Select")
    assert detect_mode(doc, None) is Mode.INPAINT
    assert describe_mode(doc, None).startswith("Inpaint: the selection (16 × 16 px)")
    mask = doc.add_layer(LayerKind.MASK)
    mask.pixels[10:30, 10:40] = 255
    assert describe_mode(doc, None).startswith("Inpaint: the masked area (30 × 20 px)")
    assert detect_mode(doc, Rect(8, 8, 40, 30)) is Mode.INPAINT  # a frame inside adds nothing
    assert detect_mode(doc, Rect(-16, 0, 60, 48)) is Mode.OUTPAINT
    assert describe_mode(doc, Rect(-16, -8, 60, 48)) == "Outpaint: extend the canvas to 80 × 56 px"


def test_an_inpaint_result_covers_only_the_mask() -> None:
    doc = new_document(64, 64)
    doc.add_image_layer(gradient(64, 64), "Photo")
    mask = doc.add_layer(LayerKind.MASK)
    mask.pixels[20:30, 20:40] = 255
    mask.pixels[30, 20] = 40  # a soft edge pixel: blended, so covered too
    cap = capture(doc, Mode.INPAINT, None)
    assert cap.target == Rect(0, 0, 64, 64)  # the mask box padded by 32, moved inside the canvas
    box = Box(cap.target.x, cap.target.y, cap.target.right, cap.target.bottom)
    pixels = np.full((box.height, box.width, 3), 200, np.uint8)
    result = landing(cap, GeneratedImage(pixels, 7, "p", box, cap.source))
    assert result.at == (box.x0, box.y0) and result.grow is None
    alpha = result.rgba[..., 3]
    assert alpha.sum() == (10 * 20 + 1) * 255  # opaque exactly where the mask is above 0
    assert alpha[20 - box.y0, 20 - box.x0] == 255 and alpha[0, 0] == 0


def test_an_outpaint_to_the_left_and_top_grows_the_canvas_and_lands_beyond_the_old_edge() -> None:
    doc = new_document(40, 30)
    doc.add_image_layer(gradient(40, 30), "Photo")
    cap = capture(doc, Mode.OUTPAINT, Rect(-10, -6, 50, 36))
    assert cap.margins is not None and cap.margins.as_tuple() == (10, 6, 0, 0)
    assert cap.target == Rect(-10, -6, 50, 36)
    grown = np.zeros((36, 50, 3), np.uint8)
    box = Box(0, 0, 50, 36)
    result = landing(cap, GeneratedImage(np.full((36, 50, 3), 90, np.uint8), 3, "p", box, grown))
    assert result.grow == (50, 36, (10, 6))
    assert result.at == (0, 0) and result.overlay_at == (-10, -6)
    alpha = result.rgba[..., 3]
    assert alpha[6:, 10:].max() == 0  # the old picture is not covered
    assert alpha[:6].min() == 255 and alpha[:, :10].min() == 255
