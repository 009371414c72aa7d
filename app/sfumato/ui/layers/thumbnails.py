"""Small pictures of layers for the layer panel (nearest-pixel samples over a checkerboard)."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

from sfumato.document.layers import Layer
from sfumato.qt_bridge.images import wrap_rgba


def sample(layer: Layer, size: int) -> np.ndarray:
    """Every n-th pixel of ``layer`` so the longer side is at most ``size``, as RGBA.

    Only the samples inside the layer's content bounds are read (the others are 0): a result
    on a big canvas is mostly untouched, lazily zeroed memory, and reading a sample there
    costs a page fault. Mask layers come out as white-on-black greyscale.
    """
    step = max(1, math.ceil(max(layer.width, layer.height) / size))
    picked = np.zeros((-(-layer.height // step), -(-layer.width // step), *layer.pixels.shape[2:]),
                      np.uint8)
    bounds = layer.content_bounds()
    if bounds is not None:
        r0, c0 = -(-bounds.y // step), -(-bounds.x // step)
        picked[r0 : -(-bounds.bottom // step), c0 : -(-bounds.right // step)] = (
            layer.pixels[r0 * step : bounds.bottom : step, c0 * step : bounds.right : step])
    if layer.is_mask:
        rgba = np.empty((*picked.shape, 4), np.uint8)
        rgba[..., :3] = picked[..., None]
        rgba[..., 3] = 255
        return rgba
    return picked


def layer_icon(layer: Layer, size: int = 44) -> QIcon:
    """A ``size``-pixel square icon of ``layer`` over a checkerboard."""
    pixels = sample(layer, size)
    image = wrap_rgba(pixels, premultiplied=False)
    h, w = pixels.shape[:2]
    scale = size / max(w, h)
    target = QRectF((size - w * scale) / 2, (size - h * scale) / 2, w * scale, h * scale)
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    cell = 5
    for y in range(0, size, cell):
        for x in range(0, size, cell):
            light = (x // cell + y // cell) % 2 == 0
            painter.fillRect(x, y, cell, cell, QColor(0x9a9a9a if light else 0x6e6e6e))
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    painter.drawImage(target, image)
    painter.setPen(QColor(0x15, 0x16, 0x19))
    painter.drawRect(0, 0, size - 1, size - 1)
    painter.end()
    result = QIcon()
    for mode in (QIcon.Mode.Normal, QIcon.Mode.Selected, QIcon.Mode.Active):
        result.addPixmap(pixmap, mode)  # no selection tint over the picture
    return result
