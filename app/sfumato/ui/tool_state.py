"""The current canvas tool and brush settings, shared by the canvas, tool options and menus."""

from __future__ import annotations

import dataclasses
from enum import StrEnum

from PySide6.QtCore import QObject, Signal

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


class ToolState(QObject):
    """The active tool and the brush every painting tool uses.

    ``tool_changed`` fires when the tool changes, ``brush_changed`` when any brush setting does.
    """

    tool_changed = Signal(object)
    brush_changed = Signal(object)

    def __init__(self, brush: BrushSettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tool = CanvasTool.BRUSH
        self._brush = brush or BrushSettings()

    @property
    def tool(self) -> CanvasTool:
        """The tool a left-button drag uses."""
        return self._tool

    @property
    def brush(self) -> BrushSettings:
        """Size, hardness, opacity, spacing and colour of the painting tools."""
        return self._brush

    def set_tool(self, tool: CanvasTool) -> None:
        """Switch tools."""
        if tool is not self._tool:
            self._tool = tool
            self.tool_changed.emit(tool)

    def update_brush(self, **changes: object) -> None:
        """Change some brush settings (``size=…``, ``color=…``, …); values are clamped."""
        if "size" in changes:
            changes["size"] = min(MAX_SIZE, max(MIN_SIZE, float(changes["size"])))  # type: ignore[arg-type]
        brush = dataclasses.replace(self._brush, **changes)  # type: ignore[arg-type]
        if brush != self._brush:
            self._brush = brush
            self.brush_changed.emit(brush)

    def step_size(self, direction: int) -> None:
        """Make the brush one step bigger (``direction > 0``) or smaller, as ``]`` and ``[`` do."""
        size = self._brush.size
        if direction > 0:
            new = next((s for s in SIZE_STEPS if s > size + 1e-6), MAX_SIZE)
        else:
            new = next((s for s in reversed(SIZE_STEPS) if s < size - 1e-6), MIN_SIZE)
        self.update_brush(size=new)
