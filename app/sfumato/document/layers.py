"""Layers: raster layers (RGBA) and mask layers (one channel), with their display properties."""

from __future__ import annotations

import itertools
import mmap
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np

from sfumato.document.coverage import PlaneCoverage
from sfumato.document.geometry import Rect

_uids = itertools.count(1)


class LayerKind(StrEnum):
    """What a layer holds: colour pixels or a one-channel mask."""

    RASTER = "raster"
    MASK = "mask"


class BlendMode(StrEnum):
    """How a raster layer combines with what lies below it (W3C compositing names)."""

    NORMAL = "normal"
    MULTIPLY = "multiply"
    SCREEN = "screen"
    OVERLAY = "overlay"
    DARKEN = "darken"
    LIGHTEN = "lighten"

    @property
    def ora_name(self) -> str:
        """The OpenRaster ``composite-op`` value."""
        return "svg:src-over" if self is BlendMode.NORMAL else f"svg:{self.value}"

    @classmethod
    def from_ora(cls, name: str | None) -> BlendMode:
        """Parse an OpenRaster ``composite-op``; unknown operations fall back to normal."""
        if not name or name == "svg:src-over":
            return cls.NORMAL
        try:
            return cls(name.removeprefix("svg:"))
        except ValueError:
            return cls.NORMAL


DEFAULT_MASK_TINT = (230, 40, 70)


def blank_pixels(shape: tuple[int, ...]) -> np.ndarray:
    """Zeroed uint8 pixels of ``shape`` that cost time and memory only where they are written.

    An anonymous mapping, which the system fills with zeros page by page as pages are first
    touched. numpy's own large allocations ask for 2 MB pages instead, each zeroed whole when
    first touched: placing a 1360×1056 result on a new 8192² layer then zeroed about 70 MB
    (90 ms here) where this touches the 6 MB written (5 ms).
    """
    return np.frombuffer(mmap.mmap(-1, int(np.prod(shape))), np.uint8).reshape(shape)


class PixelWatcher(Protocol):
    """Something that must see a layer's pixels before they change in place (a pending snapshot)."""

    def preserve(self, layer: Layer, rect: Rect) -> None:
        """``layer`` is about to change within ``rect``."""


@dataclass(frozen=True, eq=False)
class OffCanvas:
    """A layer's pixels as a file placed them, including the part that lies outside the canvas.

    ``pixels`` has the layer's channels (``[h, w, 4]`` or ``[h, w]``) and its top-left corner at
    ``(x, y)`` in document pixels. Only the part outside the canvas counts: inside it, the layer's
    own ``pixels`` are the truth. Saving writes both back, so pixels another program kept beyond
    the canvas survive open → save. The array is read-only, so copies and snapshots share it.
    """

    x: int
    y: int
    pixels: np.ndarray

    @property
    def rect(self) -> Rect:
        """Where ``pixels`` lie, in document pixels."""
        return Rect(self.x, self.y, int(self.pixels.shape[1]), int(self.pixels.shape[0]))

    def moved(self, dx: int, dy: int) -> OffCanvas:
        """The same pixels ``(dx, dy)`` further (the canvas grew or shrank by an offset)."""
        return OffCanvas(self.x + dx, self.y + dy, self.pixels)


@dataclass(eq=False)
class Layer:
    """One layer of a document.

    ``pixels`` covers the whole document: ``[H, W, 4]`` uint8 straight-alpha RGBA for raster
    layers, ``[H, W]`` uint8 for mask layers (255 = masked, i.e. "repaint here").
    ``metadata`` carries text such as the generation parameters of a result layer;
    ``off_canvas`` what a loaded file had beyond the canvas (see :class:`OffCanvas`).
    Code that writes ``pixels`` outside :class:`Document` methods must call
    ``Document.notify_pixels(layer, rect)`` so views repaint, ``pixel_version`` moves on and
    :meth:`coverage` rescans the rectangle.
    """

    name: str
    kind: LayerKind
    pixels: np.ndarray
    visible: bool = True
    opacity: float = 1.0
    locked: bool = False
    blend: BlendMode = BlendMode.NORMAL
    tint: tuple[int, int, int] = DEFAULT_MASK_TINT
    metadata: dict[str, str] = field(default_factory=dict)
    off_canvas: OffCanvas | None = None
    uid: int = field(default_factory=lambda: next(_uids))
    #: grows whenever ``pixels`` change through the document; lets autosave reuse unchanged copies
    pixel_version: int = field(default=0, compare=False)
    _coverage: PlaneCoverage | None = field(default=None, init=False, repr=False, compare=False)
    _coverage_version: int = field(default=-1, init=False, repr=False, compare=False)
    _watchers: list[PixelWatcher] = field(default_factory=list, init=False, repr=False, compare=False)

    @classmethod
    def raster(cls, name: str, width: int, height: int) -> Layer:
        """A transparent raster layer."""
        return cls(name, LayerKind.RASTER, blank_pixels((height, width, 4)))

    @classmethod
    def placed(cls, name: str, width: int, height: int, rgba: np.ndarray, at: tuple[int, int],
               *, opaque: bool = False) -> Layer:
        """A ``width × height`` raster layer holding ``rgba`` with its top-left corner at ``at``.

        What falls outside the layer is cut off. Only ``rgba``'s rectangle is scanned for the
        layer's :meth:`coverage` (the rest is known to be transparent), so placing a small
        picture on a big canvas costs what the picture costs; ``opaque`` says ``rgba``'s alpha
        is 255 everywhere, so the coverage is its rectangle and nothing is scanned.
        """
        layer = cls.raster(name, width, height)
        h, w = rgba.shape[:2]
        target = Rect(at[0], at[1], w, h).clamp(width, height)
        if not target.empty:
            layer.pixels[target.slices] = rgba[target.translated(-at[0], -at[1]).slices]
        layer.assume_blank_outside(None if opaque else target)
        if opaque and layer._coverage is not None:
            layer._coverage.fill(target, 255)
        return layer

    @classmethod
    def mask(cls, name: str, width: int, height: int) -> Layer:
        """An empty mask layer."""
        return cls(name, LayerKind.MASK, blank_pixels((height, width)), opacity=0.5)

    @property
    def is_mask(self) -> bool:
        """True for one-channel mask layers."""
        return self.kind is LayerKind.MASK

    def coverage(self) -> PlaneCoverage:
        """Where the layer's alpha (or mask) is above 0, per tile, brought up to date.

        Only the tiles changed since the last call (as told through :meth:`mark_changed`) are
        scanned; a layer whose pixels were replaced or changed untold is scanned whole.
        """
        coverage = self._coverage
        if (coverage is None or coverage.shape != self.pixels.shape[:2]
                or self._coverage_version != self.pixel_version):
            coverage = self._coverage = PlaneCoverage(self.height, self.width)
        if coverage.stale:
            if self.is_mask:
                coverage.refresh(self.pixels)
            elif self.pixels.flags.c_contiguous:
                coverage.refresh(self.pixels.view("<u4")[..., 0], shift=24)  # alpha: the top byte
            else:
                coverage.refresh(self.pixels[..., 3])
        self._coverage_version = self.pixel_version
        return coverage

    def mark_changed(self, rect: Rect) -> None:
        """Pixels inside ``rect`` changed: ``pixel_version`` moves on, :meth:`coverage` rescans it.

        :meth:`Document.notify_pixels` calls this; call it directly only for a layer that is
        not in a document.
        """
        tracked = self._coverage is not None and self._coverage_version == self.pixel_version
        self.pixel_version += 1
        if tracked and self._coverage is not None:
            self._coverage.mark(rect)
            self._coverage_version = self.pixel_version

    def watch(self, watcher: PixelWatcher) -> None:
        """Have ``watcher.preserve(self, rect)`` called before pixels in ``rect`` change in place."""
        self._watchers.append(watcher)

    def unwatch(self, watcher: PixelWatcher) -> None:
        """Stop telling ``watcher`` (nothing happens if it was not watching)."""
        if watcher in self._watchers:
            self._watchers.remove(watcher)

    def will_change(self, rect: Rect) -> None:
        """Pixels inside ``rect`` are about to be written in place: tell the watchers first.

        Every in-place write through the document calls this (strokes and
        :meth:`Document.edit_pixels` through :class:`~sfumato.document.history.PatchRecorder`,
        undo and redo through :class:`~sfumato.document.history.PixelPatch`).
        """
        for watcher in list(self._watchers):
            watcher.preserve(self, rect)

    def assume_blank_outside(self, rect: Rect | None) -> None:
        """Declare every pixel outside ``rect`` (everywhere, for ``None``) 0: the coverage
        starts from that and scans only ``rect``. For layers just made, before anyone else sees
        them."""
        self._coverage = PlaneCoverage(self.height, self.width, known_zero=True)
        if rect is not None:
            self._coverage.mark(rect)
        self._coverage_version = self.pixel_version

    def content_bounds(self) -> Rect | None:
        """Where the layer can show: the bounding box of alpha (or mask) above 0, or ``None``."""
        return self.coverage().bounds()

    def peak(self) -> int:
        """The largest alpha (or mask) value of the layer."""
        return self.coverage().peak()

    @property
    def width(self) -> int:
        """Width in pixels."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Height in pixels."""
        return int(self.pixels.shape[0])

    def duplicate(self, name: str | None = None) -> Layer:
        """A deep copy with a new uid."""
        copy = Layer(
            name or f"{self.name} copy",
            self.kind,
            self.pixels.copy(),
            self.visible,
            self.opacity,
            self.locked,
            self.blend,
            self.tint,
            dict(self.metadata),
            self.off_canvas,
        )
        if self._coverage is not None and self._coverage_version == self.pixel_version:
            copy._coverage = self._coverage.copy()
            copy._coverage_version = copy.pixel_version
        return copy

    def frozen_copy(self) -> np.ndarray:
        """A read-only copy of ``pixels`` (for an autosave), at the cost of the part that shows.

        When the layer's coverage is followed (every change since it was known went through
        :meth:`mark_changed`), only its content bounds are copied, into lazily zeroed memory:
        a result placed on a big canvas costs its own size, not the canvas's. Colour under zero
        alpha outside those bounds is not kept (it never shows). Otherwise the whole array is
        copied.
        """
        tracked = self._coverage is not None and self._coverage_version == self.pixel_version
        if tracked:
            bounds = self.content_bounds()
            out = blank_pixels(self.pixels.shape)
            if bounds is not None:
                out[bounds.slices] = self.pixels[bounds.slices]
        else:
            out = self.pixels.copy()
        out.flags.writeable = False
        return out

    def props(self) -> dict[str, object]:
        """The editable, non-pixel properties (see :meth:`Document.set_layer_props`)."""
        return {
            "name": self.name,
            "visible": self.visible,
            "opacity": self.opacity,
            "locked": self.locked,
            "blend": self.blend,
            "tint": self.tint,
        }
