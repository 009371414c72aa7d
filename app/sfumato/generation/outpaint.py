"""Outpaint canvas growth: a bigger canvas whose new area has a sensible start.

The original pixels sit bit-identical at offset ``(left, top)``; the new area is the source's
edges extended outwards and blurred, so the model starts from the neighbouring colours rather
than from black.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from sfumato.generation.requests import Margins


def grow_canvas(source: np.ndarray, margins: Margins) -> tuple[np.ndarray, np.ndarray]:
    """The grown canvas and its mask (255 over the new area, 0 over the original)."""
    left, top, right, bottom = margins.as_tuple()
    pad = ((top, bottom), (left, right), (0, 0))
    canvas = np.pad(source, pad, mode="edge")
    radius = max(2.0, max(margins.as_tuple()) / 4)
    blurred = np.asarray(Image.fromarray(canvas).filter(ImageFilter.GaussianBlur(radius)))
    mask = np.full(canvas.shape[:2], 255, dtype=np.uint8)
    height, width = source.shape[:2]
    mask[top : top + height, left : left + width] = 0
    new_area = mask > 0
    canvas[new_area] = blurred[new_area]
    return canvas, mask
