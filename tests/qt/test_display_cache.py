"""The display cache matches the document's composite, at every mip level, after any change."""

from __future__ import annotations

import numpy as np
from pytestqt.qtbot import QtBot

from sfumato.document.document import new_document
from sfumato.document.geometry import Rect
from sfumato.document.layers import LayerKind
from sfumato.qt_bridge.images import NATIVE_ORDER
from sfumato.ui.canvas.display_cache import TILE, DisplayCache, downsample_into


def _expected(doc: object) -> np.ndarray:
    """The document's display composite in the cache's byte order."""
    rgba = doc.composite(show_masks=True, premultiplied=True)  # type: ignore[attr-defined]
    return rgba[..., list(NATIVE_ORDER)]


def test_downsample_averages_2x2_blocks_and_repeats_odd_edges() -> None:
    src = np.arange(5 * 3 * 4, dtype=np.uint8).reshape(3, 5, 4)
    dst = np.zeros((2, 3, 4), np.uint8)
    changed = downsample_into(src, dst, Rect(0, 0, 5, 3))
    assert changed == Rect(0, 0, 3, 2)
    block = src[0:2, 0:2].astype(np.uint16)
    assert np.array_equal(dst[0, 0], (block.sum(axis=(0, 1)) + 2) // 4)
    corner = src[2, 4].astype(np.uint16)  # the odd corner pixel stands for all four
    assert np.array_equal(dst[1, 2], corner)


def test_background_recomposite_converges_to_the_document(qtbot: QtBot) -> None:
    doc = new_document(700, 600)
    paint = doc.add_layer()
    paint.pixels[100:500, 50:650] = (10, 200, 30, 128)
    doc.notify_pixels(paint, doc.rect)  # pixels written by hand are announced, as strokes do
    mask = doc.add_layer(LayerKind.MASK)
    mask.pixels[300:350, 300:690] = 255
    doc.notify_pixels(mask, doc.rect)
    cache = DisplayCache(doc)
    try:
        qtbot.waitUntil(lambda: not cache.pending, timeout=10_000)
        assert np.array_equal(cache.levels[0], _expected(doc))
        doc.set_layer_props(paint, visible=False)  # a whole-document change goes to the worker
        assert cache.pending
        qtbot.waitUntil(lambda: not cache.pending, timeout=10_000)
        assert np.array_equal(cache.levels[0], _expected(doc))
        check = np.zeros_like(cache.levels[1])
        downsample_into(cache.levels[0], check, doc.rect)
        assert np.array_equal(cache.levels[1], check)
    finally:
        cache.close()


def test_small_changes_are_composited_at_once(qtbot: QtBot) -> None:
    doc = new_document(300, 200)
    cache = DisplayCache(doc)
    try:
        cache.flush()
        layer = doc.layers[0]
        with doc.edit_pixels(layer, Rect(10, 20, 30, 40), "test"):
            layer.pixels[20:60, 10:40] = (255, 0, 0, 255)
        assert not cache.pending
        assert np.array_equal(cache.levels[0], _expected(doc))
    finally:
        cache.close()


def test_a_result_computed_before_a_newer_change_is_thrown_away(qtbot: QtBot) -> None:
    doc = new_document(2 * TILE, TILE)
    cache = DisplayCache(doc)
    try:
        cache.flush()
        key = (0, 0)
        stale_gen = cache._gen[key]
        stale = np.zeros((TILE, TILE, 4), np.uint8)
        layer = doc.layers[0]
        with doc.edit_pixels(layer, Rect(5, 5, 10, 10), "newer"):
            layer.pixels[5:15, 5:15] = (0, 0, 255, 255)
        cache._accept_tile(key, stale_gen, stale)  # arrives late, from before the edit
        assert np.array_equal(cache.levels[0], _expected(doc))
    finally:
        cache.close()


def test_a_large_document_shows_a_preview_before_its_tiles_are_done(qtbot: QtBot) -> None:
    doc = new_document(2100, 2100, background=(200, 100, 50, 255))
    cache = DisplayCache(doc)
    try:
        assert cache.pending
        expected = np.array([200, 100, 50, 255], np.uint8)[list(NATIVE_ORDER)]
        fit_level = cache.levels[cache.level_for_zoom(0.3)]
        assert np.all(fit_level == expected)
        qtbot.waitUntil(lambda: not cache.pending, timeout=20_000)
        assert np.array_equal(cache.levels[0], _expected(doc))
    finally:
        cache.close()


def test_closing_twice_is_harmless(qtbot: QtBot) -> None:
    doc = new_document(64, 64)
    cache = DisplayCache(doc)
    cache.close()
    cache.close()
    with doc.edit_pixels(doc.layers[0], None, "after close"):
        doc.layers[0].pixels[...] = (255, 0, 0, 255)
    assert not cache.levels[0].any()  # it no longer follows the document
