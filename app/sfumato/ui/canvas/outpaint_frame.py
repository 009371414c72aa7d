"""The outpaint frame tool: drag a rectangle that may reach beyond the canvas edge.

Where the frame reaches past the canvas, Generate grows the canvas and fills the new area.
A drag that starts inside the current frame moves it; a plain click removes it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainterPath

from sfumato.document.geometry import Rect

MIN_DRAG = 4.0  # document px


class FrameGesture:
    """One drag of the outpaint frame tool; ``commit(rect | None)`` receives the new frame."""

    def __init__(self, current: Rect | None, x: float, y: float,
                 commit: Callable[[Rect | None], None]) -> None:
        self._start = (x, y)
        self._end = (x, y)
        self._commit = commit
        inside = current is not None and current.x <= x < current.right and current.y <= y < current.bottom
        self._moving = current if inside else None

    def move(self, x: float, y: float, pressure: float) -> None:
        """Follow the pointer."""
        self._end = (x, y)

    def _dragged(self) -> bool:
        return (abs(self._end[0] - self._start[0]) >= MIN_DRAG
                or abs(self._end[1] - self._start[1]) >= MIN_DRAG)

    def rect(self) -> Rect | None:
        """The frame as dragged so far (``None`` for a click)."""
        if not self._dragged():
            return self._moving
        (x0, y0), (x1, y1) = self._start, self._end
        if self._moving is not None:
            return self._moving.translated(round(x1 - x0), round(y1 - y0))
        return Rect.from_bounds(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    def preview(self) -> QPainterPath | None:
        """The frame being dragged, in document coordinates."""
        rect = self.rect()
        if rect is None or not self._dragged():
            return None
        path = QPainterPath()
        path.addRect(QRectF(rect.x, rect.y, rect.w, rect.h))
        return path

    def finish(self) -> None:
        """Hand the new frame over (a click clears it)."""
        self._commit(self.rect() if self._dragged() else None)
