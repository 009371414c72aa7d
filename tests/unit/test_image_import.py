"""Placing imported pictures: centred where asked, cascaded, never lost off the canvas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sfumato.document.document import new_document
from sfumato.errors import UserFacingError
from sfumato.session.image_import import CASCADE, add_centred, decode_images, image_document


def write_png(path: Path, w: int, h: int, rgba: tuple[int, int, int, int]) -> Path:
    """A solid ``w × h`` PNG."""
    Image.fromarray(np.full((h, w, 4), rgba, np.uint8), "RGBA").save(path)
    return path


def _bounds(alpha: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(alpha)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_images_are_centred_and_cascaded() -> None:
    doc = new_document(200, 200)
    square = np.full((10, 10, 4), 255, np.uint8)
    add_centred(doc, [("a", square), ("b", square)], (100, 50))
    assert _bounds(doc.layers[1].pixels[..., 3]) == (95, 45, 105, 55)
    assert _bounds(doc.layers[2].pixels[..., 3]) == (95 + CASCADE, 45 + CASCADE, 105 + CASCADE, 55 + CASCADE)


def test_an_image_that_would_land_off_the_canvas_is_centred_on_it() -> None:
    doc = new_document(100, 80)
    add_centred(doc, [("far", np.full((10, 20, 4), 255, np.uint8))], (-500, 900))
    assert _bounds(doc.layers[1].pixels[..., 3]) == (40, 35, 60, 45)


def test_decoding_keeps_going_past_a_bad_file(tmp_path: Path) -> None:
    good = write_png(tmp_path / "good.png", 3, 2, (1, 2, 3, 255))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    (p1, first), (p2, second) = decode_images([bad, good])
    assert p1 == bad and isinstance(first, UserFacingError)
    assert p2 == good and isinstance(second, np.ndarray) and second.shape == (2, 3, 4)
    doc = image_document(second, "good")
    assert (doc.width, doc.height, len(doc.layers), doc.modified) == (3, 2, 1, False)
    assert len(doc.history) == 0
