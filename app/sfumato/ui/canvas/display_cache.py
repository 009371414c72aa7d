"""The canvas's display cache: the document composited for the screen, with mip levels.

Level 0 is the full-size premultiplied composite (mask layers tinted), stored in the byte order
Qt paints fastest (:data:`~sfumato.qt_bridge.images.NATIVE_ORDER`); level *k* is the composite
halved *k* times (2×2 averages of premultiplied pixels), so a zoomed-out view scales
from a nearby size instead of sampling a huge image.

A large document first gets a quick preview: its layers sampled every *n*-th pixel, composited
small and enlarged into every level, so the picture appears at once, blocky, while the tiles are
composited properly.

Small dirty rectangles (a brush dab, an undo of a stroke) are recomposited at once on the GUI
thread. Large ones (a layer hidden, a document opened) are split into tiles that the ``display``
lane recomposites, tiles in view first; until a tile is redone the old pixels stay on screen.
Every tile carries a generation number, bumped by each change, so a result computed from
pixels that changed meanwhile is thrown away instead of being shown.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Iterator

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from sfumato.document.compositing import composite_rgba
from sfumato.document.document import Document
from sfumato.document.geometry import Rect
from sfumato.qt_bridge.images import copy_rgba_to_native, wrap_native
from sfumato.qt_bridge.work import BackgroundWork

log = logging.getLogger(__name__)

TILE = 256
PREVIEW_ABOVE = 2048 * 2048  # documents with more pixels than this get a quick preview first
PREVIEW_SIDE = 512  # the preview's longer side is about this long
SYNC_PIXELS = 256 * 256  # dirty areas up to this size are recomposited on the GUI thread
MIN_LEVEL_SIDE = 256  # stop halving once the longer side is this small

TileKey = tuple[int, int]


def _half_size(width: int, height: int) -> tuple[int, int]:
    return (width + 1) // 2, (height + 1) // 2


def downsample_into(src: np.ndarray, dst: np.ndarray, rect: Rect) -> Rect:
    """Refresh ``dst`` (``src`` halved) where ``rect`` of ``src`` changed; returns the ``dst`` rect.

    Each destination pixel is the rounded mean of its 2×2 source block; at an odd edge the
    last row or column is repeated.
    """
    x0, y0 = rect.x // 2, rect.y // 2
    x1 = min(dst.shape[1], math.ceil(rect.right / 2))
    y1 = min(dst.shape[0], math.ceil(rect.bottom / 2))
    block = src[2 * y0 : 2 * y1, 2 * x0 : 2 * x1]
    pad_y, pad_x = 2 * (y1 - y0) - block.shape[0], 2 * (x1 - x0) - block.shape[1]
    if pad_y or pad_x:
        block = np.pad(block, ((0, pad_y), (0, pad_x), (0, 0)), mode="edge")
    acc = block[0::2, 0::2].astype(np.uint16)
    acc += block[1::2, 0::2]
    acc += block[0::2, 1::2]
    acc += block[1::2, 1::2]
    acc += 2
    dst[y0:y1, x0:x1] = (acc >> 2).astype(np.uint8)
    return Rect(x0, y0, x1 - x0, y1 - y0)


class DisplayCache(QObject):
    """A document's screen composite at several sizes, kept current by the document's events.

    ``changed(rect)`` tells views which document rectangle now shows different pixels.
    """

    changed = Signal(object)

    def __init__(self, doc: Document, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.levels: list[np.ndarray] = []
        width, height = doc.width, doc.height
        while True:
            self.levels.append(np.zeros((height, width, 4), np.uint8))
            if max(width, height) <= MIN_LEVEL_SIDE:
                break
            width, height = _half_size(width, height)
        self.images: list[QImage] = [wrap_native(level) for level in self.levels]
        self._lock = threading.Condition()
        self._gen: dict[TileKey, int] = {}
        self._dirty: set[TileKey] = set()
        self._queue: set[TileKey] = set()
        self._focus = doc.rect
        self._closed = False
        self._work = BackgroundWork(self)
        self._draining = False  # the lane is working through the queue
        doc.events.pixels_changed.connect(self.on_pixels_changed)
        if doc.width * doc.height > PREVIEW_ABOVE:
            self._preview()
        self.invalidate(doc.rect)

    # ----------------------------------------------------------------- queries
    def level_for_zoom(self, zoom: float) -> int:
        """The smallest level that is still at least as large as the view at ``zoom``."""
        if zoom >= 1.0:
            return 0
        return min(len(self.levels) - 1, math.floor(math.log2(1.0 / zoom) + 1e-9))

    @property
    def pending(self) -> bool:
        """True while some tiles still show outdated pixels."""
        with self._lock:
            return bool(self._dirty)

    # ----------------------------------------------------------------- updates
    def set_focus(self, rect: Rect) -> None:
        """Recomposite tiles inside ``rect`` (the part of the document in view) first."""
        with self._lock:
            self._focus = rect

    def on_pixels_changed(self, rect: Rect) -> None:
        """The document's pixels changed in ``rect``: refresh the cache there."""
        rect = rect.clamp(self.doc.width, self.doc.height)
        if rect.empty:
            return
        if rect.w * rect.h <= SYNC_PIXELS:
            with self._lock:
                for key in self._tiles(rect):
                    self._gen[key] = self._gen.get(key, 0) + 1
            self._write(rect, self.doc.composite(rect, show_masks=True, premultiplied=True))
        else:
            self.invalidate(rect)

    def invalidate(self, rect: Rect) -> None:
        """Queue every tile under ``rect`` for recompositing in the background."""
        with self._lock:
            for key in self._tiles(rect):
                self._gen[key] = self._gen.get(key, 0) + 1
                self._dirty.add(key)
                self._queue.add(key)
            wake = self._wake()
        if wake:
            self._work.run("display", self._composite_queued)

    def flush(self) -> None:
        """Recomposite every outdated tile now, on the calling (GUI) thread."""
        with self._lock:
            keys = sorted(self._dirty)
            for key in keys:
                self._gen[key] = self._gen.get(key, 0) + 1
            self._dirty.clear()
            self._queue.clear()
        for key in keys:
            rect = self._tile_rect(key)
            self._write(rect, self.doc.composite(rect, show_masks=True, premultiplied=True))

    def close(self) -> None:
        """Stop the background work and stop following the document (again: no effect)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.doc.events.pixels_changed.disconnect(self.on_pixels_changed)
        self._work.shutdown(timeout=5)  # the tile being composited, if any

    # --------------------------------------------------------------- internals
    def _tiles(self, rect: Rect) -> Iterator[TileKey]:
        rect = rect.clamp(self.doc.width, self.doc.height)
        if rect.empty:
            return
        for ty in range(rect.y // TILE, (rect.bottom - 1) // TILE + 1):
            for tx in range(rect.x // TILE, (rect.right - 1) // TILE + 1):
                yield ty, tx

    def _tile_rect(self, key: TileKey) -> Rect:
        ty, tx = key
        return Rect(tx * TILE, ty * TILE, TILE, TILE).clamp(self.doc.width, self.doc.height)

    def _write(self, rect: Rect, pixels: np.ndarray) -> None:
        copy_rgba_to_native(pixels, self.levels[0][rect.slices])
        changed = rect
        for k in range(1, len(self.levels)):
            changed = downsample_into(self.levels[k - 1], self.levels[k], changed)
        self.changed.emit(rect)

    def _preview(self) -> None:
        """Fill the small levels with a composite of every n-th pixel of each layer.

        Only levels at most four times the preview's size are filled (cheap); the larger ones
        serve zoomed-in views, where few tiles are in view and those are composited first.
        """
        doc = self.doc
        step = 2 ** math.ceil(math.log2(max(doc.width, doc.height) / PREVIEW_SIDE))
        sampled = [dataclasses.replace(layer, pixels=layer.pixels[::step, ::step]) for layer in doc.layers]
        small = Rect(0, 0, -(-doc.width // step), -(-doc.height // step))
        preview = composite_rgba(sampled, small, show_masks=True, premultiplied=True, eotf=doc.blend_eotf)
        for k, level in enumerate(self.levels):
            if 2**k >= step:
                preview_here = preview[:: 2**k // step, :: 2**k // step]
            elif 4 * 2**k >= step:  # up to 4× the preview's size: enlarge it
                n = step // 2**k
                preview_here = np.repeat(np.repeat(preview, n, axis=0), n, axis=1)
            else:
                continue
            copy_rgba_to_native(preview_here[: level.shape[0], : level.shape[1]], level)

    def _next_key(self) -> TileKey:
        """The queued tile to do next: in view first, then nearest the view's centre."""
        focus = self._focus
        cx, cy = focus.x + focus.w / 2, focus.y + focus.h / 2

        def priority(key: TileKey) -> tuple[bool, float]:
            r = self._tile_rect(key)
            outside = r.intersect(focus).empty
            return outside, (r.x + r.w / 2 - cx) ** 2 + (r.y + r.h / 2 - cy) ** 2

        key = min(self._queue, key=priority)
        self._queue.discard(key)
        return key

    def _wake(self) -> bool:
        """Whether the lane must be asked to work through the queue (with the lock held)."""
        if self._draining or self._closed or not self._queue:
            return False
        self._draining = True
        return True

    def _composite_queued(self) -> None:
        """On the ``display`` lane: composite queued tiles, in view first, until none is left."""
        while True:
            with self._lock:
                if self._closed or not self._queue:
                    self._draining = False
                    return
                key = self._next_key()
                gen = self._gen[key]
            rect = self._tile_rect(key)
            try:
                pixels = self.doc.composite(rect, show_masks=True, premultiplied=True)
            except Exception:
                with self._lock:
                    if self._gen.get(key) != gen:  # the stack changed under us: try again
                        self._queue.add(key)
                        continue
                    self._dirty.discard(key)
                log.exception("background composite of tile %s failed", key)
                continue
            self._work.call(self._accept_tile, key, gen, pixels)

    def _accept_tile(self, key: TileKey, gen: int, pixels: np.ndarray) -> None:
        with self._lock:
            if self._closed:
                return
            stale = self._gen.get(key) != gen
            wake = False
            if not stale:
                self._dirty.discard(key)
            elif key in self._dirty:  # composited from pixels that changed meanwhile: again
                self._queue.add(key)
                wake = self._wake()
        if wake:
            self._work.run("display", self._composite_queued)
        if not stale:
            self._write(self._tile_rect(key), pixels)
