"""Bad input never hurts: a corpus of damaged, mislabeled, oversized and hostile files and
out-of-range parameters, through the image reader, the OpenRaster reader and ``sfumato generate``.

Every case ends in a readable document or picture, or in one short message (the command line:
exit status 2 and one ``error: …`` line); never a traceback, and nothing is written anywhere.
The window's open, drop and paste paths take the same corpus in ``tests/qt/test_bad_input_window.py``.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from bad_inputs import image_corpus, ora_corpus, pickle_corpus, picture, png_header_only, tree
from PIL import Image

from sfumato.cli import build_parser, main
from sfumato.commands.generate import build_request
from sfumato.document.document import MAX_SIDE
from sfumato.document.image_io import ImageLoadError, load_image, load_mask
from sfumato.document.ora import OraError, load_ora
from sfumato.errors import UserFacingError
from sfumato.generation.requests import MAX_SEED, InpaintRequest, Txt2ImgRequest


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad-images")
    return {**image_corpus(folder, seed=13), **pickle_corpus(folder)}


@pytest.fixture(scope="module")
def ora_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return ora_corpus(tmp_path_factory.mktemp("bad-ora"), seed=13)


def _one_line(exc: UserFacingError) -> None:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text and "Traceback" not in exc.details


def test_every_damaged_mislabeled_or_oversized_image_reads_or_fails_in_one_line(
        corpus: dict[str, Path]) -> None:
    refused = set()
    before = tree(next(iter(corpus.values())).parent)
    for name, path in corpus.items():
        try:
            rgba = load_image(path)
        except ImageLoadError as exc:
            _one_line(exc)
            refused.add(name)
            continue
        assert rgba.dtype == np.uint8 and rgba.ndim == 3 and rgba.shape[2] == 4, name
        assert rgba.shape[0] * rgba.shape[1] <= 2**27 and max(rgba.shape[:2]) <= MAX_SIDE, name
    assert tree(next(iter(corpus.values())).parent) == before
    mislabeled = {name for name in corpus if "-as." in name and not name.startswith("gif")}
    assert not mislabeled & refused  # a file is read by what it holds, whatever its name says
    assert {name for name in corpus if "bomb" in name or "too-" in name or "zeros" in name} <= refused
    assert {name for name in corpus if name.startswith(("empty", "pickle", "text", "gif"))} <= refused


def test_every_hostile_or_malformed_ora_opens_or_fails_in_one_line(ora_files: dict[str, Path]) -> None:
    root = next(iter(ora_files.values())).parent
    before = tree(root.parent)
    opened = set()
    for name, path in ora_files.items():
        try:
            doc = load_ora(path)
        except OraError as exc:
            _one_line(exc)
            continue
        opened.add(name)
        assert 0 < doc.width <= MAX_SIDE and 0 < doc.height <= MAX_SIDE, name
        opacities = [layer.opacity for layer in doc.layers]
        assert all(0.0 <= opacity <= 1.0 and not math.isnan(opacity) for opacity in opacities), name
    assert tree(root.parent) == before  # nothing extracted, above the folder or anywhere in it
    assert not Path("/tmp/evil.png").exists()
    hostile = {"traversal", "absolute", "backslashes", "billion-laughs", "external-entity", "huge-canvas",
               "deep-nesting", "layer-bomb", "layer-too-big", "layer-is-pickle", "too-many-entries",
               "no-stack", "empty", "png-as", "folder"}
    assert not {f"{name}.ora" for name in hostile} & opened


# ---------------------------------------------------------------------------------- the CLI
def _generate(*extra: str, out: Path) -> list[str]:
    return ["generate", "--model", "no-model-needed", "--prompt", "a boat", "--out", str(out), *extra]


def _run_cli(argv: Sequence[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``sfumato`` in this process: the exit status and stderr, C libraries' included (argparse
    errors exit 2 too)."""
    capfd.readouterr()  # only what this run prints
    try:
        code = main(argv)
    except SystemExit as exited:
        code = int(exited.code or 0)
    return code, capfd.readouterr().err


def _assert_refused(code: int, err: str, out: Path, *, says: str = "") -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], err
    assert "Traceback" not in err and not out.exists()


def test_the_cli_refuses_every_unreadable_image_and_mask_in_one_line(
        corpus: dict[str, Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.png"
    Image.fromarray(picture(2)).save(good)
    out = tmp_path / "out.png"
    tried = 0
    for path in corpus.values():
        try:
            load_image(path)
            continue  # readable: it would go on to generate
        except ImageLoadError:
            pass
        for argv in (_generate("--image", str(path), out=out),
                     _generate("--image", str(good), "--mask", str(path), out=out)):
            option = "--mask" if "--mask" in argv else "--image"
            _assert_refused(*_run_cli(argv, capfd), out, says=f"error: {option}: ")
            tried += 1
    for argv in (_generate("--image", str(tmp_path / "missing.png"), out=out),
                 _generate("--image", str(tmp_path), out=out)):
        _assert_refused(*_run_cli(argv, capfd), out, says="--image")
        tried += 1
    assert tried > 100


def _request(argv: list[str]) -> object:
    return build_request(build_parser().parse_args(argv))


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK"])
def test_masks_in_any_mode_mean_white_repaints(mode: str, tmp_path: Path) -> None:
    source = tmp_path / "source.png"
    Image.fromarray(picture(3)).save(source)
    white = np.zeros((40, 48), np.uint8)
    white[10:30, 12:36] = 255
    image = Image.fromarray(white, "L")
    if mode == "LA":  # white everywhere, the mask in the alpha channel
        image = Image.merge("LA", (Image.fromarray(np.full_like(white, 255)), image))
    elif mode == "I;16":
        image = Image.fromarray(white.astype(np.uint16) * 257)
    elif mode == "I":
        image = Image.fromarray(white.astype(np.int32) * 257)
    elif mode == "F":
        image = Image.fromarray(white.astype(np.float32) / 255)
    else:
        image = image.convert(mode)
    assert image.mode == mode
    mask_file = tmp_path / ("mask.tiff" if mode in ("I", "F", "CMYK") else "mask.png")
    image.save(mask_file)
    request = _request(_generate("--image", str(source), "--mask", str(mask_file), out=tmp_path / "o.png"))
    assert isinstance(request, InpaintRequest)
    assert request.mask.shape == (40, 48) and request.mask.dtype == np.uint8
    assert np.array_equal(request.mask > 127, white > 127), mode


def test_white_on_transparent_marks_the_same_area_as_white_on_black(tmp_path: Path) -> None:
    rgba = np.zeros((40, 48, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere, opaque only where it counts
    rgba[5:15, 5:25, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "mask.png")
    mask = load_mask(tmp_path / "mask.png")
    assert mask[10, 10] == 255 and mask[30, 40] == 0 and np.count_nonzero(mask) == 10 * 20


@pytest.mark.parametrize(("extra", "says"), [
    (["--steps", "0"], "Steps must be"),
    (["--steps", "-3"], "Steps must be"),
    (["--steps", "1001"], "Steps must be"),
    (["--steps", "ten"], "invalid int value"),
    (["--steps", "2.5"], "invalid int value"),
    (["--width", "7", "--height", "64"], "at least 8"),
    (["--width", "-64", "--height", "64"], "at least 8"),
    (["--width", "20000", "--height", "64"], "at most 16384"),
    (["--width", "64"], "both width and height"),
    (["--cfg", "nan"], "CFG must be"),
    (["--cfg", "inf"], "CFG must be"),
    (["--cfg", "-1"], "CFG must be"),
    (["--cfg", "lots"], "invalid float value"),
    (["--seed", "abc"], "invalid int value"),
    (["--seed", "1.5"], "invalid int value"),
    (["--seed", "-2"], "Seed must be -1"),
    (["--seed", str(MAX_SEED + 1)], "Seed must be -1"),
    (["--scheduler", "Heun++ 9000"], "Unknown scheduler"),
    (["--strength", "0.5"], "--strength needs --image"),
    (["--variations", "2"], "--variations needs --image"),
    (["--image", "{image}", "--strength", "1.5"], "Strength must be"),
    (["--image", "{image}", "--strength", "0"], "Strength must be"),
    (["--image", "{image}", "--strength", "-0.1"], "Strength must be"),
    (["--image", "{image}", "--strength", "nan"], "Strength must be"),
    (["--image", "{image}", "--strength", "0.0001"], "too low"),
    (["--image", "{image}", "--variations", "0"], "Variations must number"),
    (["--image", "{image}", "--variations", "17"], "Variations must number"),
    (["--image", "{image}", "--outpaint", "nan,0,0,0"], "four whole numbers"),
    (["--image", "{image}", "--outpaint=-1,0,0,0"], "≥ 0"),
    (["--image", "{image}", "--outpaint", "-1,0,0,0"], "expected one argument"),
    (["--image", "{image}", "--outpaint", "0,0,0,0"], "at least one above 0"),
    (["--image", "{image}", "--outpaint", "1,2"], "four whole numbers"),
    (["--image", "{image}", "--outpaint", "0,0,16384,0"], "at most 8192"),
    (["--image", "{image}", "--mask", "{small}"], "must be the same size"),
    (["--image", "{image}", "--mask", "{blank}"], "mask is empty"),
    (["--image", "{image}", "--mask", "{image}", "--outpaint", "1,1,1,1"], "Choose one of"),
    (["--out", "{folder}/out.jpg"], "must name a .png"),
    (["--out", "{folder}/missing/out.png"], "does not exist"),
])
def test_out_of_range_parameters_exit_2_with_one_error_line(
        extra: list[str], says: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "image.png"
    Image.fromarray(picture(4)).save(image)
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(np.zeros((40, 48), np.uint8)).save(tmp_path / "blank.png")
    names = {"image": str(image), "small": str(tmp_path / "small.png"), "blank": str(tmp_path / "blank.png"),
             "folder": str(tmp_path)}
    extra = [word.format(**names) for word in extra]
    out = tmp_path / "o.png"
    argv = _generate(*extra, out=out)
    if "--out" in extra:  # the case's own --out comes last and wins
        out = Path(extra[extra.index("--out") + 1])
    _assert_refused(*_run_cli(argv, capfd), out, says=says)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.png", "image.png", "small.png"]


def test_seed_minus_one_still_means_random_and_odd_sizes_are_the_engines_to_round(tmp_path: Path) -> None:
    request = _request(_generate("--seed", "-1", "--width", "70", "--height", "65", out=tmp_path / "o.png"))
    assert isinstance(request, Txt2ImgRequest) and request.seed == -1
    assert (request.width, request.height) == (70, 65)  # the engine rounds and says so in a note


# ------------------------------------------------------------------- whole programs, in a child
def _sfumato(argv: list[str], *, hide_torch: bool) -> subprocess.CompletedProcess[str]:
    hide = "sys.modules['torch'] = None; " if hide_torch else ""
    code = f"import sys; {hide}from sfumato.__main__ import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ), check=False)


def test_a_decompression_bomb_through_the_real_cli_is_one_error_line(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(100_000, 100_000))
    done = _sfumato(_generate("--image", str(bomb), out=tmp_path / "o.png"), hide_torch=False)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --image: “bomb.png” is too large") and done.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.png"]


def test_generate_without_pytorch_says_how_to_install_it(tmp_path: Path) -> None:
    done = _sfumato(_generate(out=tmp_path / "o.png"), hide_torch=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: PyTorch is not installed")
    assert "sfumato runtime install" in done.stderr
    assert not (tmp_path / "o.png").exists()

