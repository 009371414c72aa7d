"""A dock's column of controls that scrolls when the window is shorter than the column."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget


class ScrollColumn(QScrollArea):
    """``column`` in a vertical scroll area that asks for the column's whole size.

    A plain :class:`QScrollArea` caps its size hint (Qt's rule: a few dozen lines of text), so a
    dock holding one starts squashed; a dock holding the column itself cannot get shorter than
    the column, which pushes a small screen's window past its bottom edge. This one starts at
    the column's own height, may shrink below it (then it scrolls), and is never narrower than
    the column plus a scroll bar, so nothing is cut off at the side. Given more height than the
    column needs, it keeps the column at its own height and leaves the rest empty below.
    """

    def __init__(self, column: QWidget) -> None:
        super().__init__()
        self._column = column
        holder = QWidget()
        layout = QVBoxLayout(holder)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(column)
        layout.addStretch(1)
        self.setWidget(holder)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(column.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width())

    def sizeHint(self) -> QSize:
        """The column's own size hint, with room for the scroll bar."""
        hint = self._column.sizeHint()
        return QSize(hint.width() + self.verticalScrollBar().sizeHint().width(), hint.height())
