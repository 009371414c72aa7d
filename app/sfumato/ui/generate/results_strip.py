"""The results strip: the last batch as thumbnails, to cycle through, apply or discard.

The selected result shows in place on the canvas until it is applied (it becomes a new layer,
one undo step) or discarded; nothing is written into the document before that.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

THUMB = 112


def thumbnail(pixels: np.ndarray) -> QImage:
    """A ``THUMB``-sided thumbnail of ``(h, w, 3|4)`` uint8 pixels, keeping the aspect ratio.

    The pixels are thinned to about twice the thumbnail's size before the smooth scaling, so a
    big result costs about what a small one does.
    """
    step = max(1, max(pixels.shape[:2]) // (2 * THUMB))
    small = pixels[::step, ::step]
    rgba = np.full((*small.shape[:2], 4), 255, np.uint8)
    rgba[..., : small.shape[2]] = small
    height, width = rgba.shape[:2]
    image = QImage(rgba.data, width, height, width * 4, QImage.Format.Format_RGBA8888).copy()
    return image.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation)


class ResultsStrip(QWidget):
    """Thumbnails of a batch with Previous/Next, Apply, Apply all and Discard.

    Signals: ``current_changed(index)``, ``apply_requested(index)``, ``apply_all_requested()``,
    ``discard_requested()``.
    """

    current_changed = Signal(int)
    apply_requested = Signal(int)
    apply_all_requested = Signal()
    discard_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resultsStrip")
        self.title = QLabel()
        self.title.setObjectName("optionCaption")
        self.list = QListWidget()
        self.list.setObjectName("resultsList")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSpacing(4)
        self.list.setFixedHeight(THUMB + 44)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.list.currentRowChanged.connect(self._row_changed)
        self.list.itemDoubleClicked.connect(lambda _item: self.apply_requested.emit(self.list.currentRow()))
        self.previous = QPushButton("◀")
        self.previous.setToolTip("Previous result")
        self.previous.clicked.connect(lambda: self.step(-1))
        self.next = QPushButton("▶")
        self.next.setToolTip("Next result")
        self.next.clicked.connect(lambda: self.step(+1))
        self.apply_button = QPushButton("Apply as layer")
        self.apply_button.setObjectName("applyButton")
        self.apply_button.setToolTip("Add the shown result as a new layer (one undo step)")
        self.apply_button.clicked.connect(lambda: self.apply_requested.emit(self.list.currentRow()))
        self.apply_all_button = QPushButton("Apply all")
        self.apply_all_button.setToolTip("Add every result as its own layer (one undo step)")
        self.apply_all_button.clicked.connect(self.apply_all_requested)
        self.discard_button = QPushButton("Discard")
        self.discard_button.setToolTip("Throw this batch away")
        self.discard_button.clicked.connect(self.discard_requested)

        buttons = QVBoxLayout()
        buttons.setSpacing(4)
        cycle = QHBoxLayout()
        cycle.addWidget(self.previous)
        cycle.addWidget(self.next)
        buttons.addLayout(cycle)
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.apply_all_button)
        buttons.addWidget(self.discard_button)
        buttons.addStretch(1)
        body = QHBoxLayout()
        body.addWidget(self.list, 1)
        body.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 6)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addLayout(body)
        self.setMinimumHeight(THUMB + 72)  # the dock must not open collapsed under the canvas

    @property
    def count(self) -> int:
        """How many results are shown."""
        return self.list.count()

    @property
    def current(self) -> int:
        """The selected result's index (-1 when empty)."""
        return self.list.currentRow()

    def show_batch(self, title: str, images: list[np.ndarray], captions: list[str]) -> None:
        """Show a new batch (``(h, w, 3|4)`` uint8 pixels), selecting its first result."""
        self.list.blockSignals(True)
        self.list.clear()
        for pixels, caption in zip(images, captions, strict=True):
            item = QListWidgetItem(QIcon(QPixmap.fromImage(thumbnail(pixels))), caption)
            item.setToolTip(caption)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.title.setText(title)
        several = len(images) > 1
        for widget in (self.previous, self.next, self.apply_all_button):
            widget.setEnabled(several)
        self.list.setCurrentRow(0)

    def step(self, direction: int) -> None:
        """Select the next (``+1``) or previous (``-1``) result, wrapping around."""
        if self.count:
            self.list.setCurrentRow((self.current + direction) % self.count)

    def clear(self) -> None:
        """Show nothing."""
        self.list.clear()
        self.title.clear()

    def _row_changed(self, row: int) -> None:
        if row >= 0:
            self.current_changed.emit(row)
