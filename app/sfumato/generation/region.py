"""Region geometry for inpaint and outpaint.

An inpaint works on the mask's bounding box grown by some padding, scaled to the model's native
area *keeping its aspect ratio*, and the result is scaled back and pasted with the mask's own
values as blend weights: wherever the mask is 0 the output is the source, bit for bit; where it
is 255 it is the generated pixel; in between the two mix linearly. Every step touches only the
region, so the cost of an inpaint follows the mask, not the image.

What the model is given is a binary mask: every pixel above 0, grown by one latent cell
(:data:`MODEL_MASK_GROW`), so that the whole soft band is regenerated content (a band blended
from two near-copies of the source would show nothing of the feather) and the latent mask the
pipeline derives cannot fall short of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from sfumato.generation.requests import MAX_SIDE

REPAINT_THRESHOLD = 128
"""A mask must reach this value somewhere to ask for an inpaint (fainter masks count as empty,
as :class:`~sfumato.generation.requests.InpaintRequest` checks). Within a mask that does, every
value above 0 is a blend weight."""

MAX_ASPECT = 4.0
"""The longest side of what the model sees is at most this many times its shortest. SDXL was
fine-tuned on aspect buckets from 512×2048 to 2048×512 at about 1024² pixels (Podell et al. 2023,
"SDXL", §2.3 and appendix I); the other families were trained on narrower ranges or at squares,
so beyond 4:1 every supported model is outside what it learned."""

MIN_SIDE = 64
"""The region is at least this many canvas pixels on each side (where the canvas has them). At
512² (SD 1.5's native size, the smallest in the catalogue) that is an 8× upscale: one canvas
pixel per latent cell of the 8× VAE. A smaller box would give the model less than that."""

MODEL_MASK_GROW = 8
"""Pixels, at the model's size, by which the mask the model gets reaches beyond every mask pixel
above 0: one latent cell of the 8× VAE all supported families use."""

ASPECT_TOLERANCE = 0.01
"""The model's size keeps the region's aspect ratio within this (relative) error."""

AREA_TOLERANCE = 0.1
"""How far (relative) the model's area may stray from the target to keep the aspect exact."""

_GRID_SIDE = 256
"""The colour correction is estimated on a grid whose longer side is at most this many cells."""


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
    """Where an inpaint happens and how the model sees it.

    ``box`` is the part of the canvas the result is pasted into. ``frame`` is what the model
    sees, in canvas coordinates: the box itself, or — when the canvas is too narrow to give a
    long thin box the context that keeps it within :data:`MAX_ASPECT` — the box widened beyond
    the canvas, the missing context mirrored from the box's edge. ``size`` has ``frame``'s aspect.
    """

    box: Box
    size: tuple[int, int]
    """``(width, height)`` the frame is scaled to: multiples of what the model needs."""
    frame: Box


def mask_bounds(mask: np.ndarray) -> Box | None:
    """The bounding box of the mask's pixels above 0, or ``None`` if there are none.

    One pass of row maxima over the whole mask, then only the rows that matter.
    """
    rows = np.flatnonzero(mask.max(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].max(axis=0))
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
    """A ``(width, height)`` in multiples of ``multiple`` with about ``target_area`` pixels and the
    aspect ratio of ``width``×``height``.

    Among the sizes within :data:`AREA_TOLERANCE` of the area, the one closest in area whose
    aspect is within :data:`ASPECT_TOLERANCE`; failing that (tiny areas, coarse multiples), the
    one with the smallest aspect error. Neither side exceeds the engine's limit.
    """
    aspect = width / height
    long_limit = MAX_SIDE // multiple * multiple
    area = min(float(target_area), long_limit**2 / max(aspect, 1 / aspect))
    ideal = math.sqrt(area / aspect)
    low = max(1, math.floor(ideal * math.sqrt(1 - AREA_TOLERANCE) / multiple))
    high = max(low, math.ceil(ideal * math.sqrt(1 + AREA_TOLERANCE) / multiple))
    candidates = []
    for steps in range(low, high + 1):
        h = min(long_limit, steps * multiple)
        w = min(long_limit, max(multiple, round(h * aspect / multiple) * multiple))
        area_error = abs(w * h / area - 1)
        aspect_error = abs(w / (h * aspect) - 1)
        aspect_key = max(aspect_error, ASPECT_TOLERANCE)  # all within tolerance rank alike
        candidates.append((area_error > AREA_TOLERANCE, aspect_key, area_error, w, h))
    *_, w, h = min(candidates)
    return w, h


def _grown(start: int, stop: int, length: int) -> tuple[int, int]:
    """``[start, stop)`` grown about its centre to at least ``length``."""
    extra = max(0, length - (stop - start))
    return start - extra // 2, stop + extra - extra // 2


def _placed(start: int, stop: int, limit: int) -> tuple[int, int]:
    """``[start, stop)`` shifted to lie within ``[0, limit)``, clipped only if longer than it."""
    if stop - start >= limit:
        return 0, limit
    shift = max(0, -start) - max(0, stop - limit)
    return start + shift, stop + shift


def region_box(bounds: Box, width: int, height: int, padding: int) -> Box:
    """The box :func:`plan_region` picks for a mask whose values above 0 lie within ``bounds``
    on a ``width × height`` canvas (so a caller that knows the bounds needs no mask scan)."""
    x0, x1 = _grown(bounds.x0 - padding, bounds.x1 + padding, MIN_SIDE)
    y0, y1 = _grown(bounds.y0 - padding, bounds.y1 + padding, MIN_SIDE)
    x0, x1 = _grown(x0, x1, math.ceil((y1 - y0) / MAX_ASPECT))
    y0, y1 = _grown(y0, y1, math.ceil((x1 - x0) / MAX_ASPECT))
    x0, x1 = _placed(x0, x1, width)
    y0, y1 = _placed(y0, y1, height)
    return Box(x0, y0, x1, y1)


def plan_region(mask: np.ndarray, padding: int, target_area: int, multiple: int) -> Region:
    """The region an inpaint of ``mask`` works on.

    The mask's bounds grown by ``padding``, to at least :data:`MIN_SIDE` on each side and along
    the shorter side to within :data:`MAX_ASPECT`, all about the bounds' centre, then moved (not
    cut) to lie inside the canvas: a mask by the edge gets its context from the inside. Only
    where the canvas is narrower than that does the frame reach beyond it (see :class:`Region`).
    The box depends on the mask and ``padding`` only; ``target_area`` and ``multiple`` set the
    model's size. Raises ``ValueError`` for a mask with no pixel above 0.
    """
    bounds = mask_bounds(mask)
    if bounds is None:
        raise ValueError("the mask has nothing to repaint")
    height, width = mask.shape
    box = region_box(bounds, width, height, padding)
    x0, y0, x1, y1 = box.x0, box.y0, box.x1, box.y1
    fx0, fx1 = _grown(x0, x1, math.ceil((y1 - y0) / MAX_ASPECT))
    fy0, fy1 = _grown(y0, y1, math.ceil((x1 - x0) / MAX_ASPECT))
    frame = Box(fx0, fy0, fx1, fy1)
    return Region(box, scaled_size(frame.width, frame.height, target_area, multiple), frame)


def _framed(pixels: np.ndarray, region: Region) -> np.ndarray:
    """``pixels`` (the whole canvas) cut to ``region.frame``, mirroring what lies beyond it."""
    box, frame = region.box, region.frame
    inside = pixels[box.slices()]
    if frame == box:
        return inside
    pad = [(box.y0 - frame.y0, frame.y1 - box.y1), (box.x0 - frame.x0, frame.x1 - box.x1)]
    pad += [(0, 0)] * (pixels.ndim - 2)
    return np.pad(inside, pad, mode="symmetric")


def grow_mask(repaint: np.ndarray, radius: int) -> np.ndarray:
    """``repaint`` (boolean) dilated by a ``(2·radius + 1)``² square, in time independent of it."""
    if radius <= 0:
        return repaint
    grown = repaint
    for axis in (0, 1):
        counts = np.cumsum(grown, axis=axis, dtype=np.int32)
        length = grown.shape[axis]
        counts = np.concatenate([np.zeros_like(counts.take([0], axis=axis)), counts], axis=axis)
        ends = np.minimum(np.arange(length) + radius + 1, length)
        starts = np.maximum(np.arange(length) - radius, 0)
        grown = (counts.take(ends, axis=axis) - counts.take(starts, axis=axis)) > 0
    return grown


def crop_for_model(
    image: np.ndarray, mask: np.ndarray, region: Region
) -> tuple[Image.Image, Image.Image]:
    """What the model gets: ``region.frame`` of ``image`` (RGB) at ``region.size``, and its mask.

    The mask is binary (255 = repaint): every pixel of ``mask`` above 0, at the model's size
    (any coverage of a model pixel counts), grown by :data:`MODEL_MASK_GROW` pixels.
    """
    crop = Image.fromarray(np.ascontiguousarray(_framed(image[..., :3], region)))
    cover = Image.fromarray(np.where(_framed(mask, region) > 0, 255, 0).astype(np.uint8))
    if crop.size != region.size:
        crop = crop.resize(region.size, Image.Resampling.LANCZOS)
        cover = cover.resize(region.size, Image.Resampling.BOX)
    repaint = grow_mask(np.asarray(cover) > 0, MODEL_MASK_GROW)
    return crop, Image.fromarray(np.where(repaint, 255, 0).astype(np.uint8))


def _generated_box(generated: np.ndarray, region: Region) -> np.ndarray:
    """The model's RGB output scaled back to ``region.frame`` and cut to ``region.box``."""
    box, frame = region.box, region.frame
    patch = np.ascontiguousarray(generated[..., :3])
    if patch.shape[1] != frame.width or patch.shape[0] != frame.height:
        patch = np.asarray(
            Image.fromarray(patch).resize((frame.width, frame.height), Image.Resampling.LANCZOS)
        )
    dy, dx = box.y0 - frame.y0, box.x0 - frame.x0
    return patch[dy : dy + box.height, dx : dx + box.width]


def _block_sums(values: np.ndarray, cell: int) -> np.ndarray:
    """Sums over ``cell``×``cell`` blocks (the array zero-padded to whole blocks)."""
    height, width = values.shape[:2]
    pad = [(0, -height % cell), (0, -width % cell)] + [(0, 0)] * (values.ndim - 2)
    padded = np.pad(values, pad)
    shape = (padded.shape[0] // cell, cell, padded.shape[1] // cell, cell, *values.shape[2:])
    return padded.reshape(shape).sum(axis=(1, 3), dtype=np.float64)


def _resized_field(field: np.ndarray, width: int, height: int) -> np.ndarray:
    """A ``(h, w, c)`` float field resized bilinearly to ``width``×``height``."""
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(field[..., c], dtype=np.float32)).resize(
                (width, height), Image.Resampling.BILINEAR
            )
        )
        for c in range(field.shape[2])
    ]
    return np.stack(channels, axis=2)


def _push_pull(values: np.ndarray, coverage: np.ndarray) -> np.ndarray | None:
    """A smooth field that follows ``values`` where ``coverage`` (0…1) is high and is
    interpolated from ever coarser averages where it is low (push-pull, as in Gortler et al.
    1996, "The Lumigraph"). ``None`` when nothing is covered."""
    levels = [(values, coverage)]
    while max(coverage.shape) > 1:
        weights = _block_sums(coverage, 2)
        sums = _block_sums(values * coverage[..., None], 2)
        values = np.divide(sums, weights[..., None], out=np.zeros_like(sums),
                           where=weights[..., None] > 0)
        coverage = weights / 4
        levels.append((values, coverage))
    if coverage.item() == 0:
        return None
    field = values
    for values, coverage in reversed(levels[:-1]):
        coarse = _resized_field(field, values.shape[1], values.shape[0])
        weight = coverage[..., None]
        field = weight * values + (1 - weight) * coarse
    return field


def colour_offset(
    original: np.ndarray, patch: np.ndarray, reference: np.ndarray
) -> np.ndarray | None:
    """A low-frequency RGB offset that brings ``patch`` to ``original`` where ``reference`` is set.

    ``original`` and ``patch`` are ``(h, w, 3)`` uint8, ``reference`` the ``(h, w)`` pixels where
    the model was told to keep the source, so that any difference there is the model's colour
    drift and not what it was asked to paint. The difference is averaged on a grid of at most
    :data:`_GRID_SIDE` cells a side and spread over the rest by push-pull, so the correction
    inside the mask follows the drift measured nearest to it. ``None`` without reference pixels.
    """
    height, width = reference.shape
    cell = max(1, math.ceil(max(height, width) / _GRID_SIDE))
    known = reference[..., None]
    count = _block_sums(reference, cell)
    difference = _block_sums(np.where(known, original, 0), cell) - _block_sums(
        np.where(known, patch, 0), cell
    )
    mean = np.divide(difference, count[..., None], out=np.zeros_like(difference),
                     where=count[..., None] > 0)
    field = _push_pull(mean, count / cell**2)
    if field is None:
        return None
    return _resized_field(field, width, height)


def blend_region(
    source: np.ndarray,
    mask: np.ndarray,
    region: Region,
    generated: np.ndarray,
    match_colours: bool = False,
) -> np.ndarray:
    """The final pixels of ``region.box``: ``generated`` (RGB at ``region.size``) over ``source``.

    The weight of the generated pixel is the mask's value / 255, mixed linearly in the 8-bit
    sRGB values, which is how the canvas composites a layer's opacity, so a feathered mask blends
    as a feathered layer would. Where the mask is 0 the source is copied unchanged; where it is
    255 the generated pixel is taken as it is. With ``match_colours`` the generated pixels are
    first shifted by :func:`colour_offset`, measured where the model kept the source (the box
    outside the mask it was given). RGBA sources blend their alpha toward opaque by the same
    weight. Only the box is read or written.
    """
    box = region.box
    rows, cols = box.slices()
    original = source[rows, cols]
    weights = mask[rows, cols]
    repaint = weights > 0
    patch: np.ndarray = _generated_box(generated, region)
    if match_colours:
        grow = math.ceil(MODEL_MASK_GROW * region.frame.width / region.size[0])
        reference = ~grow_mask(repaint, grow)
        if source.shape[2] == 4:
            reference &= original[..., 3] == 255
        offset = colour_offset(original[..., :3], patch, reference)
        if offset is not None:
            patch = np.clip(patch + offset, 0, 255)
    if source.shape[2] == 4:
        alpha = np.full((*patch.shape[:2], 1), 255, dtype=patch.dtype)
        patch = np.concatenate([patch, alpha], axis=2)
    weight = weights[..., None].astype(np.float32) / 255
    blended = original + (patch - original.astype(np.float32)) * weight
    mixed = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return np.where(repaint[..., None], mixed, original)


def paste_region(
    source: np.ndarray,
    mask: np.ndarray,
    region: Region,
    generated: np.ndarray,
    match_colours: bool = False,
) -> np.ndarray:
    """A copy of ``source`` with :func:`blend_region` pasted into ``region.box``."""
    out = source.copy()
    rows, cols = region.box.slices()
    out[rows, cols] = blend_region(source, mask, region, generated, match_colours)
    return out
