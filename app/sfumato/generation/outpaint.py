"""Outpaint canvas growth: a bigger canvas whose new area has a sensible start.

The original pixels sit bit-identical at offset ``(left, top)``; the new area is the source's
edges extended outwards and blurred, so the model starts from the neighbouring colours rather
than from black. Only strips along the grown sides are blurred, not the whole canvas.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from sfumato.generation.region import Box
from sfumato.generation.requests import Margins


def _strips(margins: Margins, width: int, height: int, reach: int) -> list[Box]:
    """Boxes covering each grown side plus ``reach`` pixels into the original."""
    left, top, right, bottom = margins.as_tuple()
    strips = []
    if left:
        strips.append(Box(0, 0, min(width, left + reach), height))
    if right:
        strips.append(Box(max(0, width - right - reach), 0, width, height))
    if top:
        strips.append(Box(0, 0, width, min(height, top + reach)))
    if bottom:
        strips.append(Box(0, max(0, height - bottom - reach), width, height))
    return strips


def _soften(pixels: np.ndarray, radius: float) -> np.ndarray:
    """A Gaussian blur of ``pixels``; wide blurs run on a smaller copy (same look, k² cheaper)."""
    image = Image.fromarray(np.ascontiguousarray(pixels))
    factor = max(1, int(radius // 4))
    if factor > 1:
        small = image.resize(
            (max(1, image.width // factor), max(1, image.height // factor)), Image.Resampling.BOX
        )
        image = small.filter(ImageFilter.GaussianBlur(radius / factor)).resize(
            image.size, Image.Resampling.BILINEAR
        )
    else:
        image = image.filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(image)


def _blur_radius(margins: Margins) -> float:
    return max(2.0, max(margins.as_tuple()) / 4)


def growth_context(margins: Margins) -> int:
    """How many pixels of the original next to each grown side :func:`grow_canvas` reads: a
    source cut to at least this much beside every grown side grows exactly as the whole would."""
    return int(3 * _blur_radius(margins)) + 1


def grow_canvas(source: np.ndarray, margins: Margins) -> tuple[np.ndarray, np.ndarray]:
    """The grown canvas and its mask (255 over the new area, 0 over the original)."""
    left, top, right, bottom = margins.as_tuple()
    canvas = np.pad(source, ((top, bottom), (left, right), (0, 0)), mode="edge")
    height, width = source.shape[:2]
    mask = np.full(canvas.shape[:2], 255, dtype=np.uint8)
    mask[top : top + height, left : left + width] = 0
    radius = _blur_radius(margins)
    strips = _strips(margins, canvas.shape[1], canvas.shape[0], growth_context(margins))
    blurred = [_soften(canvas[box.slices()], radius) for box in strips]
    for box, smooth in zip(strips, blurred, strict=True):
        new_area = mask[box.slices()] > 0
        canvas[box.slices()][new_area] = smooth[new_area]
    return canvas, mask
