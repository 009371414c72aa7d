"""A rectangle of the document as it was, to composite later on another thread while painting goes on.

Taking a :class:`RegionSnapshot` copies nothing: it keeps the visible raster layers that reach
into the rectangle, with their properties as they are, and asks each to say before its pixels
change (:meth:`~sfumato.document.layers.Layer.will_change`, called by every in-place write:
strokes, :meth:`~sfumato.document.document.Document.edit_pixels`, undo and redo). While the
snapshot waits, each 64×64 tile of the rectangle a change is about to write is saved first, once,
on the writing thread (as undo saves the tiles a stroke touches); :meth:`RegionSnapshot.composite`
puts the saved tiles back into what it reads. So pressing Generate costs next to nothing on the
GUI thread, and the picture an inference job gets is the one that was on the canvas when it was
asked for, however long the job waits in the queue.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from sfumato.document.compositing import composite_placed
from sfumato.document.geometry import Rect
from sfumato.document.history import TILE
from sfumato.document.layers import Layer, LayerKind

BAND_PIXELS = 1 << 16
"""Pixels composited per band; the lock is held for one band at a time."""

_LOCK = threading.Lock()
"""Held while a band is composited and while a layer's part is copied before a change."""


@dataclass(eq=False)
class _Part:
    """One layer of a snapshot: the live layer, a stand-in with the pixels and properties it had
    when the snapshot was taken, and the tiles of the rectangle saved before they changed."""

    layer: Layer
    stand_in: Layer
    saved: dict[tuple[int, int], tuple[Rect, np.ndarray]] = field(default_factory=dict)

    def band(self, band: Rect) -> tuple[Layer, int, int]:
        """What :func:`composite_placed` reads for ``band``: the live pixels, or a copy of the
        band with the saved tiles put back."""
        saved = [(area, pixels) for area, pixels in self.saved.values() if not area.intersect(band).empty]
        if not saved:
            return self.stand_in, 0, 0
        pixels = self.stand_in.pixels[band.slices].copy()
        for area, tile in saved:
            overlap = area.intersect(band)
            pixels[overlap.translated(-band.x, -band.y).slices] = tile[
                overlap.translated(-area.x, -area.y).slices]
        stand_in = Layer(self.stand_in.name, LayerKind.RASTER, pixels,
                         opacity=self.stand_in.opacity, blend=self.stand_in.blend)
        return stand_in, band.x, band.y


class RegionSnapshot:
    """The visible composite of ``rect`` of ``doc`` as it is now, computed when asked for.

    :meth:`composite` may run on any thread, once or more (the first result is kept); until it
    has run, the tiles of ``rect`` a change is about to write are saved first (a brush segment
    saves a few 64×64 tiles). Call :meth:`release` to stop watching without compositing (a job
    cancelled before it ran).
    """

    def __init__(self, layers: list[Layer], rect: Rect, eotf: float = 1.0) -> None:
        self.rect = rect
        self.eotf = eotf
        self._parts: list[_Part] = []
        self._result: np.ndarray | None = None
        self._released = False
        for layer in layers:
            if layer.is_mask or not layer.visible or layer.opacity <= 0.0:
                continue
            bounds = layer.content_bounds()
            if bounds is None or bounds.intersect(rect).empty:
                continue
            stand_in = Layer(layer.name, LayerKind.RASTER, layer.pixels, opacity=layer.opacity,
                             blend=layer.blend)
            self._parts.append(_Part(layer, stand_in))
            layer.watch(self)

    @property
    def layer_count(self) -> int:
        """How many layers draw into the rectangle."""
        return len(self._parts)

    def preserve(self, layer: Layer, rect: Rect) -> None:
        """``layer`` is about to change within ``rect``: save the tiles of it this snapshot still
        needs (called on the writing thread, before the write)."""
        area = rect.intersect(self.rect)
        if area.empty:
            return
        with _LOCK:
            if self._released:
                return
            for part in self._parts:
                if part.layer is not layer:
                    continue
                for ty in range(area.y // TILE, (area.bottom - 1) // TILE + 1):
                    for tx in range(area.x // TILE, (area.right - 1) // TILE + 1):
                        if (ty, tx) not in part.saved:
                            tile = Rect(tx * TILE, ty * TILE, TILE, TILE).intersect(self.rect)
                            part.saved[ty, tx] = (tile, part.stand_in.pixels[tile.slices].copy())

    def composite(self) -> np.ndarray:
        """Straight uint8 RGBA ``[h, w, 4]`` of the rectangle as it was when the snapshot was taken."""
        if self._result is not None:
            return self._result
        if self._released:
            raise RuntimeError("the snapshot was released before it was composited")
        rect = self.rect
        out = np.empty((rect.h, rect.w, 4), np.uint8)
        band_rows = max(1, BAND_PIXELS // max(rect.w, 1))
        for top in range(0, rect.h, band_rows):
            band = Rect(rect.x, rect.y + top, rect.w, min(band_rows, rect.h - top))
            with _LOCK:
                placed = [part.band(band) for part in self._parts]
                out[top : top + band.h] = composite_placed(placed, band, eotf=self.eotf)
        self._result = out
        self.release()
        return out

    def release(self) -> None:
        """Stop watching the layers (nothing more will be composited from them)."""
        with _LOCK:
            if self._released:
                return
            self._released = True
            parts, self._parts = self._parts, []
        for part in parts:
            part.layer.unwatch(self)
