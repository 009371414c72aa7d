"""Which generation the canvas asks for, what is sent, and where the results land.

The task comes from the canvas: a painted mask or an active selection → inpaint that region
of the visible composite; an outpaint frame reaching beyond the canvas edge → outpaint;
anything on the canvas → img2img of the composite (a dropped photo is just that); nothing →
txt2img. Variations are asked for explicitly. numpy only: no Qt in here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from sfumato.document.document import Document
from sfumato.document.geometry import Rect
from sfumato.document.snapshot import RegionSnapshot
from sfumato.generation.outpaint import growth_context
from sfumato.generation.region import REPAINT_THRESHOLD, Box, region_box, scaled_size
from sfumato.generation.requests import Margins, Task
from sfumato.inference.results import GeneratedImage

INPAINT_PADDING = 32
OUTPAINT_PADDING = 64
_QUICK_SAMPLES = 64  # rows/columns sampled per layer when deciding "is the canvas empty?"


_TITLES = {
    Task.TXT2IMG: "Text to image",
    Task.IMG2IMG: "Image to image",
    Task.INPAINT: "Inpaint",
    Task.OUTPAINT: "Outpaint",
    Task.VARIATIONS: "Variations",
}


def task_title(task: Task) -> str:
    """How the Generate panel, the job list and result layers name ``task``."""
    return _TITLES[task]


@dataclass(frozen=True)
class RepaintArea:
    """What an inpaint would repaint, without its pixels: the visible mask layers (``masked``)
    or else the selection, and the bounding box of its values above 0."""

    masked: bool
    bounds: Rect

    def mask(self, doc: Document, rect: Rect) -> np.ndarray:
        """The mask values over ``rect`` (only ``rect`` is read)."""
        if self.masked:
            return doc.combined_mask(rect)
        selection = doc.selection.mask
        assert selection is not None
        return selection[rect.slices].copy()


def repaint_area(doc: Document) -> RepaintArea | None:
    """The area an inpaint would use: the visible mask layers, else the selection, else ``None``.

    Read from the document's per-tile coverage: nothing is scanned but what changed.
    """
    masks = doc.mask_summary()
    if masks.peak >= REPAINT_THRESHOLD and masks.bounds is not None:
        return RepaintArea(True, masks.bounds)
    selection = doc.selection_summary()
    if selection.peak >= REPAINT_THRESHOLD and selection.bounds is not None:
        return RepaintArea(False, selection.bounds)
    return None


def outpaint_margins(doc: Document, frame: Rect | None) -> Margins | None:
    """How far ``frame`` reaches beyond each canvas edge, or ``None`` if it stays inside."""
    if frame is None or frame.empty:
        return None
    sides = (max(0, -frame.x), max(0, -frame.y), max(0, frame.right - doc.width),
             max(0, frame.bottom - doc.height))
    return Margins(*sides) if any(sides) else None


def _uniform(values: np.ndarray) -> bool:
    if values.ndim == 3 and values.shape[2] == 4 and values.flags.c_contiguous:
        values = values.view(np.uint32)  # one comparison per RGBA pixel
    flat = values.reshape(-1, values.shape[-1]) if values.ndim == 3 else values.reshape(-1)
    return bool((flat == flat[0]).all())


def canvas_is_empty(doc: Document | None, *, exact: bool = False) -> bool:
    """True when nothing has been painted: every visible raster layer is transparent or one flat colour.

    Without ``exact`` each layer is sampled on a grid (cheap enough to run on every change);
    with it, a layer is scanned whole only when every layer's samples were flat.
    """
    if doc is None:
        return True
    layers = [layer for layer in doc.layers if not layer.is_mask and layer.visible
              and layer.opacity > 0 and layer.content_bounds() is not None]
    for layer in layers:
        pixels = layer.pixels
        step_y = max(1, pixels.shape[0] // _QUICK_SAMPLES)
        step_x = max(1, pixels.shape[1] // _QUICK_SAMPLES)
        if not _uniform(pixels[::step_y, ::step_x]):
            return False
    return not exact or all(_uniform(layer.pixels) for layer in layers)


def detect_task(doc: Document | None, frame: Rect | None) -> Task:
    """The task Generate would run now (Variations is only ever chosen explicitly)."""
    if doc is None:
        return Task.TXT2IMG
    if outpaint_margins(doc, frame) is not None:
        return Task.OUTPAINT
    if repaint_area(doc) is not None:
        return Task.INPAINT
    return Task.TXT2IMG if canvas_is_empty(doc) else Task.IMG2IMG


@dataclass(frozen=True)
class GenerationTarget:
    """What Generate would do now: the task, and one line for the panel saying what it works on."""

    task: Task
    description: str


def generation_target(doc: Document | None, frame: Rect | None) -> GenerationTarget:
    """The task for ``doc`` with outpaint ``frame``, and what it works on (reads coverage only)."""
    task = detect_task(doc, frame)
    title = task_title(task)
    if doc is None:
        return GenerationTarget(task, f"{title}: a new canvas")
    if task is Task.OUTPAINT:
        margins = outpaint_margins(doc, frame)
        assert margins is not None
        w = doc.width + margins.left + margins.right
        h = doc.height + margins.top + margins.bottom
        return GenerationTarget(task, f"{title}: extend the canvas to {w} × {h} px")
    if task is Task.INPAINT:
        area = repaint_area(doc)
        assert area is not None
        what = "the masked area" if area.masked else "the selection"
        return GenerationTarget(task, f"{title}: {what} ({area.bounds.w} × {area.bounds.h} px)")
    if task is Task.IMG2IMG:
        return GenerationTarget(task, f"{title}: the visible canvas ({doc.width} × {doc.height} px)")
    return GenerationTarget(task, f"{title}: fill the empty canvas ({doc.width} × {doc.height} px)")


def describe_task(doc: Document | None, frame: Rect | None) -> str:
    """One line for the panel: the task and what it works on."""
    return generation_target(doc, frame).description


@dataclass(frozen=True)
class Capture:
    """What one job was asked to work on, kept until its results land.

    ``target`` is where the model's picture goes in document coordinates at submit time
    (for outpaint it reaches beyond the canvas); ``preview`` is where the live preview draws.
    ``picture`` (the visible composite, taken when the job was asked for and composited when it
    runs, see :class:`~sfumato.document.snapshot.RegionSnapshot`) and ``mask`` cover only what
    the job works on: the region's box for an inpaint, the part of the canvas an outpaint's
    region needs, the target otherwise. ``origin`` is where the top-left corner of the engine's
    picture (:meth:`source`, grown by the margins for an outpaint) lies in the coordinates
    results land in: the document's, or the grown canvas's for an outpaint.
    """

    task: Task
    doc_size: tuple[int, int]
    target: Rect
    preview: Rect
    picture: RegionSnapshot | None = field(default=None, repr=False)
    mask: np.ndarray | None = field(default=None, repr=False)
    margins: Margins | None = None
    origin: tuple[int, int] = (0, 0)

    def source(self) -> np.ndarray | None:
        """The captured picture as uint8 RGBA (composited on the first call, on any thread)."""
        return None if self.picture is None else self.picture.composite()

    def release(self) -> None:
        """Forget the picture without compositing it (the job ended before it ran)."""
        if self.picture is not None:
            self.picture.release()


def _box(rect: Rect) -> Box:
    return Box(rect.x, rect.y, rect.right, rect.bottom)


def _rect(box: Box) -> Rect:
    return Rect(box.x0, box.y0, box.width, box.height)


def _new_area_bounds(margins: Margins, width: int, height: int) -> Rect:
    """The bounding box, on the grown canvas, of what an outpaint by ``margins`` adds."""
    grown_w = width + margins.left + margins.right
    grown_h = height + margins.top + margins.bottom
    strips = [
        Rect(0, 0, margins.left, grown_h),
        Rect(margins.left + width, 0, margins.right, grown_h),
        Rect(0, 0, grown_w, margins.top),
        Rect(0, margins.top + height, grown_w, margins.bottom),
    ]
    bounds = Rect(0, 0, 0, 0)
    for strip in strips:
        bounds = bounds.union(strip)
    return bounds


def _outpaint_crop(box: Rect, margins: Margins, width: int, height: int) -> Rect:
    """The part of a ``width × height`` canvas an outpaint of region ``box`` (in document
    coordinates) needs: the box, and beside each grown side what the canvas growth reads.

    The box reaches every grown side, so the engine, growing this crop by the same margins,
    sees the region exactly as it would on the whole canvas.
    """
    reach = growth_context(margins)
    x0, y0, x1, y1 = box.x, box.y, box.right, box.bottom
    if margins.left:
        x1 = max(x1, reach)
    if margins.right:
        x0 = min(x0, width - reach)
    if margins.top:
        y1 = max(y1, reach)
    if margins.bottom:
        y0 = min(y0, height - reach)
    return Rect(x0, y0, x1 - x0, y1 - y0).clamp(width, height)


def _snapshot(doc: Document, rect: Rect) -> RegionSnapshot:
    return RegionSnapshot(doc.layers, rect.clamp(doc.width, doc.height), doc.blend_eotf)


def capture(doc: Document, task: Task, frame: Rect | None) -> Capture:
    """Take what ``task`` needs from ``doc``: a snapshot of the visible composite and the mask of
    only the box the engine will work on (:func:`~sfumato.generation.region.region_box`). The
    mask is copied now; the picture is composited when :meth:`Capture.source` is first called
    (by the inference thread), from the pixels as they are now."""
    size = (doc.width, doc.height)
    whole = doc.rect
    if task is Task.TXT2IMG:
        return Capture(task, size, whole, whole)
    if task is Task.INPAINT:
        area = repaint_area(doc)
        if area is None:
            raise ValueError("nothing to inpaint")
        rect = _rect(region_box(_box(area.bounds), doc.width, doc.height, INPAINT_PADDING))
        return Capture(task, size, rect, rect, _snapshot(doc, rect), area.mask(doc, rect),
                       origin=(rect.x, rect.y))
    if task is Task.OUTPAINT:
        margins = outpaint_margins(doc, frame)
        if margins is None:
            raise ValueError("the outpaint frame does not reach beyond the canvas")
        grown_w = doc.width + margins.left + margins.right
        grown_h = doc.height + margins.top + margins.bottom
        target = Rect(-margins.left, -margins.top, grown_w, grown_h)
        new_area = _new_area_bounds(margins, doc.width, doc.height)
        box = _rect(region_box(_box(new_area), grown_w, grown_h, OUTPAINT_PADDING))
        preview = box.translated(-margins.left, -margins.top)
        crop = _outpaint_crop(preview, margins, doc.width, doc.height)
        # the engine grows the crop by the margins: its picture starts at the crop's corner
        return Capture(task, size, target, preview, _snapshot(doc, crop), None, margins,
                       origin=(crop.x, crop.y))
    # img2img and variations: the selection's box if there is one (variations of a region)
    rect = whole
    if task is Task.VARIATIONS and doc.selection.active:
        bounds = doc.selection_summary().bounds
        if bounds is not None and bounds.w >= 8 and bounds.h >= 8:
            rect = bounds
    return Capture(task, size, rect, rect, _snapshot(doc, rect), origin=(rect.x, rect.y))


def working_size(capture: Capture, native: int) -> tuple[int, int]:
    """The size a whole-image task renders at by default: the target's shape at the model's area."""
    return scaled_size(capture.target.w, capture.target.h, native * native, 8)


@dataclass(frozen=True)
class Landing:
    """A result ready to become a layer: ``rgba`` goes over ``rect`` once the canvas has ``grow``n.

    ``rgba`` keeps the size it came at: the region's for inpaint and outpaint (so it covers
    exactly ``rect``), the model's for whole-image tasks (scaled to ``rect`` only when applied,
    :meth:`pixels`). ``grow`` is ``(width, height, offset)`` for :meth:`Document.resize_canvas`,
    or ``None``. ``rect`` is in the coordinates of the grown canvas; ``overlay`` in today's.
    """

    rgba: np.ndarray
    rect: Rect
    overlay: Rect
    grow: tuple[int, int, tuple[int, int]] | None = None

    def pixels(self) -> np.ndarray:
        """``rgba`` at the size of ``rect``."""
        height, width = self.rgba.shape[:2]
        if (width, height) == (self.rect.w, self.rect.h):
            return self.rgba
        image = Image.fromarray(np.ascontiguousarray(self.rgba[..., :3]))
        rgb = np.asarray(image.resize((self.rect.w, self.rect.h), Image.Resampling.LANCZOS))
        return _opaque(rgb)


def _opaque(rgb: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    out = np.empty((*rgb.shape[:2], 4), np.uint8)
    out[..., :3] = rgb[..., :3]
    out[..., 3] = 255 if alpha is None else alpha
    return out


def landing(capture: Capture, image: GeneratedImage) -> Landing:
    """Where and how ``image`` lands as a layer so nothing outside what it repaints changes.

    Region results (``image.box`` in the engine's picture) are placed at ``capture.origin``;
    nothing is scaled or grown to the canvas here.
    """
    ox, oy = capture.origin
    if capture.task is Task.INPAINT and image.box is not None and capture.mask is not None:
        box = image.box
        # opaque wherever the mask is above 0: the pixels there hold the soft blend already
        alpha = np.where(capture.mask[box.slices()] > 0, 255, 0).astype(np.uint8)
        rect = Rect(ox + box.x0, oy + box.y0, box.width, box.height)
        return Landing(_opaque(image.pixels, alpha), rect, rect)
    if capture.task is Task.OUTPAINT and image.box is not None and capture.margins is not None:
        m = capture.margins
        box = image.box
        width, height = capture.doc_size
        rect = Rect(ox + box.x0, oy + box.y0, box.width, box.height)
        alpha = np.full((box.height, box.width), 255, np.uint8)
        old = Rect(m.left, m.top, width, height).intersect(rect).translated(-rect.x, -rect.y)
        alpha[old.slices] = 0  # the old picture is not covered
        grow = (capture.target.w, capture.target.h, (m.left, m.top))
        return Landing(_opaque(image.pixels, alpha), rect, rect.translated(-m.left, -m.top), grow)
    return Landing(_opaque(image.full()), capture.target, capture.target)
