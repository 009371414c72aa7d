"""Importing images as RGBA pixels and exporting the visible composite as PNG, JPEG or WebP.

Images are opened lazily and their declared size is checked against the document limits before
any pixel is decoded, so a decompression bomb or an absurdly large image is refused without a
large allocation.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import struct
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from sfumato.document.atomic import atomic_write
from sfumato.document.document import MAX_SIDE, Document
from sfumato.errors import UserFacingError

log = logging.getLogger(__name__)

#: The largest image we decode: 128 megapixels (512 MiB as RGBA).
MAX_IMAGE_PIXELS = 2**27

#: File name suffixes (lower case) of the formats :func:`load_image` reads.
SUPPORTED_IMPORT_SUFFIXES: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".jpe", ".webp", ".tif", ".tiff", ".bmp",
)
#: File name suffixes (lower case) :func:`export_image` writes.
SUPPORTED_EXPORT_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp")

_IMPORT_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP")
_WEBP_MAX_SIDE = 16383
_EXIF_USER_COMMENT = 0x9286
# What Pillow raises for broken pixel data, besides OSError ("image file is truncated").
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error,
                  Image.DecompressionBombError)


class ImageLoadError(UserFacingError):
    """An image could not be imported (unreadable, damaged, unsupported or too large)."""


class ExportError(UserFacingError):
    """The composite could not be exported in the requested format."""


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Pillow's warnings while reading (a bomb warning, damaged EXIF) go to the log, not stderr:
    our own size limits replace the bomb check, and damaged metadata does not stop a picture."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        log.info("while reading an image: %s", warning.message)


def check_image_size(width: int, height: int, what: str, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Refuse ``width × height`` pixels beyond ``MAX_SIDE`` on a side or ``max_pixels`` in all."""
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"{what} has no pixels ({width}×{height}).")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > max_pixels:
        raise ImageLoadError(
            f"{what} is too large ({width}×{height} pixels). Sfumato opens images up to "
            f"{MAX_SIDE} pixels on a side and {max_pixels // 2**20} megapixels in all.",
        )


def open_checked(fp: IO[bytes], what: str, *, formats: tuple[str, ...] = _IMPORT_FORMATS,
                 max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open ``fp`` lazily (header only) and check its size; raise :class:`ImageLoadError`."""
    try:
        with _quiet():
            image = Image.open(fp, formats=list(formats))
    except UnidentifiedImageError as exc:
        raise ImageLoadError(
            f"{what} is not an image Sfumato can open (PNG, JPEG, WebP, TIFF or BMP), or it is damaged.",
            details=str(exc),
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"{what} is too large to open safely.", details=str(exc)) from exc
    except _DECODE_ERRORS as exc:
        raise ImageLoadError(f"{what} is damaged and cannot be read.", details=str(exc)) from exc
    check_image_size(image.width, image.height, what, max_pixels)
    return image


def _to_rgba(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to a writable ``[H, W, 4]`` uint8 straight-alpha array."""
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(image)
        if mode == "F":
            grey = np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)
        else:  # 16-bit (or 32-bit integer) greyscale: keep the top 8 of 16 bits
            grey = (np.clip(values.astype(np.int64), 0, 65535) >> 8).astype(np.uint8)
        out = np.empty((*grey.shape, 4), np.uint8)
        out[..., :3] = grey[..., None]
        out[..., 3] = 255
        return out
    if mode not in ("RGBA", "RGB", "RGBX", "RGBa", "L", "LA", "La", "1", "P", "PA", "CMYK"):
        image = image.convert("RGB")  # YCbCr, LAB, HSV and other exotic modes
    return np.array(image.convert("RGBA"), dtype=np.uint8)


def decode_rgba(image: Image.Image, what: str) -> np.ndarray:
    """Decode an image opened by :func:`open_checked` into RGBA, mapping decoder errors."""
    try:
        with _quiet():
            image.load()
            return _to_rgba(image)
    except MemoryError as exc:
        raise ImageLoadError(f"Not enough memory to open {what}.") from exc
    except _DECODE_ERRORS as exc:
        raise ImageLoadError(f"{what} is damaged or incomplete and cannot be read.",
                             details=str(exc)) from exc


def load_image(source: Path | str | bytes) -> np.ndarray:
    """Read a PNG, JPEG, WebP, TIFF or BMP file (or its bytes) as ``[H, W, 4]`` uint8 RGBA.

    The EXIF orientation is applied; palette, greyscale, 16-bit and CMYK images are converted.
    Multi-frame files give their first frame. Raises :class:`ImageLoadError` with a short
    message for unreadable, damaged, unsupported or oversized images.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        what = "The image"
        fp: BinaryIO = io.BytesIO(source)
    else:
        path = Path(source)
        what = f"“{path.name}”"
        try:
            fp = path.open("rb")
        except FileNotFoundError as exc:
            raise ImageLoadError(f"{what} does not exist any more.", details=str(exc)) from exc
        except IsADirectoryError as exc:
            raise ImageLoadError(f"{what} is a folder, not an image.", details=str(exc)) from exc
        except OSError as exc:
            raise ImageLoadError(f"{what} cannot be read: {exc.strerror}.", details=str(exc)) from exc
    with fp:
        image = open_checked(fp, what)
        try:
            with _quiet():
                image.load()
                oriented = ImageOps.exif_transpose(image)
        except _DECODE_ERRORS as exc:
            raise ImageLoadError(f"{what} is damaged or incomplete and cannot be read.",
                                 details=str(exc)) from exc
        return decode_rgba(oriented, what)


def load_mask(source: Path | str | bytes) -> np.ndarray:
    """Read an image as an inpaint mask: ``[H, W]`` uint8, 255 = repaint, 0 = keep.

    Any mode :func:`load_image` reads will do: the grey level (ITU-R 601 luma, as Pillow's
    ``L``) weighted by alpha, so white on transparent marks the same area as white on black.
    Raises :class:`ImageLoadError` as :func:`load_image` does.
    """
    rgba = load_image(source).astype(np.uint32)
    luma = (rgba[..., 0] * 19595 + rgba[..., 1] * 38470 + rgba[..., 2] * 7471 + 0x8000) >> 16
    return ((luma * rgba[..., 3] + 127) // 255).astype(np.uint8)


def _flatten_on_white(rgba: np.ndarray) -> np.ndarray:
    """RGB of ``rgba`` composited over opaque white."""
    alpha = rgba[..., 3:4].astype(np.uint16)
    rgb = rgba[..., :3].astype(np.uint16) * alpha + 255 * (255 - alpha)
    return ((rgb + 127) // 255).astype(np.uint8)


def _png_info(metadata: dict[str, str]) -> PngImagePlugin.PngInfo:
    """tEXt chunks for Latin-1 text, iTXt (UTF-8) for everything else."""
    info = PngImagePlugin.PngInfo()
    for key, value in metadata.items():
        if not 0 < len(key) < 80 or not key.isprintable() or not all(ord(c) < 256 for c in key):
            raise ValueError(f"PNG text keys must be 1–79 printable Latin-1 characters: {key!r}")
        info.add_text(key, value)
    return info


def _exif_comment(image: Image.Image, metadata: dict[str, str]) -> bytes:
    """EXIF with the metadata as JSON in ``UserComment`` (where SD tools look in JPEG/WebP)."""
    exif = image.getexif()
    text = json.dumps(metadata, ensure_ascii=False, sort_keys=True)
    exif[_EXIF_USER_COMMENT] = b"UNICODE\0" + text.encode("utf-16-be")
    return exif.tobytes()


def export_image(doc: Document, path: Path | str, metadata: dict[str, str] | None = None,
                 quality: int = 95) -> None:
    """Write the visible composite of ``doc`` (mask layers left out) to ``path``, atomically.

    The format follows the suffix: PNG keeps alpha and stores ``metadata`` as tEXt/iTXt chunks;
    JPEG is flattened on white; WebP keeps alpha (``quality=100`` means lossless). JPEG and WebP
    carry ``metadata`` as JSON in the EXIF ``UserComment``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_EXPORT_SUFFIXES:
        raise ExportError(f"Cannot export “{path.name}”: choose a .png, .jpg or .webp file name.")
    if suffix == ".webp" and max(doc.width, doc.height) > _WEBP_MAX_SIDE:
        raise ExportError(f"WebP images can be at most {_WEBP_MAX_SIDE} pixels on a side; "
                          "export as PNG instead.")
    rgba = doc.composite()
    metadata = metadata or {}
    if suffix == ".png":
        image = Image.fromarray(rgba, "RGBA")
        options: dict[str, Any] = {"format": "PNG", "pnginfo": _png_info(metadata)}
    elif suffix == ".webp":
        image = Image.fromarray(rgba, "RGBA")
        options = {"format": "WEBP", "quality": quality, "lossless": quality >= 100, "exact": True}
    else:
        image = Image.fromarray(_flatten_on_white(rgba), "RGB")
        options = {"format": "JPEG", "quality": quality}
    if metadata and suffix != ".png":
        options["exif"] = _exif_comment(image, metadata)
    atomic_write(path, lambda fh: image.save(fh, **options))
