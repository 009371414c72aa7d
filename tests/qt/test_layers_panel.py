"""The layer panel edits the stack through the document: every edit is one undo step."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from qt_helpers import Dialogs, show_document

from sfumato.document.document import new_document
from sfumato.document.layers import BlendMode, LayerKind
from sfumato.session.notices import Source
from sfumato.ui.main_window import MainWindow


def names_in_list(win: MainWindow) -> list[str]:
    QApplication.processEvents()
    panel = win.layers_panel
    return [panel.list.item(i).text() for i in range(panel.list.count())]


def test_add_duplicate_move_and_delete_layers(window: MainWindow) -> None:
    doc = show_document(window, new_document(64, 64))
    panel = window.layers_panel
    panel.buttons["layer_add"].click()
    assert names_in_list(window) == ["Layer 2", "Background"]
    assert doc.active_layer is doc.layers[1]
    panel.buttons["layer_duplicate"].click()
    assert names_in_list(window) == ["Layer 2 copy", "Layer 2", "Background"]
    panel.buttons["layer_down"].click()
    panel.buttons["layer_down"].click()
    assert names_in_list(window) == ["Layer 2", "Background", "Layer 2 copy"]
    panel.buttons["layer_delete"].click()
    assert names_in_list(window) == ["Layer 2", "Background"]
    panel.buttons["mask_add"].click()  # above the active layer, the one below the deleted one
    assert names_in_list(window) == ["Layer 2", "Mask 1", "Background"]
    assert doc.layers[1].kind is LayerKind.MASK
    for _ in range(6):
        doc.undo()
    assert names_in_list(window) == ["Background"]


def test_visibility_rename_lock_blend_and_opacity(window: MainWindow) -> None:
    doc = show_document(window, new_document(64, 64))
    panel = window.layers_panel
    item = panel.list.item(0)
    item.setCheckState(Qt.CheckState.Unchecked)
    assert not doc.layers[0].visible
    names_in_list(window)
    panel.list.item(0).setText("Paper")
    assert doc.layers[0].name == "Paper"
    panel.lock.setChecked(True)
    assert doc.layers[0].locked and names_in_list(window)[0].startswith("Paper")
    panel.blend.setCurrentIndex(panel.blend.findData(BlendMode.MULTIPLY))
    panel.blend.activated.emit(panel.blend.currentIndex())
    assert doc.layers[0].blend is BlendMode.MULTIPLY
    for value in (80, 55, 30):  # one slider drag
        panel.opacity.setValue(value)
    assert doc.layers[0].opacity == 0.3
    doc.undo()  # the whole drag is one step
    assert doc.layers[0].opacity == 1.0
    for _ in range(4):
        doc.undo()
    layer = doc.layers[0]
    assert layer.visible and layer.name == "Background" and not layer.locked


def test_thumbnails_follow_the_pixels(window: MainWindow, qtbot: QtBot) -> None:
    doc = show_document(window, new_document(64, 64))
    panel = window.layers_panel
    before = panel.list.item(0).icon().pixmap(44, 44).toImage()
    with doc.edit_pixels(doc.layers[0], None, "fill"):
        doc.layers[0].pixels[...] = (255, 0, 0, 255)
    qtbot.waitUntil(lambda: panel.list.item(0).icon().pixmap(44, 44).toImage() != before)
    centre = panel.list.item(0).icon().pixmap(44, 44).toImage().pixelColor(22, 22)
    assert (centre.red(), centre.green(), centre.blue()) == (255, 0, 0)


def test_mask_tools_each_make_one_undo_step(window: MainWindow) -> None:
    doc = show_document(window, new_document(100, 80))
    panel = window.layers_panel
    doc.change_selection(lambda s: s.select_rect(20, 20, 60, 50), "Select")
    panel.mask_buttons["from_selection"].click()
    mask = doc.active_layer
    assert mask is not None and mask.is_mask
    assert np.array_equal(mask.pixels, doc.selection.mask)
    names_in_list(window)
    assert panel.mask_buttons["grow"].isEnabled()
    panel.radius.setValue(5)
    panel.mask_buttons["grow"].click()
    assert mask.pixels[16, 16] == 255 and mask.pixels[12, 12] == 0
    panel.mask_buttons["shrink"].click()
    assert mask.pixels[20, 20] == 255 and mask.pixels[19, 19] == 0
    panel.mask_buttons["invert"].click()
    assert mask.pixels[0, 0] == 255 and mask.pixels[30, 30] == 0
    panel.mask_buttons["feather"].click()
    assert 0 < mask.pixels[20, 40] < 255
    panel.mask_buttons["clear"].click()
    assert not mask.pixels.any()
    for _ in range(5):
        doc.undo()
    assert np.array_equal(mask.pixels, doc.selection.mask)


def test_mask_from_selection_without_selection_explains(window: MainWindow, dialogs: Dialogs) -> None:
    doc = show_document(window, new_document(32, 32))
    window.layers_panel.mask_buttons["from_selection"].click()
    assert len(doc.layers) == 1
    assert len(dialogs.errors) == 1 and dialogs.errors[0].source is Source.LAYERS
    assert "Select an area first" in window.status_notices.text()


def test_dragging_a_row_reorders_the_stack(window: MainWindow) -> None:
    doc = show_document(window, new_document(32, 32))
    panel = window.layers_panel
    panel.buttons["layer_add"].click()
    panel.buttons["layer_add"].click()
    assert names_in_list(window) == ["Layer 3", "Layer 2", "Background"]
    model = panel.list.model()
    assert model.moveRow(QModelIndex(), 0, QModelIndex(), 3)  # the top row dropped at the bottom
    assert names_in_list(window) == ["Layer 2", "Background", "Layer 3"]
    assert [layer.name for layer in doc.layers] == ["Layer 3", "Background", "Layer 2"]
    doc.undo()
    assert names_in_list(window) == ["Layer 3", "Layer 2", "Background"]
