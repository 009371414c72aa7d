"""OpenRaster (.ora) files: save and load a layered document.

The layout follows the OpenRaster 0.0.5 baseline: ``mimetype`` first and stored uncompressed,
``stack.xml``, one PNG per layer under ``data/``, ``Thumbnails/thumbnail.png`` (at most 256 px)
and ``mergedimage.png``. What only Sfumato knows rides along in a spec-valid way: mask layers are
PNG layers (the tint colour, alpha = mask) marked ``sfumato:kind="mask"`` with a ``sfumato:tint``,
written ``visibility="hidden"`` so that other programs do not draw them, with their own visibility
in ``sfumato:visible``; per-layer metadata (generation parameters) lives in ``data/sfumato.json``.
A layer that keeps pixels beyond the canvas (:class:`~sfumato.document.layers.OffCanvas`) is
written with them, at a negative ``x``/``y`` where they start left of or above the canvas.
A document that came from a file declaring ``mypaint:eotf`` writes it back (see :func:`load_ora`).

Files from other programs are read too (https://www.openraster.org/baseline/layer-stack-spec.html):
layers keep their offsets, visibility, opacity and composite-op, and their pixels beyond the
canvas. Stacks have no groups to become here, so a stack that is not isolated dissolves into its
layers, and an isolated one becomes one layer holding its isolated composite, with its own
opacity and blend mode (see :func:`_isolated`), unless compositing it alone changes nothing;
its masks and hidden layers are kept as layers of their own above it. A stack's ``x``/``y`` is
ignored, as OpenRaster 0.0.6 and Krita do. Every size is checked against the limits before
anything is allocated, and zip entries with unsafe paths or suspicious sizes are refused with
:class:`OraError`.
"""
from __future__ import annotations

import json
import math
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO
from xml.parsers import expat

import numpy as np
from PIL import Image

from sfumato.document.atomic import atomic_write
from sfumato.document.compositing import composite_placed, composite_rgba
from sfumato.document.document import MAX_SIDE, Document
from sfumato.document.geometry import Rect, nonzero_bounds
from sfumato.document.image_io import ImageLoadError, decode_rgba, open_checked
from sfumato.document.layers import DEFAULT_MASK_TINT, BlendMode, Layer, LayerKind, OffCanvas
from sfumato.errors import UserFacingError

SFUMATO_NS = "urn:sfumato:openraster:1"
#: MyPaint's namespace (``OPENRASTER_MYPAINT_NS`` in its ``lib/xml.py``).
MYPAINT_NS = "http://mypaint.org/ns/openraster"
MIMETYPE = b"image/openraster"
THUMBNAIL_SIZE = 256
#: All layers of a loaded document together may take at most this much memory.
MAX_TOTAL_LAYER_BYTES = 8 * 2**30
MAX_ENTRIES = 10_000
MAX_STACK_DEPTH = 64
_MAX_XML_BYTES = 16 * 2**20
_MAX_JSON_BYTES = 64 * 2**20
_MAX_PNG_BYTES = 2**31
_MAX_RATIO = 200  # real entries (PNG, XML, JSON) stay far below; runs of zeros reach ~1000:1
_SFUMATO_JSON = "data/sfumato.json"
_KIND = f"{{{SFUMATO_NS}}}kind"
_TINT = f"{{{SFUMATO_NS}}}tint"
_VISIBLE = f"{{{SFUMATO_NS}}}visible"
_EOTF = f"{{{MYPAINT_NS}}}eotf"
_XML_INVALID = str.maketrans({c: None for c in [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20),
                                                0xFFFE, 0xFFFF, *range(0xD800, 0xE000)]})

ET.register_namespace("sfumato", SFUMATO_NS)
ET.register_namespace("mypaint", MYPAINT_NS)


class OraError(UserFacingError):
    """An OpenRaster file could not be read (or is not one)."""


# ------------------------------------------------------------------------------------ saving
def _xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold."""
    return text.translate(_XML_INVALID)


def _placed(layer: Layer, width: int, height: int) -> tuple[int, int, np.ndarray]:
    """``(x, y, pixels)`` to store for ``layer``: the canvas, plus what it keeps beyond it."""
    off = layer.off_canvas
    if off is None:
        return 0, 0, layer.pixels
    canvas = Rect(0, 0, width, height)
    frame = canvas.union(off.rect)
    out = np.zeros((frame.h, frame.w, *layer.pixels.shape[2:]), np.uint8)
    out[off.rect.translated(-frame.x, -frame.y).slices] = off.pixels
    out[canvas.translated(-frame.x, -frame.y).slices] = layer.pixels
    return frame.x, frame.y, out


def _layer_png(layer: Layer, pixels: np.ndarray) -> Image.Image:
    if not layer.is_mask:
        return Image.fromarray(pixels, "RGBA")
    rgba = np.empty((*pixels.shape, 4), np.uint8)
    rgba[..., :3] = layer.tint
    rgba[..., 3] = pixels
    return Image.fromarray(rgba, "RGBA")


def _stack_xml(width: int, height: int, layers: Sequence[Layer], sources: list[str],
               offsets: list[tuple[int, int]], active: Layer | None, eotf: float | None) -> bytes:
    image = ET.Element("image", {"version": "0.0.5", "w": str(width), "h": str(height)})
    if eotf is not None:
        image.set(_EOTF, repr(float(eotf)))
    stack = ET.SubElement(image, "stack")
    for layer, src, (x, y) in reversed(list(zip(layers, sources, offsets, strict=True))):  # top first
        visible = "true" if layer.visible else "false"
        attrs = {
            "name": _xml_text(layer.name),
            "src": src,
            "x": str(x),
            "y": str(y),
            "opacity": repr(float(layer.opacity)),
            # other programs would draw a mask as a tinted overlay: they see it hidden
            "visibility": "hidden" if layer.is_mask or not layer.visible else "visible",
            "composite-op": layer.blend.ora_name,
            "edit-locked": "true" if layer.locked else "false",
            "selected": "true" if active is not None and layer.uid == active.uid else "false",
        }
        if layer.is_mask:
            attrs[_KIND] = LayerKind.MASK.value
            attrs[_TINT] = "#{:02x}{:02x}{:02x}".format(*layer.tint)
            attrs[_VISIBLE] = visible
        ET.SubElement(stack, "layer", attrs)
    return ET.tostring(image, encoding="utf-8", xml_declaration=True)


def _png_into(zf: zipfile.ZipFile, name: str, image: Image.Image, compress_level: int) -> None:
    info = zipfile.ZipInfo(name, time.localtime()[:6])  # stored: PNG is compressed already
    with zf.open(info, "w") as out:
        image.save(out, format="PNG", compress_level=compress_level)


def write_ora(fh: BinaryIO, width: int, height: int, layers: Sequence[Layer],
              active: Layer | None = None, *, compress_level: int = 6, eotf: float | None = None) -> None:
    """Write an OpenRaster file of ``layers`` (bottom first) to the open binary file ``fh``.

    ``compress_level`` is the PNG zlib level (autosave uses a fast 1). ``eotf`` is the
    document's :attr:`~sfumato.document.document.Document.eotf`: written as ``mypaint:eotf``
    and used for ``mergedimage.png``.
    """
    sources = [f"data/layer{i:03d}.png" for i in range(len(layers))]
    placed = [_placed(layer, width, height) for layer in layers]
    offsets = [(x, y) for x, y, _ in placed]
    now = time.localtime()[:6]
    with zipfile.ZipFile(fh, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype", now), MIMETYPE, compress_type=zipfile.ZIP_STORED)
        zf.writestr(zipfile.ZipInfo("stack.xml", now),
                    _stack_xml(width, height, layers, sources, offsets, active, eotf),
                    compress_type=zipfile.ZIP_DEFLATED)
        for layer, src, (_, _, pixels) in zip(layers, sources, placed, strict=True):
            _png_into(zf, src, _layer_png(layer, pixels), compress_level)
        extra = {"format": "sfumato", "version": 1,
                 "layers": {src: {"metadata": layer.metadata}
                            for layer, src in zip(layers, sources, strict=True) if layer.metadata}}
        zf.writestr(zipfile.ZipInfo(_SFUMATO_JSON, now), json.dumps(extra, ensure_ascii=False),
                    compress_type=zipfile.ZIP_DEFLATED)
        merged = Image.fromarray(composite_rgba(list(layers), Rect(0, 0, width, height),
                                                eotf=1.0 if eotf is None else eotf), "RGBA")
        _png_into(zf, "mergedimage.png", merged, compress_level)
        merged.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        _png_into(zf, "Thumbnails/thumbnail.png", merged, compress_level)


def save_ora(doc: Document, path: Path | str) -> None:
    """Save ``doc`` as OpenRaster at ``path`` atomically, then mark it saved there.

    Raises :class:`~sfumato.document.atomic.SaveError` when the file cannot be written
    (:class:`~sfumato.errors.DiskFullError` on a full disk); the previous file is then unchanged.
    """
    path = Path(path)
    atomic_write(path, lambda fh: write_ora(fh, doc.width, doc.height, doc.layers, doc.active_layer,
                                            eotf=doc.eotf))
    doc.mark_saved(path)


# ----------------------------------------------------------------------------------- loading
def _parse_xml(data: bytes, what: str) -> ET.Element:
    """Parse ``data`` with expat, refusing DTDs and entity declarations outright."""
    parser = expat.ParserCreate(namespace_separator=" ")
    open_elements: list[ET.Element] = []
    roots: list[ET.Element] = []

    def qname(name: str) -> str:
        uri, _, local = name.rpartition(" ")
        return f"{{{uri}}}{local}" if uri else local

    def start(name: str, attrs: dict[str, str]) -> None:
        element = ET.Element(qname(name), {qname(k): v for k, v in attrs.items()})
        (open_elements[-1] if open_elements else roots).append(element)
        open_elements.append(element)
        if len(open_elements) > MAX_STACK_DEPTH:
            raise OraError(f"{what} nests its layers too deeply to be opened.")

    def refuse(*_args: object) -> None:
        raise OraError(f"{what} contains a document type declaration; it is not a valid OpenRaster file.")

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda _name: open_elements.pop()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise OraError(f"{what} is damaged: its layer list (stack.xml) cannot be read.",
                       details=str(exc)) from exc
    return roots[0]


def _int_attr(element: ET.Element, name: str, default: int = 0) -> int:
    try:
        value = float(element.get(name, default))
    except ValueError:
        return default
    return int(value) if math.isfinite(value) else default


def _opacity(element: ET.Element) -> float:
    try:
        value = float(element.get("opacity", "1"))
    except ValueError:
        return 1.0
    return min(1.0, max(0.0, value)) if math.isfinite(value) else 1.0


def _blend(element: ET.Element) -> BlendMode:
    return BlendMode.from_ora(element.get("composite-op"))


def _shown(element: ET.Element) -> bool:
    """Whether ``element`` itself is visible: ``sfumato:visible`` where we wrote one (mask layers,
    which other programs must see hidden), else its ``visibility``."""
    ours = element.get(_VISIBLE)
    if ours is not None:
        return ours.lower() in ("true", "1")
    return element.get("visibility", "visible") != "hidden"


def _src_over(element: ET.Element) -> bool:
    return element.get("composite-op", "svg:src-over") == "svg:src-over"


def _isolated(stack: ET.Element) -> bool:
    """Whether a non-root ``stack`` is composited on its own (an isolated group).

    ``isolation="isolate"`` always isolates. ``isolation="auto"`` is a pass-through group: its
    layers are composited straight onto the backdrop, its composite-op is ignored and its opacity
    multiplies theirs (OpenRaster 0.0.6, "Compositing the image":
    https://www.openraster.org/baseline/layer-stack-spec.html); Krita draws the pass-through
    groups it writes this way, opacity included. Without the attribute, a stack is isolated when
    its opacity is below 1 or its composite-op is not ``svg:src-over`` (OpenRaster 0.0.5:
    https://github.com/openraster/ora-spec/blob/master/baseline/layer-stack-spec.md). 0.0.6
    would isolate it always; the two differ only for an opaque ``svg:src-over`` group holding
    blending layers, which Krita 5.1 and MyPaint 2.0 (in its 1.x mode) both composite straight
    onto the backdrop, as 0.0.5 does.
    """
    isolation = stack.get("isolation")
    if isolation in ("isolate", "auto"):
        return isolation == "isolate"
    return _opacity(stack) < 1.0 or not _src_over(stack)


@dataclass(frozen=True)
class _Leaf:
    """A ``layer`` element, with the visibility and opacity its pass-through parents give it."""

    element: ET.Element
    visible: bool
    opacity: float

    @property
    def is_mask(self) -> bool:
        return self.element.get(_KIND) == LayerKind.MASK.value

    @property
    def drawn(self) -> bool:
        """Whether it adds pixels to the composite (masks never do)."""
        return self.visible and not self.is_mask


@dataclass(frozen=True)
class _Group:
    """An isolated ``stack`` that becomes one layer: its items, bottom first, composited alone."""

    element: ET.Element
    visible: bool
    opacity: float
    items: tuple[_Leaf | _Group, ...]

    @property
    def drawn(self) -> bool:
        """Whether its composite shows."""
        return self.visible


_Item = _Leaf | _Group


def _items(stack: ET.Element, visible: bool, opacity: float) -> list[_Item]:
    """The layers and isolated groups under ``stack``, bottom first (the first child is the top).

    Pass-through stacks dissolve into their children (``opacity`` is what their opacities
    multiply to). An isolated stack is kept as one :class:`_Group`, unless compositing it alone
    changes no pixel: opacity 1 (its parents' included), ``svg:src-over`` and only normal layers
    drawn inside (source-over is associative), so its layers stay editable on their own.
    """
    items: list[_Item] = []
    for child in reversed(list(stack)):
        shown = visible and _shown(child)
        if child.tag == "layer":
            items.append(_Leaf(child, shown, opacity * _opacity(child)))
        elif child.tag != "stack":
            continue  # text, filter and unknown elements carry no pixels
        elif not _isolated(child):
            items += _items(child, shown, opacity * _opacity(child))
        else:
            inner = _items(child, True, 1.0)
            plain = opacity * _opacity(child) == 1.0 and _src_over(child)
            if plain and all(_src_over(i.element) for i in inner if i.drawn):
                items += [replace(i, visible=i.visible and shown, opacity=i.opacity * opacity)
                          for i in inner]
            else:
                items.append(_Group(child, shown, opacity * _opacity(child), tuple(inner)))
    return items


def _undrawn(items: Sequence[_Item], shown: bool) -> list[_Item]:
    """What a group's composite leaves out, to keep as layers of their own: its masks, hidden
    layers and hidden groups (so saving the document loses none of their pixels)."""
    out: list[_Item] = []
    for item in items:
        if isinstance(item, _Leaf):
            if item.is_mask:
                out.append(replace(item, visible=item.visible and shown))
            elif not item.visible:
                out.append(item)
        elif not item.visible:
            out += _with_undrawn([item])
        else:
            out += _undrawn(item.items, shown)
    return out


def _with_undrawn(items: Sequence[_Item]) -> list[_Item]:
    """``items``, each group followed by what its composite leaves out."""
    out: list[_Item] = []
    for item in items:
        out.append(item)
        if isinstance(item, _Group):
            out += _undrawn(item.items, item.visible)
    return out


def _keep_window(width: int, height: int) -> Rect:
    """The part of the plane whose pixels a loaded layer keeps: the canvas, centred in a
    ``MAX_SIDE``-sided square (so a layer, stored with what lies beyond the canvas, is never
    larger than the largest image Sfumato opens)."""
    return Rect(-((MAX_SIDE - width) // 2), -((MAX_SIDE - height) // 2), MAX_SIDE, MAX_SIDE)


def _on_canvas(pixels: np.ndarray, x: int, y: int, width: int,
               height: int) -> tuple[np.ndarray, OffCanvas | None]:
    """``pixels`` (top-left at ``(x, y)``) as a canvas-sized array and what shows beyond it."""
    canvas = np.zeros((height, width, *pixels.shape[2:]), np.uint8)
    where = Rect(x, y, pixels.shape[1], pixels.shape[0])
    inside = where.clamp(width, height)
    if not inside.empty:
        canvas[inside.slices] = pixels[inside.translated(-x, -y).slices]
    kept = where.intersect(_keep_window(width, height))
    if kept.empty or kept == inside:
        return canvas, None
    shows = (pixels if pixels.ndim == 2 else pixels[..., 3])[kept.translated(-x, -y).slices] > 0
    if not inside.empty:
        shows[inside.translated(-kept.x, -kept.y).slices] = False
    bounds = nonzero_bounds(shows)
    if bounds is None:
        return canvas, None
    part = bounds.translated(kept.x - x, kept.y - y)
    outside = pixels[part.slices].copy()
    outside.flags.writeable = False
    return canvas, OffCanvas(bounds.x + kept.x, bounds.y + kept.y, outside)


def _safe_name(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return not (name.startswith(("/", "\\")) or ".." in parts or "\0" in name
                or (len(name) > 1 and name[1] == ":"))


def _tint(value: str | None) -> tuple[int, int, int]:
    if value and len(value) == 7 and value.startswith("#"):
        try:
            return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)
        except ValueError:
            pass
    return DEFAULT_MASK_TINT


def _metadata(raw: object) -> dict[str, dict[str, str]]:
    """Per-layer metadata by ``src`` from ``data/sfumato.json`` (anything malformed is ignored)."""
    layers = raw.get("layers") if isinstance(raw, dict) else None
    if not isinstance(layers, dict):
        return {}
    out: dict[str, dict[str, str]] = {}
    for src, entry in layers.items():
        meta = entry.get("metadata") if isinstance(entry, dict) else None
        if isinstance(meta, dict):
            out[src] = {str(k): str(v) for k, v in meta.items() if isinstance(v, str)}
    return out


class _Reader:
    """Reads one OpenRaster zip with every size checked before it is used."""

    def __init__(self, zf: zipfile.ZipFile, what: str) -> None:
        self.zf = zf
        self.what = what
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise OraError(f"{what} holds too many files to be an OpenRaster image.")
        unsafe = [info.filename for info in infos if not _safe_name(info.filename)]
        if unsafe:
            raise OraError(f"{what} contains unsafe file paths and was not opened.",
                           details=f"unsafe entries: {unsafe[:5]}")
        self.entries = {info.filename: info for info in infos}
        self.spent = 0

    def info(self, name: str, limit: int, missing: str) -> zipfile.ZipInfo:
        """The entry ``name`` after checking its declared size and compression ratio."""
        info = self.entries.get(name)
        if info is None:
            raise OraError(f"{self.what} is incomplete: {missing}.")
        ratio_bomb = info.file_size > 2**20 and info.file_size > _MAX_RATIO * max(1, info.compress_size)
        if info.file_size > limit or ratio_bomb:
            raise OraError(f"{self.what} is not a valid OpenRaster file: “{name}” is implausibly large.",
                           details=f"{info.file_size} bytes from {info.compress_size} compressed")
        return info

    def read(self, name: str, limit: int, missing: str) -> bytes:
        """The bytes of entry ``name`` (at most ``limit``)."""
        info = self.info(name, limit, missing)
        try:
            return self.zf.read(info)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
            raise OraError(f"{self.what} is damaged: “{name}” cannot be read.", details=str(exc)) from exc

    def reserve(self, nbytes: int) -> None:
        """Count ``nbytes`` more against :data:`MAX_TOTAL_LAYER_BYTES` before allocating them."""
        self.spent += nbytes
        if self.spent > MAX_TOTAL_LAYER_BYTES:
            raise OraError(f"{self.what} has too many large layers to open ({self.spent // 2**20} MiB "
                           f"needed, at most {MAX_TOTAL_LAYER_BYTES // 2**20} MiB).")

    def image(self, leaf: _Leaf) -> np.ndarray:
        """The decoded image of ``leaf``: RGBA, or one channel for masks."""
        src = leaf.element.get("src")
        if not src:
            raise OraError(f"{self.what} is damaged: a layer has no image (src).")
        name = leaf.element.get("name", src)
        info = self.info(src, _MAX_PNG_BYTES, f"the image of layer “{name}” is missing")
        what = f"The layer image “{src}” in {self.what}"
        try:
            with self.zf.open(info) as member:
                image = open_checked(member, what, formats=("PNG",), max_pixels=MAX_SIDE * MAX_SIDE)
                rgba = decode_rgba(image, what)
                has_alpha = image.has_transparency_data
        except ImageLoadError as exc:
            raise OraError(exc.message, details=exc.details) from exc
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
            raise OraError(f"{self.what} is damaged: “{src}” cannot be read.", details=str(exc)) from exc
        if leaf.is_mask:
            return rgba[..., 3] if has_alpha else rgba[..., 0]
        return rgba

    def render(self, group: _Group, window: Rect, eotf: float) -> tuple[Rect, np.ndarray]:
        """``group`` composited alone (in the light of ``eotf``) over the part of ``window`` its
        layers cover: ``(frame, rgba)``."""
        parts: list[tuple[Layer, int, int]] = []
        for item in group.items:
            if not item.drawn:
                continue
            if isinstance(item, _Leaf):
                x, y, pixels = _int_attr(item.element, "x"), _int_attr(item.element, "y"), self.image(item)
            else:
                frame, pixels = self.render(item, window, eotf)
                x, y = frame.x, frame.y
            layer = Layer("", LayerKind.RASTER, pixels, opacity=item.opacity, blend=_blend(item.element))
            parts.append((layer, x, y))
        frame = Rect(0, 0, 0, 0)
        for layer, x, y in parts:
            frame = frame.union(Rect(x, y, layer.width, layer.height).intersect(window))
        self.reserve(frame.w * frame.h * 20)  # float planes and the uint8 result
        return frame, composite_placed(parts, frame, eotf=eotf)


def _canvas_size(image: ET.Element, what: str) -> tuple[int, int]:
    try:
        width, height = int(image.get("w", "")), int(image.get("h", ""))
    except ValueError as exc:
        raise OraError(f"{what} does not say how large the image is.") from exc
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise OraError(f"{what} is {width}×{height} pixels; Sfumato opens images up to "
                       f"{MAX_SIDE} pixels on a side.")
    return width, height


def _eotf(image: ET.Element) -> float | None:
    """The ``mypaint:eotf`` that ``image`` declares: a positive number, else ``None`` (MyPaint too
    ignores a value it cannot read, ``gui/compatibility.py``)."""
    try:
        value = float(image.get(_EOTF, ""))
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _read_document(reader: _Reader) -> Document:
    what = reader.what
    if reader.read("mimetype", 256, "the “mimetype” entry is missing").strip() != MIMETYPE:
        raise OraError(f"{what} is not an OpenRaster image (wrong mimetype).")
    stack_xml = reader.read("stack.xml", _MAX_XML_BYTES, "the layer list “stack.xml” is missing")
    image = _parse_xml(stack_xml, what)
    root = image.find("stack")
    if image.tag != "image" or root is None:
        raise OraError(f"{what} is damaged: its layer list has no stack.")
    width, height = _canvas_size(image, what)
    eotf = _eotf(image)
    items = _with_undrawn(_items(root, True, 1.0))
    reader.reserve(sum(width * height * (1 if isinstance(i, _Leaf) and i.is_mask else 4) for i in items))
    metadata: dict[str, dict[str, str]] = {}
    if _SFUMATO_JSON in reader.entries:
        try:
            raw = reader.read(_SFUMATO_JSON, _MAX_JSON_BYTES, f"“{_SFUMATO_JSON}” is missing")
            metadata = _metadata(json.loads(raw))
        except ValueError:
            metadata = {}
    doc = Document(width, height)
    doc.eotf = eotf
    active: Layer | None = None
    for number, item in enumerate(items, 1):
        element = item.element
        if isinstance(item, _Leaf):
            x, y, pixels = _int_attr(element, "x"), _int_attr(element, "y"), reader.image(item)
            kind = LayerKind.MASK if item.is_mask else LayerKind.RASTER
        else:
            frame, pixels = reader.render(item, _keep_window(width, height), doc.blend_eotf)
            x, y, kind = frame.x, frame.y, LayerKind.RASTER
        on_canvas, off_canvas = _on_canvas(pixels, x, y, width, height)
        if off_canvas is not None:
            reader.reserve(off_canvas.pixels.nbytes)
        layer = Layer(
            element.get("name") or f"{'Group' if isinstance(item, _Group) else 'Layer'} {number}",
            kind,
            on_canvas,
            visible=item.visible,
            opacity=item.opacity,
            locked=element.get("edit-locked", "false").lower() in ("true", "1"),
            blend=_blend(element),
            tint=_tint(element.get(_TINT)),
            metadata=dict(metadata.get(element.get("src", ""), {})) if isinstance(item, _Leaf) else {},
            off_canvas=off_canvas,
        )
        doc.layers.append(layer)
        if element.get("selected", "false").lower() in ("true", "1"):
            active = layer
    if doc.layers:
        doc.set_active(active or doc.layers[-1])
    return doc


def load_ora(path: Path | str) -> Document:
    """Open the OpenRaster file at ``path`` as a new document (marked saved at ``path``).

    A file that declares ``mypaint:eotf`` (MyPaint 2.0 writes 2.2 in its default mode and 1.0
    in its 1.x mode, ``lib/document.py``) keeps it as the document's
    :attr:`~sfumato.document.document.Document.eotf`: the layers hold the bytes the file holds,
    the document blends them in that linear light as MyPaint does (on the canvas, in exports and
    as the source of a generation), and saving writes the attribute back, so the painting looks
    as MyPaint showed it, here and when MyPaint opens it again. Converting the layers to colours
    that blend as stored instead cannot keep that look: a blend mode or a soft edge computed in
    linear light has no equivalent on stored colours, so only a flattened image would survive.
    Files without the attribute blend as stored, as Krita and the OpenRaster spec do.

    Raises :class:`OraError` with a short message when the file is missing, damaged, hostile or
    too large; nothing else is touched.
    """
    path = Path(path)
    what = f"“{path.name}”"
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError as exc:
        raise OraError(f"{what} does not exist any more.", details=str(exc)) from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise OraError(f"{what} is not an OpenRaster file (or it is damaged).", details=str(exc)) from exc
    except OSError as exc:
        raise OraError(f"{what} cannot be read: {exc.strerror}.", details=str(exc)) from exc
    with zf:
        doc = _read_document(_Reader(zf, what))
    doc.mark_saved(path)
    return doc
