"""Undo/redo: one step per stroke or operation, pixel changes stored as diffs of touched tiles.

A :class:`PixelPatch` keeps the before/after contents of the 64×64 tiles a stroke or operation
touched (never a whole-layer copy). :class:`History` keeps steps within a memory budget and drops
the oldest steps when the budget is exceeded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from sfumato.document.geometry import Rect

if TYPE_CHECKING:
    from sfumato.document.document import Document
    from sfumato.document.layers import Layer

TILE = 64


class Command(Protocol):
    """One undoable step."""

    label: str

    @property
    def nbytes(self) -> int:
        """Memory the step holds on to."""
        ...

    def undo(self, doc: Document) -> None:
        """Put the document back as it was before the step."""
        ...

    def redo(self, doc: Document) -> None:
        """Apply the step again."""
        ...


def _tiles_in(rect: Rect) -> Iterator[tuple[int, int]]:
    for ty in range(rect.y // TILE, (rect.bottom - 1) // TILE + 1):
        for tx in range(rect.x // TILE, (rect.right - 1) // TILE + 1):
            yield ty, tx


def _tile_rect(key: tuple[int, int], width: int, height: int) -> Rect:
    ty, tx = key
    return Rect(tx * TILE, ty * TILE, TILE, TILE).clamp(width, height)


@dataclass
class PixelPatch:
    """Before/after contents of the tiles of one layer that a step changed."""

    label: str
    layer_uid: int
    tiles: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]
    bounds: Rect

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored tiles."""
        return sum(b.nbytes + a.nbytes for b, a in self.tiles.values())

    def _write(self, doc: Document, which: int) -> None:
        layer = doc.layer_by_uid(self.layer_uid)
        layer.will_change(self.bounds)
        for key, pair in self.tiles.items():
            rows, cols = _tile_rect(key, layer.width, layer.height).slices
            layer.pixels[rows, cols] = pair[which]
        doc.notify_pixels(layer, self.bounds)

    def undo(self, doc: Document) -> None:
        """Restore the tiles' previous pixels."""
        self._write(doc, 0)

    def redo(self, doc: Document) -> None:
        """Write the tiles' new pixels again."""
        self._write(doc, 1)


class PatchRecorder:
    """Records the original tiles of a layer before they are changed.

    Call :meth:`touch` with a rectangle *before* writing into it; :meth:`original` gives the
    pre-edit pixels of any touched region (a brush blends against them so opacity does not build
    up within one stroke); :meth:`finish` returns the :class:`PixelPatch` (``None`` if nothing
    changed).
    """

    def __init__(self, layer: Layer, label: str) -> None:
        self.layer = layer
        self.label = label
        self._before: dict[tuple[int, int], np.ndarray] = {}
        self.bounds = Rect(0, 0, 0, 0)

    def touch(self, rect: Rect) -> Rect:
        """Save the tiles under ``rect`` that were not saved yet; returns ``rect`` clamped."""
        rect = rect.clamp(self.layer.width, self.layer.height)
        if rect.empty:
            return rect
        self.layer.will_change(rect)
        for key in _tiles_in(rect):
            if key not in self._before:
                rows, cols = _tile_rect(key, self.layer.width, self.layer.height).slices
                self._before[key] = self.layer.pixels[rows, cols].copy()
        self.bounds = self.bounds.union(rect)
        return rect

    def original(self, rect: Rect) -> np.ndarray:
        """The pre-edit pixels of an already touched ``rect``."""
        out = self.layer.pixels[rect.slices].copy()
        for key in _tiles_in(rect):
            tile_rect = _tile_rect(key, self.layer.width, self.layer.height)
            overlap = tile_rect.intersect(rect)
            saved = self._before[key]
            out[overlap.translated(-rect.x, -rect.y).slices] = saved[
                overlap.translated(-tile_rect.x, -tile_rect.y).slices
            ]
        return out

    def finish(self) -> PixelPatch | None:
        """The patch of tiles whose pixels differ from before, or ``None``."""
        tiles = {}
        for key, before in self._before.items():
            rows, cols = _tile_rect(key, self.layer.width, self.layer.height).slices
            after = self.layer.pixels[rows, cols]
            if not np.array_equal(before, after):
                tiles[key] = (before, after.copy())
        self._before = {}
        if not tiles:
            return None
        return PixelPatch(self.label, self.layer.uid, tiles, self.bounds)


class History:
    """The undo and redo stacks, bounded by ``budget_bytes`` (oldest steps are dropped first)."""

    def __init__(self, budget_bytes: int = 512 * 2**20) -> None:
        self.budget_bytes = budget_bytes
        self._undo: deque[Command] = deque()
        self._redo: list[Command] = []
        self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes held by all steps on both stacks."""
        return self._bytes

    @property
    def can_undo(self) -> bool:
        """True when there is a step to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """True when there is a step to redo."""
        return bool(self._redo)

    @property
    def undo_label(self) -> str | None:
        """The label of the step :meth:`undo` would revert."""
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        """The label of the step :meth:`redo` would apply."""
        return self._redo[-1].label if self._redo else None

    def __len__(self) -> int:
        return len(self._undo)

    def push(self, command: Command) -> None:
        """Record a step that has just been applied; clears the redo stack."""
        for dropped in self._redo:
            self._bytes -= dropped.nbytes
        self._redo.clear()
        self._undo.append(command)
        self._bytes += command.nbytes
        self._trim()

    def _trim(self) -> None:
        while self._bytes > self.budget_bytes and len(self._undo) > 1:
            self._bytes -= self._undo.popleft().nbytes

    def undo(self, doc: Document) -> str | None:
        """Revert the newest step; returns its label, or ``None`` if there was none."""
        if not self._undo:
            return None
        command = self._undo.pop()
        command.undo(doc)
        self._redo.append(command)
        return command.label

    def redo(self, doc: Document) -> str | None:
        """Re-apply the newest undone step; returns its label, or ``None``."""
        if not self._redo:
            return None
        command = self._redo.pop()
        command.redo(doc)
        self._undo.append(command)
        return command.label

    def clear(self) -> None:
        """Forget every step."""
        self._undo.clear()
        self._redo.clear()
        self._bytes = 0

    def set_budget(self, budget_bytes: int) -> None:
        """Change the memory budget, dropping old steps if needed."""
        self.budget_bytes = budget_bytes
        self._trim()
