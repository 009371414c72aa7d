"""A corpus of bad input, made from a few seeds when a test asks for it (nothing is committed).

:func:`image_corpus` writes damaged, mislabeled, oversized and hostile image files;
:func:`ora_corpus` hostile and malformed OpenRaster files; :func:`pickle_corpus` a pickle under
every suffix Sfumato opens. Each returns ``{case name: path}``. A case may still be readable (a
flipped byte in a pixel run decodes to other pixels): what must hold is that reading it either
works or fails with one short message.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

#: format name → (Pillow format, save options, the file name suffix)
FORMATS: dict[str, tuple[str, dict[str, object], str]] = {
    "png": ("PNG", {}, ".png"),
    "jpeg": ("JPEG", {"quality": 90}, ".jpg"),
    "webp": ("WEBP", {"lossless": True}, ".webp"),
    "tiff": ("TIFF", {"compression": "tiff_deflate"}, ".tiff"),
    "bmp": ("BMP", {}, ".bmp"),
}
#: every suffix the window or the command line opens
OPENED_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".ora")


def picture(seed: int, width: int = 48, height: int = 40) -> np.ndarray:
    """An RGB picture with structure and noise (so every format has real data to encode)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 5, y * 6, (x + y) * 3], axis=2) + rng.integers(0, 40, (height, width, 3))
    return (rgb % 256).astype(np.uint8)


def encoded(fmt: str, seed: int = 0) -> bytes:
    """A small valid file of ``fmt``."""
    pillow, options, _suffix = FORMATS[fmt]
    out = io.BytesIO()
    Image.fromarray(picture(seed), "RGB").save(out, pillow, **options)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width × height`` RGBA pixels and holds almost no data (a bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    chunks = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def _bmp_bomb() -> bytes:
    header = struct.pack("<2sIHHI", b"BM", 54, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, 70000, 70000, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return header + info + b"\0" * 16


def _jpeg_bomb() -> bytes:
    data = bytearray(encoded("jpeg"))
    at = data.index(b"\xff\xc0")  # SOF0: length(2) precision(1) height(2) width(2)
    data[at + 5: at + 9] = struct.pack(">HH", 65000, 65000)
    return bytes(data)


def _tiff_bomb() -> bytes:
    data = bytearray(encoded("tiff"))
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[ifd: ifd + 2])
    for i in range(count):
        at = ifd + 2 + 12 * i
        tag, kind = struct.unpack(order + "HH", data[at: at + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength: a SHORT (type 3) or a LONG
            value = struct.pack(order + "HH", 60000, 0) if kind == 3 else struct.pack(order + "I", 60000)
            data[at + 8: at + 12] = value
    return bytes(data)


def _webp_bomb() -> bytes:
    data = bytearray(encoded("webp"))
    at = data.index(b"VP8L") + 9  # chunk size (4), signature 0x2f (1), then 14-bit sides − 1
    bits = (16383) | (16383 << 14) | (int.from_bytes(data[at: at + 4], "little") & ~((1 << 28) - 1))
    data[at: at + 4] = bits.to_bytes(4, "little")
    return bytes(data)


def image_corpus(folder: Path, seed: int = 0, cuts: int = 8, flips: int = 6) -> dict[str, Path]:
    """Truncated (at ``cuts`` random points), corrupted (``flips`` random byte changes), mislabeled
    (each format under every other suffix), empty, bomb and oversized files of each format."""
    rng = np.random.default_rng(seed)
    files: dict[str, bytes | Path] = {}
    for fmt, (_pillow, _options, suffix) in FORMATS.items():
        good = encoded(fmt, seed)
        for cut in sorted(rng.choice(np.arange(1, len(good)), size=min(cuts, len(good) - 1), replace=False)):
            files[f"{fmt}-cut-{cut}{suffix}"] = good[:cut]
        for i in range(flips):
            damaged = bytearray(good)
            for at in rng.integers(0, len(good), size=int(rng.integers(1, 9))):
                damaged[at] = int(rng.integers(0, 256))
            files[f"{fmt}-flipped-{i}{suffix}"] = bytes(damaged)
        for _other, (_p, _o, other_suffix) in FORMATS.items():
            if other_suffix != suffix:
                files[f"{fmt}-as{other_suffix}"] = good  # mislabeled: readable by its content
        files[f"empty{suffix}"] = b""
    files.update({
        "text.png": b"not an image at all\n",
        "gif-as.png": _gif(),
        "png-bomb.png": png_header_only(100_000, 100_000),
        "png-too-wide.png": png_header_only(16_385, 1),
        "png-too-many-pixels.png": png_header_only(16_384, 8_193),
        "bmp-bomb.bmp": _bmp_bomb(),
        "jpeg-bomb.jpg": _jpeg_bomb(),
        "tiff-bomb.tiff": _tiff_bomb(),
        "webp-bomb.webp": _webp_bomb(),
    })
    zeros = folder / "zeros-144mp.png"  # a real zlib bomb: 12000² pixels in a few kilobytes
    Image.new("1", (12_000, 12_000)).save(zeros)
    written = {name: _write(folder / name, data) for name, data in files.items() if isinstance(data, bytes)}
    return {**written, "zeros-144mp.png": zeros}


def _gif() -> bytes:
    out = io.BytesIO()
    Image.fromarray(picture(1)).convert("P").save(out, "GIF")
    return out.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


class _Payload:
    """What a hostile pickle would run on load; Sfumato must never unpickle anything."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("unpickled!",))


def pickle_corpus(folder: Path) -> dict[str, Path]:
    """A pickle file (one that runs code when loaded) under every suffix Sfumato opens."""
    data = pickle.dumps({"state_dict": _Payload()})
    return {f"pickle{suffix}": _write(folder / f"pickle{suffix}", data) for suffix in OPENED_SUFFIXES}


def _layer_png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(picture(seed, 32, 24)).convert("RGBA").save(out, "PNG")
    return out.getvalue()


STACK = ('<?xml version="1.0" encoding="UTF-8"?>\n<image version="0.0.5" w="{w}" h="{h}"><stack>'
         '<layer name="paint" src="{src}" x="{x}" y="{y}" opacity="{opacity}"/></stack></image>')


def _stack(w: object = 32, h: object = 24, src: str = "data/paint.png", x: object = 0, y: object = 0,
           opacity: object = 1.0) -> str:
    return STACK.format(w=w, h=h, src=src, x=x, y=y, opacity=opacity)


def _ora(path: Path, entries: dict[str, bytes | str], mimetype: bytes | None = b"image/openraster") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        if mimetype is not None:
            zf.writestr(zipfile.ZipInfo("mimetype"), mimetype, compress_type=zipfile.ZIP_STORED)
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def ora_corpus(folder: Path, seed: int = 0, cuts: int = 8, flips: int = 6) -> dict[str, Path]:
    """Hostile and malformed OpenRaster files: unsafe paths, DTDs and entities, absurd sizes and
    offsets, missing entries, bad XML, deep nesting, too many entries, bombs, cut and flipped bytes."""
    png = _layer_png(seed)
    entities = "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">'
                       for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    laughs = ('<?xml version="1.0"?><!DOCTYPE image [<!ENTITY a "aaaaaaaaaa">' + entities
              + ']><image w="32" h="24"><stack><layer name="&i;" src="data/paint.png"/></stack></image>')
    xxe = ('<?xml version="1.0"?><!DOCTYPE image [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           '<image w="32" h="24"><stack><layer name="&x;" src="data/paint.png"/></stack></image>')
    deep = '<image w="32" h="24">' + "<stack>" * 5000 + "</stack>" * 5000 + "</image>"
    cases: dict[str, dict[str, bytes | str]] = {
        "traversal": {"stack.xml": _stack(src="../../evil.png"), "../../evil.png": png},
        "absolute": {"stack.xml": _stack(src="/tmp/evil.png"), "/tmp/evil.png": png},
        "backslashes": {"stack.xml": _stack(src="..\\..\\evil.png"), "..\\..\\evil.png": png},
        "billion-laughs": {"stack.xml": laughs, "data/paint.png": png},
        "external-entity": {"stack.xml": xxe, "data/paint.png": png},
        "huge-canvas": {"stack.xml": _stack(w=100_000_000, h=1), "data/paint.png": png},
        "negative-canvas": {"stack.xml": _stack(w=-5, h=24), "data/paint.png": png},
        "words-for-sizes": {"stack.xml": _stack(w="wide", h="tall"), "data/paint.png": png},
        "absurd-offsets": {"stack.xml": _stack(x=10**12, y=-(10**12)), "data/paint.png": png},
        "nan-opacity": {"stack.xml": _stack(opacity="nan"), "data/paint.png": png},
        "inf-opacity": {"stack.xml": _stack(opacity="inf"), "data/paint.png": png},
        "negative-opacity": {"stack.xml": _stack(opacity=-3), "data/paint.png": png},
        "no-stack": {"data/paint.png": png},
        "missing-layer-png": {"stack.xml": _stack()},
        "truncated-xml": {"stack.xml": _stack()[:70], "data/paint.png": png},
        "binary-xml": {"stack.xml": bytes(range(256)), "data/paint.png": png},
        "wrong-root": {"stack.xml": '<svg w="32" h="24"/>', "data/paint.png": png},
        "deep-nesting": {"stack.xml": deep},
        "layer-bomb": {"stack.xml": _stack(), "data/paint.png": png_header_only(100_000, 100_000)},
        "layer-too-big": {"stack.xml": _stack(), "data/paint.png": png_header_only(16_385, 16_385)},
        "layer-is-pickle": {"stack.xml": _stack(), "data/paint.png": pickle.dumps(_Payload())},
        "layer-is-jpeg": {"stack.xml": _stack(), "data/paint.png": encoded("jpeg", seed)},
        "layer-cut": {"stack.xml": _stack(), "data/paint.png": png[: len(png) // 2]},
    }
    files = {f"{name}.ora": _ora(folder / f"{name}.ora", entries) for name, entries in cases.items()}
    plain = {"stack.xml": _stack(), "data/paint.png": png}
    files["no-mimetype.ora"] = _ora(folder / "no-mimetype.ora", plain, mimetype=None)
    files["wrong-mimetype.ora"] = _ora(folder / "wrong-mimetype.ora", plain, b"image/png")
    many = {f"data/{i}.png": b"" for i in range(10_001)}
    files["too-many-entries.ora"] = _ora(folder / "too-many-entries.ora", {"stack.xml": _stack(), **many})
    good = _ora(folder / "good.ora", {"stack.xml": _stack(), "data/paint.png": png}).read_bytes()
    rng = np.random.default_rng(seed)
    for cut in sorted(rng.choice(np.arange(1, len(good)), size=cuts, replace=False)):
        files[f"cut-{cut}.ora"] = _write(folder / f"cut-{cut}.ora", good[:cut])
    for i in range(flips):
        damaged = bytearray(good)
        for at in rng.integers(0, len(good), size=int(rng.integers(1, 9))):
            damaged[at] = int(rng.integers(0, 256))
        files[f"flipped-{i}.ora"] = _write(folder / f"flipped-{i}.ora", bytes(damaged))
    files["empty.ora"] = _write(folder / "empty.ora", b"")
    files["png-as.ora"] = _write(folder / "png-as.ora", encoded("png", seed))
    (folder / "folder.ora").mkdir()
    files["folder.ora"] = folder / "folder.ora"
    return files


def tree(root: Path) -> set[str]:
    """Every path under ``root`` (to show that reading bad input wrote nothing)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}
