"""Resizing the canvas with an offset, and grouping steps into one undo step."""

from __future__ import annotations

import numpy as np
import pytest

from sfumato.document.document import new_document
from sfumato.document.layers import LayerKind
from sfumato.errors import UserFacingError


def _doc():
    doc = new_document(8, 6, background=(10, 20, 30, 255))
    mask = doc.add_layer(LayerKind.MASK)
    mask.pixels[2:4, 3:5] = 255
    doc.change_selection(lambda s: s.select_rect(1, 1, 3, 3), "Select")
    return doc, mask


def test_growing_the_canvas_moves_every_layer_and_the_selection_by_the_offset() -> None:
    doc, mask = _doc()
    before = doc.composite()
    seen: list[str] = []
    doc.events.size_changed.connect(lambda: seen.append("size"))
    doc.resize_canvas(12, 9, offset=(3, 2))
    assert (doc.width, doc.height) == (12, 9)
    assert seen == ["size"]
    after = doc.composite()
    assert after.shape == (9, 12, 4)
    np.testing.assert_array_equal(after[2:8, 3:11], before)
    assert after[0:2].max() == 0 and after[:, 0:3].max() == 0  # new area is transparent
    assert mask.pixels.shape == (9, 12)
    assert mask.pixels[4:6, 6:8].min() == 255 and mask.pixels.sum() == 4 * 255
    assert doc.selection.mask is not None and doc.selection.mask.shape == (9, 12)
    assert doc.selection.bounds() is not None and doc.selection.bounds().x == 4


def test_resize_is_one_undo_step_and_redo_repeats_it() -> None:
    doc, mask = _doc()
    before = doc.composite()
    steps = len(doc.history)
    doc.resize_canvas(5, 4, offset=(-2, -1))  # crop: what falls outside is cut off
    assert len(doc.history) == steps + 1
    np.testing.assert_array_equal(doc.composite(), before[1:5, 2:7])
    doc.undo()
    assert (doc.width, doc.height) == (8, 6)
    np.testing.assert_array_equal(doc.composite(), before)
    assert mask.pixels.shape == (6, 8) and mask.pixels.sum() == 4 * 255
    doc.redo()
    assert (doc.width, doc.height) == (5, 4)
    np.testing.assert_array_equal(doc.composite(), before[1:5, 2:7])


def test_resize_refuses_impossible_sizes() -> None:
    doc, _ = _doc()
    with pytest.raises(UserFacingError):
        doc.resize_canvas(0, 10)
    assert (doc.width, doc.height) == (8, 6)


def test_grouped_steps_undo_together() -> None:
    doc, _ = _doc()
    steps = len(doc.history)
    with doc.grouped("Outpaint"):
        doc.resize_canvas(10, 6, offset=(2, 0))
        doc.add_image_layer(np.full((6, 2, 4), 200, np.uint8), "Result", (0, 0))
    assert len(doc.history) == steps + 1
    assert doc.history.undo_label == "Outpaint"
    doc.undo()
    assert (doc.width, doc.height) == (8, 6)
    assert [layer.name for layer in doc.layers] == ["Background", "Mask 1"]
    doc.redo()
    assert (doc.width, doc.height) == (10, 6)
    assert doc.layers[-1].name == "Result"


def test_a_failing_group_leaves_the_document_as_it_was() -> None:
    doc, _ = _doc()
    before = doc.composite()
    steps = len(doc.history)
    with pytest.raises(ValueError), doc.grouped("Broken"):
        doc.resize_canvas(10, 6, offset=(2, 0))
        raise ValueError("boom")
    assert (doc.width, doc.height) == (8, 6)
    np.testing.assert_array_equal(doc.composite(), before)
    assert len(doc.history) == steps
