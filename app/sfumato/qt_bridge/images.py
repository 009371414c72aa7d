"""numpy ↔ QImage without surprises.

:func:`wrap_rgba` and :func:`wrap_native` share memory with the array (no copy): the QImage reads
the array's bytes, so the array is kept alive by the returned image wrapper. :func:`qimage_to_rgba`
copies a QImage of any format into a fresh ``[H, W, 4]`` uint8 straight-alpha RGBA array
(clipboard, drops).

Qt paints ``Format_ARGB32_Premultiplied`` fastest (about twice as fast as RGBA8888 when scaling).
That format is a 32-bit word per pixel, so its byte order in memory depends on the machine:
:data:`NATIVE_ORDER` lists which RGBA channel goes in each byte.
"""

from __future__ import annotations

import sys

import numpy as np
from PySide6.QtGui import QImage

#: For each byte of a native ARGB32 pixel, the index of its RGBA channel (BGRA on little-endian).
NATIVE_ORDER: tuple[int, int, int, int] = (2, 1, 0, 3) if sys.byteorder == "little" else (3, 0, 1, 2)


def _check_pixels(array: np.ndarray) -> None:
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 4:
        raise ValueError(f"expected an [H, W, 4] uint8 array, got {array.dtype} {array.shape}")
    if array.strides[1] != 4 or array.strides[2] != 1:
        raise ValueError("pixels of each row must be contiguous")


def _wrap(array: np.ndarray, fmt: QImage.Format) -> QImage:
    _check_pixels(array)
    height, width = array.shape[:2]
    image = QImage(array.data, width, height, array.strides[0], fmt)
    image._sfumato_array = array  # type: ignore[attr-defined]  # the bytes must outlive the image
    return image


def copy_rgba_to_native(rgba: np.ndarray, out: np.ndarray) -> None:
    """Write RGBA pixels into ``out`` in :data:`NATIVE_ORDER` (same shape)."""
    for byte, channel in enumerate(NATIVE_ORDER):
        out[..., byte] = rgba[..., channel]


def wrap_native(array: np.ndarray) -> QImage:
    """A ``Format_ARGB32_Premultiplied`` QImage viewing ``array`` (``[H, W, 4]`` uint8 in
    :data:`NATIVE_ORDER`, premultiplied) without copying; see :func:`wrap_rgba` for lifetime."""
    return _wrap(array, QImage.Format.Format_ARGB32_Premultiplied)


def wrap_rgba(array: np.ndarray, *, premultiplied: bool = True) -> QImage:
    """A QImage viewing ``array`` (``[H, W, 4]`` uint8, rows contiguous) without copying.

    The image is ``Format_RGBA8888_Premultiplied`` (or ``Format_RGBA8888`` when
    ``premultiplied`` is false). Writes to the array show up in the image. The returned
    wrapper holds a reference to the array; keep the wrapper (not a C++ copy of it) alive
    while painting with it.
    """
    fmt = QImage.Format.Format_RGBA8888_Premultiplied if premultiplied else QImage.Format.Format_RGBA8888
    return _wrap(array, fmt)


def qimage_to_rgba(image: QImage) -> np.ndarray:
    """A copy of ``image`` as ``[H, W, 4]`` uint8 straight-alpha RGBA."""
    if image.isNull():
        raise ValueError("the image is empty")
    converted = image.convertToFormat(QImage.Format.Format_RGBA8888)
    width, height, stride = converted.width(), converted.height(), converted.bytesPerLine()
    raw = np.frombuffer(converted.constBits(), np.uint8, count=stride * height)
    return raw.reshape(height, stride)[:, : width * 4].reshape(height, width, 4).copy()
