"""Undoable steps that change the canvas as a whole: its size, and steps grouped into one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sfumato.document.document import Document
    from sfumato.document.history import Command


def shifted(pixels: np.ndarray, width: int, height: int, dx: int, dy: int) -> np.ndarray:
    """``pixels`` placed at ``(dx, dy)`` on a new ``width × height`` array of zeros.

    Works for ``[H, W]`` masks and ``[H, W, C]`` rasters; what falls outside is cut off.
    """
    out = np.zeros((height, width, *pixels.shape[2:]), pixels.dtype)
    old_h, old_w = pixels.shape[:2]
    x0, y0 = max(0, dx), max(0, dy)
    x1, y1 = min(width, dx + old_w), min(height, dy + old_h)
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = pixels[y0 - dy : y1 - dy, x0 - dx : x1 - dx]
    return out


@dataclass
class ResizeCanvas:
    """The canvas grown or cut to ``width × height`` with the old image at ``offset``.

    Keeps the old pixels of every layer (and the old selection) so undo is exact; redo
    recomputes the new arrays from them.
    """

    label: str
    old_size: tuple[int, int]
    new_size: tuple[int, int]
    offset: tuple[int, int]
    old_pixels: dict[int, np.ndarray]
    old_selection: np.ndarray | None

    @property
    def nbytes(self) -> int:
        """The old layers' pixels."""
        return int(sum(p.nbytes for p in self.old_pixels.values()))

    def undo(self, doc: Document) -> None:
        """Put the old size and pixels back."""
        dx, dy = self.offset
        for layer in doc.layers:
            layer.pixels = self.old_pixels[layer.uid]
            if layer.off_canvas is not None:
                layer.off_canvas = layer.off_canvas.moved(-dx, -dy)
        doc._set_size(*self.old_size, self.old_selection)

    def redo(self, doc: Document) -> None:
        """Resize again."""
        width, height = self.new_size
        dx, dy = self.offset
        for layer in doc.layers:
            layer.pixels = shifted(self.old_pixels[layer.uid], width, height, dx, dy)
            if layer.off_canvas is not None:  # what a file kept beyond the canvas moves along
                layer.off_canvas = layer.off_canvas.moved(dx, dy)
        selection = None if self.old_selection is None else shifted(self.old_selection, width, height, dx, dy)
        doc._set_size(width, height, selection)


@dataclass
class StepGroup:
    """Several steps undone and redone as one (e.g. grow the canvas and add the result layer)."""

    label: str
    steps: list[Command] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        """What the grouped steps hold."""
        return sum(step.nbytes for step in self.steps)

    def undo(self, doc: Document) -> None:
        """Undo the steps, newest first."""
        for step in reversed(self.steps):
            step.undo(doc)

    def redo(self, doc: Document) -> None:
        """Redo the steps in order."""
        for step in self.steps:
            step.redo(doc)
