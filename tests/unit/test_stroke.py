"""Stroke rasterisation: dab layout, brush profile, opacity, pressure, tools, selection, undo."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sfumato.document.brush import BrushSettings, Tool, make_dab
from sfumato.document.document import Document, LayerLockedError, new_document
from sfumato.document.geometry import Rect
from sfumato.document.layers import Layer, LayerKind
from sfumato.document.stroke import Stroke

HARD = BrushSettings(size=9, hardness=1.0, color=(255, 0, 0), pressure_size=False)


def _doc() -> tuple[Document, Layer]:
    doc = new_document(200, 120, background=None)
    return doc, doc.active_layer  # type: ignore[return-value]


def _paint(doc: Document, layer: Layer, points: list[tuple[float, ...]], settings: BrushSettings = HARD,
           tool: Tool = Tool.BRUSH) -> Rect:
    stroke = Stroke(doc, layer, tool, settings)
    dirty = Rect(0, 0, 0, 0)
    for point in points:
        dirty = dirty.union(stroke.add_point(*point))
    stroke.finish()
    return dirty


def _line(x0: float, y0: float, x1: float, y1: float, n: int) -> list[tuple[float, float]]:
    return [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(n + 1)]


@pytest.mark.parametrize("events", [1, 3, 40, 400])
@pytest.mark.parametrize("end", [(190.0, 60.0), (180.0, 110.0), (20.0, 115.0)])
def test_a_drag_leaves_no_gap_at_any_speed(events: int, end: tuple[float, float]) -> None:
    doc, layer = _doc()
    _paint(doc, layer, _line(10.0, 10.0, *end, events))
    length = math.hypot(end[0] - 10.0, end[1] - 10.0)
    for i in range(int(length) + 1):
        t = i / length
        x, y = 10.0 + (end[0] - 10.0) * t, 10.0 + (end[1] - 10.0) * t
        assert layer.pixels[int(y), int(x), 3] == 255, (x, y)


def test_splitting_the_events_does_not_change_the_line() -> None:
    doc_a, a = _doc()
    doc_b, b = _doc()
    _paint(doc_a, a, _line(15.3, 40.1, 170.7, 80.9, 1))
    _paint(doc_b, b, _line(15.3, 40.1, 170.7, 80.9, 37))
    diff = np.abs(a.pixels.astype(int) - b.pixels.astype(int))
    assert diff.max() <= 2


def test_hard_and_soft_profiles() -> None:
    doc, layer = _doc()
    hard = BrushSettings(size=40, hardness=1.0, pressure_size=False)
    soft = BrushSettings(size=40, hardness=0.0, pressure_size=False)
    _paint(doc, layer, [(50.5, 60.5)], hard)
    _paint(doc, layer, [(150.5, 60.5)], soft)
    alpha = layer.pixels[..., 3].astype(int)
    hard_row, soft_row = alpha[60, 50:80], alpha[60, 150:180]
    assert np.all(np.diff(hard_row) <= 0) and np.all(np.diff(soft_row) <= 0)  # falls off outward
    assert hard_row[0] == soft_row[0] == 255
    assert hard_row[19] == 255 and 0 < hard_row[20] < 255 and hard_row[21] == 0  # 1 px antialiased rim
    assert 80 < soft_row[10] < 200  # halfway out a soft brush is about half covered
    assert soft_row[21] == 0
    assert np.count_nonzero((alpha[:, 100:] > 0) & (alpha[:, 100:] < 255)) > 10 * np.count_nonzero(
        (alpha[:, :100] > 0) & (alpha[:, :100] < 255)
    )
    area = np.count_nonzero(alpha[:, :100]) + 0.0
    assert abs(area - math.pi * 20**2) < 0.05 * area


def test_sub_pixel_positions_shift_the_dab() -> None:
    centroids = []
    for x in (30.0, 30.25, 30.5, 30.75):
        dab = make_dab(x, 20.0, 6.0, 0.5)
        cols = np.arange(dab.x, dab.right, dtype=np.float64)
        weight = dab.values.sum(axis=0)
        centroids.append(float((cols + 0.5) @ weight / weight.sum()))
    assert np.allclose(np.diff(centroids), 0.25, atol=0.02)
    assert centroids[0] == pytest.approx(30.0, abs=0.02)


def test_kernels_are_cached_per_quantised_size_and_hardness() -> None:
    first = make_dab(10.5, 10.5, 20.01, 0.8)
    assert make_dab(130.5, 40.5, 20.02, 0.801).values is first.values
    assert make_dab(10.5, 10.5, 21.0, 0.8).values is not first.values
    assert make_dab(10.75, 10.5, 20.01, 0.8).values is not first.values  # another sub-pixel phase


def test_opacity_does_not_build_up_within_a_stroke_but_does_across_strokes() -> None:
    doc, layer = _doc()
    half = BrushSettings(size=15, hardness=1.0, opacity=0.5, color=(10, 20, 30), pressure_size=False)
    back_and_forth = [(20.0, 30.0), (180.0, 30.0), (20.0, 32.0), (180.0, 28.0), (100.0, 30.0)]
    _paint(doc, layer, back_and_forth, half)
    assert layer.pixels[30, 100].tolist() == [10, 20, 30, 128]
    assert layer.pixels[..., 3].max() == 128
    _paint(doc, layer, [(100.0, 30.0)], half)
    assert layer.pixels[30, 100, 3] == 192  # 0.5 + (128 / 255) · 0.5 = 0.751


def test_source_over_in_straight_alpha() -> None:
    doc, layer = _doc()
    layer.pixels[:, 100:] = (0, 0, 255, 255)
    layer.pixels[90:, 100:] = (0, 0, 255, 128)
    red = BrushSettings(size=11, hardness=1.0, opacity=0.5, color=(255, 0, 0), pressure_size=False)
    _paint(doc, layer, [(50.5, 50.5), (150.5, 50.5), (150.5, 100.5)], red)
    assert layer.pixels[50, 50].tolist() == [255, 0, 0, 128]  # over transparent: pure brush colour
    assert layer.pixels[50, 150].tolist() == [128, 0, 128, 255]  # half red over blue
    # over half-transparent blue: αo = 0.5 + 0.502 · 0.5 = 0.751, R = 0.5 / αo, B = 0.251 / αo
    assert layer.pixels[100, 150].tolist() == [170, 0, 85, 192]


def test_pressure_scales_size_and_opacity() -> None:
    doc, layer = _doc()
    sized = BrushSettings(size=30, hardness=1.0)
    _paint(doc, layer, [(20.0, 30.0, 0.2), (180.0, 30.0, 1.0)], sized)
    thick = np.count_nonzero(layer.pixels[:, 170, 3])
    thin = np.count_nonzero(layer.pixels[:, 30, 3])
    middle = np.count_nonzero(layer.pixels[:, 100, 3])
    assert thin < middle < thick
    assert abs(thick - 0.95 * 30) <= 2 and abs(thin - 0.25 * 30) <= 2  # pressure interpolated along x
    faint = BrushSettings(size=10, hardness=1.0, pressure_size=False, pressure_opacity=True)
    _paint(doc, layer, [(20.0, 90.0, 0.5), (180.0, 90.0, 0.5)], faint)
    assert layer.pixels[90, 100, 3] == 128


def test_a_brush_thinner_than_a_pixel_paints_a_faint_line() -> None:
    doc, layer = _doc()
    _paint(doc, layer, [(10.0, 50.5, 0.4), (190.0, 50.5, 0.4)], BrushSettings(size=1, hardness=1.0))
    row = layer.pixels[50, 20:180, 3]
    assert np.all(row > 0) and row.max() < 80
    assert layer.pixels[45, 100, 3] == 0


def test_eraser_lowers_alpha_and_keeps_colour() -> None:
    doc, layer = _doc()
    layer.pixels[...] = (40, 50, 60, 200)
    _paint(doc, layer, [(20.0, 30.0), (180.0, 30.0)], HARD, Tool.ERASER)
    assert layer.pixels[30, 100].tolist() == [40, 50, 60, 0]
    assert layer.pixels[60, 100].tolist() == [40, 50, 60, 200]
    half = BrushSettings(size=9, hardness=1.0, opacity=0.5, pressure_size=False)
    _paint(doc, layer, [(20.0, 60.0), (180.0, 60.0), (20.0, 60.0)], half, Tool.ERASER)
    assert layer.pixels[60, 100].tolist() == [40, 50, 60, 100]


@pytest.mark.parametrize("tool", [Tool.BRUSH, Tool.MASK_BRUSH])
def test_mask_layers_are_painted_to_255_and_erased_to_0(tool: Tool) -> None:
    doc, _ = _doc()
    mask = doc.add_layer(LayerKind.MASK)
    _paint(doc, mask, [(20.0, 30.0), (180.0, 30.0)], HARD, tool)
    assert mask.pixels[30, 100] == 255 and mask.pixels[60, 100] == 0
    _paint(doc, mask, [(100.0, 10.0), (100.0, 110.0)], HARD, Tool.ERASER)
    assert mask.pixels[30, 100] == 0 and mask.pixels[30, 80] == 255
    soft = BrushSettings(size=9, hardness=1.0, opacity=0.25, pressure_size=False)
    _paint(doc, mask, [(20.0, 90.0), (180.0, 90.0)], soft, tool)
    assert mask.pixels[90, 100] == 64


def test_mask_brush_on_a_raster_layer_is_refused() -> None:
    doc, layer = _doc()
    with pytest.raises(ValueError):
        Stroke(doc, layer, Tool.MASK_BRUSH, HARD)


def test_locked_layer_is_refused() -> None:
    doc, layer = _doc()
    doc.set_layer_props(layer, locked=True)
    with pytest.raises(LayerLockedError):
        Stroke(doc, layer, Tool.BRUSH, HARD)
    assert not layer.pixels.any()


def test_selection_limits_painting() -> None:
    doc, layer = _doc()
    doc.change_selection(lambda s: s.select_rect(50, 0, 100, 120), "Select")
    _paint(doc, layer, [(10.0, 30.0), (190.0, 30.0)], HARD)
    alpha = layer.pixels[..., 3]
    assert np.all(alpha[30, 50:100] == 255)
    assert not alpha[:, :50].any() and not alpha[:, 100:].any()
    soft = np.zeros((120, 200), np.uint8)
    soft[:, 120:] = 102  # 40 % selected
    doc.change_selection(lambda s: s.set_mask(soft), "Soft select")
    _paint(doc, layer, [(10.0, 90.0), (190.0, 90.0)], HARD)
    assert layer.pixels[90, 150, 3] == 102 and layer.pixels[90, 100, 3] == 0


def test_dirty_rects_are_clamped_notified_and_empty_outside() -> None:
    doc, layer = _doc()
    seen: list[Rect] = []
    doc.events.pixels_changed.connect(seen.append)
    stroke = Stroke(doc, layer, Tool.BRUSH, HARD)
    first = stroke.add_point(1.0, 1.0)
    assert first.x == 0 and first.y == 0 and not first.empty
    assert stroke.add_point(1.0, 1.0).empty  # no movement, no new dab
    moved = stroke.add_point(30.0, 1.0)
    assert layer.pixels[moved.slices][..., 3].any() and not layer.pixels[:, moved.right :].any()
    assert seen == [first, moved]
    stroke.finish()
    with pytest.raises(RuntimeError):
        stroke.add_point(40.0, 1.0)
    before = len(doc.history)
    outside = Stroke(doc, layer, Tool.BRUSH, HARD)
    assert outside.add_point(-50.0, -50.0).empty and outside.add_point(-50.0, 300.0).empty
    outside.finish()
    assert len(doc.history) == before


def test_one_undo_step_per_stroke_and_bit_exact_undo() -> None:
    rng = np.random.default_rng(7)
    doc, layer = _doc()
    layer.pixels[...] = rng.integers(0, 256, layer.pixels.shape, dtype=np.uint8)
    mask = doc.add_layer(LayerKind.MASK)
    mask.pixels[...] = rng.integers(0, 256, mask.pixels.shape, dtype=np.uint8)
    snapshots = [(layer.pixels.copy(), mask.pixels.copy())]
    steps = len(doc.history)
    for i in range(12):
        target = mask if i % 3 == 2 else layer
        tool = [Tool.BRUSH, Tool.ERASER][i % 2]
        settings = BrushSettings(size=float(rng.uniform(1, 40)), hardness=float(rng.uniform()),
                                 opacity=float(rng.uniform(0.1, 1)),
                                 color=tuple(int(c) for c in rng.integers(0, 256, 3)))  # type: ignore[arg-type]
        points = [(*rng.uniform(-20, 220, 2), rng.uniform()) for _ in range(6)]
        _paint(doc, target, points, settings, tool)
        snapshots.append((layer.pixels.copy(), mask.pixels.copy()))
    assert len(doc.history) == steps + 12
    for before in reversed(snapshots[:-1]):
        doc.undo()
        assert np.array_equal(layer.pixels, before[0]) and np.array_equal(mask.pixels, before[1])
    for after in snapshots[1:]:
        doc.redo()
        assert np.array_equal(layer.pixels, after[0]) and np.array_equal(mask.pixels, after[1])


def test_a_small_stroke_on_a_big_layer_stores_a_few_tiles() -> None:
    doc = new_document(4096, 4096)
    _paint(doc, doc.active_layer, [(1000.0, 1000.0), (1040.0, 1010.0)],  # type: ignore[arg-type]
           BrushSettings(size=20))
    assert doc.history.undo_label == "Brush stroke"
    assert doc.history.nbytes <= 2 * 4 * 64 * 64 * 4  # at most four 64×64 RGBA tiles, before + after


@pytest.mark.parametrize(
    "bad",
    [{"size": 0.5}, {"size": 1001}, {"hardness": 1.5}, {"opacity": -0.1}, {"spacing": 0.0},
     {"color": (0, 0, 256)}],
)
def test_settings_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BrushSettings(**bad)  # type: ignore[arg-type]


def test_a_drag_far_beyond_the_document_paints_only_what_it_crosses() -> None:
    doc, layer = _doc()
    dirty = _paint(doc, layer, [(-1e7, 50.5), (1e7, 50.5), (1e7, -1e7), (150.5, -1e7), (150.5, 1e7)])
    assert np.all(layer.pixels[50, :, 3] == 255) and np.all(layer.pixels[:, 150, 3] == 255)
    assert dirty == doc.rect
    assert np.count_nonzero(layer.pixels[..., 3]) < 9 * (200 + 120) + 20
