"""The canvas tools and the rules for changing the brush (the session holds which are current)."""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import TypedDict, Unpack

from sfumato.document.brush import MAX_SIZE, MIN_SIZE, BrushSettings, Tool


class CanvasTool(StrEnum):
    """What a left-button drag on the canvas does."""

    BRUSH = "brush"
    ERASER = "eraser"
    MASK_BRUSH = "mask_brush"
    RECT_SELECT = "rect_select"
    ELLIPSE_SELECT = "ellipse_select"
    LASSO = "lasso"
    OUTPAINT_FRAME = "outpaint_frame"

    @property
    def label(self) -> str:
        """The name shown in menus and tooltips."""
        return _LABELS[self]

    @property
    def paints(self) -> bool:
        """True for the tools that lay down strokes."""
        return self in (CanvasTool.BRUSH, CanvasTool.ERASER, CanvasTool.MASK_BRUSH)

    @property
    def stroke_tool(self) -> Tool:
        """The document stroke tool of a painting tool."""
        return Tool(self.value)


_LABELS = {
    CanvasTool.BRUSH: "Brush",
    CanvasTool.ERASER: "Eraser",
    CanvasTool.MASK_BRUSH: "Mask brush",
    CanvasTool.RECT_SELECT: "Rectangle select",
    CanvasTool.ELLIPSE_SELECT: "Ellipse select",
    CanvasTool.LASSO: "Lasso select",
    CanvasTool.OUTPAINT_FRAME: "Outpaint frame",
}

# Sizes that [ and ] step through (Krita and Photoshop step similarly).
SIZE_STEPS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 35, 40, 50, 60, 70, 80, 100, 120, 150,
              200, 250, 300, 350, 400, 500, 600, 700, 800, 1000)


class BrushChanges(TypedDict, total=False):
    """Some of :class:`~sfumato.document.brush.BrushSettings`' fields, by name, with their types."""

    size: float
    hardness: float
    opacity: float
    spacing: float
    color: tuple[int, int, int]
    pressure_size: bool
    pressure_opacity: bool


def changed_brush(brush: BrushSettings, **changes: Unpack[BrushChanges]) -> BrushSettings:
    """``brush`` with some settings changed (``size=…``, ``color=…``, …); the size is clamped."""
    if "size" in changes:
        changes["size"] = min(MAX_SIZE, max(MIN_SIZE, float(changes["size"])))
    return dataclasses.replace(brush, **changes)


def stepped_size(size: float, direction: int) -> float:
    """The next brush size up (``direction > 0``) or down, as ``]`` and ``[`` step."""
    if direction > 0:
        return next((s for s in SIZE_STEPS if s > size + 1e-6), MAX_SIZE)
    return next((s for s in reversed(SIZE_STEPS) if s < size - 1e-6), MIN_SIZE)
