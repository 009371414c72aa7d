"""OpenRaster: exact round trips, the spec's zip layout, foreign files, and refusing bad input."""

from __future__ import annotations

import errno
import io
import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from sfumato.document import ora
from sfumato.document.document import MAX_SIDE, Document, new_document
from sfumato.document.geometry import Rect
from sfumato.document.layers import BlendMode, LayerKind
from sfumato.document.ora import OraError, load_ora, save_ora
from sfumato.errors import DiskFullError


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _chunk(b"IEND", b""))


def _write_zip(path: Path, entries: list[tuple[str, bytes]],
               compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def _stack(body: str, w: int = 10, h: int = 8) -> bytes:
    return f'<?xml version="1.0"?><image w="{w}" h="{h}"><stack>{body}</stack></image>'.encode()


def _solid(w: int, h: int, rgba: tuple[int, int, int, int]) -> np.ndarray:
    out = np.empty((h, w, 4), np.uint8)
    out[...] = rgba
    return out


@pytest.fixture
def rich_doc() -> Document:
    """Every property we store, with pixel values a lossy path would change."""
    rng = np.random.default_rng(42)
    doc = new_document(64, 48)
    noise = doc.add_layer(name="Noise “ü” <&> \"q\"")
    noise.pixels[...] = rng.integers(0, 256, noise.pixels.shape, dtype=np.uint8)
    noise.pixels[:5, :, 3] = 0  # transparent pixels that still carry colour
    hidden = doc.add_layer(name="hidden")
    hidden.pixels[10:20, 10:30] = (1, 2, 3, 4)
    mask = doc.add_layer(LayerKind.MASK, name="Mask")
    mask.pixels[...] = rng.integers(0, 256, mask.pixels.shape, dtype=np.uint8)
    second = doc.add_layer(LayerKind.MASK, name="Mask 2")
    second.pixels[30:, 40:] = 255
    doc.set_layer_props(noise, opacity=0.37, blend=BlendMode.MULTIPLY, locked=True)
    doc.set_layer_props(hidden, visible=False, blend=BlendMode.SCREEN)
    doc.set_layer_props(second, tint=(10, 200, 90), opacity=0.8, visible=False)
    noise.metadata.update({"parameters": "a cat\nSteps: 30, Seed: 7", "prompt": "猫 — «chat»"})
    mask.metadata["source"] = "selection"
    doc.set_active(mask)
    return doc


# ----------------------------------------------------------------------------- round trip
def test_round_trip_is_bit_identical(rich_doc: Document, tmp_path: Path) -> None:
    path = tmp_path / "work.ora"
    save_ora(rich_doc, path)
    assert not rich_doc.modified and rich_doc.path == path
    loaded = load_ora(path)
    assert (loaded.width, loaded.height) == (64, 48)
    assert len(loaded.layers) == len(rich_doc.layers)
    for before, after in zip(rich_doc.layers, loaded.layers, strict=True):
        assert after.kind is before.kind
        assert after.pixels.dtype == np.uint8 and after.pixels.shape == before.pixels.shape
        assert np.array_equal(after.pixels, before.pixels), before.name
        assert after.props() == before.props()
        assert after.metadata == before.metadata
    assert loaded.active_layer is not None and loaded.active_layer.name == "Mask"
    assert loaded.path == path and not loaded.modified
    assert len(loaded.history._undo) == 0


def test_zip_layout_follows_the_spec(rich_doc: Document, tmp_path: Path) -> None:
    path = tmp_path / "work.ora"
    save_ora(rich_doc, path)
    raw = path.read_bytes()
    # the "magic" other tools sniff: first local header names mimetype, stored, no extra field
    assert raw[:4] == b"PK\x03\x04"
    name_len, extra_len = struct.unpack("<HH", raw[26:30])
    assert (name_len, extra_len) == (8, 0)
    assert raw[30:38] == b"mimetype" and raw[38:54] == b"image/openraster"
    with zipfile.ZipFile(path) as zf:
        first = zf.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert first.extra == b"" and zf.read(first) == b"image/openraster"
        names = set(zf.namelist())
        assert {"stack.xml", "mergedimage.png", "Thumbnails/thumbnail.png"} <= names
        assert sum(n.startswith("data/") and n.endswith(".png") for n in names) == 5
        merged = np.asarray(Image.open(io.BytesIO(zf.read("mergedimage.png"))))
        assert np.array_equal(merged, rich_doc.composite())
        stack = zf.read("stack.xml").decode()
        assert 'sfumato:kind="mask"' in stack and 'sfumato:tint="#0ac85a"' in stack
        # masks are hidden from other programs; our own visibility rides along
        masks = [e for e in ET.fromstring(stack).iter("layer") if e.get(f"{{{ora.SFUMATO_NS}}}kind")]
        assert [m.get("visibility") for m in masks] == ["hidden", "hidden"]
        assert [m.get(f"{{{ora.SFUMATO_NS}}}visible") for m in masks] == ["false", "true"]
        assert 'edit-locked="true"' in stack and 'composite-op="svg:multiply"' in stack


def test_mask_layer_png_shows_the_tinted_mask_elsewhere(rich_doc: Document, tmp_path: Path) -> None:
    path = tmp_path / "work.ora"
    save_ora(rich_doc, path)
    mask = rich_doc.layers[-1]
    with zipfile.ZipFile(path) as zf:
        png = Image.open(io.BytesIO(zf.read(f"data/layer{len(rich_doc.layers) - 1:03d}.png")))
        pixels = np.asarray(png)
    assert png.mode == "RGBA"
    assert np.array_equal(pixels[..., 3], mask.pixels)
    assert (pixels[..., :3] == (10, 200, 90)).all()


def test_thumbnail_fits_256(tmp_path: Path) -> None:
    path = tmp_path / "wide.ora"
    save_ora(new_document(600, 300), path)
    with zipfile.ZipFile(path) as zf:
        thumb = Image.open(io.BytesIO(zf.read("Thumbnails/thumbnail.png")))
    assert thumb.size == (256, 128)


def test_failed_save_leaves_previous_file_and_modified_flag(
    rich_doc: Document, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "work.ora"
    save_ora(rich_doc, path)
    before = path.read_bytes()
    rich_doc.set_layer_props(rich_doc.layers[0], name="renamed")
    written: list[str] = []
    real = ora._png_into

    def fail_on_third(zf: zipfile.ZipFile, name: str, image: Image.Image, level: int) -> None:
        written.append(name)
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(zf, name, image, level)

    monkeypatch.setattr(ora, "_png_into", fail_on_third)
    with pytest.raises(DiskFullError):
        save_ora(rich_doc, path)
    assert path.read_bytes() == before
    assert rich_doc.modified
    assert [p.name for p in tmp_path.iterdir()] == ["work.ora"]


# --------------------------------------------------------------------------- foreign files
def test_reads_offsets_visibility_and_pass_through_stacks(tmp_path: Path) -> None:
    top = _solid(4, 4, (10, 20, 30, 255))
    top[0, 0] = (99, 0, 0, 255)
    body = (
        '<layer name="top" src="data/top.png" x="-2" y="1" opacity="0.75"/>'
        # pass-through: its x/y and composite-op are ignored, its opacity multiplies its layers'
        '<stack name="group" x="3" y="2" opacity="0.5" composite-op="svg:screen" isolation="auto">'
        '  <layer name="inner-a" src="data/a.png" x="4" y="3" opacity="0.5"/>'
        '  <layer name="inner-b" src="data/b.png" visibility="hidden" composite-op="svg:multiply"/>'
        "</stack>"
        '<stack visibility="hidden"><stack>'  # opaque src-over stacks without isolation: pass-through
        '  <layer name="deep" src="data/b.png" x="4"/>'
        "</stack></stack>"
        '<text name="ignored"/>'
        '<layer name="bottom" src="data/bottom.png" edit-locked="true" selected="true"/>'
    )
    path = _write_zip(tmp_path / "foreign.ora", [  # no thumbnail, no mergedimage, mimetype deflated last
        ("stack.xml", _stack(body)),
        ("data/top.png", _png(top)),
        ("data/a.png", _png(_solid(3, 2, (0, 255, 0, 200)))),
        ("data/b.png", _png(_solid(2, 2, (0, 0, 255, 255)))),
        ("data/bottom.png", _png(_solid(10, 8, (250, 250, 250, 255)))),
        ("mimetype", b"image/openraster"),
    ])
    doc = load_ora(path)
    assert [lyr.name for lyr in doc.layers] == ["bottom", "deep", "inner-b", "inner-a", "top"]
    bottom, deep, inner_b, inner_a, top_layer = doc.layers
    assert bottom.locked and doc.active_layer is bottom
    assert all(lyr.kind is LayerKind.RASTER for lyr in doc.layers)
    # top: 4×4 at (-2, 1) → its two right columns land in columns 0–1, rows 1–4
    assert tuple(top_layer.pixels[1, 0]) == (10, 20, 30, 255)
    assert top_layer.pixels[:, 2:].sum() == 0 and top_layer.pixels[0].sum() == 0
    assert top_layer.pixels[1:5, :2, 3].all() and top_layer.pixels[5:, :, 3].sum() == 0
    assert top_layer.opacity == 0.75 and top_layer.blend is BlendMode.NORMAL
    # ... and its two left columns are kept beyond the canvas
    assert top_layer.off_canvas is not None and top_layer.off_canvas.rect == Rect(-2, 1, 2, 4)
    assert np.array_equal(top_layer.off_canvas.pixels, top[:, :2])
    assert np.argwhere(inner_a.pixels[..., 3]).min(axis=0).tolist() == [3, 4]
    assert inner_a.pixels[..., 3].astype(bool).sum() == 6
    assert inner_a.opacity == pytest.approx(0.25) and inner_a.blend is BlendMode.NORMAL
    assert not inner_b.visible and inner_b.blend is BlendMode.MULTIPLY
    assert tuple(inner_b.pixels[0, 0]) == (0, 0, 255, 255)
    assert not deep.visible and tuple(deep.pixels[0, 4]) == (0, 0, 255, 255)
    assert deep.pixels[:, :4].sum() == 0
    assert np.array_equal(bottom.pixels, _solid(10, 8, (250, 250, 250, 255)))


PAPER = (200, 100, 50, 255)
RED, GREEN = (255, 0, 0, 255), (0, 255, 0, 255)


def _two_halves(stack_attrs: str, inner_blend: str = "svg:src-over",
                extra: str = "") -> list[tuple[str, bytes]]:
    """Paper below a stack holding red (columns 0–5) under green (columns 4–9): they overlap in 4–5."""
    red = np.zeros((8, 10, 4), np.uint8)
    red[:, :6] = RED
    green = np.zeros((8, 10, 4), np.uint8)
    green[:, 4:] = GREEN
    body = (f'<stack name="g" {stack_attrs}>{extra}'
            f'<layer name="green" src="data/green.png" composite-op="{inner_blend}"/>'
            '<layer name="red" src="data/red.png"/></stack>'
            '<layer name="paper" src="data/paper.png"/>')
    return [("mimetype", b"image/openraster"), ("stack.xml", _stack(body)),
            ("data/red.png", _png(red)), ("data/green.png", _png(green)),
            ("data/paper.png", _png(_solid(10, 8, PAPER)))]


def _mix(top: tuple[int, ...], below: tuple[int, ...], opacity: float) -> list[int]:
    return [round(opacity * t + (1 - opacity) * b) for t, b in zip(top[:3], below[:3], strict=True)] + [255]


@pytest.mark.parametrize("attrs", ['opacity="0.5" isolation="isolate"', 'opacity="0.5"'])
def test_a_group_below_full_opacity_is_composited_alone(attrs: str, tmp_path: Path) -> None:
    doc = load_ora(_write_zip(tmp_path / "group.ora", _two_halves(attrs)))
    _paper, group = doc.layers
    assert group.name == "g" and group.opacity == 0.5 and group.blend is BlendMode.NORMAL
    # the children are composited first (green covers red where they overlap), then faded once
    assert group.pixels[0, 5].tolist() == list(GREEN) and group.pixels[0, 0].tolist() == list(RED)
    out = doc.composite()
    assert out[0, 5].tolist() == _mix(GREEN, PAPER, 0.5)  # not green at 0.5 over red at 0.5
    assert out[0, 0].tolist() == _mix(RED, PAPER, 0.5) and out[0, 9].tolist() == _mix(GREEN, PAPER, 0.5)


def test_a_group_blend_mode_applies_to_the_group_composite(tmp_path: Path) -> None:
    doc = load_ora(_write_zip(tmp_path / "group.ora", _two_halves('composite-op="svg:screen"')))
    _paper, group = doc.layers
    assert group.blend is BlendMode.SCREEN and group.opacity == 1.0
    out = doc.composite()
    assert out[0, 5].tolist() == [200, 255, 50, 255]  # screen(paper, green); red below is covered
    assert out[0, 0].tolist() == [255, 100, 50, 255]  # screen(paper, red)


def test_an_isolated_group_keeps_its_layers_when_isolation_changes_nothing(tmp_path: Path) -> None:
    doc = load_ora(_write_zip(tmp_path / "plain.ora", _two_halves('isolation="isolate"')))
    assert [lyr.name for lyr in doc.layers] == ["paper", "red", "green"]
    # with a multiply layer inside, isolation matters: multiply over transparent is plain colour
    doc = load_ora(_write_zip(tmp_path / "multiply.ora", _two_halves('isolation="isolate"', "svg:multiply")))
    assert [lyr.name for lyr in doc.layers] == ["paper", "g"]
    assert doc.composite()[0, 9].tolist() == list(GREEN)
    # without the attribute an opaque src-over stack is pass-through: green multiplies the paper
    doc = load_ora(_write_zip(tmp_path / "through.ora", _two_halves("", "svg:multiply")))
    assert [lyr.name for lyr in doc.layers] == ["paper", "red", "green"]
    assert doc.composite()[0, 9].tolist() == [0, 100, 0, 255]


def test_a_plain_group_inside_a_faded_pass_through_group_is_composited_alone(tmp_path: Path) -> None:
    entries = _two_halves('isolation="isolate"')
    entries[1] = ("stack.xml", entries[1][1].replace(b'<stack name="g"', b'<stack isolation="auto" '
                                                     b'opacity="0.5"><stack name="g"', 1)
                  .replace(b"</stack>", b"</stack></stack>", 1))
    doc = load_ora(_write_zip(tmp_path / "nested.ora", entries))
    assert [(lyr.name, lyr.opacity) for lyr in doc.layers] == [("paper", 1.0), ("g", 0.5)]
    assert doc.composite()[0, 5].tolist() == _mix(GREEN, PAPER, 0.5)


def test_a_flattened_group_keeps_its_masks_and_hidden_layers_apart(tmp_path: Path) -> None:
    extra = ('<layer name="sketch" src="data/red.png" visibility="hidden"/>'
             '<layer name="mask" src="data/green.png" sfumato:kind="mask" visibility="hidden" '
             'sfumato:visible="true"/>'
             '<stack name="old" visibility="hidden" opacity="0.5">'
             '<layer name="old-a" src="data/red.png"/><layer name="old-mask" src="data/red.png" '
             'sfumato:kind="mask"/></stack>')
    entries = _two_halves(f'opacity="0.5" xmlns:sfumato="{ora.SFUMATO_NS}"', extra=extra)
    doc = load_ora(_write_zip(tmp_path / "group.ora", entries))
    names = [(lyr.name, lyr.kind.value, lyr.visible) for lyr in doc.layers]
    assert names == [("paper", "raster", True), ("g", "raster", True), ("old", "raster", False),
                     ("old-mask", "mask", False), ("mask", "mask", True), ("sketch", "raster", False)]
    # none of them changed the group's composite; the hidden group keeps its own
    assert doc.layers[1].pixels[0, 5].tolist() == list(GREEN)
    assert doc.layers[2].opacity == 0.5 and doc.layers[2].pixels[0, 0].tolist() == list(RED)
    assert (doc.layers[4].pixels[:, 4:] == 255).all() and doc.layers[4].pixels[:, :4].sum() == 0


def test_masks_of_earlier_versions_still_load_as_masks(tmp_path: Path) -> None:
    tinted = np.zeros((8, 10, 4), np.uint8)
    tinted[..., :3] = (230, 40, 70)
    tinted[2:6, 3:7, 3] = 255
    body = (f'<layer name="old hidden" src="data/m.png" sfumato:kind="mask" visibility="hidden" '
            f'xmlns:sfumato="{ora.SFUMATO_NS}"/>'
            f'<layer name="old" src="data/m.png" sfumato:kind="mask" sfumato:tint="#e62846" '
            f'opacity="0.5" xmlns:sfumato="{ora.SFUMATO_NS}"/>')
    path = _write_zip(tmp_path / "old.ora", [("mimetype", b"image/openraster"),
                                             ("stack.xml", _stack(body)), ("data/m.png", _png(tinted))])
    old, hidden = load_ora(path).layers
    assert old.is_mask and old.visible and old.opacity == 0.5 and old.tint == (230, 40, 70)
    assert hidden.is_mask and not hidden.visible
    assert np.array_equal(old.pixels, tinted[..., 3]) and np.array_equal(hidden.pixels, tinted[..., 3])


def test_reads_greyscale_and_palette_layer_pngs(tmp_path: Path) -> None:
    grey = io.BytesIO()
    Image.new("L", (10, 8), 128).save(grey, "PNG")
    path = _write_zip(tmp_path / "grey.ora", [
        ("mimetype", b"image/openraster"),
        ("stack.xml", _stack('<layer src="data/g.png"/>')),
        ("data/g.png", grey.getvalue()),
    ])
    (layer,) = load_ora(path).layers
    assert layer.name == "Layer 1"
    assert (layer.pixels == (128, 128, 128, 255)).all()


# ------------------------------------------------------------------------------- bad input
def _valid_entries() -> list[tuple[str, bytes]]:
    return [
        ("mimetype", b"image/openraster"),
        ("stack.xml", _stack('<layer name="a" src="data/a.png"/>')),
        ("data/a.png", _png(_solid(10, 8, (1, 2, 3, 255)))),
    ]


def _replace(name: str, data: bytes) -> list[tuple[str, bytes]]:
    return [(n, data if n == name else d) for n, d in _valid_entries()]


def _without(name: str) -> list[tuple[str, bytes]]:
    return [(n, d) for n, d in _valid_entries() if n != name]


_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE image [<!ENTITY a "aaaaaaaaaa">'
           b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><image w="10" h="8"><stack>'
           b'<layer name="&b;" src="data/a.png"/></stack></image>')
_DEEP = _stack("<stack>" * 100 + '<layer src="data/a.png"/>' + "</stack>" * 100)

BAD_ENTRIES: dict[str, tuple[list[tuple[str, bytes]], str]] = {
    "missing mimetype": (_without("mimetype"), "mimetype"),
    "wrong mimetype": (_replace("mimetype", b"image/png"), "not an OpenRaster"),
    "missing stack.xml": (_without("stack.xml"), "stack.xml"),
    "stack.xml not xml": (_replace("stack.xml", b"<image w='1'"), "cannot be read"),
    "no stack element": (_replace("stack.xml", b'<image w="10" h="8"/>'), "no stack"),
    "layer src missing": (_without("data/a.png"), "missing"),
    "layer without src": (_replace("stack.xml", _stack('<layer name="a"/>')), "no image"),
    "corrupt layer png": (_replace("data/a.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 50), "damaged"),
    "no size": (_replace("stack.xml", b"<image><stack/></image>"), "how large"),
    "canvas beyond MAX_SIDE": (_replace("stack.xml", _stack("", w=MAX_SIDE + 1)), "pixels on a side"),
    "entity declarations": (_replace("stack.xml", _LAUGHS), "document type declaration"),
    "stacks nested too deep": (_replace("stack.xml", _DEEP), "too deeply"),
    "dot-dot path": ([*_valid_entries(), ("../evil.png", b"x")], "unsafe"),
    "nested dot-dot path": ([*_valid_entries(), ("data/../../evil.png", b"x")], "unsafe"),
    "absolute path": ([*_valid_entries(), ("/etc/evil", b"x")], "unsafe"),
    "drive letter": ([*_valid_entries(), ("C:/evil", b"x")], "unsafe"),
    "backslash traversal": ([*_valid_entries(), ("..\\evil", b"x")], "unsafe"),
}


@pytest.mark.parametrize("case", sorted(BAD_ENTRIES))
def test_bad_files_raise_ora_error_and_stay_untouched(case: str, tmp_path: Path) -> None:
    entries, message = BAD_ENTRIES[case]
    path = _write_zip(tmp_path / "bad.ora", entries)
    before = path.read_bytes()
    with pytest.raises(OraError, match=message):
        load_ora(path)
    assert path.read_bytes() == before


def test_not_a_zip_truncated_and_missing(tmp_path: Path, rich_doc: Document) -> None:
    junk = tmp_path / "junk.ora"
    junk.write_bytes(b"PK\x03\x04 definitely not a zip" * 10)
    with pytest.raises(OraError, match="not an OpenRaster file"):
        load_ora(junk)
    good = tmp_path / "good.ora"
    save_ora(rich_doc, good)
    cut = tmp_path / "cut.ora"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    with pytest.raises(OraError):
        load_ora(cut)
    with pytest.raises(OraError, match="does not exist"):
        load_ora(tmp_path / "nowhere.ora")


def _forbid(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError(f"{name} must not be reached")

    monkeypatch.setattr(owner, name, refuse)


def test_oversized_layer_png_is_refused_before_decoding(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_zip(tmp_path / "bomb.ora", _replace("data/a.png", _png_header_only(100_000, 100_000)))
    _forbid(monkeypatch, ImageFile.ImageFile, "load")
    with pytest.raises(OraError, match="too large"):
        load_ora(path)


def test_layer_budget_is_checked_before_allocating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = '<layer src="data/a.png"/>' * 40  # 40 layers of 16384² RGBA = 40 GiB
    path = _write_zip(tmp_path / "huge.ora", _replace("stack.xml", _stack(body, w=MAX_SIDE, h=MAX_SIDE)))
    _forbid(monkeypatch, ora, "Document")
    _forbid(monkeypatch, Image, "open")
    with pytest.raises(OraError, match="too many large layers"):
        load_ora(path)


ZIP_BOMBS: dict[str, Callable[[], list[tuple[str, bytes]]]] = {
    "layer of zeros": lambda: _replace("data/a.png", bytes(64 * 2**20)),
    "huge stack.xml": lambda: _replace("stack.xml", _stack("<text/>" * (17 * 2**20 // 7))),
}


@pytest.mark.parametrize("case", sorted(ZIP_BOMBS))
def test_zip_bombs_are_refused_from_declared_sizes(case: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_zip(tmp_path / "bomb.ora", ZIP_BOMBS[case]())
    real_open = zipfile.ZipFile.open

    def guarded_open(self: zipfile.ZipFile, name: str | zipfile.ZipInfo, *args: object,
                     **kwargs: object) -> object:
        info = name if isinstance(name, zipfile.ZipInfo) else self.getinfo(name)
        assert info.file_size < 2**20 or info.filename == "mimetype", f"{info.filename} was inflated"
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", guarded_open)
    with pytest.raises(OraError, match="implausibly large"):
        load_ora(path)


@pytest.mark.parametrize(("declared", "eotf"), [('mypaint:eotf="2.2"', 2.2), ('mypaint:eotf="1.0"', 1.0),
                                                ("", None), ('mypaint:eotf="fast"', None),
                                                ('mypaint:eotf="0"', None), ('mypaint:eotf="-2.2"', None),
                                                ('mypaint:eotf="nan"', None), ('mypaint:eotf="inf"', None)])
def test_a_files_eotf_is_kept_when_it_is_a_positive_number(declared: str, eotf: float | None,
                                                           tmp_path: Path) -> None:
    stack = (f'<?xml version="1.0"?><image xmlns:mypaint="{ora.MYPAINT_NS}" w="2" h="1" {declared}>'
             '<stack><layer name="half" src="data/half.png"/><layer name="white" src="data/white.png"/>'
             "</stack></image>").encode()
    path = _write_zip(tmp_path / "eotf.ora", [
        ("mimetype", b"image/openraster"), ("stack.xml", stack),
        ("data/white.png", _png(_solid(2, 1, (255, 255, 255, 255)))),
        ("data/half.png", _png(_solid(2, 1, (0, 0, 0, 128)))),
    ])
    doc = load_ora(path)
    assert doc.eotf == eotf
    # half-transparent black over white: 127 as stored, 255 · (1 − 128/255) ** (1/2.2) = 186 in light
    assert doc.composite()[0, 0].tolist() == ([186] * 3 if eotf == 2.2 else [127] * 3) + [255]
