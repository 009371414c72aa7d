"""Where a layer has pixels, kept per 64×64 tile so that asking costs nothing like a scan.

A :class:`PlaneCoverage` summarises one ``[H, W]`` uint8 plane (a mask, or a raster layer's
alpha) tile by tile: the largest value in each tile and the bounding box of its values above 0.
Changes mark the tiles they touched as dirty (the document knows every changed rectangle: strokes,
operations and undo all report one), and :meth:`PlaneCoverage.refresh` rescans only those tiles,
so the bounds and peak of a big mask follow what was painted, not the size of the document.
"""

from __future__ import annotations

import numpy as np

from sfumato.document.geometry import Rect

TILE = 64


class PlaneCoverage:
    """Per-tile peak values and bounds of the values above 0 of a ``height × width`` plane.

    A new coverage knows nothing (every tile is dirty) unless made with ``known_zero``, which
    says the plane is all zeros. Bounds are in plane pixels and exact: the union of each tile's
    exact bounds.
    """

    def __init__(self, height: int, width: int, *, known_zero: bool = False) -> None:
        self.shape = (height, width)
        rows, cols = -(-height // TILE), -(-width // TILE)
        self._peak = np.zeros((rows, cols), np.uint8)
        self._top = np.zeros((rows, cols), np.int32)
        self._bottom = np.zeros((rows, cols), np.int32)
        self._left = np.zeros((rows, cols), np.int32)
        self._right = np.zeros((rows, cols), np.int32)
        self._dirty = np.full((rows, cols), not known_zero, bool)

    def copy(self) -> PlaneCoverage:
        """An independent copy (for a duplicated layer)."""
        out = PlaneCoverage(*self.shape)
        for name in ("_peak", "_top", "_bottom", "_left", "_right", "_dirty"):
            setattr(out, name, getattr(self, name).copy())
        return out

    def mark(self, rect: Rect) -> None:
        """Pixels inside ``rect`` may have changed: rescan its tiles at the next :meth:`refresh`."""
        height, width = self.shape
        rect = rect.clamp(width, height)
        if rect.empty:
            return
        self._dirty[rect.y // TILE : (rect.bottom - 1) // TILE + 1,
                    rect.x // TILE : (rect.right - 1) // TILE + 1] = True

    def fill(self, rect: Rect, value: int) -> None:
        """The plane holds ``value`` (above 0) everywhere in ``rect`` and 0 in the rest of the
        tiles ``rect`` touches: set those tiles without a scan (a new layer holding an opaque
        picture). What lies outside the plane is cut off."""
        height, width = self.shape
        rect = rect.clamp(width, height)
        if rect.empty:
            return
        r0, r1 = rect.y // TILE, (rect.bottom - 1) // TILE + 1
        c0, c1 = rect.x // TILE, (rect.right - 1) // TILE + 1
        rows, cols = np.arange(r0, r1) * TILE, np.arange(c0, c1) * TILE
        self._peak[r0:r1, c0:c1] = value
        self._top[r0:r1, c0:c1] = np.maximum(rows, rect.y)[:, None]
        self._bottom[r0:r1, c0:c1] = np.minimum(rows + TILE, rect.bottom)[:, None]
        self._left[r0:r1, c0:c1] = np.maximum(cols, rect.x)[None, :]
        self._right[r0:r1, c0:c1] = np.minimum(cols + TILE, rect.right)[None, :]
        self._dirty[r0:r1, c0:c1] = False

    def refresh(self, plane: np.ndarray, shift: int = 0) -> None:
        """Rescan the dirty tiles of ``plane`` (which must have this coverage's shape).

        The values are ``plane >> shift``: a raster layer's RGBA seen as little-endian uint32
        with ``shift`` 24 is its alpha, read a whole pixel at a time (twice as fast as the
        strided alpha bytes).

        Each row of tiles with dirty tiles is scanned once, from its first to its last dirty
        tile: column maxima give each tile's peak and horizontal bounds, and only the tiles with
        a value above 0 are scanned again for their vertical bounds.
        """
        if plane.shape != self.shape:
            raise ValueError(f"the plane is {plane.shape}, the coverage {self.shape}")
        height, width = self.shape
        for row in np.flatnonzero(self._dirty.any(axis=1)):
            cols = np.flatnonzero(self._dirty[row])
            c0, c1 = int(cols[0]), int(cols[-1]) + 1
            y0, y1 = int(row) * TILE, min(height, (int(row) + 1) * TILE)
            x0, x1 = c0 * TILE, min(width, c1 * TILE)
            strip = plane[y0:y1, x0:x1]
            starts = np.arange(0, x1 - x0, TILE)
            columns = strip.max(axis=0) >> shift
            peak = np.maximum.reduceat(columns, starts)
            xs = np.arange(x0, x1, dtype=np.int32)
            self._peak[row, c0:c1] = peak
            self._left[row, c0:c1] = np.minimum.reduceat(np.where(columns > 0, xs, x1), starts)
            self._right[row, c0:c1] = np.maximum.reduceat(np.where(columns > 0, xs + 1, x0), starts)
            self._dirty[row, c0:c1] = False
            filled = np.flatnonzero(peak)
            if filled.size == 0:
                continue
            f0, f1 = int(filled[0]), int(filled[-1]) + 1
            rows = (np.maximum.reduceat(strip[:, f0 * TILE : f1 * TILE], starts[: f1 - f0], axis=1)
                    >> shift) > 0
            self._top[row, c0 + f0 : c0 + f1] = y0 + rows.argmax(axis=0)
            self._bottom[row, c0 + f0 : c0 + f1] = y1 - rows[::-1].argmax(axis=0)

    @property
    def stale(self) -> bool:
        """True when some tile waits for :meth:`refresh`."""
        return bool(self._dirty.any())

    def peak(self) -> int:
        """The largest value of the plane (as of the last :meth:`refresh`)."""
        return int(self._peak.max(initial=0))

    def bounds(self) -> Rect | None:
        """The bounding box of the values above 0, or ``None`` (as of the last :meth:`refresh`)."""
        filled = self._peak > 0
        if not filled.any():
            return None
        x0, y0 = int(self._left[filled].min()), int(self._top[filled].min())
        x1, y1 = int(self._right[filled].max()), int(self._bottom[filled].max())
        return Rect(x0, y0, x1 - x0, y1 - y0)
