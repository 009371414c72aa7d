"""The canvas turns mouse input into document edits and keeps zoom/pan consistent."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QInputDevice, QPointingDevice, QTabletEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from qt_helpers import widget_pos

from sfumato.document.layers import LayerKind
from sfumato.session.notices import Notice, Source
from sfumato.session.tools import CanvasTool
from sfumato.ui.canvas.view import CanvasView


def drag(view: CanvasView, points: list[tuple[float, float]],
         button: Qt.MouseButton = Qt.MouseButton.LeftButton,
         modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """Press at the first document point, move through the others, release at the last."""
    first, *rest = [widget_pos(view, x, y) for x, y in points]
    QTest.mousePress(view, button, modifiers, first)
    for pos in rest:
        QTest.mouseMove(view, pos)
    QTest.mouseRelease(view, button, modifiers, rest[-1] if rest else first)


def wheel(view: CanvasView, pos: QPointF, delta: int, modifiers: Qt.KeyboardModifier) -> None:
    event = QWheelEvent(pos, view.mapToGlobal(pos), QPoint(0, 0), QPoint(0, delta),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view, event)


def test_mouse_stroke_paints_the_active_layer_where_the_pointer_went(canvas: CanvasView) -> None:
    doc = canvas.session.doc
    assert doc is not None
    canvas.session.update_brush(size=10, hardness=1.0, color=(200, 10, 20))
    drag(canvas, [(100, 200), (200, 200), (300, 200)])
    pixels = doc.layers[0].pixels
    assert tuple(pixels[200, 150, :3]) == (200, 10, 20)  # between two input events: interpolated
    assert tuple(pixels[200, 300, :3]) == (200, 10, 20)
    assert tuple(pixels[100, 150, :3]) == (255, 255, 255)  # far from the path: untouched
    assert tuple(pixels[200, 340, :3]) == (255, 255, 255)
    assert doc.history.undo_label == "Brush stroke" and len(doc.history) == 1


def test_the_display_shows_the_stroke(canvas: CanvasView) -> None:
    doc = canvas.session.doc
    assert doc is not None and canvas.cache is not None
    canvas.cache.flush()
    canvas.session.update_brush(size=20, hardness=1.0, color=(0, 0, 255))
    drag(canvas, [(320, 240), (330, 240)])
    shown = canvas.grab().toImage()
    color = shown.pixelColor(widget_pos(canvas, 325, 240))
    assert (color.red(), color.green(), color.blue()) == (0, 0, 255)


def test_eraser_and_undo_restore_pixels_exactly(canvas: CanvasView) -> None:
    doc = canvas.session.doc
    assert doc is not None
    before = doc.layers[0].pixels.copy()
    canvas.session.tool.set(CanvasTool.ERASER)
    drag(canvas, [(50, 50), (400, 300)])
    assert doc.layers[0].pixels[175, 225, 3] == 0
    doc.undo()
    assert np.array_equal(doc.layers[0].pixels, before)


def test_mask_brush_paints_on_a_new_mask_layer_when_none_exists(canvas: CanvasView) -> None:
    doc = canvas.session.doc
    assert doc is not None
    canvas.session.tool.set(CanvasTool.MASK_BRUSH)
    canvas.session.update_brush(size=30, hardness=1.0)
    drag(canvas, [(300, 300), (320, 300)])
    mask = doc.active_layer
    assert mask is not None and mask.kind is LayerKind.MASK
    assert mask.pixels[300, 310] == 255 and mask.pixels[10, 10] == 0
    assert np.all(doc.layers[0].pixels[..., :3] == 255)  # the paint layer is untouched


def test_a_locked_layer_refuses_strokes_with_a_message(canvas: CanvasView) -> None:
    doc = canvas.session.doc
    assert doc is not None
    doc.set_layer_props(doc.layers[0], locked=True)
    said: list[Notice] = []
    canvas.session.notices.posted.connect(said.append)
    drag(canvas, [(100, 100), (200, 100)])
    assert len(said) == 1 and said[0].source is Source.CANVAS and "locked" in said[0].message
    assert np.all(doc.layers[0].pixels == 255)


def test_ctrl_wheel_zooms_around_the_pointer(canvas: CanvasView) -> None:
    pointer = QPointF(613, 147)
    under = canvas.doc_point(pointer)
    zoom = canvas.zoom
    wheel(canvas, pointer, 240, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom == pytest.approx(zoom * 1.44)
    after = canvas.doc_point(pointer)
    assert (after.x(), after.y()) == pytest.approx((under.x(), under.y()), abs=1e-6)
    wheel(canvas, pointer, -120, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom == pytest.approx(zoom * 1.2)
    again = canvas.doc_point(pointer)
    assert (again.x(), again.y()) == pytest.approx((under.x(), under.y()), abs=1e-6)


def test_plain_wheel_scrolls_without_zooming(canvas: CanvasView) -> None:
    zoom, origin_y = canvas.zoom, canvas.viewport.origin_y
    wheel(canvas, QPointF(400, 300), -120, Qt.KeyboardModifier.NoModifier)
    assert canvas.zoom == zoom
    assert canvas.viewport.origin_y == origin_y - 60


def test_fit_and_actual_size(canvas: CanvasView) -> None:
    canvas.zoom_actual_size()
    assert canvas.zoom == 1.0
    centre = canvas.doc_point(QPointF(400, 300))
    assert (centre.x(), centre.y()) == pytest.approx((320, 240), abs=1)
    canvas.zoom_step(+1)
    assert canvas.zoom == 1.5
    canvas.fit_to_view()
    x, y, w, h = canvas.viewport.widget_bounds(canvas.session.doc.rect)  # type: ignore[union-attr]
    assert x >= 0 and y >= 0 and x + w <= 800 and y + h <= 600
    assert max(w / (800 - 48), h / (600 - 48)) == pytest.approx(1.0)


def test_space_drag_pans_instead_of_painting(canvas: CanvasView) -> None:
    doc = canvas.session.doc
    assert doc is not None
    ox, oy = canvas.viewport.origin_x, canvas.viewport.origin_y
    canvas.setFocus()
    QTest.keyPress(canvas, Qt.Key.Key_Space)
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(300, 300))
    QTest.mouseMove(canvas, QPoint(340, 280))
    QTest.mouseMove(canvas, QPoint(360, 250))
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(360, 250))
    QTest.keyRelease(canvas, Qt.Key.Key_Space)
    assert (canvas.viewport.origin_x, canvas.viewport.origin_y) == (ox + 60, oy - 50)
    assert len(doc.history) == 0 and np.all(doc.layers[0].pixels == 255)
    drag(canvas, [(100, 100), (120, 100)])  # space released: painting again
    assert len(doc.history) == 1


def test_middle_button_pans(canvas: CanvasView) -> None:
    ox, oy = canvas.viewport.origin_x, canvas.viewport.origin_y
    QTest.mousePress(canvas, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, QPoint(200, 200))
    QTest.mouseMove(canvas, QPoint(150, 260))
    QTest.mouseRelease(canvas, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, QPoint(150, 260))
    assert (canvas.viewport.origin_x, canvas.viewport.origin_y) == (ox - 50, oy + 60)
    assert len(canvas.session.doc.history) == 0  # type: ignore[union-attr]


def test_rectangle_and_ellipse_selection_with_modifiers(canvas: CanvasView) -> None:
    doc = canvas.session.doc
    assert doc is not None
    canvas.session.tool.set(CanvasTool.RECT_SELECT)
    drag(canvas, [(100, 100), (200, 150), (300, 200)])
    assert doc.selection.bounds() is not None
    bounds = doc.selection.bounds()
    assert bounds is not None and abs(bounds.x - 100) <= 1 and abs(bounds.right - 300) <= 1
    canvas.session.tool.set(CanvasTool.ELLIPSE_SELECT)
    drag(canvas, [(400, 300), (500, 400)], modifiers=Qt.KeyboardModifier.ShiftModifier)  # add
    mask = doc.selection.mask
    assert mask is not None and mask[150, 150] == 255 and mask[350, 450] == 255 and mask[250, 350] == 0
    canvas.session.tool.set(CanvasTool.RECT_SELECT)
    drag(canvas, [(50, 50), (50, 50)])  # a click deselects
    assert not doc.selection.active
    doc.undo()
    assert doc.selection.active


def test_lasso_selects_the_polygon(canvas: CanvasView) -> None:
    doc = canvas.session.doc
    assert doc is not None
    canvas.session.tool.set(CanvasTool.LASSO)
    drag(canvas, [(100, 100), (300, 100), (300, 300), (100, 300)])
    mask = doc.selection.mask
    assert mask is not None and mask[200, 200] == 255 and mask[50, 50] == 0 and mask[350, 200] == 0


def test_pen_pressure_scales_the_brush(canvas: CanvasView) -> None:
    doc = canvas.session.doc
    assert doc is not None
    canvas.zoom_actual_size()
    canvas.session.update_brush(size=40, hardness=1.0, pressure_size=True)
    pen = QPointingDevice("pen", 1, QInputDevice.DeviceType.Stylus, QPointingDevice.PointerType.Pen,
                          QInputDevice.Capability.Position | QInputDevice.Capability.Pressure, 1, 3)

    def send(kind: QEvent.Type, x: float, y: float, pressure: float) -> None:
        pos = QPointF(*canvas.viewport.to_widget(x, y))
        event = QTabletEvent(kind, pen, pos, canvas.mapToGlobal(pos), pressure, 0.0, 0.0, 0.0, 0.0, 0.0,
                             Qt.KeyboardModifier.NoModifier, Qt.MouseButton.LeftButton,
                             Qt.MouseButton.LeftButton)
        QApplication.sendEvent(canvas, event)

    send(QEvent.Type.TabletPress, 50, 240, 0.2)
    send(QEvent.Type.TabletMove, 300, 240, 0.2)
    send(QEvent.Type.TabletMove, 600, 240, 1.0)
    send(QEvent.Type.TabletRelease, 600, 240, 0.0)
    dark = doc.layers[0].pixels[..., 0] < 128
    light_width, full_width = int(dark[:, 100].sum()), int(dark[:, 590].sum())
    assert 6 <= light_width <= 10 and 36 <= full_width <= 42
    assert len(doc.history) == 1


def test_the_selection_shows_marching_ants(canvas: CanvasView, qtbot: QtBot) -> None:
    doc = canvas.session.doc
    assert doc is not None and canvas.cache is not None
    canvas.cache.flush()
    canvas.zoom_actual_size()
    canvas.session.tool.set(CanvasTool.RECT_SELECT)
    drag(canvas, [(100, 100), (300, 250)])
    qtbot.waitUntil(lambda: canvas._selection_path is not None)
    shown = canvas.grab().toImage()
    edge = [shown.pixelColor(widget_pos(canvas, x, 100) + QPoint(0, dy)).lightness()
            for x in range(120, 200) for dy in (-1, 0)]
    assert min(edge) < 60 and max(edge) > 200  # black line with white dashes over a white page
    inside = shown.pixelColor(widget_pos(canvas, 200, 180))
    assert inside.lightness() == 255
