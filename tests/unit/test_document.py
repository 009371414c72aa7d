"""Document: layer stack operations, undo/redo exactness, the history budget, delete_selected."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from sfumato.document.brush import BrushSettings, Tool
from sfumato.document.document import Document, LayerLockedError, new_document
from sfumato.document.geometry import Rect, nonzero_bounds
from sfumato.document.layers import BlendMode, Layer, LayerKind
from sfumato.document.stack_commands import SetLayerProps
from sfumato.document.stroke import Stroke

State = list[tuple[int, LayerKind, dict[str, object], np.ndarray]]


def _state(doc: Document) -> State:
    return [(lyr.uid, lyr.kind, lyr.props(), lyr.pixels.copy()) for lyr in doc.layers]


def _assert_state(doc: Document, expected: State) -> None:
    current = _state(doc)
    assert [s[:3] for s in current] == [s[:3] for s in expected]
    for now, then in zip(current, expected, strict=True):
        assert np.array_equal(now[3], then[3]), f"pixels of layer {now[0]} differ"


def _changed(doc: Document, expected: State) -> bool:
    try:
        _assert_state(doc, expected)
    except AssertionError:
        return True
    return False


def _random_operations(doc: Document, rng: np.random.Generator) -> list[Callable[[], object]]:
    def pick() -> Layer:
        return doc.layers[int(rng.integers(len(doc.layers)))]

    def paint() -> None:
        layer = pick()
        if not layer.locked:
            stroke = Stroke(doc, layer, Tool.BRUSH, BrushSettings(size=float(rng.uniform(1, 30))))
            for x, y in rng.uniform(-10, 130, (4, 2)):
                stroke.add_point(float(x), float(y))
            stroke.finish()

    def fill() -> None:
        layer = pick()
        if not layer.locked:
            x, y = rng.integers(0, 100, 2)
            rect = Rect(int(x), int(y), 25, 17)
            with doc.edit_pixels(layer, rect, "Fill"):
                layer.pixels[rect.clamp(doc.width, doc.height).slices] = rng.integers(0, 256)

    def delete_selected() -> None:
        if doc.active_layer is not None and not doc.active_layer.locked:
            doc.delete_selected()

    image = rng.integers(0, 256, (40, 60, 4), dtype=np.uint8)
    return [
        lambda: doc.add_layer(LayerKind.RASTER, index=int(rng.integers(len(doc.layers) + 1))),
        lambda: doc.add_layer(LayerKind.MASK),
        lambda: doc.add_image_layer(image, "image", (int(rng.integers(-30, 110)), 70)),
        lambda: len(doc.layers) > 1 and doc.delete_layer(pick()),
        lambda: doc.duplicate_layer(pick()),
        lambda: doc.move_layer(pick(), int(rng.integers(len(doc.layers)))),
        lambda: doc.set_layer_props(pick(), name=f"renamed {rng.integers(100)}"),
        lambda: doc.set_layer_props(pick(), visible=bool(rng.integers(2))),
        lambda: doc.set_layer_props(pick(), opacity=float(rng.uniform())),
        lambda: doc.set_layer_props(pick(), locked=bool(rng.integers(2))),
        lambda: doc.set_layer_props(pick(), blend=BlendMode(rng.choice(list(BlendMode)))),
        lambda: doc.set_layer_props(pick(), tint=(1, 2, int(rng.integers(256)))),
        lambda: doc.set_active(pick()),
        lambda: doc.change_selection(lambda s: s.select_rect(*rng.uniform(0, 120, 4)), "Select"),
        paint,
        fill,
        delete_selected,
    ]


@pytest.mark.parametrize("seed", range(6))
def test_random_sequences_undo_and_redo_exactly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    doc = new_document(120, 100)
    doc.layers[0].pixels[...] = rng.integers(0, 256, doc.layers[0].pixels.shape, dtype=np.uint8)
    operations = _random_operations(doc, rng)
    states = [_state(doc)]
    for _ in range(60):
        steps = len(doc.history)
        before = _state(doc)
        operations[int(rng.integers(len(operations)))]()
        added = len(doc.history) - steps
        assert added in (0, 1)
        if added:
            states.append(_state(doc))
        elif _changed(doc, before):  # only a property change merged into the step before may do this
            assert isinstance(doc.history._undo[-1], SetLayerProps)
            states[-1] = _state(doc)
    assert len(states) > 30
    for state in reversed(states[:-1]):
        doc.undo()
        _assert_state(doc, state)
    assert not doc.history.can_undo and doc.undo() is None
    for state in states[1:]:
        doc.redo()
        _assert_state(doc, state)
    assert doc.redo() is None


def test_layer_operations_and_their_labels() -> None:
    doc = new_document(20, 10)
    background = doc.layers[0]
    top = doc.add_layer(name="Top")
    mask = doc.add_layer(LayerKind.MASK)
    assert [lyr.name for lyr in doc.layers] == ["Background", "Top", "Mask 1"]
    assert mask.is_mask and mask.pixels.shape == (10, 20) and doc.active_layer is mask
    copy = doc.duplicate_layer(background)
    assert doc.index_of(copy) == 1 and copy.uid != background.uid
    assert np.array_equal(copy.pixels, background.pixels) and copy.pixels is not background.pixels
    doc.move_layer(top, 0)
    assert doc.layers[0] is top and doc.history.undo_label == "Move Top"
    doc.move_layer(top, 0)  # already there: no step
    assert doc.history.undo_label == "Move Top"
    doc.set_layer_props(top, name="Renamed")
    assert doc.history.undo_label == "Rename layer"
    doc.delete_layer(mask)
    assert mask not in doc.layers and doc.active_layer is not None
    assert doc.undo() == "Delete Mask 1" and doc.layers[-1] is mask
    with pytest.raises(TypeError):
        doc.set_layer_props(top, colour=(1, 2, 3))
    with pytest.raises(ValueError):
        doc.add_layer(layer=Layer.raster("wrong size", 3, 3))
    image = doc.add_image_layer(np.full((5, 5, 4), 7, np.uint8), "Dropped", (17, 8))
    assert doc.history.undo_label == "Add image Dropped"
    assert np.count_nonzero(image.pixels[..., 3]) == 3 * 2 and image.pixels[9, 19, 0] == 7


def test_a_slider_drag_is_one_step() -> None:
    doc = new_document(20, 10)
    layer = doc.layers[0]
    for value in np.linspace(1.0, 0.2, 9)[1:]:
        doc.set_layer_props(layer, opacity=float(value))
    assert len(doc.history) == 1
    doc.undo()
    assert layer.opacity == 1.0


def test_edit_pixels_keeps_only_changed_tiles_and_refuses_locked_layers() -> None:
    doc = new_document(1024, 1024)
    layer = doc.layers[0]
    with doc.edit_pixels(layer, None, "Dot"):
        layer.pixels[500, 700] = (1, 2, 3, 4)
    assert doc.history.nbytes == 2 * 64 * 64 * 4  # one tile, before and after
    with doc.edit_pixels(layer, Rect(0, 0, 100, 100), "Nothing"):
        pass
    assert len(doc.history) == 1
    doc.set_layer_props(layer, locked=True)
    with pytest.raises(LayerLockedError), doc.edit_pixels(layer, None, "Refused"):
        pass


def _stroke(doc: Document, x: float, y: float) -> None:
    stroke = Stroke(doc, doc.layers[0], Tool.BRUSH, BrushSettings(size=30, color=(9, 9, 9)))
    stroke.add_point(x, y)
    stroke.add_point(x + 40, y + 10)
    stroke.finish()


def test_the_history_budget_drops_the_oldest_steps() -> None:
    doc = new_document(1024, 1024, history_budget=400_000)
    start = doc.layers[0].pixels.copy()
    snapshots = []
    for i in range(12):
        _stroke(doc, 40 + 80 * i, 40 + 80 * i)
        snapshots.append(doc.layers[0].pixels.copy())
        assert doc.history.nbytes <= 400_000
    kept = len(doc.history)
    assert 1 < kept < 12
    for i in range(kept):
        assert np.array_equal(doc.layers[0].pixels, snapshots[11 - i])
        doc.undo()
    assert not doc.history.can_undo
    assert np.array_equal(doc.layers[0].pixels, snapshots[11 - kept])  # older strokes stay painted
    assert not np.array_equal(doc.layers[0].pixels, start)
    doc.redo()
    _stroke(doc, 900, 100)  # a new step clears what could be redone, and its bytes
    assert len(doc.history) == 2 and not doc.history.can_redo
    assert doc.history.nbytes == sum(c.nbytes for c in doc.history._undo)
    doc.history.set_budget(0)
    assert len(doc.history) == 1  # the newest step always stays


def test_delete_selected_clears_only_the_selection() -> None:
    doc = new_document(60, 40)
    layer = doc.layers[0]
    layer.pixels[...] = (10, 20, 30, 200)
    doc.selection.select_rect(10, 10, 30, 20)
    doc.delete_selected()
    assert np.all(layer.pixels[10:20, 10:30] == (10, 20, 30, 0))  # colour kept, alpha cleared
    untouched = np.ones((40, 60), bool)
    untouched[10:20, 10:30] = False
    assert np.all(layer.pixels[untouched] == (10, 20, 30, 200))
    assert doc.history.undo_label == "Clear"
    doc.undo()
    assert np.all(layer.pixels == (10, 20, 30, 200))
    soft = np.zeros((40, 60), np.uint8)
    soft[:, :30] = 128
    doc.selection.set_mask(soft)
    doc.delete_selected()
    assert layer.pixels[5, 5, 3] == 100 and layer.pixels[5, 40, 3] == 200
    doc.selection.clear()
    doc.delete_selected()
    assert not layer.pixels[..., 3].any()


def test_delete_selected_on_a_mask_and_on_a_locked_layer() -> None:
    doc = new_document(60, 40)
    mask = doc.add_layer(LayerKind.MASK)
    mask.pixels[...] = 255
    doc.selection.select_ellipse(0, 0, 60, 40)
    doc.delete_selected()
    assert mask.pixels[20, 30] == 0 and mask.pixels[0, 0] == 255
    doc.set_layer_props(mask, locked=True)
    with pytest.raises(LayerLockedError):
        doc.delete_selected()
    empty = Document(10, 10)
    empty.delete_selected()  # no active layer: nothing to do
    assert not empty.history.can_undo


def test_new_layers_do_not_evict_older_steps() -> None:
    doc = new_document(2048, 2048, history_budget=32 * 2**20)  # one layer is 16 MiB
    _stroke(doc, 100, 100)
    for _ in range(6):
        doc.add_layer()
    assert len(doc.history) == 7 and doc.history.nbytes < 2**20
    for _ in range(7):
        doc.undo()
    assert len(doc.layers) == 1 and np.all(doc.layers[0].pixels == 255)


def test_renaming_or_locking_does_not_ask_for_a_repaint() -> None:
    doc = new_document(64, 64)
    layer = doc.layers[0]
    repaints: list[Rect] = []
    stack_changes: list[None] = []
    doc.events.pixels_changed.connect(repaints.append)
    doc.events.layers_changed.connect(lambda: stack_changes.append(None))
    doc.set_layer_props(layer, name="Paper", locked=True)
    doc.undo()
    assert repaints == [] and len(stack_changes) == 2 and doc.revision == 2
    doc.set_layer_props(layer, opacity=0.5)
    doc.set_layer_props(layer, visible=False)
    assert repaints == [doc.rect, doc.rect] and len(stack_changes) == 4


def test_a_merged_property_change_still_clears_the_redo_stack() -> None:
    doc = new_document(64, 64)
    layer = doc.layers[0]
    doc.set_layer_props(layer, opacity=0.5)
    _stroke(doc, 10, 10)
    doc.undo()
    doc.set_layer_props(layer, opacity=0.3)
    assert not doc.history.can_redo
    assert doc.undo() is not None and layer.opacity == 0.5
    assert doc.undo() is not None and layer.opacity == 1.0
    assert not doc.history.can_undo and np.all(layer.pixels == 255)  # the undone stroke stays gone


def test_stack_changes_repaint_only_where_the_layer_shows() -> None:
    doc = new_document(400, 300)
    background = doc.layers[0]
    repaints: list[Rect] = []
    doc.events.pixels_changed.connect(repaints.append)
    empty = doc.add_layer()
    doc.move_layer(empty, 0)
    doc.set_layer_props(empty, visible=False)
    assert repaints == []
    image = np.zeros((40, 50, 4), np.uint8)
    image[5:10, 3:8, 3] = 1
    dropped = doc.add_image_layer(image, "Dropped", (10, 20))
    doc.move_layer(dropped, 0)
    doc.set_layer_props(dropped, opacity=0.5, blend=BlendMode.SCREEN)
    doc.delete_layer(dropped)
    doc.undo()
    assert repaints == [Rect(13, 25, 5, 5)] * 5
    repaints.clear()
    doc.delete_layer(background)  # white everywhere
    assert repaints == [doc.rect]


def test_nonzero_bounds() -> None:
    values = np.zeros((30, 40), np.uint8)
    assert nonzero_bounds(values) is None
    values[29, 3] = values[4, 39] = 1
    assert nonzero_bounds(values) == Rect(3, 4, 37, 26)
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[..., :3] = 255  # colour under zero alpha does not show
    rgba[7, 8, 3] = 2
    assert nonzero_bounds(rgba[..., 3]) == Rect(8, 7, 1, 1)
