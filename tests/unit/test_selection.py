"""Selection shapes, modes, invert/clear, and selection changes as undo steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sfumato.document.document import new_document
from sfumato.document.geometry import Rect
from sfumato.document.selection import Selection, SelectMode


def test_rectangle_corners_in_any_order_and_snapped_to_pixel_edges() -> None:
    sel = Selection(50, 40)
    sel.select_rect(30, 25, 10, 5)
    assert sel.mask is not None and sel.bounds() == Rect(10, 5, 20, 20)
    assert np.count_nonzero(sel.mask) == 400 and set(np.unique(sel.mask)) == {0, 255}
    sel.select_rect(10.4, 5.6, 19.7, 8.2)
    assert sel.bounds() == Rect(10, 6, 10, 2)
    sel.select_rect(-10, -10, 100, 100)
    assert np.all(sel.mask == 255)


@pytest.mark.parametrize("corners", [(5, 5, 5, 30), (5, 5, 30, 5), (7.2, 3, 7.4, 20)])
def test_a_click_without_a_drag_selects_nothing(corners: tuple[float, float, float, float]) -> None:
    sel = Selection(50, 40)
    sel.select_rect(0, 0, 10, 10)
    sel.select_rect(*corners)
    assert not sel.active
    sel.select_ellipse(*corners)
    assert not sel.active


def test_ellipse_and_lasso_areas() -> None:
    sel = Selection(200, 100)
    sel.select_ellipse(20, 10, 180, 90)
    assert sel.mask is not None
    assert abs(np.count_nonzero(sel.mask) - math.pi * 80 * 40) < 0.02 * math.pi * 80 * 40
    assert sel.bounds() == Rect(20, 10, 160, 80)
    assert np.array_equal(sel.mask, sel.mask[:, ::-1]) and np.array_equal(sel.mask, sel.mask[::-1])
    sel.select_lasso([(0, 0), (100, 0), (0, 100)])
    assert abs(np.count_nonzero(sel.mask) - 5000) < 200
    sel.select_lasso([(0, 0), (10, 10)])  # not a polygon: ignored
    assert abs(np.count_nonzero(sel.mask) - 5000) < 200


def test_combining_modes() -> None:
    sel = Selection(40, 20)
    sel.select_rect(0, 0, 20, 20)
    sel.select_rect(10, 0, 30, 20, SelectMode.ADD)
    assert sel.bounds() == Rect(0, 0, 30, 20)
    sel.select_rect(5, 0, 15, 20, SelectMode.SUBTRACT)
    assert sel.mask is not None and not sel.mask[:, 5:15].any() and sel.mask[:, :5].all()
    sel.select_rect(0, 0, 3, 20, SelectMode.INTERSECT)
    assert sel.bounds() == Rect(0, 0, 3, 20)
    sel.select_rect(0, 0, 40, 20, SelectMode.SUBTRACT)
    assert not sel.active and sel.bounds() is None and sel.coverage(Rect(0, 0, 4, 4)) is None


def test_invert_clear_select_all_and_soft_masks() -> None:
    sel = Selection(30, 20)
    sel.invert()
    assert sel.mask is not None and sel.mask.all()
    sel.invert()
    assert not sel.active
    sel.select_rect(5, 5, 10, 10)
    sel.invert()
    assert sel.mask is not None and not sel.mask[5:10, 5:10].any() and np.count_nonzero(sel.mask) == 575
    sel.clear()
    assert not sel.active
    sel.select_all()
    assert sel.bounds() == Rect(0, 0, 30, 20)
    soft = np.zeros((20, 30), np.uint8)
    soft[2:4, 3:6] = 51
    sel.set_mask(soft)
    soft[...] = 0
    assert sel.bounds() == Rect(3, 2, 3, 2)  # kept a copy
    coverage = sel.coverage(Rect(3, 2, 3, 2))
    assert coverage is not None and np.allclose(coverage, 0.2)
    sel.set_mask(np.zeros((20, 30), np.uint8))
    assert not sel.active


def test_selection_changes_are_undo_steps_that_restore_exactly() -> None:
    doc = new_document(300, 200)
    rng = np.random.default_rng(2)
    changes = [
        lambda s: s.select_rect(*rng.uniform(-20, 320, 4)),
        lambda s: s.select_ellipse(*rng.uniform(-20, 320, 4), SelectMode.ADD),
        lambda s: s.select_lasso([tuple(p) for p in rng.uniform(0, 300, (5, 2))], SelectMode.SUBTRACT),
        lambda s: s.select_rect(*rng.uniform(0, 300, 4), SelectMode.INTERSECT),
        lambda s: s.invert(),
        lambda s: s.clear(),
    ]
    states: list[np.ndarray | None] = [None]
    for i in range(40):
        steps = len(doc.history)
        doc.change_selection(changes[int(rng.integers(len(changes)))], f"change {i}")
        current = None if doc.selection.mask is None else doc.selection.mask.copy()
        if len(doc.history) == steps:
            assert _same(current, states[-1])  # nothing changed, no step
        else:
            states.append(current)
    assert len(states) > 25
    for state in reversed(states[:-1]):
        doc.undo()
        assert _same(doc.selection.mask, state)
    for state in states[1:]:
        doc.redo()
        assert _same(doc.selection.mask, state)


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def test_a_small_selection_change_stores_a_small_rectangle() -> None:
    doc = new_document(4096, 4096)
    doc.change_selection(lambda s: s.select_rect(100, 100, 120, 110), "Select")
    assert doc.history.nbytes == 2 * 20 * 10
    events: list[None] = []
    doc.events.selection_changed.connect(lambda: events.append(None))
    doc.undo()
    assert not doc.selection.active and events
