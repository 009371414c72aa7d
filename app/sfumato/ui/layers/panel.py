"""The layer panel: the stack with thumbnails, layer properties, stack buttons and mask tools."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSignalBlocker, QSize, Qt, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sfumato.document import mask_ops
from sfumato.document.document import Document
from sfumato.document.geometry import Rect
from sfumato.document.layers import BlendMode, Layer, LayerKind
from sfumato.errors import UserFacingError
from sfumato.session.canvas_session import CanvasSession
from sfumato.session.notices import Source
from sfumato.ui.common.resources import icon
from sfumato.ui.layers.thumbnails import layer_icon

UID_ROLE = Qt.ItemDataRole.UserRole + 1
THUMBNAIL_DELAY_MS = 300
LOCKED_SUFFIX = "  — locked"


class LayersPanel(QWidget):
    """Shows the document's layers (top of the stack first) and edits them.

    It shows the session's document. Every edit goes through a document method, so each is one
    undo step; a refused edit (for example on a locked layer) becomes a :attr:`Source.LAYERS`
    notice on ``session.notices``.
    ``commands`` holds the stack and mask edits by name (``layer_add``, ``layer_duplicate``, …,
    ``mask_invert``, …) for the buttons here and the Layer menu alike.
    """

    def __init__(self, session: CanvasSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc: Document | None = None
        self._notices = session.notices
        self._icons: dict[int, QIcon] = {}
        self._thumb_timer = QTimer(self)
        self._thumb_timer.setSingleShot(True)
        self._thumb_timer.setInterval(THUMBNAIL_DELAY_MS)
        self._thumb_timer.timeout.connect(self._refresh_thumbnails)
        # Rebuild the list after the current event: a change made from the list's own signal
        # handler must not delete the item Qt is still working on.
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self.refresh)

        self.list = QListWidget()
        self.list.setObjectName("layerList")
        self.list.setIconSize(QSize(44, 44))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                  | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)  # drag to reorder
        self.list.model().rowsMoved.connect(self._row_moved)
        self.list.currentItemChanged.connect(self._current_changed)
        self.list.itemChanged.connect(self._item_changed)

        self.blend = QComboBox()
        for mode in BlendMode:
            self.blend.addItem(mode.value.capitalize(), mode)
        self.blend.activated.connect(self._blend_chosen)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity_label = QLabel("100 %")
        self.opacity_label.setMinimumWidth(40)
        self.opacity.valueChanged.connect(self._opacity_moved)
        self.lock = QCheckBox("Lock")
        self.lock.setToolTip("Protect the layer's pixels from changes")
        self.lock.toggled.connect(self._lock_toggled)

        props = QGridLayout()
        props.setContentsMargins(0, 0, 0, 0)
        props.addWidget(QLabel("Blend"), 0, 0)
        props.addWidget(self.blend, 0, 1, 1, 2)
        props.addWidget(QLabel("Opacity"), 1, 0)
        props.addWidget(self.opacity, 1, 1)
        props.addWidget(self.opacity_label, 1, 2)
        props.addWidget(self.lock, 2, 0, 1, 3)

        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        self.buttons: dict[str, QToolButton] = {}
        self.commands: dict[str, Callable[[], None]] = {}
        for name, tip, slot in (
            ("layer_add", "New paint layer", lambda: self._do(lambda d: d.add_layer(LayerKind.RASTER))),
            ("mask_add", "New mask layer", lambda: self._do(lambda d: d.add_layer(LayerKind.MASK))),
            ("layer_duplicate", "Duplicate layer",
             lambda: self._on_active(lambda d, a: d.duplicate_layer(a))),
            ("layer_up", "Move layer up", lambda: self._move(+1)),
            ("layer_down", "Move layer down", lambda: self._move(-1)),
            ("layer_delete", "Delete layer", lambda: self._on_active(lambda d, a: d.delete_layer(a))),
        ):
            button = QToolButton()
            button.setIcon(icon(name))
            button.setToolTip(tip)
            button.setAutoRaise(True)
            button.setIconSize(QSize(18, 18))
            button.clicked.connect(slot)
            buttons.addWidget(button)
            self.buttons[name] = button
            self.commands[name] = slot
        buttons.insertStretch(3, 1)

        self.mask_box = QGroupBox("Mask")
        self.radius = QSpinBox()
        self.radius.setRange(1, 256)
        self.radius.setValue(8)
        self.radius.setSuffix(" px")
        self.radius.setToolTip("How far grow, shrink and feather reach")
        grid = QGridLayout(self.mask_box)
        grid.setSpacing(4)
        self.mask_buttons: dict[str, QToolButton] = {}
        for i, (name, text, slot) in enumerate((
            ("from_selection", "From selection", self._mask_from_selection),
            ("invert", "Invert", lambda: self._on_mask(mask_ops.invert_mask)),
            ("clear", "Clear", lambda: self._on_mask(mask_ops.clear_mask)),
            ("grow", "Grow",
             lambda: self._on_mask(lambda d, m: mask_ops.grow_mask(d, m, self.radius.value()))),
            ("shrink", "Shrink",
             lambda: self._on_mask(lambda d, m: mask_ops.shrink_mask(d, m, self.radius.value()))),
            ("feather", "Feather",
             lambda: self._on_mask(lambda d, m: mask_ops.feather_mask(d, m, float(self.radius.value())))),
        )):
            button = QToolButton()
            button.setText(text)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.clicked.connect(slot)
            grid.addWidget(button, i // 3, i % 3)
            self.mask_buttons[name] = button
            self.commands[f"mask_{name}"] = slot
        grid.addWidget(QLabel("Radius"), 2, 0)
        grid.addWidget(self.radius, 2, 1, 1, 2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addLayout(props)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.mask_box)
        session.document.bind(self._show_document)

    # --------------------------------------------------------------- document
    def _show_document(self, doc: Document | None) -> None:
        """Show the layers of ``doc`` (or nothing)."""
        if self._doc is not None:
            self._doc.events.layers_changed.disconnect(self._schedule_refresh)
            self._doc.events.pixels_changed.disconnect(self._pixels_changed)
        self._doc = doc
        self._icons.clear()
        if doc is not None:
            doc.events.layers_changed.connect(self._schedule_refresh)
            doc.events.pixels_changed.connect(self._pixels_changed)
        self.refresh()

    def _schedule_refresh(self) -> None:
        self._refresh_timer.start()

    def refresh(self) -> None:
        """Rebuild the list from the document."""
        doc = self._doc
        with QSignalBlocker(self.list):
            self.list.clear()
            if doc is not None:
                active = doc.active_layer
                for layer in reversed(doc.layers):
                    item = QListWidgetItem(self._icon(layer), self._title(layer))
                    item.setData(UID_ROLE, layer.uid)
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsUserCheckable)
                    item.setCheckState(Qt.CheckState.Checked if layer.visible else Qt.CheckState.Unchecked)
                    item.setToolTip("Mask layer: white areas are repainted by inpainting"
                                    if layer.is_mask else "Paint layer")
                    self.list.addItem(item)
                    if active is not None and layer.uid == active.uid:
                        self.list.setCurrentItem(item)
        self._sync_controls()

    def _icon(self, layer: Layer) -> QIcon:
        cached = self._icons.get(layer.uid)
        if cached is None:
            cached = self._icons[layer.uid] = layer_icon(layer)
        return cached

    @staticmethod
    def _title(layer: Layer) -> str:
        return layer.name + (LOCKED_SUFFIX if layer.locked else "")

    def _pixels_changed(self, _rect: Rect) -> None:
        self._thumb_timer.start()

    def _refresh_thumbnails(self) -> None:
        self._icons.clear()
        if self._doc is None:
            return
        for row in range(self.list.count()):
            item = self.list.item(row)
            try:
                layer = self._doc.layer_by_uid(item.data(UID_ROLE))
            except KeyError:
                continue
            with QSignalBlocker(self.list):
                item.setIcon(self._icon(layer))

    def _sync_controls(self) -> None:
        doc = self._doc
        active = doc.active_layer if doc is not None else None
        has_doc = doc is not None
        for name, button in self.buttons.items():
            button.setEnabled(has_doc if name in ("layer_add", "mask_add") else active is not None)
        for widget in (self.opacity, self.lock):
            widget.setEnabled(active is not None)
        self.blend.setEnabled(active is not None and not active.is_mask)
        is_mask = active is not None and active.is_mask
        for name, button in self.mask_buttons.items():
            button.setEnabled(has_doc if name == "from_selection" else is_mask)
        self.radius.setEnabled(is_mask)
        if active is None:
            self.opacity_label.setText("")
            return
        with QSignalBlocker(self.opacity), QSignalBlocker(self.lock), QSignalBlocker(self.blend):
            self.opacity.setValue(round(active.opacity * 100))
            self.lock.setChecked(active.locked)
            self.blend.setCurrentIndex(self.blend.findData(active.blend))
        self.opacity_label.setText(f"{round(active.opacity * 100)} %")

    # ---------------------------------------------------------------- editing
    def _do(self, edit: Callable[[Document], object]) -> None:
        if self._doc is None:
            return
        try:
            edit(self._doc)
        except UserFacingError as exc:
            self._notices.report(exc, Source.LAYERS)

    def _on_active(self, edit: Callable[[Document, Layer], object]) -> None:
        doc = self._doc
        if doc is not None and doc.active_layer is not None:
            active = doc.active_layer
            self._do(lambda d: edit(d, active))

    def _on_mask(self, edit: Callable[[Document, Layer], object]) -> None:
        doc = self._doc
        if doc is not None and doc.active_layer is not None and doc.active_layer.is_mask:
            self._on_active(edit)

    def _mask_from_selection(self) -> None:
        doc = self._doc
        if doc is None:
            return
        if not doc.selection.active:
            self._notices.error(Source.LAYERS, "Select an area first (rectangle, ellipse or lasso).")
            return
        active = doc.active_layer
        if active is not None and active.is_mask:
            self._do(lambda d: mask_ops.mask_from_selection(d, active))
        else:
            self._do(mask_ops.new_mask_from_selection)

    def _move(self, direction: int) -> None:
        self._on_active(lambda d, a: d.move_layer(a, d.index_of(a) + direction))

    def _layer_of(self, item: QListWidgetItem | None) -> Layer | None:
        if item is None or self._doc is None:
            return None
        try:
            return self._doc.layer_by_uid(item.data(UID_ROLE))
        except KeyError:
            return None

    def _current_changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        layer = self._layer_of(current)
        if layer is not None and self._doc is not None:
            self._doc.set_active(layer)

    def _item_changed(self, item: QListWidgetItem) -> None:
        layer = self._layer_of(item)
        if layer is None:
            return
        visible = item.checkState() == Qt.CheckState.Checked
        name = item.text().replace(LOCKED_SUFFIX, "").strip()
        if visible != layer.visible:
            self._do(lambda d: d.set_layer_props(layer, visible=visible))
        elif name and name != layer.name:
            self._do(lambda d: d.set_layer_props(layer, name=name))
        else:
            with QSignalBlocker(self.list):
                item.setText(self._title(layer))

    def _row_moved(self, _parent: object, start: int, _end: int, _dest: object, row: int) -> None:
        """A layer was dragged to another row: move it in the stack (rows are top-first)."""
        new_row = row - 1 if row > start else row
        layer = self._layer_of(self.list.item(new_row))
        if layer is not None:
            index = self.list.count() - 1 - new_row
            self._do(lambda d: d.move_layer(layer, index))

    def _opacity_moved(self, value: int) -> None:
        self.opacity_label.setText(f"{value} %")
        self._on_active(lambda d, a: d.set_layer_props(a, opacity=value / 100))

    def _lock_toggled(self, locked: bool) -> None:
        self._on_active(lambda d, a: d.set_layer_props(a, locked=locked))

    def _blend_chosen(self, index: int) -> None:
        mode = BlendMode(self.blend.itemData(index))
        self._on_active(lambda d, a: d.set_layer_props(a, blend=mode))
