"""The status-bar field that says what Sfumato computes on; a click opens the Backend dialog."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QToolButton, QWidget

from sfumato.ui.backend.monitor import BackendMonitor
from sfumato.ui.common.resources import icon


class BackendField(QToolButton):
    """Shows :attr:`BackendMonitor.label`, with a warning icon and colour (the ``warning``
    property, styled in ``style.qss``) when the advice has something to do."""

    def __init__(self, monitor: BackendMonitor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("backendField")
        self.setAutoRaise(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setIconSize(QSize(14, 14))
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._monitor = monitor
        monitor.changed.connect(self.refresh)
        self.refresh()

    @property
    def warning(self) -> bool:
        """Whether the field shows its warning style."""
        return bool(self.property("warning"))

    def refresh(self) -> None:
        """Show the monitor's current label."""
        label = self._monitor.label
        self.setText(label.text)
        self.setToolTip(label.tooltip)
        self.setIcon(icon("warning") if label.warning else QIcon())
        if self.warning != label.warning:
            self.setProperty("warning", label.warning)
            self.style().unpolish(self)
            self.style().polish(self)
