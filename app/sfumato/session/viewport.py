"""Zoom and pan of the canvas: the mapping between widget pixels and document pixels.

``widget = document × zoom + origin``. Plain arithmetic, no Qt, so the rules are easy to test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sfumato.document.geometry import Rect

MIN_ZOOM = 1 / 32
MAX_ZOOM = 32.0
ZOOM_STEPS = (1 / 32, 1 / 24, 1 / 16, 1 / 12, 1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2, 2 / 3,
              1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0)


@dataclass
class Viewport:
    """Where the document sits in the widget: a scale and the widget position of pixel (0, 0)."""

    zoom: float = 1.0
    origin_x: float = 0.0
    origin_y: float = 0.0

    def to_doc(self, x: float, y: float) -> tuple[float, float]:
        """The document point under widget point ``(x, y)``."""
        return (x - self.origin_x) / self.zoom, (y - self.origin_y) / self.zoom

    def to_widget(self, x: float, y: float) -> tuple[float, float]:
        """The widget point showing document point ``(x, y)``."""
        return x * self.zoom + self.origin_x, y * self.zoom + self.origin_y

    def widget_bounds(self, rect: Rect) -> tuple[float, float, float, float]:
        """``(x, y, w, h)`` in widget pixels covered by the document rectangle ``rect``."""
        x, y = self.to_widget(rect.x, rect.y)
        return x, y, rect.w * self.zoom, rect.h * self.zoom

    def doc_rect(self, x: float, y: float, w: float, h: float, doc_w: int, doc_h: int) -> Rect:
        """The document pixels (clamped to the document) seen through a widget rectangle."""
        left, top = self.to_doc(x, y)
        right, bottom = self.to_doc(x + w, y + h)
        return Rect.from_bounds(left, top, right, bottom).clamp(doc_w, doc_h)

    def zoom_at(self, zoom: float, x: float, y: float) -> None:
        """Change the zoom keeping the document point under widget point ``(x, y)`` in place."""
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        doc_x, doc_y = self.to_doc(x, y)
        self.zoom = zoom
        self.origin_x = x - doc_x * zoom
        self.origin_y = y - doc_y * zoom

    def pan(self, dx: float, dy: float) -> None:
        """Move the document by ``(dx, dy)`` widget pixels."""
        self.origin_x += dx
        self.origin_y += dy

    def center(self, doc_w: int, doc_h: int, view_w: int, view_h: int) -> None:
        """Put the document's centre in the widget's centre at the current zoom."""
        self.origin_x = round((view_w - doc_w * self.zoom) / 2)
        self.origin_y = round((view_h - doc_h * self.zoom) / 2)

    def fit(self, doc_w: int, doc_h: int, view_w: int, view_h: int, margin: int = 24) -> None:
        """Zoom so the whole document shows with ``margin`` pixels around it, centred."""
        avail_w, avail_h = max(1, view_w - 2 * margin), max(1, view_h - 2 * margin)
        self.zoom = min(MAX_ZOOM, max(MIN_ZOOM, min(avail_w / doc_w, avail_h / doc_h)))
        self.center(doc_w, doc_h, view_w, view_h)


def next_zoom_step(zoom: float, direction: int) -> float:
    """The next preset zoom above (``direction > 0``) or below the current one."""
    if direction > 0:
        return next((z for z in ZOOM_STEPS if z > zoom * 1.001), MAX_ZOOM)
    return next((z for z in reversed(ZOOM_STEPS) if z < zoom / 1.001), MIN_ZOOM)


def wheel_zoom_factor(angle_delta: int) -> float:
    """The zoom factor for a Ctrl+wheel turn (``angle_delta`` in eighths of a degree)."""
    return math.pow(1.2, angle_delta / 120.0)
