"""Pictures coming into a document: decoding files, new documents from images, placing layers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sfumato.document.document import Document
from sfumato.document.geometry import Rect
from sfumato.document.image_io import load_image
from sfumato.document.layers import Layer
from sfumato.errors import UserFacingError
from sfumato.generation.metadata import read_parameters

CASCADE = 24  # px between the centres of several images placed at once

Decoded = tuple[Path, np.ndarray | UserFacingError]


Progress = Callable[[int, int], None]
"""``progress(done, total)``, called from the worker thread as each file is read."""


def image_name(path: Path) -> str:
    """The layer or document name a picture file gets."""
    return path.stem or path.name


def decode_images(paths: Sequence[Path], progress: Progress | None = None) -> list[Decoded]:
    """Each path with its RGBA pixels, or with the error that explains why it cannot be read.

    Slow (disk and decoding): run it off the GUI thread. ``progress`` hears after each file.
    """
    out: list[Decoded] = []
    for done, path in enumerate(paths, start=1):
        try:
            out.append((path, load_image(path)))
        except UserFacingError as exc:
            out.append((path, exc))
        if progress is not None:
            progress(done, len(paths))
    return out


def image_document(rgba: np.ndarray, name: str) -> Document:
    """A document the size of ``rgba`` holding it as its one layer (nothing to undo, unmodified)."""
    height, width = rgba.shape[:2]
    doc = Document(width, height)
    doc.add_image_layer(rgba, name)
    doc.history.clear()
    doc.saved_revision = doc.revision
    return doc


def picture_document(path: Path) -> Document:
    """The picture at ``path`` as a document of its own; a PNG's generation ``parameters`` go with
    its layer, as a result layer's do (Layer › Reuse Parameters reads them, an export keeps them).
    Raises :class:`~sfumato.document.image_io.ImageLoadError` for a file that cannot be read."""
    doc = image_document(load_image(path), image_name(path))
    text = read_parameters(path) if path.suffix.lower() == ".png" else None
    if text and text.strip():
        doc.layers[0].metadata["parameters"] = text
    return doc


def placed_layers(images: Sequence[tuple[str, np.ndarray]], canvas: tuple[int, int],
                  centre: tuple[float, float]) -> list[Layer]:
    """Each ``(name, rgba)`` as a layer of a ``canvas``-sized document, centred at ``centre``,
    later ones offset diagonally; one that would land entirely off the canvas is centred on it.

    Nothing here touches a document, so it may run off the GUI thread.
    """
    width, height = canvas
    layers = []
    for i, (name, rgba) in enumerate(images):
        h, w = rgba.shape[:2]
        x = round(centre[0] - w / 2) + i * CASCADE
        y = round(centre[1] - h / 2) + i * CASCADE
        if Rect(x, y, w, h).intersect(Rect(0, 0, width, height)).empty:
            x, y = (width - w) // 2, (height - h) // 2
        layers.append(Layer.placed(name, width, height, rgba, (x, y)))
    return layers


def add_layers(doc: Document, layers: Sequence[Layer]) -> None:
    """Add layers made by :func:`placed_layers` for ``doc``'s size, each as one undo step."""
    for layer in layers:
        doc.add_layer(layer=layer, label=f"Add image {layer.name}")


def add_centred(doc: Document, images: Sequence[tuple[str, np.ndarray]], centre: tuple[float, float]) -> None:
    """Add each ``(name, rgba)`` as a layer centred at ``centre`` (see :func:`placed_layers`).

    Each layer is one undo step.
    """
    add_layers(doc, placed_layers(images, (doc.width, doc.height), centre))


@dataclass(frozen=True)
class Arrival:
    """Pictures made ready, off the GUI thread, to join the window.

    ``document`` is a new document of the first picture when none was open; ``layers`` are the
    other pictures placed for a ``canvas``-sized document (``None``: no document to place them
    on); ``images`` are those pictures themselves, to place again if the canvas changed size
    meanwhile; ``errors`` say which files could not be read.
    """

    document: Document | None
    title: str
    canvas: tuple[int, int] | None
    layers: list[Layer]
    images: list[tuple[str, np.ndarray]]
    errors: list[UserFacingError]


def prepare_arrival(pictures: Sequence[tuple[str, np.ndarray | UserFacingError]],
                    canvas: tuple[int, int] | None, centre: tuple[float, float] | None) -> Arrival:
    """Make the document and layers for ``pictures`` (named pixels, or why a file could not be
    read) that join a document of size ``canvas`` at ``centre``, or open as a new document when
    ``canvas`` is ``None``. Slow for big pictures: run it off the GUI thread."""
    images = [(name, rgba) for name, rgba in pictures if isinstance(rgba, np.ndarray)]
    errors = [error for _, error in pictures if isinstance(error, UserFacingError)]
    document, title = None, ""
    if images and canvas is None:
        title, rgba = images.pop(0)
        document = image_document(rgba, title)
        canvas, centre = (document.width, document.height), None
    if canvas is None:
        return Arrival(document, title, None, [], images, errors)
    centre = centre or (canvas[0] / 2, canvas[1] / 2)
    return Arrival(document, title, canvas, placed_layers(images, canvas, centre), images, errors)
