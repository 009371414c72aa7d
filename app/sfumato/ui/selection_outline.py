"""The outline of a selection mask as line segments along pixel edges (for marching ants)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QPainterPath

MAX_SEGMENTS = 60_000  # beyond this the mask is outlined at half resolution (noisy soft masks)


def _runs(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row index, start and end column of each run of True values in each row of ``edges``."""
    padded = np.zeros((edges.shape[0], edges.shape[1] + 2), np.int8)
    padded[:, 1:-1] = edges
    step = np.diff(padded, axis=1)
    rows, starts = np.nonzero(step == 1)
    _, ends = np.nonzero(step == -1)
    return rows, starts, ends


def outline_segments(mask: np.ndarray, threshold: int = 128) -> list[tuple[float, float, float, float]]:
    """Segments ``(x0, y0, x1, y1)`` in document pixels between selected and unselected pixels."""
    scale = 1
    inside = mask >= threshold
    while True:
        padded = np.zeros((inside.shape[0] + 2, inside.shape[1] + 2), bool)
        padded[1:-1, 1:-1] = inside
        horizontal = padded[1:, 1:-1] != padded[:-1, 1:-1]  # edge above row y, y in 0..H
        vertical = padded[1:-1, 1:] != padded[1:-1, :-1]  # edge left of column x, x in 0..W
        h_rows, h_start, h_end = _runs(horizontal)
        v_cols, v_start, v_end = _runs(vertical.T)
        if h_rows.size + v_cols.size <= MAX_SEGMENTS or min(inside.shape) < 4:
            break
        inside = inside[::2, ::2]
        scale *= 2
    segments = [(float(a * scale), float(y * scale), float(b * scale), float(y * scale))
                for y, a, b in zip(h_rows.tolist(), h_start.tolist(), h_end.tolist(), strict=True)]
    segments += [(float(x * scale), float(a * scale), float(x * scale), float(b * scale))
                 for x, a, b in zip(v_cols.tolist(), v_start.tolist(), v_end.tolist(), strict=True)]
    return segments


def outline_path(mask: np.ndarray) -> QPainterPath:
    """A painter path (document coordinates) tracing the selection's edges."""
    path = QPainterPath()
    for x0, y0, x1, y1 in outline_segments(mask):
        path.moveTo(x0, y0)
        path.lineTo(x1, y1)
    return path
