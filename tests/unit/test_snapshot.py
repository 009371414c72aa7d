"""Region snapshots: composited later, on another thread, they show the canvas as it was taken."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from sfumato.document.brush import BrushSettings, Tool
from sfumato.document.document import Document, new_document
from sfumato.document.geometry import Rect
from sfumato.document.layers import BlendMode, LayerKind
from sfumato.document.snapshot import RegionSnapshot
from sfumato.document.stroke import Stroke


def _document(side: int = 256) -> Document:
    rng = np.random.default_rng(0)
    doc = new_document(side, side)
    for i in range(3):
        layer = doc.add_layer()
        with doc.edit_pixels(layer, None, "Fill"):
            layer.pixels[i * 20 : side - i * 20, 10:] = rng.integers(0, 256, (side - i * 40, side - 10, 4))
        doc.set_layer_props(layer, blend=[BlendMode.NORMAL, BlendMode.MULTIPLY, BlendMode.SCREEN][i],
                            opacity=0.8)
    with doc.edit_pixels(doc.layers[1], None, "Corner"):
        doc.layers[1].pixels[:, :] = 0
        doc.layers[1].pixels[200:, 200:] = 255  # reaches only the corner
    doc.add_layer(LayerKind.MASK)
    return doc


def _stroke(doc: Document, index: int, points: list[tuple[float, float]], tool: Tool = Tool.BRUSH) -> None:
    stroke = Stroke(doc, doc.layers[index], tool, BrushSettings(size=30, color=(250, 10, 10)))
    for x, y in points:
        stroke.add_point(x, y)
    stroke.finish()


def test_a_snapshot_shows_the_region_as_it_was_whatever_happens_after() -> None:
    doc = _document()
    rect = Rect(20, 30, 150, 120)
    before = doc.composite(rect)
    snapshot = RegionSnapshot(doc.layers, rect)
    assert snapshot.layer_count == 3  # the corner-only layer and the mask do not draw here
    _stroke(doc, 2, [(10, 40), (160, 140)])
    _stroke(doc, 0, [(100, 10), (100, 200)], Tool.ERASER)
    doc.undo()
    doc.redo()
    with doc.edit_pixels(doc.layers[3], Rect(0, 0, 90, 90), "Clear"):
        doc.layers[3].pixels[0:90, 0:90] = 0
    doc.set_layer_props(doc.layers[2], opacity=0.2, blend=BlendMode.DARKEN)
    doc.delete_layer(doc.layers[3])
    doc.resize_canvas(200, 200, (-10, -10))
    assert not np.array_equal(doc.composite(Rect(10, 20, 150, 120)), before)
    np.testing.assert_array_equal(snapshot.composite(), before)
    np.testing.assert_array_equal(snapshot.composite(), before)  # asked twice, the same picture


def test_once_composited_or_released_a_snapshot_stops_watching() -> None:
    doc = _document()
    done = RegionSnapshot(doc.layers, doc.rect)
    dropped = RegionSnapshot(doc.layers, doc.rect)
    assert all(len(layer._watchers) == 2 for layer in doc.layers if not layer.is_mask)
    done.composite()
    dropped.release()
    assert not any(layer._watchers for layer in doc.layers)
    with pytest.raises(RuntimeError):
        dropped.composite()


def test_painting_while_another_thread_composites_never_shows_in_the_snapshot() -> None:
    doc = _document(640)
    rect = Rect(0, 0, 640, 640)
    before = doc.composite(rect)
    for _ in range(3):
        snapshot = RegionSnapshot(doc.layers, rect)
        result: list[np.ndarray] = []
        worker = threading.Thread(target=lambda s=snapshot, out=result: out.append(s.composite()))
        worker.start()
        for i in range(12):  # strokes and undos on every layer while the bands are composited
            _stroke(doc, i % 4, [(30 + 40 * i, 20), (600 - 40 * i, 620)])
            if i % 3 == 2:
                doc.undo()
        worker.join()
        np.testing.assert_array_equal(result[0], before)
        before = doc.composite(rect)


def test_an_undo_right_after_the_snapshot_does_not_reach_it() -> None:
    doc = _document()
    _stroke(doc, 2, [(40, 40), (120, 90)])
    before = doc.composite()
    snapshot = RegionSnapshot(doc.layers, doc.rect)
    doc.undo()  # the first change: undo writes the stroke's tiles back
    assert not np.array_equal(doc.composite(), before)
    np.testing.assert_array_equal(snapshot.composite(), before)
