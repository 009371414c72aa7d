"""What a left-button drag on the canvas does, in document coordinates: a stroke or a selection."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainterPath, QPolygonF

from sfumato.document.brush import BrushSettings, Tool
from sfumato.document.document import Document
from sfumato.document.layers import Layer, LayerKind
from sfumato.document.selection import SelectMode
from sfumato.document.stroke import Stroke
from sfumato.session.tools import CanvasTool

MIN_DRAG = 2.0  # document px: a shorter marquee drag is a click, which deselects


def stroke_target(doc: Document, tool: CanvasTool) -> Layer | None:
    """The layer a stroke of ``tool`` paints on, making it active.

    The mask brush paints on the active mask layer, else on the topmost mask layer, else on a
    new one (its own undo step). Brush and eraser paint on the active layer, mask or not.
    """
    active = doc.active_layer
    if tool is not CanvasTool.MASK_BRUSH:
        return active
    if active is not None and active.is_mask:
        return active
    masks = [layer for layer in doc.layers if layer.is_mask]
    target = masks[-1] if masks else doc.add_layer(LayerKind.MASK)
    doc.set_active(target)
    return target


class StrokeGesture:
    """A brush, eraser or mask-brush stroke following the pointer; one undo step."""

    def __init__(self, doc: Document, layer: Layer, tool: CanvasTool, brush: BrushSettings) -> None:
        stroke_tool = tool.stroke_tool
        if tool is CanvasTool.BRUSH and layer.is_mask:
            stroke_tool = Tool.MASK_BRUSH  # painting on a mask always adds to the mask
        self._stroke = Stroke(doc, layer, stroke_tool, brush)

    def move(self, x: float, y: float, pressure: float) -> None:
        """Extend the stroke to ``(x, y)``."""
        self._stroke.add_point(x, y, pressure)

    def finish(self) -> None:
        """End the stroke."""
        self._stroke.finish()

    def preview(self) -> QPainterPath | None:
        """Strokes draw straight into the document: nothing to overlay."""
        return None


def select_mode(modifiers: Qt.KeyboardModifier) -> SelectMode:
    """Shift adds, Alt subtracts, both intersect (as in Photoshop and Krita)."""
    shift = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
    alt = bool(modifiers & Qt.KeyboardModifier.AltModifier)
    if shift and alt:
        return SelectMode.INTERSECT
    if shift:
        return SelectMode.ADD
    if alt:
        return SelectMode.SUBTRACT
    return SelectMode.REPLACE


class SelectGesture:
    """A rectangle, ellipse or lasso drag that becomes the selection on release (one undo step)."""

    def __init__(self, doc: Document, tool: CanvasTool, x: float, y: float, mode: SelectMode) -> None:
        self._doc = doc
        self._tool = tool
        self._mode = mode
        self._points: list[tuple[float, float]] = [(x, y)]

    def move(self, x: float, y: float, pressure: float) -> None:
        """Follow the pointer: drag the opposite corner, or add a lasso point."""
        if self._tool is CanvasTool.LASSO:
            self._points.append((x, y))
        else:
            self._points[1:] = [(round(x), round(y))]

    def _corners(self) -> tuple[float, float, float, float] | None:
        if len(self._points) < 2:
            return None
        (x0, y0), (x1, y1) = self._points[0], self._points[-1]
        x0, y0 = round(x0), round(y0)
        if abs(x1 - x0) < MIN_DRAG and abs(y1 - y0) < MIN_DRAG:
            return None
        return x0, y0, x1, y1

    def preview(self) -> QPainterPath | None:
        """The shape being dragged, in document coordinates."""
        path = QPainterPath()
        if self._tool is CanvasTool.LASSO:
            if len(self._points) < 2:
                return None
            path.addPolygon(QPolygonF([QPointF(x, y) for x, y in self._points]))
            path.closeSubpath()
            return path
        corners = self._corners()
        if corners is None:
            return None
        x0, y0, x1, y1 = corners
        rect = QRectF(QPointF(x0, y0), QPointF(x1, y1)).normalized()
        if self._tool is CanvasTool.ELLIPSE_SELECT:
            path.addEllipse(rect)
        else:
            path.addRect(rect)
        return path

    def finish(self) -> None:
        """Apply the shape to the selection; a mere click replaces the selection by nothing."""
        doc, mode = self._doc, self._mode
        if self._tool is CanvasTool.LASSO and len(self._points) >= 3:
            points = list(self._points)
            doc.change_selection(lambda sel: sel.select_lasso(points, mode), "Lasso select")
            return
        corners = self._corners()
        if corners is None or self._tool is CanvasTool.LASSO:
            if mode is SelectMode.REPLACE:
                doc.change_selection(lambda sel: sel.clear(), "Deselect")
            return
        if self._tool is CanvasTool.ELLIPSE_SELECT:
            doc.change_selection(lambda sel: sel.select_ellipse(*corners, mode), "Ellipse select")
        else:
            doc.change_selection(lambda sel: sel.select_rect(*corners, mode), "Rectangle select")
