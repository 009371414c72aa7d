"""OpenRaster (.ora) files: save and load a layered document.

The layout follows the OpenRaster 0.0.5 baseline: ``mimetype`` first and stored uncompressed,
``stack.xml``, one PNG per layer under ``data/``, ``Thumbnails/thumbnail.png`` (at most 256 px)
and ``mergedimage.png``. What only Sfumato knows rides along in a spec-valid way: mask layers are
PNG layers (the tint colour, alpha = mask) marked ``sfumato:kind="mask"`` with a ``sfumato:tint``;
per-layer metadata (generation parameters) lives in ``data/sfumato.json``.

Files from other programs are read too: nested stacks are flattened into layers in order, with
offsets, visibility, opacity and composite-op carried over. Every size is checked against the
limits before anything is allocated, and zip entries with unsafe paths or suspicious sizes are
refused with :class:`OraError`.
"""

from __future__ import annotations

import json
import math
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from xml.parsers import expat

import numpy as np
from PIL import Image

from sfumato.document.atomic import atomic_write
from sfumato.document.compositing import composite_rgba
from sfumato.document.document import MAX_SIDE, Document
from sfumato.document.geometry import Rect
from sfumato.document.image_io import ImageLoadError, decode_rgba, open_checked
from sfumato.document.layers import DEFAULT_MASK_TINT, BlendMode, Layer, LayerKind
from sfumato.errors import UserFacingError

SFUMATO_NS = "urn:sfumato:openraster:1"
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
_XML_INVALID = str.maketrans({c: None for c in [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20),
                                                0xFFFE, 0xFFFF, *range(0xD800, 0xE000)]})

ET.register_namespace("sfumato", SFUMATO_NS)


class OraError(UserFacingError):
    """An OpenRaster file could not be read (or is not one)."""


# ------------------------------------------------------------------------------------ saving
def _xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold."""
    return text.translate(_XML_INVALID)


def _layer_png(layer: Layer) -> Image.Image:
    if not layer.is_mask:
        return Image.fromarray(layer.pixels, "RGBA")
    rgba = np.empty((*layer.pixels.shape, 4), np.uint8)
    rgba[..., :3] = layer.tint
    rgba[..., 3] = layer.pixels
    return Image.fromarray(rgba, "RGBA")


def _stack_xml(width: int, height: int, layers: Sequence[Layer], sources: list[str],
               active: Layer | None) -> bytes:
    image = ET.Element("image", {"version": "0.0.5", "w": str(width), "h": str(height)})
    stack = ET.SubElement(image, "stack")
    for layer, src in reversed(list(zip(layers, sources, strict=True))):  # first child = top
        attrs = {
            "name": _xml_text(layer.name),
            "src": src,
            "x": "0",
            "y": "0",
            "opacity": repr(float(layer.opacity)),
            "visibility": "visible" if layer.visible else "hidden",
            "composite-op": layer.blend.ora_name,
            "edit-locked": "true" if layer.locked else "false",
            "selected": "true" if active is not None and layer.uid == active.uid else "false",
        }
        if layer.is_mask:
            attrs[_KIND] = LayerKind.MASK.value
            attrs[_TINT] = "#{:02x}{:02x}{:02x}".format(*layer.tint)
        ET.SubElement(stack, "layer", attrs)
    return ET.tostring(image, encoding="utf-8", xml_declaration=True)


def _png_into(zf: zipfile.ZipFile, name: str, image: Image.Image, compress_level: int) -> None:
    info = zipfile.ZipInfo(name, time.localtime()[:6])  # stored: PNG is compressed already
    with zf.open(info, "w") as out:
        image.save(out, format="PNG", compress_level=compress_level)


def write_ora(fh: BinaryIO, width: int, height: int, layers: Sequence[Layer],
              active: Layer | None = None, *, compress_level: int = 6) -> None:
    """Write an OpenRaster file of ``layers`` (bottom first) to the open binary file ``fh``.

    ``compress_level`` is the PNG zlib level (autosave uses a fast 1).
    """
    sources = [f"data/layer{i:03d}.png" for i in range(len(layers))]
    now = time.localtime()[:6]
    with zipfile.ZipFile(fh, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype", now), MIMETYPE, compress_type=zipfile.ZIP_STORED)
        zf.writestr(zipfile.ZipInfo("stack.xml", now), _stack_xml(width, height, layers, sources, active),
                    compress_type=zipfile.ZIP_DEFLATED)
        for layer, src in zip(layers, sources, strict=True):
            _png_into(zf, src, _layer_png(layer), compress_level)
        extra = {"format": "sfumato", "version": 1,
                 "layers": {src: {"metadata": layer.metadata}
                            for layer, src in zip(layers, sources, strict=True) if layer.metadata}}
        zf.writestr(zipfile.ZipInfo(_SFUMATO_JSON, now), json.dumps(extra, ensure_ascii=False),
                    compress_type=zipfile.ZIP_DEFLATED)
        merged = Image.fromarray(composite_rgba(list(layers), Rect(0, 0, width, height)), "RGBA")
        _png_into(zf, "mergedimage.png", merged, compress_level)
        merged.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        _png_into(zf, "Thumbnails/thumbnail.png", merged, compress_level)


def save_ora(doc: Document, path: Path | str) -> None:
    """Save ``doc`` as OpenRaster at ``path`` atomically, then mark it saved there.

    Raises :class:`~sfumato.document.atomic.SaveError` when the file cannot be written; the
    previous file is then unchanged.
    """
    path = Path(path)
    atomic_write(path, lambda fh: write_ora(fh, doc.width, doc.height, doc.layers, doc.active_layer))
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


@dataclass
class _LayerEntry:
    """One layer of a (possibly nested) stack, with its groups' effects folded in."""

    element: ET.Element
    x: int
    y: int
    visible: bool
    opacity: float
    blend: BlendMode

    @property
    def is_mask(self) -> bool:
        return self.element.get(_KIND) == LayerKind.MASK.value


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


def _flatten(stack: ET.Element, x: int, y: int, visible: bool, opacity: float,
             blend: BlendMode) -> list[_LayerEntry]:
    """The leaf layers under ``stack``, top first, with group offsets/visibility/opacity applied."""
    entries: list[_LayerEntry] = []
    for child in stack:
        if child.tag not in ("layer", "stack"):
            continue  # text, filter and unknown elements carry no pixels
        cx, cy = x + _int_attr(child, "x"), y + _int_attr(child, "y")
        cvisible = visible and child.get("visibility", "visible") != "hidden"
        copacity = opacity * _opacity(child)
        own = BlendMode.from_ora(child.get("composite-op"))
        cblend = own if own is not BlendMode.NORMAL else blend
        if child.tag == "stack":
            entries += _flatten(child, cx, cy, cvisible, copacity, cblend)
        else:
            entries.append(_LayerEntry(child, cx, cy, cvisible, copacity, cblend))
    return entries


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

    def layer_pixels(self, entry: _LayerEntry, width: int, height: int) -> np.ndarray:
        """The layer's pixels placed on a ``width × height`` canvas (RGBA, or one channel for masks)."""
        src = entry.element.get("src")
        if not src:
            raise OraError(f"{self.what} is damaged: a layer has no image (src).")
        name = entry.element.get("name", src)
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
        if entry.is_mask:
            rgba = rgba[..., 3] if has_alpha else rgba[..., 0]
        canvas = np.zeros((height, width, *rgba.shape[2:]), np.uint8)
        target = Rect(entry.x, entry.y, rgba.shape[1], rgba.shape[0]).clamp(width, height)
        if not target.empty:
            canvas[target.slices] = rgba[target.translated(-entry.x, -entry.y).slices]
        return canvas


def _canvas_size(image: ET.Element, what: str) -> tuple[int, int]:
    try:
        width, height = int(image.get("w", "")), int(image.get("h", ""))
    except ValueError as exc:
        raise OraError(f"{what} does not say how large the image is.") from exc
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise OraError(f"{what} is {width}×{height} pixels; Sfumato opens images up to "
                       f"{MAX_SIDE} pixels on a side.")
    return width, height


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
    entries = _flatten(root, 0, 0, True, 1.0, BlendMode.NORMAL)[::-1]  # bottom first
    needed = sum(width * height * (1 if e.is_mask else 4) for e in entries)
    if needed > MAX_TOTAL_LAYER_BYTES:
        raise OraError(f"{what} has too many large layers to open ({needed // 2**20} MiB needed, "
                       f"at most {MAX_TOTAL_LAYER_BYTES // 2**20} MiB).")
    metadata: dict[str, dict[str, str]] = {}
    if _SFUMATO_JSON in reader.entries:
        try:
            raw = reader.read(_SFUMATO_JSON, _MAX_JSON_BYTES, f"“{_SFUMATO_JSON}” is missing")
            metadata = _metadata(json.loads(raw))
        except ValueError:
            metadata = {}
    doc = Document(width, height)
    active: Layer | None = None
    for number, entry in enumerate(entries, 1):
        element = entry.element
        kind = LayerKind.MASK if entry.is_mask else LayerKind.RASTER
        layer = Layer(
            element.get("name") or f"Layer {number}",
            kind,
            reader.layer_pixels(entry, width, height),
            visible=entry.visible,
            opacity=entry.opacity,
            locked=element.get("edit-locked", "false").lower() in ("true", "1"),
            blend=entry.blend,
            tint=_tint(element.get(_TINT)),
            metadata=dict(metadata.get(element.get("src", ""), {})),
        )
        doc.layers.append(layer)
        if element.get("selected", "false").lower() in ("true", "1"):
            active = layer
    if doc.layers:
        doc.set_active(active or doc.layers[-1])
    return doc


def load_ora(path: Path | str) -> Document:
    """Open the OpenRaster file at ``path`` as a new document (marked saved at ``path``).

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
