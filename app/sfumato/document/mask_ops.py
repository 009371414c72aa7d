"""Operations on one-channel masks (``[H, W]`` uint8, 255 = masked) and their undoable versions.

The pure functions return a new array. Grow, shrink and feather only work on the bounding box of
the masked pixels plus the reach of the filter, so their cost follows the mask, not the document.
Pixels beyond the document edge count as copies of the edge pixel, so a mask that touches the
border stays attached to it when shrunk or feathered.

The ``*_mask`` functions apply one operation to a mask layer of a document as one undo step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from sfumato.document.document import Document
from sfumato.document.geometry import Rect, nonzero_bounds
from sfumato.document.layers import Layer, LayerKind
from sfumato.document.selection import Selection

_Ufunc = Callable[..., np.ndarray]


def from_selection(selection: Selection) -> np.ndarray:
    """The selection as a mask (empty when nothing is selected)."""
    if selection.mask is None:
        return np.zeros((selection.height, selection.width), np.uint8)
    return selection.mask.copy()


def invert(mask: np.ndarray) -> np.ndarray:
    """Masked becomes unmasked and the other way round."""
    return np.subtract(255, mask, dtype=np.uint8)


def clear(mask: np.ndarray) -> np.ndarray:
    """An empty mask of the same size."""
    return np.zeros_like(mask)


def _run(values: np.ndarray, radius: int, axis: int, pick: _Ufunc) -> np.ndarray:
    """``pick`` (max or min) over windows of ``2·radius + 1`` along ``axis``, edges extended.

    Windows are built by doubling (1, 2, 4 … pixels), so the cost grows with ``log(radius)``.
    """
    def cut(start: int, stop: int | None) -> tuple[slice, ...]:
        return (slice(None),) * axis + (slice(start, stop),)

    widths = [(0, 0)] * values.ndim
    widths[axis] = (radius, radius)
    runs = np.pad(values, widths, mode="edge")
    window, span = 2 * radius + 1, 1
    while 2 * span <= window:
        runs = pick(runs[cut(0, -span)], runs[cut(span, None)])
        span *= 2
    rest = window - span
    if rest:
        runs = pick(runs[cut(0, -rest)], runs[cut(rest, None)])
    return runs


def _square(mask: np.ndarray, radius: int, pick: _Ufunc) -> np.ndarray:
    return _run(_run(mask, radius, 0, pick), radius, 1, pick)


def _feather_region(region: np.ndarray, radius: float) -> np.ndarray:
    blurred = Image.fromarray(region).filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(blurred, np.uint8)


_RegionOp = tuple[int, Callable[[np.ndarray], np.ndarray]]
"""How far a change can spread from the masked pixels, and the function applied to a region."""


def _grow_op(px: int) -> _RegionOp:
    if px < 0:
        raise ValueError(f"cannot grow by {px} px")
    return px, lambda region: _square(region, px, np.maximum)


def _shrink_op(px: int) -> _RegionOp:
    if px < 0:
        raise ValueError(f"cannot shrink by {px} px")
    return px, lambda region: _square(region, px, np.minimum)


def _feather_op(radius: float) -> _RegionOp:
    if radius < 0:
        raise ValueError(f"cannot feather by {radius} px")
    # Pillow's Gaussian is three box blurs of radius ≈ σ: nothing spreads beyond 3·⌈σ⌉ + 3.
    return 3 * math.ceil(radius) + 3, lambda region: _feather_region(region, radius)


def _filtered(mask: np.ndarray, op: _RegionOp) -> tuple[Rect, np.ndarray] | None:
    """``op`` applied to the masked bounding box grown by its reach: ``(rect, new pixels)``.

    ``None`` when the mask is empty (every operation here leaves an empty mask empty).
    """
    bounds = nonzero_bounds(mask)
    if bounds is None:
        return None
    reach, operation = op
    rect = bounds.grow(reach).clamp(mask.shape[1], mask.shape[0])
    return rect, operation(mask[rect.slices])


def _apply(mask: np.ndarray, op: _RegionOp) -> np.ndarray:
    out = mask.copy()
    done = _filtered(mask, op)
    if done is not None:
        out[done[0].slices] = done[1]
    return out


def grow(mask: np.ndarray, px: int) -> np.ndarray:
    """Dilate by ``px`` pixels (each pixel takes the largest value within a square of ``2·px+1``)."""
    return _apply(mask, _grow_op(px))


def shrink(mask: np.ndarray, px: int) -> np.ndarray:
    """Erode by ``px`` pixels (each pixel takes the smallest value within a square of ``2·px+1``)."""
    return _apply(mask, _shrink_op(px))


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """Soften the edge with a Gaussian blur of standard deviation ``radius`` pixels."""
    return _apply(mask, _feather_op(radius))


# ------------------------------------------------------------ document steps
def _check(layer: Layer) -> None:
    if not layer.is_mask:
        raise ValueError(f"“{layer.name}” is not a mask layer")


def _region_step(doc: Document, layer: Layer, op: _RegionOp, label: str) -> None:
    _check(layer)
    done = _filtered(layer.pixels, op)
    if done is None:
        return
    rect, pixels = done
    with doc.edit_pixels(layer, rect, label):
        layer.pixels[rect.slices] = pixels


def mask_from_selection(doc: Document, layer: Layer) -> None:
    """Replace the mask of ``layer`` by the document's selection; one undo step."""
    _check(layer)
    doc.apply_to_layer(layer, lambda _: from_selection(doc.selection), "Mask from selection")


def new_mask_from_selection(doc: Document) -> Layer:
    """Add a mask layer holding the selection (above the active layer); one undo step."""
    layer = Layer.mask("Selection mask", doc.width, doc.height)
    layer.pixels[...] = from_selection(doc.selection)
    return doc.add_layer(LayerKind.MASK, layer=layer, label="New mask from selection")


def invert_mask(doc: Document, layer: Layer) -> None:
    """Invert the mask of ``layer``; one undo step."""
    _check(layer)
    doc.apply_to_layer(layer, invert, "Invert mask")


def clear_mask(doc: Document, layer: Layer) -> None:
    """Empty the mask of ``layer``; one undo step (none if it was already empty)."""
    _check(layer)
    bounds = nonzero_bounds(layer.pixels)
    if bounds is not None:
        with doc.edit_pixels(layer, bounds, "Clear mask"):
            layer.pixels[bounds.slices] = 0


def grow_mask(doc: Document, layer: Layer, px: int) -> None:
    """Grow the mask of ``layer`` by ``px`` pixels; one undo step."""
    _region_step(doc, layer, _grow_op(px), f"Grow mask by {px} px")


def shrink_mask(doc: Document, layer: Layer, px: int) -> None:
    """Shrink the mask of ``layer`` by ``px`` pixels; one undo step."""
    _region_step(doc, layer, _shrink_op(px), f"Shrink mask by {px} px")


def feather_mask(doc: Document, layer: Layer, radius: float) -> None:
    """Feather the mask of ``layer`` with a ``radius`` px Gaussian; one undo step."""
    _region_step(doc, layer, _feather_op(radius), f"Feather mask by {radius:g} px")
