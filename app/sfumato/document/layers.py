"""Layers: raster layers (RGBA) and mask layers (one channel), with their display properties."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from sfumato.document.geometry import Rect, nonzero_bounds

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
    ``Document.notify_pixels(layer, rect)`` so views repaint and ``pixel_version`` moves on.
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

    @classmethod
    def raster(cls, name: str, width: int, height: int) -> Layer:
        """A transparent raster layer."""
        return cls(name, LayerKind.RASTER, np.zeros((height, width, 4), np.uint8))

    @classmethod
    def mask(cls, name: str, width: int, height: int) -> Layer:
        """An empty mask layer."""
        return cls(name, LayerKind.MASK, np.zeros((height, width), np.uint8), opacity=0.5)

    @property
    def is_mask(self) -> bool:
        """True for one-channel mask layers."""
        return self.kind is LayerKind.MASK

    def content_bounds(self) -> Rect | None:
        """Where the layer can show: the bounding box of alpha (or mask) above 0, or ``None``."""
        return nonzero_bounds(self.pixels if self.is_mask else self.pixels[..., 3])

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
        return Layer(
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
