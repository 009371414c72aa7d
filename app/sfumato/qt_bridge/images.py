"""numpy ↔ QImage without surprises.

:func:`wrap_rgba` shares memory with the array (no copy): the QImage reads the array's bytes, so
the array is kept alive by the returned image wrapper. :func:`qimage_to_rgba` copies a QImage of
any format into a fresh ``[H, W, 4]`` uint8 straight-alpha RGBA array (clipboard, drops).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def wrap_rgba(array: np.ndarray, *, premultiplied: bool = True) -> QImage:
    """A QImage viewing ``array`` (``[H, W, 4]`` uint8, rows contiguous) without copying.

    The image is ``Format_RGBA8888_Premultiplied`` (or ``Format_RGBA8888`` when
    ``premultiplied`` is false). Writes to the array show up in the image. The returned
    wrapper holds a reference to the array; keep the wrapper (not a C++ copy of it) alive
    while painting with it.
    """
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 4:
        raise ValueError(f"expected an [H, W, 4] uint8 array, got {array.dtype} {array.shape}")
    if array.strides[1] != 4 or array.strides[2] != 1:
        raise ValueError("pixels of each row must be contiguous")
    height, width = array.shape[:2]
    fmt = QImage.Format.Format_RGBA8888_Premultiplied if premultiplied else QImage.Format.Format_RGBA8888
    image = QImage(array.data, width, height, array.strides[0], fmt)
    image._sfumato_array = array  # type: ignore[attr-defined]  # the bytes must outlive the image
    return image


def qimage_to_rgba(image: QImage) -> np.ndarray:
    """A copy of ``image`` as ``[H, W, 4]`` uint8 straight-alpha RGBA."""
    if image.isNull():
        raise ValueError("the image is empty")
    converted = image.convertToFormat(QImage.Format.Format_RGBA8888)
    width, height, stride = converted.width(), converted.height(), converted.bytesPerLine()
    raw = np.frombuffer(converted.constBits(), np.uint8, count=stride * height)
    return raw.reshape(height, stride)[:, : width * 4].reshape(height, width, 4).copy()
