"""Which generation the canvas asks for, what is sent, and where the results land.

The mode comes from the canvas: a painted mask or an active selection → inpaint that region
of the visible composite; an outpaint frame reaching beyond the canvas edge → outpaint;
anything on the canvas → img2img of the composite (a dropped photo is just that); nothing →
txt2img. Variations are asked for explicitly. numpy only: no Qt in here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from sfumato.document.document import Document
from sfumato.document.geometry import Rect
from sfumato.generation.region import REPAINT_THRESHOLD, mask_bounds, plan_region, scaled_size
from sfumato.generation.requests import Margins
from sfumato.inference.results import GeneratedImage

INPAINT_PADDING = 32
OUTPAINT_PADDING = 64
_QUICK_SAMPLES = 64  # rows/columns sampled per layer when deciding "is the canvas empty?"


class Mode(enum.StrEnum):
    """What Generate will do."""

    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"
    OUTPAINT = "outpaint"
    VARIATIONS = "variations"

    @property
    def title(self) -> str:
        """How the panel names the mode."""
        return _TITLES[self]


_TITLES = {
    Mode.TXT2IMG: "Text to image",
    Mode.IMG2IMG: "Image to image",
    Mode.INPAINT: "Inpaint",
    Mode.OUTPAINT: "Outpaint",
    Mode.VARIATIONS: "Variations",
}


def repaint_mask(doc: Document) -> np.ndarray | None:
    """The mask an inpaint would use: the visible mask layers, else the selection, else ``None``."""
    masks = doc.mask_layers()
    if masks:
        combined = doc.combined_mask()
        if combined.max() >= REPAINT_THRESHOLD:
            return combined
    selection = doc.selection.mask
    if selection is not None and selection.max() >= REPAINT_THRESHOLD:
        return selection
    return None


def outpaint_margins(doc: Document, frame: Rect | None) -> Margins | None:
    """How far ``frame`` reaches beyond each canvas edge, or ``None`` if it stays inside."""
    if frame is None or frame.empty:
        return None
    sides = (max(0, -frame.x), max(0, -frame.y), max(0, frame.right - doc.width),
             max(0, frame.bottom - doc.height))
    return Margins(*sides) if any(sides) else None


def _uniform(values: np.ndarray) -> bool:
    flat = values.reshape(-1, values.shape[-1]) if values.ndim == 3 else values.reshape(-1)
    return bool((flat == flat[0]).all())


def canvas_is_empty(doc: Document | None, *, exact: bool = False) -> bool:
    """True when nothing has been painted: every visible raster layer is one flat colour.

    Without ``exact`` each layer is sampled on a grid (cheap enough to run on every change).
    """
    if doc is None:
        return True
    for layer in doc.layers:
        if layer.is_mask or not layer.visible or layer.opacity == 0:
            continue
        pixels = layer.pixels
        if not exact:
            step_y = max(1, pixels.shape[0] // _QUICK_SAMPLES)
            step_x = max(1, pixels.shape[1] // _QUICK_SAMPLES)
            pixels = pixels[::step_y, ::step_x]
        if not _uniform(pixels):
            return False
    return True


def detect_mode(doc: Document | None, frame: Rect | None) -> Mode:
    """The mode Generate would run now (Variations is only ever chosen explicitly)."""
    if doc is None:
        return Mode.TXT2IMG
    if outpaint_margins(doc, frame) is not None:
        return Mode.OUTPAINT
    if repaint_mask(doc) is not None:
        return Mode.INPAINT
    return Mode.TXT2IMG if canvas_is_empty(doc) else Mode.IMG2IMG


def describe_mode(doc: Document | None, frame: Rect | None) -> str:
    """One line for the panel: the mode and what it works on."""
    mode = detect_mode(doc, frame)
    if doc is None:
        return f"{mode.title}: a new canvas"
    if mode is Mode.OUTPAINT:
        margins = outpaint_margins(doc, frame)
        assert margins is not None
        w = doc.width + margins.left + margins.right
        h = doc.height + margins.top + margins.bottom
        return f"{mode.title}: extend the canvas to {w} × {h} px"
    if mode is Mode.INPAINT:
        mask = repaint_mask(doc)
        assert mask is not None
        box = mask_bounds(mask)
        masked = bool(doc.mask_layers()) and doc.combined_mask().max() >= REPAINT_THRESHOLD
        what = "the masked area" if masked else "the selection"
        size = f" ({box.width} × {box.height} px)" if box is not None else ""
        return f"{mode.title}: {what}{size}"
    if mode is Mode.IMG2IMG:
        return f"{mode.title}: the visible canvas ({doc.width} × {doc.height} px)"
    return f"{mode.title}: fill the empty canvas ({doc.width} × {doc.height} px)"


@dataclass(frozen=True)
class Capture:
    """What one job was asked to work on, kept until its results land.

    ``target`` is where the model's picture goes in document coordinates at submit time
    (for outpaint it reaches beyond the canvas); ``preview`` is where the live preview draws.
    """

    mode: Mode
    doc_size: tuple[int, int]
    target: Rect
    preview: Rect
    source: np.ndarray | None = field(default=None, repr=False)
    mask: np.ndarray | None = field(default=None, repr=False)
    margins: Margins | None = None


def capture(doc: Document, mode: Mode, frame: Rect | None) -> Capture:
    """Take the pixels ``mode`` needs from ``doc`` (the visible composite, the mask)."""
    size = (doc.width, doc.height)
    whole = doc.rect
    if mode is Mode.TXT2IMG:
        return Capture(mode, size, whole, whole)
    if mode is Mode.INPAINT:
        mask = repaint_mask(doc)
        if mask is None:
            raise ValueError("nothing to inpaint")
        box = plan_region(mask, INPAINT_PADDING, 64 * 64, 8).box  # the box the engine will plan
        rect = Rect(box.x0, box.y0, box.width, box.height)
        return Capture(mode, size, rect, rect, doc.composite(), mask.copy())
    if mode is Mode.OUTPAINT:
        margins = outpaint_margins(doc, frame)
        if margins is None:
            raise ValueError("the outpaint frame does not reach beyond the canvas")
        grown_w = doc.width + margins.left + margins.right
        grown_h = doc.height + margins.top + margins.bottom
        target = Rect(-margins.left, -margins.top, grown_w, grown_h)
        grown_mask = np.full((grown_h, grown_w), 255, np.uint8)
        grown_mask[margins.top : margins.top + doc.height, margins.left : margins.left + doc.width] = 0
        box = plan_region(grown_mask, OUTPAINT_PADDING, 64 * 64, 8).box
        preview = Rect(box.x0 - margins.left, box.y0 - margins.top, box.width, box.height)
        return Capture(mode, size, target, preview, doc.composite(), None, margins)
    # img2img and variations: the selection's box if there is one (variations of a region)
    rect = whole
    if mode is Mode.VARIATIONS and doc.selection.active:
        bounds = doc.selection.bounds()
        if bounds is not None and bounds.w >= 8 and bounds.h >= 8:
            rect = bounds
    return Capture(mode, size, rect, rect, doc.composite(rect))


def working_size(capture: Capture, native: int) -> tuple[int, int]:
    """The size a whole-image task renders at by default: the target's shape at the model's area."""
    return scaled_size(capture.target.w, capture.target.h, native * native, 8)


@dataclass(frozen=True)
class Landing:
    """A result ready to become a layer: ``rgba`` goes at ``at`` once the canvas has ``grow``n.

    ``grow`` is ``(width, height, offset)`` for :meth:`Document.resize_canvas`, or ``None``.
    ``at`` is in the coordinates of the grown canvas; ``overlay_at`` in today's.
    """

    rgba: np.ndarray
    at: tuple[int, int]
    overlay_at: tuple[int, int]
    grow: tuple[int, int, tuple[int, int]] | None = None


def _resized(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]))
    return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS))


def _opaque(rgb: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    out = np.empty((*rgb.shape[:2], 4), np.uint8)
    out[..., :3] = rgb[..., :3]
    out[..., 3] = 255 if alpha is None else alpha
    return out


def landing(capture: Capture, image: GeneratedImage) -> Landing:
    """Where and how ``image`` lands as a layer so nothing outside what it repaints changes."""
    if capture.mode is Mode.INPAINT and image.box is not None and capture.mask is not None:
        box = image.box
        # opaque wherever the mask is above 0: the pixels there hold the soft blend already
        alpha = np.where(capture.mask[box.slices()] > 0, 255, 0).astype(np.uint8)
        rgba = _opaque(image.pixels, alpha)
        return Landing(rgba, (box.x0, box.y0), (box.x0, box.y0))
    if capture.mode is Mode.OUTPAINT and image.box is not None and capture.margins is not None:
        m = capture.margins
        box = image.box
        width, height = capture.doc_size
        inside = np.zeros((capture.target.h, capture.target.w), bool)
        inside[m.top : m.top + height, m.left : m.left + width] = True
        alpha = np.where(inside[box.slices()], 0, 255).astype(np.uint8)
        rgba = _opaque(image.pixels, alpha)
        grow = (capture.target.w, capture.target.h, (m.left, m.top))
        return Landing(rgba, (box.x0, box.y0), (box.x0 - m.left, box.y0 - m.top), grow)
    target = capture.target
    rgb = _resized(image.full(), target.w, target.h)
    return Landing(_opaque(rgb), (target.x, target.y), (target.x, target.y))

