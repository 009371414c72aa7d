"""Region geometry for inpaint and outpaint.

An inpaint works on the mask's bounding box grown by some padding, scaled to the size the model
works best at, and the result is scaled back and pasted with a feather that lies *inside* the
mask: wherever the mask is 0 the output is the source, bit for bit. Every step touches only the
region, so the cost of an inpaint follows the mask, not the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

REPAINT_THRESHOLD = 128
"""Mask values at or above this are repainted; below it the source is kept."""


@dataclass(frozen=True)
class Box:
    """A pixel rectangle: ``x0``/``y0`` inclusive, ``x1``/``y1`` exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self.y1 - self.y0

    def slices(self) -> tuple[slice, slice]:
        """``(rows, columns)`` slices that cut this box out of an array."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


@dataclass(frozen=True)
class Region:
    """Where an inpaint happens (``box`` in the image) and at what size the model sees it."""

    box: Box
    size: tuple[int, int]
    """``(width, height)`` the crop is scaled to: multiples of what the model needs."""


def repaint_mask(mask: np.ndarray) -> np.ndarray:
    """The boolean "repaint here" mask."""
    return mask >= REPAINT_THRESHOLD


def mask_bounds(mask: np.ndarray) -> Box | None:
    """The bounding box of the repaint pixels, or ``None`` if there are none.

    One pass of row maxima over the whole mask, then only the rows that matter.
    """
    rows = np.flatnonzero(mask.max(axis=1) >= REPAINT_THRESHOLD)
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].max(axis=0) >= REPAINT_THRESHOLD)
    return Box(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def pad_box(box: Box, padding: int, width: int, height: int) -> Box:
    """``box`` grown by ``padding`` on every side, clipped to a ``width``×``height`` image."""
    return Box(
        max(0, box.x0 - padding),
        max(0, box.y0 - padding),
        min(width, box.x1 + padding),
        min(height, box.y1 + padding),
    )


def scaled_size(width: int, height: int, target_area: int, multiple: int) -> tuple[int, int]:
    """``width``×``height`` scaled (keeping its aspect) to about ``target_area`` pixels.

    Both sides are rounded to ``multiple`` and kept within twice the square side of the target
    area, so a long thin region does not become a huge one.
    """
    scale = math.sqrt(target_area / (width * height))
    limit = max(multiple, int(2 * math.sqrt(target_area)) // multiple * multiple)

    def fit(side: int) -> int:
        return min(limit, max(multiple, round(side * scale / multiple) * multiple))

    return fit(width), fit(height)


def plan_region(mask: np.ndarray, padding: int, target_area: int, multiple: int) -> Region:
    """The region an inpaint of ``mask`` works on.

    Raises ``ValueError`` for a mask with nothing to repaint (requests refuse those earlier).
    """
    bounds = mask_bounds(mask)
    if bounds is None:
        raise ValueError("the mask has nothing to repaint")
    box = pad_box(bounds, padding, mask.shape[1], mask.shape[0])
    return Region(box, scaled_size(box.width, box.height, target_area, multiple))


def crop_for_model(
    image: np.ndarray, mask: np.ndarray, region: Region
) -> tuple[Image.Image, Image.Image]:
    """The region of ``image`` (as RGB) and of the binarised ``mask``, scaled to ``region.size``."""
    rows, cols = region.box.slices()
    crop = Image.fromarray(np.ascontiguousarray(image[rows, cols, :3]))
    mask_crop = Image.fromarray(np.where(repaint_mask(mask[rows, cols]), 255, 0).astype(np.uint8))
    if crop.size != region.size:
        crop = crop.resize(region.size, Image.Resampling.LANCZOS)
        mask_crop = mask_crop.resize(region.size, Image.Resampling.NEAREST)
    return crop, mask_crop


def feather_weights(repaint: np.ndarray, radius: int) -> np.ndarray:
    """Blend weights in [0, 1] that are 0 outside ``repaint`` and ramp up inside it.

    A pixel ``d`` steps inside the mask edge (8-connected) gets ``min(d, r) / r`` where ``r`` is
    ``radius`` or, for a mask thinner than that, its deepest pixel's depth, so thin strokes still
    reach full strength at their centre.
    """
    weights = repaint.astype(np.float32)
    if radius <= 0:
        return weights
    layer = Image.fromarray(np.where(repaint, 255, 0).astype(np.uint8))
    depth = weights.copy()
    reached = 1
    for _ in range(radius - 1):
        layer = layer.filter(ImageFilter.MinFilter(3))
        inner = np.asarray(layer) > 0
        if not inner.any():
            break
        depth += inner
        reached += 1
    return depth / reached


def default_feather(region: Region) -> int:
    """A feather radius that suits the region's size: 1/32 of its shorter side, 2…16 pixels."""
    return max(2, min(16, min(region.box.width, region.box.height) // 32))


def blend_region(
    source: np.ndarray,
    mask: np.ndarray,
    region: Region,
    generated: np.ndarray,
    feather: int | None = None,
) -> np.ndarray:
    """The final pixels of ``region.box``: ``generated`` (RGB at ``region.size``) over ``source``.

    The blend weight is :func:`feather_weights` of the mask, so every pixel where the mask is
    below the repaint threshold is copied from ``source`` unchanged. RGBA sources keep their
    alpha where kept and become opaque where repainted. Only the box is read or written.
    """
    box = region.box
    rows, cols = box.slices()
    patch = generated[..., :3]
    if patch.shape[1] != box.width or patch.shape[0] != box.height:
        patch = np.asarray(
            Image.fromarray(np.ascontiguousarray(patch)).resize(
                (box.width, box.height), Image.Resampling.LANCZOS
            )
        )
    if source.shape[2] == 4:
        alpha = np.full((*patch.shape[:2], 1), 255, dtype=np.uint8)
        patch = np.concatenate([patch, alpha], axis=2)
    repaint = repaint_mask(mask[rows, cols])
    radius = default_feather(region) if feather is None else feather
    weights = feather_weights(repaint, radius)[..., None]
    original = source[rows, cols]
    blended = original * (1.0 - weights) + patch * weights
    mixed = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return np.where(repaint[..., None], mixed, original)


def paste_region(
    source: np.ndarray,
    mask: np.ndarray,
    region: Region,
    generated: np.ndarray,
    feather: int | None = None,
) -> np.ndarray:
    """A copy of ``source`` with :func:`blend_region` pasted into ``region.box``."""
    out = source.copy()
    rows, cols = region.box.slices()
    out[rows, cols] = blend_region(source, mask, region, generated, feather)
    return out
