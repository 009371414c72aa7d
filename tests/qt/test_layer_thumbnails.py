"""The layers panel's thumbnails: every n-th pixel, read only inside the layer's content bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sfumato.document.document import new_document
from sfumato.document.layers import LayerKind
from sfumato.ui.layers.thumbnails import sample


def _strided(pixels: np.ndarray, size: int) -> np.ndarray:
    step = max(1, math.ceil(max(pixels.shape[:2]) / size))
    return pixels[::step, ::step]


@pytest.mark.parametrize(("width", "height"), [(100, 70), (333, 1001), (4096, 4096)])
def test_a_thumbnail_samples_what_shows_and_reads_nothing_outside_the_content(width: int,
                                                                               height: int) -> None:
    rng = np.random.default_rng(width)
    doc = new_document(width, height)
    picture = rng.integers(1, 256, (height // 3 + 5, width // 2 + 3, 4), dtype=np.uint8)
    raster = doc.add_image_layer(picture, "Result", (width // 5, height // 7))
    mask = doc.add_layer(LayerKind.MASK)
    mask.pixels[height // 3 : height // 2, width // 4 : width // 2] = 200
    doc.notify_pixels(mask, doc.rect)

    got = sample(raster, 44)
    expected = _strided(raster.pixels, 44).copy()
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    masked = sample(mask, 44)
    np.testing.assert_array_equal(masked[..., 0], _strided(mask.pixels, 44))
    assert (masked[..., 3] == 255).all()

    bounds = raster.content_bounds()
    assert bounds is not None
    raster.pixels[: bounds.y] = 77  # colour under zero alpha that no sample may read (never shown)
    assert np.array_equal(sample(raster, 44), got)
