"""Compositing a stack of layers into RGBA, one rectangle at a time.

Internally colours are float32 premultiplied in ``[0, 1]``; blending follows the W3C
"Compositing and Blending" formulas (source-over with a separable blend function).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sfumato.document.geometry import Rect
from sfumato.document.layers import BlendMode, Layer

_BAND_ROWS = 256  # composite large rectangles in bands to bound temporary memory


def _blend(mode: BlendMode, cb: np.ndarray, cs: np.ndarray) -> np.ndarray:
    """The separable blend function ``B(Cb, Cs)`` on straight colours."""
    if mode is BlendMode.MULTIPLY:
        return cb * cs
    if mode is BlendMode.SCREEN:
        return cb + cs - cb * cs
    if mode is BlendMode.DARKEN:
        return np.minimum(cb, cs)
    if mode is BlendMode.LIGHTEN:
        return np.maximum(cb, cs)
    if mode is BlendMode.OVERLAY:
        low = 2.0 * cb * cs
        high = 1.0 - 2.0 * (1.0 - cb) * (1.0 - cs)
        return np.where(cb <= 0.5, low, high)
    return cs


def _source(layer: Layer, rows: slice, cols: slice, show_masks: bool) -> np.ndarray | None:
    """The layer's straight RGBA in ``[0, 1]`` over the region, with opacity applied to alpha."""
    if layer.is_mask:
        if not show_masks:
            return None
        alpha = layer.pixels[rows, cols].astype(np.float32) * (layer.opacity / 255.0)
        src = np.empty((*alpha.shape, 4), np.float32)
        src[..., :3] = np.asarray(layer.tint, np.float32) / 255.0
        src[..., 3] = alpha
        return src
    src = layer.pixels[rows, cols].astype(np.float32) * (1.0 / 255.0)
    if layer.opacity < 1.0:
        src[..., 3] *= layer.opacity
    return src


def composite_premultiplied(
    layers: Iterable[Layer], rect: Rect, *, show_masks: bool = False
) -> np.ndarray:
    """Composite visible layers (bottom first) over ``rect``: float32 premultiplied ``[h, w, 4]``."""
    out = np.zeros((rect.h, rect.w, 4), np.float32)
    rows, cols = rect.slices
    for layer in layers:
        if not layer.visible or layer.opacity <= 0.0:
            continue
        src = _source(layer, rows, cols, show_masks)
        if src is None:
            continue
        a_s = src[..., 3:4]
        inv_as = 1.0 - a_s
        if layer.is_mask or layer.blend is BlendMode.NORMAL:
            out[..., :3] *= inv_as
            out[..., :3] += src[..., :3] * a_s
        else:
            a_b = out[..., 3:4]
            with np.errstate(divide="ignore", invalid="ignore"):
                cb = np.where(a_b > 0, out[..., :3] / np.maximum(a_b, 1e-12), 0.0)
            mixed = _blend(layer.blend, cb, src[..., :3])
            cs_p = src[..., :3] * a_s
            out[..., :3] = cs_p * (1.0 - a_b) + out[..., :3] * inv_as + a_s * a_b * mixed
        out[..., 3:4] = a_s + out[..., 3:4] * inv_as
    return out


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8)


def composite_rgba(
    layers: list[Layer], rect: Rect, *, show_masks: bool = False, premultiplied: bool = False
) -> np.ndarray:
    """Composite ``layers`` over ``rect`` into uint8 RGBA (straight unless ``premultiplied``)."""
    out = np.empty((rect.h, rect.w, 4), np.uint8)
    for top in range(0, rect.h, _BAND_ROWS):
        band = Rect(rect.x, rect.y + top, rect.w, min(_BAND_ROWS, rect.h - top))
        premul = composite_premultiplied(layers, band, show_masks=show_masks)
        if not premultiplied:
            alpha = premul[..., 3:4]
            with np.errstate(divide="ignore", invalid="ignore"):
                premul[..., :3] = np.where(alpha > 0, premul[..., :3] / np.maximum(alpha, 1e-12), 0)
        out[top : top + band.h] = _to_uint8(premul)
    return out
