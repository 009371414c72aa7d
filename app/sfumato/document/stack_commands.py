"""Undoable steps that change the layer stack, layer properties or the selection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sfumato.document.geometry import Rect

if TYPE_CHECKING:
    from sfumato.document.document import Document
    from sfumato.document.layers import Layer


@dataclass
class InsertLayer:
    """A layer put into the stack at ``index`` (undo removes it)."""

    label: str
    layer: Layer
    index: int

    @property
    def nbytes(self) -> int:
        """Nothing of its own: while the step is applied the layer lives in the stack.

        Once undone the layer is held by the redo stack only, which the next push clears.
        Counting the layer here made a few new layers on a big document evict every older step.
        """
        return 0

    def undo(self, doc: Document) -> None:
        """Take the layer out again."""
        doc._remove(self.layer)

    def redo(self, doc: Document) -> None:
        """Put the layer back."""
        doc._insert(self.layer, self.index)


@dataclass
class RemoveLayer:
    """A layer taken out of the stack (undo puts it back at ``index``)."""

    label: str
    layer: Layer
    index: int

    @property
    def nbytes(self) -> int:
        """The removed layer's pixels."""
        return int(self.layer.pixels.nbytes)

    def undo(self, doc: Document) -> None:
        """Put the layer back where it was."""
        doc._insert(self.layer, self.index)

    def redo(self, doc: Document) -> None:
        """Remove the layer again."""
        doc._remove(self.layer)


@dataclass
class MoveLayer:
    """A layer moved from one stack position to another."""

    label: str
    layer_uid: int
    old_index: int
    new_index: int
    nbytes: int = 0

    def undo(self, doc: Document) -> None:
        """Move it back."""
        doc._move(self.layer_uid, self.old_index)

    def redo(self, doc: Document) -> None:
        """Move it again."""
        doc._move(self.layer_uid, self.new_index)


@dataclass
class SetLayerProps:
    """Changed layer properties (name, visibility, opacity, lock, blend, tint)."""

    label: str
    layer_uid: int
    before: dict[str, object]
    after: dict[str, object]
    nbytes: int = 0

    def undo(self, doc: Document) -> None:
        """Restore the old values."""
        doc._apply_props(self.layer_uid, self.before)

    def redo(self, doc: Document) -> None:
        """Apply the new values again."""
        doc._apply_props(self.layer_uid, self.after)

    def merge(self, newer: object) -> bool:
        """Fold a newer change of the same properties of the same layer into this step.

        A slider drag then makes one undo step, not one per mouse move.
        """
        if (
            isinstance(newer, SetLayerProps)
            and newer.layer_uid == self.layer_uid
            and newer.after.keys() == self.after.keys()
            and "name" not in self.after
            and "visible" not in self.after
        ):
            self.after = newer.after
            return True
        return False


def _as_array(mask: np.ndarray | None, width: int, height: int) -> np.ndarray:
    return mask if mask is not None else np.zeros((height, width), np.uint8)


@dataclass
class ChangeSelection:
    """A selection change, stored as the differing rectangle only."""

    label: str
    rect: Rect
    before: np.ndarray
    after: np.ndarray
    before_none: bool
    after_none: bool

    @classmethod
    def between(
        cls, label: str, before: np.ndarray | None, after: np.ndarray | None, width: int, height: int
    ) -> ChangeSelection | None:
        """The step from ``before`` to ``after`` (``None`` = no selection), or ``None`` if equal."""
        a, b = _as_array(before, width, height), _as_array(after, width, height)
        diff = np.nonzero(a != b)
        if diff[0].size == 0:
            if (before is None) == (after is None):
                return None
            rect = Rect(0, 0, 0, 0)
        else:
            ys, xs = diff
            rect = Rect(int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                        int(ys.max() - ys.min() + 1))
        return cls(label, rect, a[rect.slices].copy(), b[rect.slices].copy(),
                   before is None, after is None)

    @property
    def nbytes(self) -> int:
        """The two stored rectangles."""
        return int(self.before.nbytes + self.after.nbytes)

    def _write(self, doc: Document, values: np.ndarray, none: bool) -> None:
        sel = doc.selection
        mask = _as_array(sel.mask, doc.width, doc.height).copy()
        mask[self.rect.slices] = values
        sel.mask = None if none else mask
        doc.events.selection_changed.emit()

    def undo(self, doc: Document) -> None:
        """Restore the previous selection."""
        self._write(doc, self.before, self.before_none)

    def redo(self, doc: Document) -> None:
        """Apply the new selection again."""
        self._write(doc, self.after, self.after_none)
