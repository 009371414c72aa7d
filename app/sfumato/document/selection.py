"""The selection: a soft one-channel mask over the document (255 = fully selected)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
from PIL import Image, ImageDraw

from sfumato.document.geometry import Rect, nonzero_bounds


class SelectMode(StrEnum):
    """How a new shape combines with the current selection."""

    REPLACE = "replace"
    ADD = "add"
    SUBTRACT = "subtract"
    INTERSECT = "intersect"


class Selection:
    """A document-sized selection mask; ``None`` mask means nothing is selected."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.mask: np.ndarray | None = None

    @property
    def active(self) -> bool:
        """True when some pixel is selected."""
        return self.mask is not None

    def bounds(self) -> Rect | None:
        """The bounding box of the selected pixels, or ``None``."""
        return None if self.mask is None else nonzero_bounds(self.mask)

    def _shape(self, draw: str, points: Sequence[tuple[float, float]]) -> np.ndarray:
        img = Image.new("L", (self.width, self.height), 0)
        painter = ImageDraw.Draw(img)
        if draw in ("rect", "ellipse"):
            # Corners snap to pixel edges; a click without a drag selects nothing (Pillow
            # refuses boxes whose far corner lies before the near one).
            (x0, x1), (y0, y1) = (sorted(round(v) for v in pair) for pair in zip(*points, strict=True))
            if x1 > x0 and y1 > y0:
                shape = painter.rectangle if draw == "rect" else painter.ellipse
                shape([x0, y0, x1 - 1, y1 - 1], fill=255)
        else:
            painter.polygon([tuple(p) for p in points], fill=255)
        return np.asarray(img, np.uint8).copy()

    def _combine(self, shape: np.ndarray, mode: SelectMode) -> None:
        current = self.mask if self.mask is not None else np.zeros_like(shape)
        if mode is SelectMode.ADD:
            shape = np.maximum(current, shape)
        elif mode is SelectMode.SUBTRACT:
            shape = np.minimum(current, 255 - shape)
        elif mode is SelectMode.INTERSECT:
            shape = np.minimum(current, shape)
        self.mask = shape if shape.any() else None

    def select_rect(self, x0: float, y0: float, x1: float, y1: float,
                    mode: SelectMode = SelectMode.REPLACE) -> None:
        """Select the rectangle between two corners."""
        self._combine(self._shape("rect", [(x0, y0), (x1, y1)]), mode)

    def select_ellipse(self, x0: float, y0: float, x1: float, y1: float,
                       mode: SelectMode = SelectMode.REPLACE) -> None:
        """Select the ellipse inscribed in the rectangle between two corners."""
        self._combine(self._shape("ellipse", [(x0, y0), (x1, y1)]), mode)

    def select_lasso(self, points: Sequence[tuple[float, float]],
                     mode: SelectMode = SelectMode.REPLACE) -> None:
        """Select the polygon through ``points`` (closed automatically)."""
        if len(points) < 3:
            return
        self._combine(self._shape("lasso", points), mode)

    def select_all(self) -> None:
        """Select the whole document."""
        self.mask = np.full((self.height, self.width), 255, np.uint8)

    def set_mask(self, mask: np.ndarray | None) -> None:
        """Replace the selection by a copy of ``mask`` (``[H, W]`` uint8)."""
        self.mask = None if mask is None or not mask.any() else mask.astype(np.uint8).copy()

    def invert(self) -> None:
        """Select what was not selected."""
        inverted = np.full((self.height, self.width), 255, np.uint8)
        if self.mask is not None:
            inverted -= self.mask
        self.mask = inverted if inverted.any() else None

    def clear(self) -> None:
        """Deselect everything."""
        self.mask = None

    def coverage(self, rect: Rect) -> np.ndarray | None:
        """Selection values over ``rect`` as float32 in ``[0, 1]``, or ``None`` if nothing is selected."""
        if self.mask is None:
            return None
        return self.mask[rect.slices].astype(np.float32) * (1.0 / 255.0)
