"""Tracing selection outlines for the marching ants."""

from __future__ import annotations

import numpy as np
from pytestqt.qtbot import QtBot

from sfumato.document.selection import Selection
from sfumato.ui.canvas.selection_outline import OutlineTracer, outline_segments


def test_a_rectangle_has_four_edges() -> None:
    sel = Selection(10, 10)
    sel.select_rect(2, 3, 4, 5)
    assert sorted(outline_segments(sel.mask)) == [(2, 3, 2, 5), (2, 3, 4, 3), (2, 5, 4, 5), (4, 3, 4, 5)]


def test_a_ring_is_traced_inside_and_outside() -> None:
    mask = np.zeros((12, 12), np.uint8)
    mask[2:10, 2:10] = 255
    mask[5:7, 5:7] = 0
    segments = outline_segments(mask)
    assert (2, 2, 10, 2) in segments and (5, 5, 7, 5) in segments and (7, 5, 7, 7) in segments
    assert len(segments) == 8
    assert outline_segments(np.zeros((4, 4), np.uint8)) == []


def test_the_tracer_reports_only_the_newest_mask(qtbot: QtBot) -> None:
    tracer = OutlineTracer()
    first, second = np.zeros((50, 50), np.uint8), np.zeros((50, 50), np.uint8)
    first[0:10, 0:10] = 255
    second[20:40, 20:30] = 255
    seen = []
    tracer.traced.connect(seen.append)
    tracer.request(first)
    tracer.request(second)
    qtbot.waitUntil(lambda: bool(seen))
    qtbot.wait(50)
    assert len(seen) == 1 and seen[0].boundingRect().getCoords() == (20, 20, 30, 40)
    tracer.request(None)
    assert seen[-1] is None
