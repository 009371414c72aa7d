"""Image import (formats, conversions, orientation, bad input) and composite export."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from sfumato.document.document import MAX_SIDE, Document, new_document
from sfumato.document.image_io import (
    MAX_IMAGE_PIXELS,
    SUPPORTED_IMPORT_SUFFIXES,
    ExportError,
    ImageLoadError,
    export_image,
    load_image,
)
from sfumato.errors import UserFacingError


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width × height`` RGBA pixels (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@pytest.fixture
def rgba() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (23, 31, 4), dtype=np.uint8)


# ------------------------------------------------------------------------------- formats
def test_png_is_read_exactly_from_bytes_and_path(rgba: np.ndarray, tmp_path: Path) -> None:
    data = _encode(Image.fromarray(rgba, "RGBA"), "PNG")
    path = tmp_path / "x.png"
    path.write_bytes(data)
    for source in (data, path, str(path)):
        out = load_image(source)
        assert out.dtype == np.uint8 and out.shape == (23, 31, 4)
        assert np.array_equal(out, rgba)
        assert out.flags.writeable


@pytest.mark.parametrize(("fmt", "options"), [("WEBP", {"lossless": True, "exact": True}),
                                              ("TIFF", {}), ("BMP", {})])
def test_lossless_formats_round_trip(rgba: np.ndarray, fmt: str, options: dict[str, object]) -> None:
    source = rgba if fmt != "BMP" else np.dstack([rgba[..., :3], np.full((23, 31), 255, np.uint8)])
    data = _encode(Image.fromarray(source, "RGBA"), fmt, **options)
    assert np.array_equal(load_image(data), source)


def test_jpeg_is_opaque_rgba() -> None:
    data = _encode(Image.new("RGB", (16, 8), (200, 30, 40)), "JPEG", quality=95)
    out = load_image(data)
    assert out.shape == (8, 16, 4)
    assert (out[..., 3] == 255).all()
    assert np.abs(out[4, 8, :3].astype(int) - (200, 30, 40)).max() <= 4


def test_exif_orientation_is_applied() -> None:
    pixels = np.zeros((2, 3, 3), np.uint8)
    pixels[0, 0] = (255, 0, 0)  # top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    out = load_image(_encode(Image.fromarray(pixels), "PNG", exif=exif.tobytes()))
    assert out.shape == (3, 2, 4)
    assert tuple(out[0, 1]) == (255, 0, 0, 255)  # now top-right
    assert out[..., 0].sum() == 255


def test_palette_with_transparency_keeps_alpha() -> None:
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    image.putpixel((0, 0), 0)
    out = load_image(_encode(image, "PNG", transparency=0))
    assert tuple(out[0, 0]) == (0, 0, 0, 0)
    assert tuple(out[1, 1]) == (10, 200, 30, 255)


def test_greyscale_and_grey_alpha() -> None:
    assert tuple(load_image(_encode(Image.new("L", (2, 2), 77), "PNG"))[0, 0]) == (77, 77, 77, 255)
    assert tuple(load_image(_encode(Image.new("LA", (2, 2), (77, 9)), "PNG"))[0, 0]) == (77, 77, 77, 9)


def test_sixteen_bit_greyscale_keeps_the_high_byte() -> None:
    image = Image.fromarray(np.full((3, 3), 0xABCD, np.uint16))
    assert image.mode.startswith("I;16")
    assert tuple(load_image(_encode(image, "PNG"))[1, 1]) == (0xAB, 0xAB, 0xAB, 255)


def test_cmyk_jpeg_becomes_rgb() -> None:
    out = load_image(_encode(Image.new("CMYK", (8, 8), (255, 0, 0, 0)), "JPEG"))
    r, g, b, a = (int(v) for v in out[4, 4])
    assert r < 20 and g > 235 and b > 235 and a == 255  # cyan


def test_supported_suffixes_are_lower_case_with_dot() -> None:
    assert {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"} <= set(SUPPORTED_IMPORT_SUFFIXES)
    assert all(s.startswith(".") and s == s.lower() for s in SUPPORTED_IMPORT_SUFFIXES)


# ----------------------------------------------------------------------------- bad input
def test_truncated_png_is_refused(rgba: np.ndarray) -> None:
    data = _encode(Image.fromarray(rgba, "RGBA"), "PNG")
    with pytest.raises(ImageLoadError, match="damaged"):
        load_image(data[: len(data) // 2])


def test_corrupt_bytes_are_refused() -> None:
    data = bytearray(_encode(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG"))
    data[200:] = bytes(len(data) - 200)
    with pytest.raises(ImageLoadError):
        load_image(bytes(data))
    with pytest.raises(ImageLoadError, match="not an image Sfumato can open"):
        load_image(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())


def test_unsupported_format_is_refused() -> None:
    with pytest.raises(ImageLoadError, match="PNG, JPEG, WebP, TIFF or BMP"):
        load_image(_encode(Image.new("RGB", (4, 4)), "GIF"))


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


@pytest.mark.parametrize(("width", "height", "reason"), [
    (100_000, 100_000, "bomb"),
    (MAX_SIDE + 1, 8, "one side beyond MAX_SIDE"),
    (12_000, 12_000, "pixel count beyond MAX_IMAGE_PIXELS"),
])
def test_oversized_images_are_refused_from_the_header(
    width: int, height: int, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert width * height > MAX_IMAGE_PIXELS or max(width, height) > MAX_SIDE, reason

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    start = time.perf_counter()
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(png_header_only(width, height))
    assert time.perf_counter() - start < 1.0


def test_load_errors_are_user_facing() -> None:
    assert issubclass(ImageLoadError, UserFacingError)


# -------------------------------------------------------------------------------- export
@pytest.fixture
def doc() -> Document:
    d = new_document(40, 20, background=None)
    layer = d.add_layer()
    layer.pixels[:, :20] = (255, 0, 0, 128)  # half-transparent red on the left, nothing on the right
    return d


def test_png_export_keeps_alpha_and_metadata(doc: Document, tmp_path: Path) -> None:
    meta = {"parameters": "a cat, oil painting\nSteps: 30", "prompt": "chat noir — 猫"}
    path = tmp_path / "out.png"
    export_image(doc, path, meta)
    with Image.open(path) as image:
        assert image.mode == "RGBA"
        assert image.text == meta
        assert np.array_equal(np.asarray(image), doc.composite())
    data = path.read_bytes()
    assert b"tEXtparameters" in data and b"iTXtprompt" in data


def test_jpeg_export_flattens_on_white(doc: Document, tmp_path: Path) -> None:
    path = tmp_path / "out.jpg"
    export_image(doc, path, {"parameters": "Steps: 30 — ünï"}, quality=100)
    with Image.open(path) as image:
        assert image.mode == "RGB"
        pixels = np.asarray(image).astype(int)
        comment = image.getexif().get_ifd(0x8769).get(0x9286) or image.getexif().get(0x9286)
    assert np.abs(pixels[10, 5] - (255, 127, 127)).max() <= 6
    assert np.abs(pixels[10, 35] - (255, 255, 255)).max() <= 3
    assert isinstance(comment, bytes) and comment.startswith(b"UNICODE\0")
    assert json.loads(comment[8:].decode("utf-16-be")) == {"parameters": "Steps: 30 — ünï"}


def test_lossless_webp_export_is_exact(doc: Document, tmp_path: Path) -> None:
    path = tmp_path / "out.webp"
    export_image(doc, path, quality=100)
    assert np.array_equal(load_image(path), doc.composite())


def test_export_refuses_unknown_suffix_and_keeps_old_file(doc: Document, tmp_path: Path) -> None:
    with pytest.raises(ExportError):
        export_image(doc, tmp_path / "out.gif")
    assert not (tmp_path / "out.gif").exists()


def test_failed_export_leaves_previous_file(doc: Document, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"previous export")

    def broken_save(self: Image.Image, fp: io.BufferedWriter, *args: object, **kwargs: object) -> None:
        fp.write(b"\x89PNG partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(UserFacingError, match="disk is full"):
        export_image(doc, path)
    assert path.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
