"""The canvas: shows the document through a zoomable, pannable viewport and turns input into edits.

Painting draws the visible part of the :class:`DisplayCache` (a mip level near the zoom, so
zoomed-out views stay sharp and cheap) over a checkerboard, then the selection's marching ants,
the shape being dragged and the brush outline. Only the widget area of changed document pixels
is repainted.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QResizeEvent,
    QTabletEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit, QTextEdit, QWidget

from sfumato.document.document import Document
from sfumato.document.geometry import Rect
from sfumato.errors import UserFacingError
from sfumato.qt_bridge.images import wrap_rgba
from sfumato.session.canvas_session import CanvasSession, Overlay
from sfumato.session.notices import Source
from sfumato.session.tools import CanvasTool
from sfumato.session.viewport import Viewport, next_zoom_step, wheel_zoom_factor
from sfumato.ui.canvas.display_cache import DisplayCache
from sfumato.ui.canvas.gestures import SelectGesture, StrokeGesture, select_mode, stroke_target
from sfumato.ui.canvas.outpaint_frame import FrameGesture
from sfumato.ui.canvas.selection_outline import OutlineTracer
from sfumato.ui.common.drops import dropped_files

log = logging.getLogger(__name__)

BACKGROUND = QColor(0x26, 0x27, 0x2b)
CHECKER_LIGHT = QColor(0x9c, 0x9c, 0x9c)
CHECKER_DARK = QColor(0x74, 0x74, 0x74)
CHECKER_CELL = 8
ANTS_INTERVAL_MS = 120
FRAME_COLOR = QColor(0xE8, 0xA3, 0x3D)


def _checker_brush() -> QBrush:
    tile = QPixmap(2 * CHECKER_CELL, 2 * CHECKER_CELL)
    tile.fill(CHECKER_LIGHT)
    painter = QPainter(tile)
    painter.fillRect(0, 0, CHECKER_CELL, CHECKER_CELL, CHECKER_DARK)
    painter.fillRect(CHECKER_CELL, CHECKER_CELL, CHECKER_CELL, CHECKER_CELL, CHECKER_DARK)
    painter.end()
    return QBrush(tile)


class CanvasView(QWidget):
    """The painting surface for the session's document (or an invitation to open one).

    It binds to the session: it shows ``document``, paints with ``tool`` and ``brush``, draws
    ``outpaint_frame`` (and changes it with the frame tool), shows ``overlay`` (a generation's
    live preview, or a result not applied yet) and says when a gesture is under way
    (``gesture_active``).

    Signals: ``view_changed(zoom)`` after zoom or pan; ``cursor_moved(point | None)`` with the
    document position under the pointer; ``files_dropped(paths, point | None)`` with the
    document position of the drop (``None`` without a document). Short notes such as "the
    layer is locked" are :attr:`Source.CANVAS` notices on ``session.notices``.
    """

    view_changed = Signal(float)
    cursor_moved = Signal(object)
    files_dropped = Signal(list, object)

    def __init__(self, session: CanvasSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.viewport = Viewport()
        self.cache: DisplayCache | None = None
        self._doc: Document | None = None
        self._checker = _checker_brush()
        self._fit_mode = True
        self._gesture: StrokeGesture | SelectGesture | FrameGesture | None = None
        self._overlay: tuple[QImage, Rect] | None = None  # the session's overlay, wrapped for drawing
        self._pan_anchor: QPointF | None = None
        self._space_held = False
        self._pointer: QPointF | None = None
        self._selection_path: QPainterPath | None = None
        self._tracer = OutlineTracer()
        self._tracer.traced.connect(self._show_outline)
        self._ants_offset = 0
        self._ants = QTimer(self)
        self._ants.setInterval(ANTS_INTERVAL_MS)
        self._ants.timeout.connect(self._march)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAttribute(Qt.WidgetAttribute.WA_TabletTracking)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(True)
        self.setMinimumSize(200, 150)
        session.tool.changed.connect(self._tool_changed)
        session.brush.changed.connect(self._brush_changed)
        session.outpaint_frame.changed.connect(lambda _rect: self.update())
        session.overlay.changed.connect(self._show_overlay)
        session.document.bind(self._show_document)

    # --------------------------------------------------------------- document
    def _show_document(self, doc: Document | None) -> None:
        """Show ``doc`` (fitted to the view), or nothing."""
        if self.cache is not None:
            self.cache.close()
            self.cache = None
        if self._doc is not None:
            self._doc.events.selection_changed.disconnect(self._selection_changed)
            self._doc.events.size_changed.disconnect(self._doc_resized)
        self._gesture = None
        self._overlay = None
        self._doc = doc
        if doc is not None:
            self._make_cache(doc)
            doc.events.selection_changed.connect(self._selection_changed)
            doc.events.size_changed.connect(self._doc_resized)
        self._selection_changed()
        self._update_cursor()
        self.fit_to_view()

    def _make_cache(self, doc: Document) -> None:
        self.cache = DisplayCache(doc)  # no Qt parent: closing it ends its work
        self.cache.changed.connect(self._doc_pixels_changed)

    def _doc_resized(self) -> None:
        """The canvas grew or shrank: composite it afresh at its new size."""
        if self.cache is not None:
            self.cache.close()
        if self._doc is not None:
            self._make_cache(self._doc)
        if self._fit_mode:
            self.fit_to_view()
        else:
            self._view_changed()

    # ---------------------------------------------------------------- overlay
    def _show_overlay(self, overlay: Overlay | None) -> None:
        """Show the session's overlay scaled over its document rectangle (``None``: none)."""
        old = self._overlay
        self._overlay = None
        if overlay is not None:
            image = wrap_rgba(np.ascontiguousarray(overlay.rgba), premultiplied=False)
            self._overlay = (image, overlay.rect)  # the overlay keeps the pixels alive
        for shown in (old, self._overlay):
            if shown is not None:
                self.update(self.widget_rect(shown[1]).toAlignedRect().adjusted(-2, -2, 2, 2))

    def _set_gesture(self, gesture: StrokeGesture | SelectGesture | FrameGesture | None) -> None:
        self._gesture = gesture
        self.session.gesture_active.set(gesture is not None)

    # -------------------------------------------------------------- zoom/pan
    @property
    def zoom(self) -> float:
        """The current scale (1.0 = one document pixel per screen pixel)."""
        return self.viewport.zoom

    def fit_to_view(self) -> None:
        """Show the whole document, and keep it fitted while the window is resized."""
        self._fit_mode = True
        if self._doc is not None:
            self.viewport.fit(self._doc.width, self._doc.height, self.width(), self.height())
        self._view_changed()

    def zoom_to(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Set the zoom, keeping the document point under ``anchor`` (default: the centre) still."""
        if anchor is None:
            anchor = QPointF(self.width() / 2, self.height() / 2)
        self._fit_mode = False
        self.viewport.zoom_at(zoom, anchor.x(), anchor.y())
        self._view_changed()

    def zoom_actual_size(self) -> None:
        """100 %: one document pixel per screen pixel, centred where the view's centre is."""
        self.zoom_to(1.0)
        if self._doc is not None and self.viewport.zoom == 1.0:
            # snap to whole pixels so 100 % is crisp
            self.viewport.origin_x = round(self.viewport.origin_x)
            self.viewport.origin_y = round(self.viewport.origin_y)
            self._view_changed()

    def zoom_step(self, direction: int) -> None:
        """Zoom in (``direction > 0``) or out to the next preset step."""
        self.zoom_to(next_zoom_step(self.viewport.zoom, direction))

    def pan_by(self, dx: float, dy: float) -> None:
        """Scroll the view by ``(dx, dy)`` widget pixels."""
        self._fit_mode = False
        self.viewport.pan(dx, dy)
        self._view_changed()

    def _view_changed(self) -> None:
        if self.cache is not None and self._doc is not None:
            self.cache.set_focus(self.viewport.doc_rect(0, 0, self.width(), self.height(),
                                                        self._doc.width, self._doc.height))
        self.update()
        self.view_changed.emit(self.viewport.zoom)

    def doc_point(self, pos: QPointF) -> QPointF:
        """The document position under widget position ``pos``."""
        x, y = self.viewport.to_doc(pos.x(), pos.y())
        return QPointF(x, y)

    def widget_rect(self, rect: Rect) -> QRectF:
        """The widget area showing document rectangle ``rect``."""
        return QRectF(*self.viewport.widget_bounds(rect))

    # ---------------------------------------------------------------- painting
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        exposed = event.rect()
        painter.fillRect(exposed, BACKGROUND)
        doc, cache = self._doc, self.cache
        if doc is None or cache is None:
            self._paint_invitation(painter)
            painter.end()
            return
        page = self.widget_rect(doc.rect)
        visible = QRectF(exposed).intersected(page)
        if not visible.isEmpty():
            self._paint_pixels(painter, doc, cache, page, visible)
        self._paint_overlays(painter)
        painter.end()

    def _paint_pixels(self, painter: QPainter, doc: Document, cache: DisplayCache, page: QRectF,
                      visible: QRectF) -> None:
        vp = self.viewport
        painter.save()
        painter.setClipRect(visible)
        painter.setBrushOrigin(page.topLeft().toPoint())
        painter.fillRect(visible, self._checker)
        level = cache.level_for_zoom(vp.zoom)
        step = 2**level  # document pixels per pixel of this level
        seen = vp.doc_rect(visible.x(), visible.y(), visible.width(), visible.height(),
                           doc.width, doc.height).grow(step)
        lx, ly = seen.x // step, seen.y // step
        image = cache.images[level]
        lw = min(image.width(), -(-seen.right // step)) - lx
        lh = min(image.height(), -(-seen.bottom // step)) - ly
        scale = vp.zoom * step
        painter.setTransform(QTransform(scale, 0, 0, scale, vp.origin_x, vp.origin_y))
        interacting = self._pan_anchor is not None
        smooth = not interacting and (level > 0 or (vp.zoom < 2 and vp.zoom != 1.0))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.drawImage(QRectF(lx, ly, lw, lh), image, QRectF(lx, ly, lw, lh))
        painter.restore()

    def _paint_generation(self, painter: QPainter, to_widget: QTransform) -> None:
        """The overlay image and the outpaint frame (with the area it adds shaded)."""
        if self._overlay is not None:
            image, rect = self._overlay
            painter.save()
            painter.setTransform(to_widget)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(QRectF(rect.x, rect.y, rect.w, rect.h), image)
            painter.restore()
        frame, doc = self.session.outpaint_frame.value, self._doc
        if frame is None or doc is None:
            return
        outline = to_widget.mapRect(QRectF(frame.x, frame.y, frame.w, frame.h))
        painter.save()
        if self._overlay is None:
            beyond = QPainterPath()
            beyond.addRect(outline)
            page = QPainterPath()
            page.addRect(self.widget_rect(doc.rect))
            shade = QColor(FRAME_COLOR)
            shade.setAlpha(40)
            painter.fillPath(beyond.subtracted(page), shade)
        pen = QPen(FRAME_COLOR, 2, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(outline)
        painter.restore()

    def _paint_overlays(self, painter: QPainter) -> None:
        vp = self.viewport
        to_widget = QTransform(vp.zoom, 0, 0, vp.zoom, vp.origin_x, vp.origin_y)
        self._paint_generation(painter, to_widget)
        paths = [self._selection_path]
        if self._gesture is not None:
            paths.append(self._gesture.preview())
        for path in paths:
            if path is None or path.isEmpty():
                continue
            mapped = to_widget.map(path)
            painter.setPen(QPen(QColor(0, 0, 0), 1))
            painter.drawPath(mapped)
            ants = QPen(QColor(255, 255, 255), 1, Qt.PenStyle.CustomDashLine)
            ants.setDashPattern([4, 4])
            ants.setDashOffset(self._ants_offset)
            painter.setPen(ants)
            painter.drawPath(mapped)
        outline = self._cursor_rect()
        if outline is not None:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            for color, inset in ((QColor(0, 0, 0, 160), 0.0), (QColor(255, 255, 255, 220), 1.0)):
                painter.setPen(QPen(color, 1))
                painter.drawEllipse(outline.adjusted(inset, inset, -inset, -inset))
            centre = outline.center()
            painter.setPen(QPen(QColor(255, 255, 255, 220), 1))
            painter.drawLine(QPointF(centre.x() - 3, centre.y()), QPointF(centre.x() + 3, centre.y()))
            painter.drawLine(QPointF(centre.x(), centre.y() - 3), QPointF(centre.x(), centre.y() + 3))

    def _paint_invitation(self, painter: QPainter) -> None:
        painter.setPen(QColor(0x8a, 0x8d, 0x96))
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        painter.setFont(font)
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                         "Drop an image here, or press Ctrl+N for a new canvas\n"
                         "and Ctrl+O to open one.")

    def _cursor_rect(self) -> QRectF | None:
        """The brush outline around the pointer, in widget pixels (``None`` when not shown)."""
        if self._pointer is None or self._doc is None or not self.session.tool.value.paints:
            return None
        if self._space_held or self._pan_anchor is not None:
            return None
        diameter = max(4.0, self.session.brush.value.size * self.viewport.zoom)
        return QRectF(self._pointer.x() - diameter / 2, self._pointer.y() - diameter / 2,
                      diameter, diameter)

    def _update_cursor_area(self, old: QRectF | None) -> None:
        for rect in (old, self._cursor_rect()):
            if rect is not None:
                self.update(rect.toAlignedRect().adjusted(-3, -3, 3, 3))

    # ---------------------------------------------------------- doc listeners
    def _doc_pixels_changed(self, rect: Rect) -> None:
        self.update(self.widget_rect(rect).toAlignedRect().adjusted(-2, -2, 2, 2))

    def _selection_changed(self) -> None:
        self._tracer.request(self._doc.selection.mask if self._doc is not None else None)

    def _show_outline(self, path: QPainterPath | None) -> None:
        old, self._selection_path = self._selection_path, path
        for shown in (old, path):
            if shown is not None:
                self._update_doc_path(shown)
        if self._selection_path is not None:
            self._ants.start()
        else:
            self._ants.stop()

    def _update_doc_path(self, path: QPainterPath) -> None:
        bounds = path.boundingRect()
        rect = Rect.from_bounds(bounds.left(), bounds.top(), bounds.right(), bounds.bottom())
        self.update(self.widget_rect(rect).toAlignedRect().adjusted(-2, -2, 2, 2))

    def _march(self) -> None:
        self._ants_offset = (self._ants_offset + 1) % 8
        if self._selection_path is not None:
            self._update_doc_path(self._selection_path)

    def _tool_changed(self, _tool: CanvasTool) -> None:
        self._update_cursor()
        self.update()

    def _brush_changed(self, _brush: object) -> None:
        self.update()

    def _update_cursor(self) -> None:
        if self._pan_anchor is not None:
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif self._space_held:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif self.session.tool.value.paints and self._doc is not None:
            self.setCursor(Qt.CursorShape.BlankCursor)
        else:
            self.setCursor(Qt.CursorShape.CrossCursor)

    # ------------------------------------------------------------------ input
    def _begin(self, pos: QPointF, modifiers: Qt.KeyboardModifier, pressure: float) -> None:
        doc = self._doc
        if doc is None:
            return
        p = self.doc_point(pos)
        session = self.session
        tool = session.tool.value
        gesture: StrokeGesture | SelectGesture | FrameGesture
        try:
            if tool.paints:
                layer = stroke_target(doc, tool)
                if layer is None:
                    session.notices.info(Source.CANVAS, "Add a layer to paint on.")
                    return
                if not layer.visible:
                    session.notices.warn(Source.CANVAS,
                                         f"“{layer.name}” is hidden: show it to see your strokes.")
                gesture = StrokeGesture(doc, layer, tool, session.brush.value)
            elif tool is CanvasTool.OUTPAINT_FRAME:
                gesture = FrameGesture(session.outpaint_frame.value, p.x(), p.y(), session.set_outpaint_frame)
            else:
                gesture = SelectGesture(doc, tool, p.x(), p.y(), select_mode(modifiers))
            gesture.move(p.x(), p.y(), pressure)
        except UserFacingError as exc:  # a refused stroke: said briefly, as the pointer moves on
            session.notices.warn(Source.CANVAS, str(exc), exc.details)
            return
        self._set_gesture(gesture)

    def _extend(self, pos: QPointF, pressure: float) -> None:
        if self._gesture is None:
            return
        p = self.doc_point(pos)
        before = self._gesture.preview()
        self._gesture.move(p.x(), p.y(), pressure)
        for path in (before, self._gesture.preview()):
            if path is not None:
                self._update_doc_path(path)

    def _end(self) -> None:
        gesture = self._gesture
        if gesture is None:
            return
        self._set_gesture(None)
        preview = gesture.preview()
        gesture.finish()
        if preview is not None:
            self._update_doc_path(preview)

    def _start_pan(self, pos: QPointF) -> None:
        self._pan_anchor = pos
        self._update_cursor()
        self.update()

    def _pointer_moved(self, pos: QPointF) -> None:
        old = self._cursor_rect()
        self._pointer = pos
        self._update_cursor_area(old)
        if self._doc is not None:
            self.cursor_moved.emit(self.doc_point(pos))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        pos = event.position()
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space_held
        ):
            self._start_pan(pos)
        elif event.button() == Qt.MouseButton.LeftButton and self._gesture is None:
            self._begin(pos, event.modifiers(), 1.0)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._pan_anchor is not None:
            delta = pos - self._pan_anchor
            self._pan_anchor = pos
            self.pan_by(delta.x(), delta.y())
        elif self._gesture is not None:
            self._extend(pos, 1.0)
        self._pointer_moved(pos)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_anchor is not None and event.button() in (
            Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton
        ):
            self._pan_anchor = None
            self._update_cursor()
            self.update()
        elif event.button() == Qt.MouseButton.LeftButton:
            self._end()
        event.accept()

    def tabletEvent(self, event: QTabletEvent) -> None:
        """Pen input: like the mouse, with pressure."""
        pos = event.position()
        pressure = float(event.pressure())
        kind = event.type()
        if kind == QTabletEvent.Type.TabletPress:
            if self._space_held:
                self._start_pan(pos)
            elif self._gesture is None:
                self._begin(pos, event.modifiers(), pressure)
        elif kind == QTabletEvent.Type.TabletMove:
            if self._pan_anchor is not None:
                delta = pos - self._pan_anchor
                self._pan_anchor = pos
                self.pan_by(delta.x(), delta.y())
            elif self._gesture is not None:
                self._extend(pos, pressure)
            self._pointer_moved(pos)
        elif kind == QTabletEvent.Type.TabletRelease:
            if self._pan_anchor is not None:
                self._pan_anchor = None
                self._update_cursor()
                self.update()
            else:
                self._end()
        event.accept()  # no synthesized mouse events follow

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            if delta.y():
                self.zoom_to(self.viewport.zoom * wheel_zoom_factor(delta.y()), event.position())
        else:
            pixels = event.pixelDelta()
            dx, dy = (pixels.x(), pixels.y()) if not pixels.isNull() else (delta.x() / 2, delta.y() / 2)
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier and not dx:
                dx, dy = dy, 0
            self.pan_by(dx, dy)
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self._update_cursor()
            self._update_cursor_area(None)
            self.update()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            self._update_cursor()
            self.update()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def enterEvent(self, event: object) -> None:
        """Take the keyboard when the pointer arrives, so Space pans at once (unless typing)."""
        if not isinstance(QApplication.focusWidget(), QLineEdit | QAbstractSpinBox | QTextEdit):
            self.setFocus()

    def leaveEvent(self, event: object) -> None:
        old = self._cursor_rect()
        self._pointer = None
        self._update_cursor_area(old)
        self.cursor_moved.emit(None)

    def focusOutEvent(self, event: object) -> None:
        self._space_held = False
        self._update_cursor()

    def resizeEvent(self, event: QResizeEvent) -> None:
        if self._fit_mode:
            self.fit_to_view()
        else:
            self._view_changed()

    # ---------------------------------------------------------- drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_files(event):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if dropped_files(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = dropped_files(event)
        if not paths:
            return
        event.acceptProposedAction()
        point = self.doc_point(event.position()) if self._doc is not None else None
        self.files_dropped.emit(paths, point)

    def view_center_point(self) -> QPointF | None:
        """The document point in the middle of the view (where pasted images go)."""
        if self._doc is None:
            return None
        return self.doc_point(QPointF(self.width() / 2, self.height() / 2))

    def shutdown(self) -> None:
        """Stop background work (the window is closing)."""
        self._tracer.shutdown()
        if self.cache is not None:
            self.cache.close()
