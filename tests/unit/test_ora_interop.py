"""OpenRaster against Krita 5.1 and MyPaint 2.0: files they wrote and the images they flattened.

The fixtures (``tests/fixtures/ora``, made as its README says) hold files Krita and MyPaint wrote
from the scenes of ``scenes.py``, each with the program's own ``mergedimage.png`` and the PNG it
exported after opening the file again, plus ``sfumato-written.ora`` as flattened by both and
``sfumato-eotf22.ora`` (MyPaint's EOTF 2.2 file saved again by Sfumato) as MyPaint flattened it.
No Krita or MyPaint is needed here.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from sfumato.document.document import Document
from sfumato.document.layers import BlendMode, Layer
from sfumato.document.ora import MYPAINT_NS, _placed, load_ora, save_ora

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ora"


def _fixture_module(name: str) -> ModuleType:
    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))  # the generators import scenes.py as a top-level module
    spec = importlib.util.spec_from_file_location(name, FIXTURES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scenes = _fixture_module("scenes")


def _walk(nodes: list[dict]) -> list[dict]:
    return [n for node in nodes for n in [node, *_walk(node.get("children", []))]]


NODES = {node["name"]: node for nodes in scenes.SCENES.values() for node in _walk(nodes)}
GROUPS = {name for name, node in NODES.items() if node["kind"] == "group"}

#: How far each program's stored layer colours (premultiplied, in levels) are from what it was
#: given; alpha is exact. Krita keeps 8-bit straight RGBA; MyPaint stores 15-bit premultiplied
#: colour (with EOTF 2.2 in linear light) and rounds on the way back to 8 bits.
COLOUR_TOLERANCE = {"krita": 0.0, "mypaint": 1.0, "mypaint-eotf22": 1.0}

#: Our composite against each program's flattening, most channel levels apart. Krita works in
#: 8-bit integers and rounds after each layer: where overlay lies over multiply and screen
#: (krita-layers, sfumato-written) that reaches 3 (see the README); everything else is within 2.
FLATTENED = {
    ("krita-layers.ora", "krita"): 3,
    ("krita-groups.ora", "krita"): 2,
    ("mypaint-layers.ora", "mypaint"): 2,
    ("mypaint-groups.ora", "mypaint"): 2,
    ("mypaint-eotf22-layers.ora", "mypaint"): 2,
    ("mypaint-eotf22-groups.ora", "mypaint"): 2,
    ("sfumato-written.ora", "krita"): 3,
    ("sfumato-written.ora", "mypaint"): 2,
    ("sfumato-eotf22.ora", "mypaint"): 2,
}

#: Layers whose pixels a program's re-opened export draws differently from the file's own
#: ``mergedimage.png``: MyPaint in its 2.x mode reads the pass-through stacks it wrote without a
#: ``composite-op`` back as pigment (spectral-WGM) groups, which Sfumato has no mode for.
EXPORT_DIFFERS_OVER = {"mypaint-eotf22-groups.ora": ("t1", "th1", "th2")}

#: The ``mypaint:eotf`` each file declares (MyPaint 2.0 writes it; Krita and Sfumato do not).
EOTF = {"krita": None, "mypaint": 1.0, "mypaint-eotf22": 2.2}


def _program(name: str) -> str:
    return name.rsplit("-", 1)[0]


def _expected(name: str) -> list[tuple[str, bool, float, bool, BlendMode]]:
    """``(name, is_group_layer, opacity, visible, blend)`` of each layer, bottom first."""

    def leaf(key: str, opacity: float | None = None) -> tuple[str, bool, float, bool, BlendMode]:
        node = NODES[key]
        return (key, False, node["opacity"] if opacity is None else opacity, node["visible"],
                BlendMode(node["blend"]))

    program, scene = _program(name), name.rsplit("-", 1)[1].removesuffix(".ora")
    below = [("background", False, 1.0, True, BlendMode.NORMAL)] if program != "krita" else []
    if scene == "layers":
        return below + [leaf(node["name"]) for node in scenes.SCENES["layers"]]
    # MyPaint writes a pass-through group without its opacity (it draws them at full opacity)
    through = 128 / 255 if program == "krita" else 1.0
    return [
        *below,
        leaf("paper"),
        ("half", True, 128 / 255, True, BlendMode.NORMAL),
        ("screened", True, 1.0, True, BlendMode.SCREEN),
        leaf("p1"), leaf("p2"), leaf("p-hidden"),  # an isolated group that changes nothing
        leaf("t1"),
        leaf("th1", through), leaf("th2", through),
        ("outer", True, 204 / 255, True, BlendMode.NORMAL),
    ]


PROGRAM_FILES = [f"{p}-{s}.ora" for p in ("krita", "mypaint", "mypaint-eotf22") for s in ("layers", "groups")]


def _file_layers(path: Path) -> dict[str, tuple[int, int, np.ndarray]]:
    """What the file says of each ``layer`` element: ``name → (x, y, rgba)``, read with Pillow."""
    with zipfile.ZipFile(path) as zf:
        stack = ET.fromstring(zf.read("stack.xml"))
        return {e.get("name", ""): (int(e.get("x", "0")), int(e.get("y", "0")), np.asarray(
                    Image.open(io.BytesIO(zf.read(e.get("src", "")))).convert("RGBA")))
                for e in stack.iter("layer")}


def _plane(layer: Layer, doc: Document) -> tuple[int, int, np.ndarray]:
    """The layer as saving writes it: its canvas pixels together with those beyond the canvas."""
    return _placed(layer, doc.width, doc.height)


@pytest.mark.parametrize("name", PROGRAM_FILES)
def test_every_layer_reads_as_the_file_and_the_program_say(name: str) -> None:
    path = FIXTURES / name
    doc = load_ora(path)
    want = _expected(name)
    assert [lyr.name for lyr in doc.layers] == [w[0] for w in want]
    for (layer_name, group, opacity, visible, blend), layer in zip(want, doc.layers, strict=True):
        assert (layer.visible, layer.blend, layer.is_mask) == (visible, blend, False), layer_name
        assert layer.opacity == pytest.approx(opacity, abs=1e-5), layer_name
        assert (layer_name in GROUPS) == group
    in_file = _file_layers(path)
    tolerance = COLOUR_TOLERANCE[_program(name)]
    for layer in doc.layers:
        if layer.name not in in_file:
            continue
        # the pixels the file holds, at the offset it gives, cut to the canvas ...
        x, y, png = in_file[layer.name]
        canvas = np.zeros_like(layer.pixels)
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(doc.width, x + png.shape[1]), min(doc.height, y + png.shape[0])
        canvas[y0:y1, x0:x1] = png[y0 - y : y1 - y, x0 - x : x1 - x]
        assert np.array_equal(layer.pixels, canvas), layer.name
        if layer.name not in NODES:
            continue  # MyPaint's background
        # ... and, with what lies beyond it, the pattern the program was given, where it was given
        node = NODES[layer.name]
        px, py, plane = _plane(layer, doc)
        pattern = scenes.pixels(node)
        ox, oy = node["x"] - px, node["y"] - py
        assert ox >= 0 and oy >= 0, f"{layer.name}: pixels before ({px}, {py}) were dropped"
        placed = np.zeros_like(plane)
        placed[oy : oy + node["h"], ox : ox + node["w"]] = pattern
        assert np.array_equal(plane[..., 3], placed[..., 3]), layer.name
        alpha = placed[..., 3:].astype(float) / 255
        assert np.abs((plane[..., :3] - placed[..., :3].astype(float)) * alpha).max() <= tolerance, layer.name


def test_a_flattened_group_keeps_the_pixels_its_layers_had_beyond_the_canvas() -> None:
    for name in ("krita-groups.ora", "mypaint-groups.ora"):
        half = next(lyr for lyr in load_ora(FIXTURES / name).layers if lyr.name == "half")
        assert half.off_canvas is not None and half.off_canvas.x == NODES["h-off"]["x"], name


def _reference(path: Path, program: str, doc: Document) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The program's own flattenings of ``path``, cut to the canvas (MyPaint's fill whole tiles),
    each with where it is to be compared (everywhere but :data:`EXPORT_DIFFERS_OVER`)."""
    everywhere = np.ones((doc.height, doc.width), bool)
    export = everywhere.copy()
    for layer in doc.layers:
        if layer.name in EXPORT_DIFFERS_OVER.get(path.name, ()):
            export &= layer.pixels[..., 3] == 0
    images = [(f"{program} export", Image.open(path.with_suffix(f".{program}.png")), export)]
    if not path.name.startswith("sfumato"):
        with zipfile.ZipFile(path) as zf:
            images.append(("mergedimage.png", Image.open(io.BytesIO(zf.read("mergedimage.png"))),
                           everywhere))
    return [(what, np.asarray(image.convert("RGBA"))[: doc.height, : doc.width].astype(int), where)
            for what, image, where in images]


@pytest.mark.parametrize(("name", "program"), sorted(FLATTENED))
def test_our_flattening_matches_the_programs_own(name: str, program: str) -> None:
    path = FIXTURES / name
    doc = load_ora(path)
    ours = doc.composite().astype(int)
    for what, reference, where in _reference(path, program, doc):
        assert reference.shape == ours.shape
        assert where.mean() > 0.5, what  # most of the canvas is compared
        assert np.abs(ours - reference)[where].max() <= FLATTENED[name, program], what


@pytest.mark.parametrize("name", PROGRAM_FILES)
def test_a_file_keeps_the_eotf_it_declares_through_open_and_save(name: str, tmp_path: Path) -> None:
    doc = load_ora(FIXTURES / name)
    assert doc.eotf == EOTF[_program(name)]
    save_ora(doc, tmp_path / name)
    with zipfile.ZipFile(tmp_path / name) as zf:
        image = ET.fromstring(zf.read("stack.xml"))
        merged = np.asarray(Image.open(io.BytesIO(zf.read("mergedimage.png"))))
    written = image.get(f"{{{MYPAINT_NS}}}eotf")
    assert written == (None if doc.eotf is None else str(doc.eotf))  # as MyPaint writes it: "2.2"
    assert load_ora(tmp_path / name).eotf == doc.eotf
    assert np.array_equal(merged, doc.composite())


def test_mypaint_shows_our_save_of_its_linear_light_file_as_it_showed_the_original() -> None:
    with zipfile.ZipFile(FIXTURES / "mypaint-eotf22-groups.ora") as zf:
        original = np.asarray(Image.open(io.BytesIO(zf.read("mergedimage.png"))).convert("RGBA"))
    again = np.asarray(Image.open(FIXTURES / "sfumato-eotf22.mypaint.png").convert("RGBA"))
    height, width = again.shape[:2]
    assert np.abs(again.astype(int) - original[:height, :width].astype(int)).max() <= 2


@pytest.mark.parametrize("name", PROGRAM_FILES)
def test_open_then_save_keeps_every_layer(name: str, tmp_path: Path) -> None:
    doc = load_ora(FIXTURES / name)
    save_ora(doc, tmp_path / name)
    again = load_ora(tmp_path / name)
    assert len(again.layers) == len(doc.layers)
    for before, after in zip(doc.layers, again.layers, strict=True):
        assert after.props() == before.props()
        assert np.array_equal(after.pixels, before.pixels), before.name
        assert (after.off_canvas is None) == (before.off_canvas is None), before.name
        if before.off_canvas is not None and after.off_canvas is not None:
            assert after.off_canvas.rect == before.off_canvas.rect
            assert np.array_equal(after.off_canvas.pixels, before.off_canvas.pixels)
    assert np.array_equal(again.composite(), doc.composite())


@pytest.mark.parametrize(("make", "fixture"), [("build", "sfumato-written.ora"),
                                               ("reopened", "sfumato-eotf22.ora")])
def test_our_writer_still_writes_the_files_krita_and_mypaint_flattened(make: str, fixture: str,
                                                                      tmp_path: Path) -> None:
    made = _fixture_module("make_sfumato")
    path = tmp_path / "now.ora"
    save_ora(getattr(made, make)(), path)
    with zipfile.ZipFile(path) as now, zipfile.ZipFile(FIXTURES / fixture) as then:
        assert now.read("stack.xml") == then.read("stack.xml")
        assert now.read("data/sfumato.json") == then.read("data/sfumato.json")
        pngs = sorted(n for n in then.namelist() if n.endswith(".png"))
        assert sorted(n for n in now.namelist() if n.endswith(".png")) == pngs
        for png in pngs:
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(now.read(png)))),
                                  np.asarray(Image.open(io.BytesIO(then.read(png))))), png


def test_the_file_we_wrote_comes_back_with_its_masks_and_pixels_beyond_the_canvas() -> None:
    made = _fixture_module("make_sfumato")
    doc = load_ora(FIXTURES / "sfumato-written.ora")
    built = made.build()
    for before, after in zip(built.layers, doc.layers, strict=True):
        assert (after.name, after.kind, after.props()) == (before.name, before.kind, before.props())
        assert np.array_equal(after.pixels, before.pixels), before.name
        assert np.array_equal(_plane(after, doc)[2], _plane(before, built)[2]), before.name
    masks = [lyr for lyr in doc.layers if lyr.is_mask]
    assert [(m.name, m.visible) for m in masks] == [("Mask", True), ("Hidden mask", False)]
    assert doc.active_layer is not None and doc.active_layer.name == "Mask"
