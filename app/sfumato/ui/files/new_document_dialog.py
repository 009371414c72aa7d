"""The "New document" dialog: size (with common presets) and background."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QSpinBox,
    QWidget,
)

from sfumato.document.document import MAX_SIDE

PRESETS: tuple[tuple[str, int, int], ...] = (
    ("Square 512 × 512", 512, 512),
    ("Square 768 × 768", 768, 768),
    ("Square 1024 × 1024", 1024, 1024),
    ("Landscape 1216 × 832", 1216, 832),
    ("Portrait 832 × 1216", 832, 1216),
    ("Full HD 1920 × 1080", 1920, 1080),
    ("A4 at 150 dpi 1240 × 1754", 1240, 1754),
)

BACKGROUNDS: tuple[tuple[str, tuple[int, int, int, int] | None], ...] = (
    ("White", (255, 255, 255, 255)),
    ("Black", (0, 0, 0, 255)),
    ("Transparent", None),
)


class NewDocumentDialog(QDialog):
    """Asks for a width, a height and a background colour."""

    def __init__(self, parent: QWidget | None = None, width: int = 1024, height: int = 1024) -> None:
        super().__init__(parent)
        self.setWindowTitle("New document")
        self._preset = QComboBox()
        self._preset.addItem("Custom")
        for name, _, _ in PRESETS:
            self._preset.addItem(name)
        self._width = QSpinBox()
        self._height = QSpinBox()
        for box, value in ((self._width, width), (self._height, height)):
            box.setRange(1, MAX_SIDE)
            box.setSuffix(" px")
            box.setValue(value)
            box.valueChanged.connect(self._sync_preset)
        self._background = QComboBox()
        for name, _ in BACKGROUNDS:
            self._background.addItem(name)
        self._preset.currentIndexChanged.connect(self._apply_preset)
        ok_cancel = QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        buttons = QDialogButtonBox(ok_cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Preset", self._preset)
        form.addRow("Width", self._width)
        form.addRow("Height", self._height)
        form.addRow("Background", self._background)
        form.addRow(buttons)
        self._sync_preset()

    @property
    def chosen_size(self) -> tuple[int, int]:
        """The chosen ``(width, height)``."""
        return self._width.value(), self._height.value()

    @property
    def background(self) -> tuple[int, int, int, int] | None:
        """The background fill, ``None`` for transparent."""
        return BACKGROUNDS[self._background.currentIndex()][1]

    def _apply_preset(self, index: int) -> None:
        if index > 0:
            _, w, h = PRESETS[index - 1]
            self._width.setValue(w)
            self._height.setValue(h)

    def _sync_preset(self) -> None:
        size = self.chosen_size
        index = next((i + 1 for i, (_, w, h) in enumerate(PRESETS) if (w, h) == size), 0)
        self._preset.blockSignals(True)
        self._preset.setCurrentIndex(index)
        self._preset.blockSignals(False)
