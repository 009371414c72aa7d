"""Pictures coming into a document: decoding files, new documents from images, placing layers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sfumato.document.document import Document
from sfumato.document.geometry import Rect
from sfumato.document.image_io import load_image
from sfumato.errors import UserFacingError

CASCADE = 24  # px between the centres of several images placed at once

Decoded = tuple[Path, np.ndarray | UserFacingError]


def decode_images(paths: Sequence[Path]) -> list[Decoded]:
    """Each path with its RGBA pixels, or with the error that explains why it cannot be read.

    Slow (disk and decoding): run it off the GUI thread.
    """
    out: list[Decoded] = []
    for path in paths:
        try:
            out.append((path, load_image(path)))
        except UserFacingError as exc:
            out.append((path, exc))
    return out


def image_document(rgba: np.ndarray, name: str) -> Document:
    """A document the size of ``rgba`` holding it as its one layer (nothing to undo, unmodified)."""
    height, width = rgba.shape[:2]
    doc = Document(width, height)
    doc.add_image_layer(rgba, name)
    doc.history.clear()
    doc.saved_revision = doc.revision
    return doc


def add_centred(doc: Document, images: Sequence[tuple[str, np.ndarray]], centre: tuple[float, float]) -> None:
    """Add each ``(name, rgba)`` as a layer centred at ``centre``, later ones offset diagonally.

    An image that would land entirely off the canvas is centred on the canvas instead. Each
    layer is one undo step.
    """
    for i, (name, rgba) in enumerate(images):
        h, w = rgba.shape[:2]
        x = round(centre[0] - w / 2) + i * CASCADE
        y = round(centre[1] - h / 2) + i * CASCADE
        if Rect(x, y, w, h).intersect(doc.rect).empty:
            x, y = (doc.width - w) // 2, (doc.height - h) // 2
        doc.add_image_layer(rgba, name, (x, y))
