"""The layered document: a W×H stack of raster and mask layers, the selection and the history.

Every change goes through a method here so that it is one undo step and views are told which
rectangle to repaint (``events``). No Qt: views subscribe to the plain callbacks in
:class:`DocumentEvents`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sfumato.document.canvas_commands import ResizeCanvas, StepGroup
from sfumato.document.compositing import composite_rgba
from sfumato.document.events import Event
from sfumato.document.geometry import Rect
from sfumato.document.history import Command, History, PatchRecorder
from sfumato.document.layers import Layer, LayerKind
from sfumato.document.selection import Selection
from sfumato.document.stack_commands import (
    ChangeSelection,
    InsertLayer,
    MoveLayer,
    RemoveLayer,
    SetLayerProps,
)
from sfumato.errors import UserFacingError

MAX_SIDE = 16384  # the largest document side we open or create


class LayerLockedError(UserFacingError):
    """Raised when a locked layer would be changed."""


@dataclass(frozen=True)
class MaskSummary:
    """A mask's largest value and the bounding box of its values above 0 (``None``: empty)."""

    peak: int
    bounds: Rect | None


@dataclass
class DocumentEvents:
    """What a document announces.

    ``pixels_changed(rect)``: composite pixels in ``rect`` may differ; ``layers_changed()``: the
    stack, a property or the active layer changed; ``selection_changed()``;
    ``history_changed()``: a step was pushed, undone or redone; ``size_changed()``: the canvas
    was resized (every layer has new pixel arrays).
    """

    pixels_changed: Event = field(default_factory=Event)
    layers_changed: Event = field(default_factory=Event)
    selection_changed: Event = field(default_factory=Event)
    history_changed: Event = field(default_factory=Event)
    size_changed: Event = field(default_factory=Event)


class Document:
    """A ``width × height`` image made of layers (index 0 is the bottom of the stack)."""

    def __init__(self, width: int, height: int, *, history_budget: int = 512 * 2**20) -> None:
        if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
            raise UserFacingError(
                f"A document must be between 1 and {MAX_SIDE} pixels on each side "
                f"(asked for {width}×{height})."
            )
        self.width = width
        self.height = height
        self.layers: list[Layer] = []
        self.selection = Selection(width, height)
        self.history = History(history_budget)
        self.events = DocumentEvents()
        self.path: Path | None = None
        #: The file's ``mypaint:eotf`` (see :func:`sfumato.document.ora.load_ora`): layers blend in
        #: its linear light and saving writes it back. ``None``: colours blend as stored.
        self.eotf: float | None = None
        self.revision = 0  # grows with every change; autosave and "modified" compare against it
        self.saved_revision = 0
        self._active_uid: int | None = None
        self._group: StepGroup | None = None
        self._selection_summary: tuple[np.ndarray | None, MaskSummary] = (None, MaskSummary(0, None))

    # ----------------------------------------------------------------- queries
    @property
    def rect(self) -> Rect:
        """The whole document."""
        return Rect(0, 0, self.width, self.height)

    @property
    def modified(self) -> bool:
        """True when there are changes since the last save."""
        return self.revision != self.saved_revision

    @property
    def active_layer(self) -> Layer | None:
        """The layer tools act on."""
        if self._active_uid is None:
            return None
        return next((lyr for lyr in self.layers if lyr.uid == self._active_uid), None)

    def layer_by_uid(self, uid: int) -> Layer:
        """The layer with ``uid`` (KeyError if it is not in the stack)."""
        for layer in self.layers:
            if layer.uid == uid:
                return layer
        raise KeyError(uid)

    def index_of(self, layer: Layer) -> int:
        """Stack position of ``layer`` (0 = bottom)."""
        return next(i for i, lyr in enumerate(self.layers) if lyr.uid == layer.uid)

    def mask_layers(self) -> list[Layer]:
        """The visible mask layers, bottom first."""
        return [lyr for lyr in self.layers if lyr.is_mask and lyr.visible]

    def composite(self, rect: Rect | None = None, *, show_masks: bool = False,
                  premultiplied: bool = False) -> np.ndarray:
        """The visible image over ``rect`` (default: everything) as uint8 RGBA.

        Mask layers are left out unless ``show_masks`` (then drawn as tinted overlays).
        """
        rect = (rect or self.rect).clamp(self.width, self.height)
        return composite_rgba(self.layers, rect, show_masks=show_masks, premultiplied=premultiplied,
                              eotf=self.blend_eotf)

    @property
    def blend_eotf(self) -> float:
        """The EOTF layers blend with: :attr:`eotf`, or 1.0 (stored values) when there is none."""
        return 1.0 if self.eotf is None else self.eotf

    def combined_mask(self, rect: Rect | None = None) -> np.ndarray:
        """The union (maximum) of the visible mask layers over ``rect`` (default: everything),
        ``[h, w]`` uint8. Only ``rect`` is read."""
        rect = (rect or self.rect).clamp(self.width, self.height)
        masks = self.mask_layers()
        if not masks:
            return np.zeros((rect.h, rect.w), np.uint8)
        out = masks[0].pixels[rect.slices].copy()
        for layer in masks[1:]:
            np.maximum(out, layer.pixels[rect.slices], out=out)
        return out

    def mask_summary(self) -> MaskSummary:
        """Peak and bounds of the union of the visible mask layers, from each layer's coverage
        (only the tiles painted since the last call are scanned)."""
        peak, bounds = 0, None
        for layer in self.mask_layers():
            coverage = layer.coverage()
            peak = max(peak, coverage.peak())
            box = coverage.bounds()
            if box is not None:
                bounds = box if bounds is None else bounds.union(box)
        return MaskSummary(peak, bounds)

    def selection_summary(self) -> MaskSummary:
        """Peak and bounds of the selection (scanned once per selection: selections are replaced,
        never changed in place)."""
        mask = self.selection.mask
        cached_mask, summary = self._selection_summary
        if mask is not cached_mask:
            summary = MaskSummary(0, None) if mask is None else MaskSummary(int(mask.max()),
                                                                            self.selection.bounds())
            self._selection_summary = (mask, summary)
        return summary

    # ------------------------------------------------------------ notification
    def notify_pixels(self, layer: Layer | None, rect: Rect) -> None:
        """Announce that pixels changed in ``rect`` (used by strokes and undo)."""
        rect = rect.clamp(self.width, self.height)
        self.revision += 1
        if layer is not None:
            layer.mark_changed(rect)
        if not rect.empty:
            self.events.pixels_changed.emit(rect)

    def _stack_changed(self, layer: Layer) -> None:
        """``layer`` came, went, moved or changed how it shows: repaint only where it has pixels.

        A transparent pixel leaves the composite unchanged in every blend mode, so an empty new
        layer costs no repaint and a dropped image only its own rectangle.
        """
        self.revision += 1
        self.events.layers_changed.emit()
        bounds = layer.content_bounds()
        if bounds is not None:
            self.events.pixels_changed.emit(bounds)

    def push(self, command: Command) -> None:
        """Record an already-applied step in the history (in the open :meth:`grouped` step, if any)."""
        if self._group is not None:
            self._group.steps.append(command)
            return
        # Merge only when nothing can be redone: a new action must clear the redo stack.
        top = self.history._undo[-1] if self.history.can_undo and not self.history.can_redo else None
        merge = getattr(top, "merge", None)
        if not (merge and merge(command)):
            self.history.push(command)
        self.events.history_changed.emit()

    # --------------------------------------------------- raw stack operations
    def _insert(self, layer: Layer, index: int) -> None:
        self.layers.insert(index, layer)
        self._active_uid = layer.uid
        self._stack_changed(layer)

    def _remove(self, layer: Layer) -> None:
        index = self.index_of(layer)
        del self.layers[index]
        if self._active_uid == layer.uid:
            below = self.layers[max(0, index - 1)] if self.layers else None
            self._active_uid = below.uid if below else None
        self._stack_changed(layer)

    def _move(self, uid: int, index: int) -> None:
        layer = self.layer_by_uid(uid)
        self.layers.remove(layer)
        self.layers.insert(index, layer)
        self._stack_changed(layer)

    def _apply_props(self, uid: int, props: dict[str, object]) -> None:
        layer = self.layer_by_uid(uid)
        for key, value in props.items():
            setattr(layer, key, value)
        if props.keys() <= {"name", "locked"}:  # the image is unchanged: no repaint
            self.revision += 1
            self.events.layers_changed.emit()
        else:
            self._stack_changed(layer)

    # ------------------------------------------------------ undoable actions
    def add_layer(self, kind: LayerKind = LayerKind.RASTER, name: str | None = None,
                  index: int | None = None, *, layer: Layer | None = None,
                  label: str | None = None) -> Layer:
        """Add a new empty layer (or ``layer``) above the active one; one undo step."""
        if layer is None:
            count = sum(1 for lyr in self.layers if lyr.kind is kind) + 1
            default = f"Mask {count}" if kind is LayerKind.MASK else f"Layer {count}"
            maker = Layer.mask if kind is LayerKind.MASK else Layer.raster
            layer = maker(name or default, self.width, self.height)
            layer.assume_blank_outside(None)
        elif layer.pixels.shape[:2] != (self.height, self.width):
            raise ValueError("layer size does not match the document")
        if index is None:
            active = self.active_layer
            index = self.index_of(active) + 1 if active else len(self.layers)
        self._insert(layer, index)
        self.push(InsertLayer(label or f"Add {layer.name}", layer, index))
        return layer

    def add_image_layer(self, rgba: np.ndarray, name: str, at: tuple[int, int] = (0, 0),
                        *, label: str | None = None, metadata: dict[str, str] | None = None,
                        index: int | None = None, opaque: bool = False) -> Layer:
        """Add ``rgba`` (``[h, w, 4]`` uint8) as a new layer with its top-left corner at ``at``
        (at stack position ``index``; default: above the active layer).

        The part outside the document is cut off; only ``rgba``'s rectangle is read or scanned
        (nothing is scanned when ``opaque`` says its alpha is 255 everywhere). One undo step.
        """
        layer = Layer.placed(name, self.width, self.height, rgba, at, opaque=opaque)
        if metadata:
            layer.metadata.update(metadata)
        return self.add_layer(layer=layer, index=index, label=label or f"Add image {name}")

    def delete_layer(self, layer: Layer) -> None:
        """Remove ``layer`` from the stack; one undo step."""
        index = self.index_of(layer)
        self._remove(layer)
        self.push(RemoveLayer(f"Delete {layer.name}", layer, index))

    def duplicate_layer(self, layer: Layer) -> Layer:
        """Put a copy of ``layer`` right above it; one undo step."""
        copy = layer.duplicate()
        self.add_layer(layer=copy, index=self.index_of(layer) + 1, label=f"Duplicate {layer.name}")
        return copy

    def move_layer(self, layer: Layer, index: int) -> None:
        """Move ``layer`` to stack position ``index``; one undo step."""
        index = max(0, min(index, len(self.layers) - 1))
        old = self.index_of(layer)
        if old == index:
            return
        self._move(layer.uid, index)
        self.push(MoveLayer(f"Move {layer.name}", layer.uid, old, index))

    def set_layer_props(self, layer: Layer, **props: object) -> None:
        """Change name, visible, opacity, locked, blend or tint; one (mergeable) undo step."""
        current = layer.props()
        unknown = set(props) - set(current)
        if unknown:
            raise TypeError(f"unknown layer properties: {sorted(unknown)}")
        changed = {k: v for k, v in props.items() if current[k] != v}
        if not changed:
            return
        before = {k: current[k] for k in changed}
        self._apply_props(layer.uid, changed)
        label = "Rename layer" if "name" in changed else f"Change {', '.join(changed)}"
        self.push(SetLayerProps(label, layer.uid, before, changed))

    def set_active(self, layer: Layer) -> None:
        """Make ``layer`` the one tools act on (not an undo step)."""
        if layer.uid != self._active_uid:
            self._active_uid = layer.uid
            self.events.layers_changed.emit()

    @contextmanager
    def edit_pixels(self, layer: Layer, rect: Rect | None, label: str) -> Iterator[PatchRecorder]:
        """Change pixels of ``layer`` inside ``rect`` as one undo step.

        Write into ``layer.pixels`` within the block; only tiles that really changed are kept.
        """
        if layer.locked:
            raise LayerLockedError(f"“{layer.name}” is locked. Unlock it in the layer panel first.")
        recorder = PatchRecorder(layer, label)
        area = recorder.touch(rect or self.rect)
        yield recorder
        patch = recorder.finish()
        if patch is not None:
            self.push(patch)
            self.notify_pixels(layer, area)

    def apply_to_layer(self, layer: Layer, operation: Callable[[np.ndarray], np.ndarray],
                       label: str) -> None:
        """Replace ``layer.pixels`` by ``operation(layer.pixels)``; one undo step."""
        with self.edit_pixels(layer, None, label):
            layer.pixels[...] = operation(layer.pixels)

    def delete_selected(self) -> None:
        """Clear the selected pixels of the active layer (the whole layer if nothing is selected)."""
        layer = self.active_layer
        if layer is None:
            return
        sel = self.selection
        rect = sel.bounds() or self.rect
        with self.edit_pixels(layer, rect, "Clear"):
            coverage = sel.coverage(rect)  # None: nothing selected, so all of it goes
            keep = 1.0 - (coverage if coverage is not None else np.ones((rect.h, rect.w), np.float32))
            region = layer.pixels[rect.slices]
            if layer.is_mask:
                region[...] = np.rint(region * keep).astype(np.uint8)
            else:
                region[..., 3] = np.rint(region[..., 3] * keep).astype(np.uint8)

    def change_selection(self, change: Callable[[Selection], None], label: str) -> None:
        """Apply ``change`` to the selection as one undo step."""
        before = None if self.selection.mask is None else self.selection.mask.copy()
        change(self.selection)
        step = ChangeSelection.between(label, before, self.selection.mask, self.width, self.height)
        if step is not None:
            self.push(step)
            self.events.selection_changed.emit()

    @contextmanager
    def grouped(self, label: str) -> Iterator[None]:
        """Make every step taken inside the block one undo step called ``label``.

        If the block raises, the steps it took are undone before the error propagates, so the
        document is never left half-changed.
        """
        if self._group is not None:
            raise RuntimeError("steps are already being grouped")
        group = self._group = StepGroup(label)
        try:
            yield
        except BaseException:
            self._group = None
            group.undo(self)
            raise
        self._group = None
        if len(group.steps) == 1:
            self.push(group.steps[0])
        elif group.steps:
            self.push(group)

    def _set_size(self, width: int, height: int, selection: np.ndarray | None) -> None:
        """Adopt a new canvas size (the layers' pixels are already resized) and tell views."""
        self.width, self.height = width, height
        self.selection = Selection(width, height)
        self.selection.mask = selection
        for layer in self.layers:
            layer.pixel_version += 1
        self.revision += 1
        self.events.size_changed.emit()
        self.events.layers_changed.emit()
        self.events.selection_changed.emit()
        self.events.pixels_changed.emit(self.rect)

    def resize_canvas(self, width: int, height: int, offset: tuple[int, int] = (0, 0),
                      label: str = "Resize canvas") -> None:
        """Make the canvas ``width × height`` with the current image's top-left at ``offset``.

        New area is transparent (masks: unmasked); what falls outside is cut off. Every layer
        (locked ones too: the lock guards painting, not the canvas) and the selection move
        together. One undo step.
        """
        if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
            raise UserFacingError(
                f"A document must be between 1 and {MAX_SIDE} pixels on each side "
                f"(asked for {width}×{height})."
            )
        if (width, height) == (self.width, self.height) and offset == (0, 0):
            return
        step = ResizeCanvas(label, (self.width, self.height), (width, height), offset,
                            {lyr.uid: lyr.pixels for lyr in self.layers}, self.selection.mask)
        step.redo(self)
        self.push(step)

    def undo(self) -> str | None:
        """Undo the newest step; returns its label."""
        label = self.history.undo(self)
        self.events.history_changed.emit()
        return label

    def redo(self) -> str | None:
        """Redo the newest undone step; returns its label."""
        label = self.history.redo(self)
        self.events.history_changed.emit()
        return label

    def mark_saved(self, path: Path | None = None) -> None:
        """Remember that the current state is on disk (at ``path``)."""
        if path is not None:
            self.path = path
        self.saved_revision = self.revision


def new_document(width: int, height: int, *, background: tuple[int, int, int, int] | None =
                 (255, 255, 255, 255), history_budget: int = 512 * 2**20) -> Document:
    """A document with one ``Background`` layer (filled with ``background`` unless ``None``)."""
    doc = Document(width, height, history_budget=history_budget)
    layer = Layer.raster("Background", width, height)
    if background is not None:
        layer.pixels[...] = background
    doc._insert(layer, 0)
    doc.revision = doc.saved_revision = 0
    return doc
