"""The toolbox (one checkable action per canvas tool) and the brush options bar."""

from __future__ import annotations

import math

from PySide6.QtCore import QSignalBlocker, QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QIcon, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QToolBar,
    QToolButton,
    QWidget,
)

from sfumato.document.brush import MAX_SIZE, MIN_SIZE, BrushSettings
from sfumato.session.canvas_session import CanvasSession
from sfumato.session.tools import CanvasTool
from sfumato.ui.common.resources import icon

TOOL_SHORTCUTS: dict[CanvasTool, str] = {
    CanvasTool.BRUSH: "B",
    CanvasTool.ERASER: "E",
    CanvasTool.MASK_BRUSH: "Q",  # Photoshop's quick-mask key
    CanvasTool.RECT_SELECT: "M",
    CanvasTool.ELLIPSE_SELECT: "Shift+M",
    CanvasTool.LASSO: "L",
    CanvasTool.OUTPAINT_FRAME: "O",
}


def tool_actions(session: CanvasSession, parent: QWidget) -> dict[CanvasTool, QAction]:
    """Checkable, mutually exclusive actions selecting each canvas tool (with shortcuts)."""
    group = QActionGroup(parent)
    group.setExclusive(True)
    actions: dict[CanvasTool, QAction] = {}
    for tool in CanvasTool:
        shortcut = TOOL_SHORTCUTS[tool]
        action = QAction(icon(tool.value), tool.label, parent)
        action.setCheckable(True)
        action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{tool.label} ({shortcut})")
        action.setChecked(tool is session.tool.value)
        action.triggered.connect(lambda _=False, t=tool: session.tool.set(t))
        group.addAction(action)
        actions[tool] = action
    session.tool.changed.connect(lambda t: actions[t].setChecked(True))
    return actions


class ColorButton(QToolButton):
    """A swatch of the brush colour; clicking it opens a colour picker."""

    def __init__(self, session: CanvasSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self.setObjectName("colorButton")
        self.setToolTip("Brush colour")
        self.setIconSize(QSize(22, 22))
        self.clicked.connect(self._choose)
        session.brush.changed.connect(lambda _b: self._refresh())
        self._refresh()

    def _refresh(self) -> None:
        r, g, b = self._session.brush.value.color
        swatch = QPixmap(22, 22)
        swatch.fill(Qt.GlobalColor.transparent)
        painter = QPainter(swatch)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor(0xdd, 0xdd, 0xdd))
        painter.setBrush(QColor(r, g, b))
        painter.drawRoundedRect(1, 1, 20, 20, 4, 4)
        painter.end()
        self.setIcon(QIcon(swatch))

    def _choose(self) -> None:
        color = QColorDialog.getColor(QColor(*self._session.brush.value.color), self, "Brush colour")
        if color.isValid():
            self._session.update_brush(color=(color.red(), color.green(), color.blue()))


class _LabelledSlider(QWidget):
    """A caption, a slider and a spin box showing the same value."""

    def __init__(self, caption: str, low: float, high: float, suffix: str, decimals: int = 0,
                 log_scale: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self._low, self._high, self._log = low, high, log_scale
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 1000)
        self.slider.setFixedWidth(110)
        self.spin = QDoubleSpinBox()
        self.spin.setObjectName("optionSpin")
        self.spin.setRange(low, high)
        self.spin.setDecimals(decimals)
        self.spin.setSuffix(suffix)
        self.spin.setKeyboardTracking(False)
        self.spin.setFixedWidth(58)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(6)
        label = QLabel(caption)
        label.setObjectName("optionCaption")
        layout.addWidget(label)
        layout.addWidget(self.slider)
        layout.addWidget(self.spin)
        self.slider.valueChanged.connect(lambda pos: self.spin.setValue(self._value_at(pos)))

    def _value_at(self, pos: int) -> float:
        t = pos / 1000
        if self._log:
            return math.exp(math.log(self._low) + t * (math.log(self._high) - math.log(self._low)))
        return self._low + t * (self._high - self._low)

    def _pos_of(self, value: float) -> int:
        if self._log:
            span = math.log(self._high) - math.log(self._low)
            return round(1000 * (math.log(max(value, self._low)) - math.log(self._low)) / span)
        return round(1000 * (value - self._low) / (self._high - self._low))

    def set_value(self, value: float) -> None:
        """Show ``value`` without emitting changes."""
        with QSignalBlocker(self.slider), QSignalBlocker(self.spin):
            self.slider.setValue(self._pos_of(value))
            self.spin.setValue(value)


class BrushOptionsBar(QToolBar):
    """Size, hardness, opacity, spacing, pressure response and colour of the brush."""

    def __init__(self, session: CanvasSession, parent: QWidget | None = None) -> None:
        super().__init__("Tool options", parent)
        self.setObjectName("toolOptions")
        self.setMovable(False)
        self._session = session
        self.color_button = ColorButton(session)
        self.size_slider = _LabelledSlider("Size", MIN_SIZE, MAX_SIZE, " px", log_scale=True)
        self.hardness = _LabelledSlider("Hardness", 0, 100, " %")
        self.opacity = _LabelledSlider("Opacity", 0, 100, " %")
        self.spacing = _LabelledSlider("Spacing", 1, 200, " %")
        self.pressure_size = QCheckBox("Pressure → size")
        self.pressure_opacity = QCheckBox("Pressure → opacity")
        for widget in (self.color_button, self.size_slider, self.hardness, self.opacity, self.spacing):
            self.addWidget(widget)
        self.addSeparator()
        self.addWidget(self.pressure_size)
        self.addWidget(self.pressure_opacity)
        self.size_slider.spin.valueChanged.connect(lambda v: session.update_brush(size=v))
        self.hardness.spin.valueChanged.connect(lambda v: session.update_brush(hardness=v / 100))
        self.opacity.spin.valueChanged.connect(lambda v: session.update_brush(opacity=v / 100))
        self.spacing.spin.valueChanged.connect(lambda v: session.update_brush(spacing=v / 100))
        self.pressure_size.toggled.connect(lambda on: session.update_brush(pressure_size=on))
        self.pressure_opacity.toggled.connect(lambda on: session.update_brush(pressure_opacity=on))
        session.brush.changed.connect(self._show)
        self._show(session.brush.value)

    def _show(self, brush: BrushSettings) -> None:
        self.size_slider.set_value(brush.size)
        self.hardness.set_value(brush.hardness * 100)
        self.opacity.set_value(brush.opacity * 100)
        self.spacing.set_value(brush.spacing * 100)
        with QSignalBlocker(self.pressure_size), QSignalBlocker(self.pressure_opacity):
            self.pressure_size.setChecked(brush.pressure_size)
            self.pressure_opacity.setChecked(brush.pressure_opacity)
