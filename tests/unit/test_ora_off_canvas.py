"""Pixels a file places beyond the canvas: kept on open, written back on save, moved by resizes."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfumato.document import ora
from sfumato.document.autosave import take_snapshot
from sfumato.document.geometry import Rect
from sfumato.document.ora import OraError, load_ora, save_ora

W, H = 10, 8


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def _ora(path: Path, layers: list[tuple[str, int, int, np.ndarray]], extra: str = "") -> Path:
    """An .ora of ``layers`` (top first) as ``(name, x, y, rgba)``."""
    body = "".join(f'<layer name="{n}" src="data/{n}.png" x="{x}" y="{y}" {extra}/>' for n, x, y, _ in layers)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "image/openraster")
        zf.writestr("stack.xml", f'<image w="{W}" h="{H}"><stack>{body}</stack></image>')
        for name, _, _, pixels in layers:
            zf.writestr(f"data/{name}.png", _png(pixels))
    return path


def _saved_layers(path: Path) -> dict[str, tuple[int, int, np.ndarray]]:
    """What a saved file says of each layer: ``name → (x, y, rgba)``."""
    with zipfile.ZipFile(path) as zf:
        stack = ET.fromstring(zf.read("stack.xml"))
        return {e.get("name", ""): (int(e.get("x", "0")), int(e.get("y", "0")),
                                    np.asarray(Image.open(io.BytesIO(zf.read(e.get("src", ""))))))
                for e in stack.iter("layer")}


def _noise(w: int, h: int, seed: int = 0) -> np.ndarray:
    out = np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)
    out[..., 3] = np.maximum(out[..., 3], 1)  # every pixel shows
    return out


def test_pixels_beyond_every_edge_survive_open_and_save(tmp_path: Path) -> None:
    big = _noise(20, 16)
    doc = load_ora(_ora(tmp_path / "in.ora", [("big", -5, -3, big)]))
    (layer,) = doc.layers
    assert np.array_equal(layer.pixels, big[3 : 3 + H, 5 : 5 + W])
    assert layer.off_canvas is not None and layer.off_canvas.rect == Rect(-5, -3, 20, 16)
    save_ora(doc, tmp_path / "out.ora")
    x, y, pixels = _saved_layers(tmp_path / "out.ora")["big"]
    assert (x, y) == (-5, -3) and np.array_equal(pixels, big)
    again = load_ora(tmp_path / "out.ora").layers[0]
    assert again.off_canvas is not None and again.off_canvas.rect == layer.off_canvas.rect
    assert np.array_equal(again.off_canvas.pixels, big) and np.array_equal(again.pixels, layer.pixels)


def test_painting_inside_the_canvas_keeps_what_lies_outside(tmp_path: Path) -> None:
    wide = _noise(14, 4)
    doc = load_ora(_ora(tmp_path / "in.ora", [("wide", 2, 1, wide)]))
    layer = doc.layers[0]
    with doc.edit_pixels(layer, Rect(0, 0, W, H), "paint"):
        layer.pixels[...] = (1, 2, 3, 255)
    save_ora(doc, tmp_path / "out.ora")
    x, y, pixels = _saved_layers(tmp_path / "out.ora")["wide"]
    assert (x, y) == (0, 0) and pixels.shape == (H, 16, 4)
    assert (pixels[:, :W] == (1, 2, 3, 255)).all()
    assert np.array_equal(pixels[1:5, W:], wide[:, W - 2 :]) and pixels[[0, 5, 6, 7], W:, 3].sum() == 0


def test_transparent_margins_beyond_the_canvas_are_not_kept(tmp_path: Path) -> None:
    tile = np.zeros((64, 64, 4), np.uint8)  # MyPaint stores whole 64-pixel tiles
    tile[2:6, 3:7] = (9, 8, 7, 255)
    doc = load_ora(_ora(tmp_path / "in.ora", [("tile", 0, 0, tile)]))
    assert doc.layers[0].off_canvas is None
    save_ora(doc, tmp_path / "out.ora")
    x, y, pixels = _saved_layers(tmp_path / "out.ora")["tile"]
    assert (x, y) == (0, 0) and np.array_equal(pixels, tile[:H, :W])


def test_mask_pixels_beyond_the_canvas_are_kept_too(tmp_path: Path) -> None:
    tinted = np.zeros((H, W + 6, 4), np.uint8)
    tinted[..., :3] = (230, 40, 70)
    tinted[:, W:, 3] = 200
    tinted[0, 0, 3] = 255
    extra = f'sfumato:kind="mask" xmlns:sfumato="{ora.SFUMATO_NS}"'
    mask = load_ora(_ora(tmp_path / "in.ora", [("m", 0, 0, tinted)], extra)).layers[0]
    assert mask.is_mask and mask.pixels[0, 0] == 255 and mask.pixels[1:].sum() == 0
    assert mask.off_canvas is not None and mask.off_canvas.rect == Rect(W, 0, 6, H)
    assert (mask.off_canvas.pixels == 200).all()


def test_resizing_the_canvas_moves_them_along_and_undo_moves_them_back(tmp_path: Path) -> None:
    left = _noise(6, 4, seed=3)
    doc = load_ora(_ora(tmp_path / "in.ora", [("left", -4, 2, left)]))
    layer = doc.layers[0]
    assert layer.off_canvas is not None and layer.off_canvas.rect == Rect(-4, 2, 4, 4)  # what shows
    doc.resize_canvas(W + 8, H, offset=(8, 0))  # grow to the left: the image moves right by 8
    assert layer.off_canvas is not None and layer.off_canvas.rect == Rect(4, 2, 4, 4)
    doc.undo()
    assert layer.off_canvas.rect == Rect(-4, 2, 4, 4)
    doc.redo()
    doc.undo()
    save_ora(doc, tmp_path / "out.ora")
    x, y, pixels = _saved_layers(tmp_path / "out.ora")["left"]
    assert (x, y) == (-4, 0) and np.array_equal(pixels[2:6, :6], left)


def test_copies_and_autosave_snapshots_keep_them(tmp_path: Path) -> None:
    doc = load_ora(_ora(tmp_path / "in.ora", [("big", -5, -3, _noise(20, 16))]))
    layer = doc.layers[0]
    assert layer.duplicate().off_canvas is layer.off_canvas
    assert take_snapshot(doc).layers[0].off_canvas is layer.off_canvas
    assert layer.off_canvas is not None and not layer.off_canvas.pixels.flags.writeable


def test_pixels_absurdly_far_away_are_dropped_without_allocating(tmp_path: Path) -> None:
    body = ('<stack opacity="0.5"><layer name="far" src="data/p.png" x="1000000000" y="-7"/>'
            '<layer name="near" src="data/p.png" x="1" y="1"/></stack>'
            '<layer name="alone" src="data/p.png" x="-1000000000" y="0"/>')
    path = tmp_path / "far.ora"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "image/openraster")
        zf.writestr("stack.xml", f'<image w="{W}" h="{H}"><stack>{body}</stack></image>')
        zf.writestr("data/p.png", _png(_noise(3, 3)))
    alone, group = load_ora(path).layers
    assert alone.off_canvas is None and alone.pixels.sum() == 0
    assert group.off_canvas is None and group.pixels[1:4, 1:4, 3].all()


def test_pixels_beyond_the_canvas_count_against_the_memory_budget(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _ora(tmp_path / "in.ora", [("big", -500, -500, _noise(1000, 1000))])
    monkeypatch.setattr(ora, "MAX_TOTAL_LAYER_BYTES", 2**20)
    with pytest.raises(OraError, match="too many large layers"):
        load_ora(path)
