"""The outline of a selection mask as line segments along pixel edges (for marching ants).

Tracing a large selection takes a while (a few hundred ms for a 4096² mask), so
:class:`OutlineTracer` does it on the ``outline`` lane and hands back only the newest result.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QPainterPath

from sfumato.qt_bridge.work import BackgroundWork

MAX_SEGMENTS = 60_000  # beyond this the mask is outlined at half resolution (noisy soft masks)

Segment = tuple[float, float, float, float]


def _row_runs(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row index, start and end column of each run of True values in each row of ``edges``."""
    padded = np.zeros((edges.shape[0], edges.shape[1] + 2), np.int8)
    padded[:, 1:-1] = edges
    step = np.diff(padded, axis=1)
    rows, starts = np.nonzero(step == 1)
    _, ends = np.nonzero(step == -1)
    return rows, starts, ends


def _horizontal_edges(inside: np.ndarray) -> np.ndarray:
    """``[H+1, W]``: True where a pixel's top edge separates selected from unselected."""
    padded = np.zeros((inside.shape[0] + 2, inside.shape[1]), bool)
    padded[1:-1] = inside
    return padded[1:] != padded[:-1]


def outline_segments(mask: np.ndarray, threshold: int = 128) -> list[Segment]:
    """Segments ``(x0, y0, x1, y1)`` in document pixels between selected and unselected pixels."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return []
    cols = np.flatnonzero(mask.any(axis=0))
    top, left = int(rows[0]), int(cols[0])
    inside = mask[top : rows[-1] + 1, left : cols[-1] + 1] >= threshold
    if inside.all():  # a rectangle (select all, rectangle select): no need to trace
        right, bottom = left + inside.shape[1], top + inside.shape[0]
        return [(left, top, right, top), (left, bottom, right, bottom),
                (left, top, left, bottom), (right, top, right, bottom)]
    scale = 1
    while True:
        h_rows, h_start, h_end = _row_runs(_horizontal_edges(inside))
        v_cols, v_start, v_end = _row_runs(_horizontal_edges(np.ascontiguousarray(inside.T)))
        if h_rows.size + v_cols.size <= MAX_SEGMENTS or min(inside.shape) < 4:
            break
        inside = inside[::2, ::2]
        scale *= 2

    def horizontal(y: int, a: int, b: int) -> Segment:
        return left + a * scale, top + y * scale, left + b * scale, top + y * scale

    def vertical(x: int, a: int, b: int) -> Segment:
        return left + x * scale, top + a * scale, left + x * scale, top + b * scale

    h_runs = zip(h_rows.tolist(), h_start.tolist(), h_end.tolist(), strict=True)
    v_runs = zip(v_cols.tolist(), v_start.tolist(), v_end.tolist(), strict=True)
    return [horizontal(*run) for run in h_runs] + [vertical(*run) for run in v_runs]


def outline_path(mask: np.ndarray) -> QPainterPath:
    """A painter path (document coordinates) tracing the selection's edges."""
    path = QPainterPath()
    for x0, y0, x1, y1 in outline_segments(mask):
        path.moveTo(x0, y0)
        path.lineTo(x1, y1)
    return path


class OutlineTracer(QObject):
    """Traces selection masks in the background; ``traced(path)`` carries the newest outline.

    A mask superseded before its trace starts is skipped, and one traced while a newer one was
    requested is dropped. Selection masks are replaced, never changed in place, so reading one
    on another thread is safe.
    """

    traced = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._generation = 0
        self._work = BackgroundWork(self)

    def request(self, mask: np.ndarray | None) -> None:
        """Trace ``mask`` (``None``: no selection, reported at once)."""
        self._generation += 1
        generation = self._generation
        if mask is None:
            self.traced.emit(None)
            return

        def trace() -> QPainterPath | None:
            return outline_path(mask) if generation == self._generation else None

        def deliver(path: QPainterPath | None) -> None:
            if path is not None and generation == self._generation:
                self.traced.emit(path)

        self._work.run("outline", trace, on_done=deliver)

    def shutdown(self) -> None:
        """Trace nothing more (the view is closing)."""
        self._work.shutdown(timeout=0)
