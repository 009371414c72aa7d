"""One brush, eraser or mask-brush stroke on one layer: dabs along the pointer path, one undo step.

The stroke keeps its *coverage*: per pixel, the largest dab value laid down so far (dab values
already include opacity, pressure and the selection). Each update recomputes the touched pixels
from their pre-stroke values (:meth:`PatchRecorder.original`) and that coverage, so overlapping
dabs never exceed the brush opacity and the result does not depend on how the pointer events were
split. Float work is confined to the bounding box of the new dabs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sfumato.document.brush import MIN_SIZE, BrushSettings, Dab, Tool, make_dab
from sfumato.document.document import LayerLockedError
from sfumato.document.geometry import Rect
from sfumato.document.history import TILE, PatchRecorder

if TYPE_CHECKING:
    from sfumato.document.document import Document
    from sfumato.document.layers import Layer

_MIN_STEP = 0.5  # document px: dabs closer than this add nothing visible
_MIN_BATCH_AREA = 128 * 128  # dabs are applied together while their bounding box stays small

_LABELS = {Tool.BRUSH: "Brush stroke", Tool.ERASER: "Eraser stroke", Tool.MASK_BRUSH: "Mask stroke"}


def _inside_span(x0: float, y0: float, x1: float, y1: float,
                 left: float, top: float, right: float, bottom: float) -> tuple[float, float]:
    """The part ``[t0, t1]`` of the segment (``t`` in ``0..1``) inside the box; empty if ``t0 > t1``.

    A drag at a low zoom can span far more document than it paints; dabs are only laid there.
    """
    t0, t1 = 0.0, 1.0
    for start, delta, low, high in ((x0, x1 - x0, left, right), (y0, y1 - y0, top, bottom)):
        if delta == 0.0:
            if not low <= start <= high:
                return 1.0, 0.0
            continue
        a, b = (low - start) / delta, (high - start) / delta
        t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
    return t0, t1


class _Coverage:
    """The stroke's coverage in ``[0, 1]``, stored sparsely as 64×64 float32 tiles."""

    def __init__(self) -> None:
        self._tiles: dict[tuple[int, int], np.ndarray] = {}

    def raise_to(self, rect: Rect, values: np.ndarray) -> np.ndarray:
        """Raise the coverage over ``rect`` to at least ``values``; returns the coverage there."""
        out = np.empty_like(values)
        for ty in range(rect.y // TILE, (rect.bottom - 1) // TILE + 1):
            for tx in range(rect.x // TILE, (rect.right - 1) // TILE + 1):
                tile = self._tiles.get((ty, tx))
                if tile is None:
                    tile = self._tiles[ty, tx] = np.zeros((TILE, TILE), np.float32)
                overlap = Rect(tx * TILE, ty * TILE, TILE, TILE).intersect(rect)
                in_tile = tile[overlap.translated(-tx * TILE, -ty * TILE).slices]
                in_rect = overlap.translated(-rect.x, -rect.y).slices
                np.maximum(in_tile, values[in_rect], out=in_tile)
                out[in_rect] = in_tile
        return out


class Stroke:
    """A stroke of ``tool`` with ``settings`` on ``layer`` of ``doc``.

    Feed pointer positions with :meth:`add_point` (each returns the rectangle to repaint) and
    call :meth:`finish` on release, which records the whole stroke as one undo step.
    """

    def __init__(self, doc: Document, layer: Layer, tool: Tool, settings: BrushSettings) -> None:
        if layer.locked:
            raise LayerLockedError(f"“{layer.name}” is locked. Unlock it in the layer panel first.")
        if tool is Tool.MASK_BRUSH and not layer.is_mask:
            raise ValueError("the mask brush paints on mask layers only")
        self.doc = doc
        self.layer = layer
        self.tool = tool
        self.settings = settings
        self._recorder = PatchRecorder(layer, _LABELS[tool])
        self._coverage = _Coverage()
        self._last: tuple[float, float, float] | None = None
        self._to_next_dab = 0.0  # path length still to go before the next dab
        self._finished = False

    # ------------------------------------------------------------------ input
    def add_point(self, x: float, y: float, pressure: float = 1.0) -> Rect:
        """Extend the stroke to document position ``(x, y)``; returns the changed rectangle.

        Dabs are placed every ``spacing × size`` along the path from the previous point, with
        pressure interpolated, so fast drags leave no gaps. The rectangle is clamped to the
        document and empty when nothing changed.
        """
        if self._finished:
            raise RuntimeError("the stroke is finished")
        pressure = min(max(float(pressure), 0.0), 1.0)
        dabs = [dab for dab in self._dabs_to(x, y, pressure) if dab is not None]
        dirty = Rect(0, 0, 0, 0)
        batch: list[tuple[Dab, float]] = []
        box = Rect(0, 0, 0, 0)
        for dab, alpha in dabs:
            rect = Rect(dab.x, dab.y, dab.values.shape[1], dab.values.shape[0])
            grown = box.union(rect)
            if batch and grown.w * grown.h > max(4 * rect.w * rect.h, _MIN_BATCH_AREA):
                dirty = dirty.union(self._apply(batch, box))
                batch, grown = [], rect
            batch.append((dab, alpha))
            box = grown
        if batch:
            dirty = dirty.union(self._apply(batch, box))
        if not dirty.empty:
            self.doc.notify_pixels(self.layer, dirty)
        return dirty

    def finish(self) -> None:
        """End the stroke: push one undo step if any pixel changed."""
        if self._finished:
            return
        self._finished = True
        self._coverage = _Coverage()  # let the tiles go: the GUI may keep the stroke around
        patch = self._recorder.finish()
        if patch is not None:
            self.doc.push(patch)

    # ------------------------------------------------------------- dab layout
    def _dabs_to(self, x: float, y: float, pressure: float) -> list[tuple[Dab, float] | None]:
        """The dabs from the previous point up to ``(x, y)`` (``None`` for invisible ones)."""
        if self._last is None:
            self._last = (x, y, pressure)
            self._to_next_dab = self._step(pressure)
            return [self._dab(x, y, pressure)]
        x0, y0, p0 = self._last
        self._last = (x, y, pressure)
        length = math.hypot(x - x0, y - y0)
        reach = self.settings.size / 2.0 + 2.0  # no dab centred farther out touches the document
        t0, t1 = _inside_span(x0, y0, x, y, -reach, -reach, self.doc.width + reach, self.doc.height + reach)
        dabs = []
        travelled = max(self._to_next_dab, t0 * length)
        while travelled <= min(length, t1 * length) and length > 0.0:
            t = travelled / length
            p = p0 + (pressure - p0) * t
            dabs.append(self._dab(x0 + (x - x0) * t, y0 + (y - y0) * t, p))
            travelled += self._step(p)
        self._to_next_dab = max(0.0, travelled - length)
        return dabs

    def _step(self, pressure: float) -> float:
        return max(_MIN_STEP, self.settings.spacing * self._size(pressure))

    def _size(self, pressure: float) -> float:
        return self.settings.size * (pressure if self.settings.pressure_size else 1.0)

    def _dab(self, x: float, y: float, pressure: float) -> tuple[Dab, float] | None:
        """The dab at ``(x, y)`` and its peak value; thinner-than-a-pixel dabs are faded instead."""
        s = self.settings
        alpha = s.opacity * (pressure if s.pressure_opacity else 1.0)
        size = self._size(pressure)
        if size < MIN_SIZE:
            alpha *= (size / MIN_SIZE) ** 2
            size = MIN_SIZE
        if alpha <= 0.0:
            return None
        return make_dab(x, y, size, s.hardness), alpha

    # ---------------------------------------------------------------- pixels
    def _apply(self, batch: list[tuple[Dab, float]], box: Rect) -> Rect:
        """Stamp ``batch`` (bounding box ``box``) into the coverage and repaint what it covers."""
        rect = box.clamp(self.doc.width, self.doc.height)
        if rect.empty:
            return rect
        stamp = np.zeros((box.h, box.w), np.float32)
        for dab, alpha in batch:
            region = stamp[dab.y - box.y : dab.bottom - box.y, dab.x - box.x : dab.right - box.x]
            np.maximum(region, dab.values * np.float32(alpha), out=region)
        stamp = stamp[rect.translated(-box.x, -box.y).slices]
        selection = self.doc.selection.coverage(rect)
        if selection is not None:
            stamp *= selection
        coverage = self._coverage.raise_to(rect, stamp)
        self._recorder.touch(rect)
        self._paint(rect, coverage)
        return rect

    def _paint(self, rect: Rect, coverage: np.ndarray) -> None:
        """Recompute ``rect`` of the layer from its pre-stroke pixels and the stroke coverage."""
        before = self._recorder.original(rect)
        target = self.layer.pixels[rect.slices]
        if self.layer.is_mask:
            base = before.astype(np.float32)
            if self.tool is Tool.ERASER:
                base *= 1.0 - coverage
            else:
                base += (255.0 - base) * coverage
            target[...] = base + 0.5
            return
        alpha = before[..., 3].astype(np.float32) * np.float32(1.0 / 255.0)
        if self.tool is Tool.ERASER:
            target[..., 3] = alpha * (1.0 - coverage) * 255.0 + 0.5
            return
        # Source-over in straight alpha: a_out = a_s + a_b (1 - a_s), and the colour is the
        # mix of brush and old colour weighted by a_s and a_b (1 - a_s), divided by a_out.
        kept = alpha * (1.0 - coverage)
        alpha_out = coverage + kept
        old_weight = np.divide(kept, alpha_out, out=np.ones_like(kept), where=alpha_out > 0.0)
        new_weight = 1.0 - old_weight
        for channel, value in enumerate(self.settings.color):
            old = before[..., channel].astype(np.float32)
            target[..., channel] = old + (np.float32(value) - old) * new_weight + 0.5
        target[..., 3] = alpha_out * 255.0 + 0.5
