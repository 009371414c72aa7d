"""Integer rectangles in document pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Rect:
    """An axis-aligned rectangle ``[x, x+w) × [y, y+h)`` in document pixels."""

    x: int
    y: int
    w: int
    h: int

    @classmethod
    def from_bounds(cls, left: float, top: float, right: float, bottom: float) -> Rect:
        """The smallest integer rectangle covering the half-open bounds (floats are rounded outward)."""
        import math

        x0, y0 = math.floor(left), math.floor(top)
        x1, y1 = math.ceil(right), math.ceil(bottom)
        return cls(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    @property
    def right(self) -> int:
        """One past the last column."""
        return self.x + self.w

    @property
    def bottom(self) -> int:
        """One past the last row."""
        return self.y + self.h

    @property
    def empty(self) -> bool:
        """True when the rectangle covers no pixel."""
        return self.w <= 0 or self.h <= 0

    def intersect(self, other: Rect) -> Rect:
        """The overlap of two rectangles (possibly empty)."""
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.right, other.right), min(self.bottom, other.bottom)
        return Rect(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def union(self, other: Rect) -> Rect:
        """The bounding box of both rectangles; an empty side is ignored."""
        if self.empty:
            return other
        if other.empty:
            return self
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        x1, y1 = max(self.right, other.right), max(self.bottom, other.bottom)
        return Rect(x0, y0, x1 - x0, y1 - y0)

    def clamp(self, width: int, height: int) -> Rect:
        """This rectangle cut to a ``width × height`` image."""
        return self.intersect(Rect(0, 0, width, height))

    def grow(self, n: int) -> Rect:
        """The rectangle grown by ``n`` pixels on every side."""
        return Rect(self.x - n, self.y - n, self.w + 2 * n, self.h + 2 * n)

    def translated(self, dx: int, dy: int) -> Rect:
        """The rectangle moved by ``(dx, dy)``."""
        return Rect(self.x + dx, self.y + dy, self.w, self.h)

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices for indexing a ``[H, W, …]`` array."""
        return slice(self.y, self.bottom), slice(self.x, self.right)


def nonzero_bounds(values: np.ndarray) -> Rect | None:
    """The bounding box of the nonzero entries of a ``[H, W]`` array, or ``None`` if there are none."""
    rows = np.flatnonzero(values.max(axis=1))  # max is faster than any() on strided views
    if rows.size == 0:
        return None
    cols = np.flatnonzero(values[rows[0] : rows[-1] + 1].max(axis=0))
    return Rect(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))
