"""numpy ↔ QImage: shared memory, channel order, and copies out of any format."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot

from sfumato.qt_bridge.images import copy_rgba_to_native, qimage_to_rgba, wrap_native, wrap_rgba


def test_wrapped_images_share_the_array(qtbot: QtBot) -> None:
    pixels = np.zeros((3, 5, 4), np.uint8)
    image = wrap_rgba(pixels, premultiplied=False)
    pixels[1, 2] = (10, 20, 30, 255)
    assert image.pixelColor(2, 1).getRgb() == (10, 20, 30, 255)


def test_native_layout_shows_the_right_colours(qtbot: QtBot) -> None:
    rgba = np.array([[[255, 0, 0, 255], [0, 0, 128, 128]]], np.uint8)  # red, half-transparent blue
    native = np.empty_like(rgba)
    copy_rgba_to_native(rgba, native)
    image = wrap_native(native)
    assert image.format() == QImage.Format.Format_ARGB32_Premultiplied
    assert image.pixelColor(0, 0).getRgb() == (255, 0, 0, 255)
    assert image.pixelColor(1, 0).getRgb() == (0, 0, 255, 128)  # un-premultiplied by Qt


def test_qimage_to_rgba_copies_any_format(qtbot: QtBot) -> None:
    image = QImage(7, 3, QImage.Format.Format_RGB32)
    image.fill(QColor(1, 2, 3))
    out = qimage_to_rgba(image)
    assert out.shape == (3, 7, 4) and np.all(out == (1, 2, 3, 255))


def test_wrong_arrays_are_refused(qtbot: QtBot) -> None:
    with pytest.raises(ValueError, match="uint8"):
        wrap_rgba(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="contiguous"):
        wrap_native(np.zeros((2, 4, 4), np.uint8)[:, ::2])
