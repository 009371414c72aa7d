"""``sfumato generate``: outputs, exit codes, and one ``error:`` line on bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bad_inputs import pickle_corpus
from PIL import Image
from safetensors.numpy import save_file

from sfumato.cli import main
from sfumato.generation.metadata import parse_parameters, read_parameters


def _png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def image(tmp_path: Path, source: np.ndarray) -> Path:
    return _png(tmp_path / "source.png", source)


@pytest.fixture
def mask(tmp_path: Path, source: np.ndarray) -> Path:
    mask = np.zeros(source.shape[:2], np.uint8)
    mask[20:40, 20:50] = 255
    return _png(tmp_path / "mask.png", mask)


def _generate(model: Path, out: Path, *extra: str) -> list[str]:
    return ["generate", "--model", str(model), "--prompt", "a boat", "--steps", "2", "--seed", "3",
            "--width", "64", "--height", "64", "--out", str(out), *extra]  # fmt: skip


def test_subprocess_txt2img_writes_a_png_with_parameters(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out.png"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "sfumato", *_generate(tiny_models["sd15"], out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "step 2/2" in done.stderr
    assert done.stdout.strip() == str(out)
    with Image.open(out) as written:
        assert written.size == (64, 64)
    parsed = parse_parameters(read_parameters(out) or "")
    assert parsed.prompt == "a boat" and parsed.values["Seed"] == "3"


def test_subprocess_bad_input_is_one_error_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sfumato", *_generate(tmp_path / "missing", tmp_path / "o.png")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: Model not found")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_tasks_in_process(
    tiny_models: dict[str, Path], tmp_path: Path, image: Path, mask: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tiny_models["sd15"]
    assert main(_generate(model, tmp_path / "i2i.png", "--image", str(image), "--strength", "0.6")) == 0
    assert main(_generate(model, tmp_path / "inp.png", "--image", str(image), "--mask", str(mask))) == 0
    assert main(_generate(model, tmp_path / "out.png", "--image", str(image), "--outpaint", "8,0,8,0")) == 0
    assert main(_generate(model, tmp_path / "var.png", "--image", str(image), "--variations", "3")) == 0
    capsys.readouterr()
    assert parse_parameters(read_parameters(tmp_path / "i2i.png") or "").values["Denoising strength"] == "0.6"
    with Image.open(tmp_path / "inp.png") as inpainted, Image.open(image) as original:
        assert inpainted.size == original.size
    with Image.open(tmp_path / "out.png") as outpainted:
        assert outpainted.size == (88 + 16, 72)
    for i in (1, 2, 3):
        seed = parse_parameters(read_parameters(tmp_path / f"var-{i}.png") or "").values["Seed"]
        assert seed == str(3 + i - 1)
    assert not (tmp_path / "var.png").exists()


def test_rounded_size_is_a_note_not_an_error(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _generate(tiny_models["sd15"], tmp_path / "o.png")
    args[args.index("--width") + 1] = "70"
    assert main(args) == 0
    assert "note: Size 70×64 was rounded to 72×64" in capsys.readouterr().err


def _write_bad_inputs(tmp_path: Path, tiny_models: dict[str, Path], source: np.ndarray) -> dict[str, Path]:
    bad = {
        "empty_dir": tmp_path / "empty",
        "ckpt": tmp_path / "model.ckpt",
        "truncated": tmp_path / "cut.safetensors",
        "incomplete": tmp_path / "incomplete",
        "text": tmp_path / "notes.txt",
        "no_config": tmp_path / "lonely.safetensors",
        "small_mask": _png(tmp_path / "small.png", np.zeros((10, 10), np.uint8)),
        "empty_mask": _png(tmp_path / "blank.png", np.zeros(source.shape[:2], np.uint8)),
    }
    bad["empty_dir"].mkdir()
    bad["ckpt"].write_bytes(b"\x80\x04not really a pickle")
    bad["truncated"].write_bytes(
        (tiny_models["sd15"] / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()[:5000]
    )
    bad["incomplete"].mkdir()
    (bad["incomplete"] / "model_index.json").write_text(
        (tiny_models["sd15"] / "model_index.json").read_text()
    )
    bad["text"].write_text("not an image")
    flux = {"img_in.weight": (8, 64), "double_blocks.0.img_attn.qkv.weight": (4,)}  # no shipped config
    save_file({key: np.zeros(shape, np.float16) for key, shape in flux.items()}, str(bad["no_config"]))
    for name, path in pickle_corpus(tmp_path).items():  # under every suffix the CLI opens
        bad[name] = path
    for suffix in (".safetensors", ".bin", ".pt", ".pth", ".pkl"):
        bad[f"pickle{suffix}"] = tmp_path / f"pickle{suffix}"
        bad[f"pickle{suffix}"].write_bytes(bad["pickle.png"].read_bytes())
    pickled = tmp_path / "pickled-folder"  # a diffusers folder whose weights are pickles
    shutil.copytree(tiny_models["sd15"], pickled)
    for weights in pickled.rglob("*.safetensors"):
        weights.unlink()
        weights.with_suffix(".bin").write_bytes(bad["pickle.png"].read_bytes())
    bad["pickled_folder"] = pickled
    return bad


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_model", "Model not found"),
        ("empty_dir", "no model_index.json"),
        ("incomplete", "incomplete"),
        ("truncated", "not a complete .safetensors"),
        ("ckpt", "pickle checkpoint"),
        ("no_config", "holds only the transformer"),
        ("mask_size", "must be the same size"),
        ("empty_mask", "mask is empty"),
        ("not_image", "--image: “notes.txt” is not an image Sfumato can open"),
        ("zero_margins", "at least one above 0"),
        ("absurd_margins", "at most 8192"),
        ("bad_margins", "four whole numbers"),
        ("zero_steps", "Steps must be"),
        ("unknown_scheduler", "Unknown scheduler"),
        ("mask_without_image", "--mask needs --image"),
        ("two_tasks", "Choose one of"),
        ("not_png", "must name a .png"),
        ("bad_int", "invalid int value"),
        ("width_only", "both width and height"),
        ("pickle_safetensors", "not a complete .safetensors"),
        ("pickle_bin", "is a pickle checkpoint (.bin)"),
        ("pickle_pt", "is a pickle checkpoint (.pt)"),
        ("pickle_pth", "is a pickle checkpoint (.pth)"),
        ("pickle_pkl", "is a pickle checkpoint (.pkl)"),
        ("pickled_folder", "is a pickle checkpoint (.bin)"),
        ("pickle_image", "--image: “pickle.png” is not an image"),
        ("pickle_mask", "--mask: “pickle.tiff” is not an image"),
    ],
)
def test_bad_input_exits_2_with_one_error_line(
    tiny_models: dict[str, Path],
    tmp_path: Path,
    source: np.ndarray,
    image: Path,
    mask: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    message: str,
) -> None:
    bad = _write_bad_inputs(tmp_path, tiny_models, source)
    out = tmp_path / "o.png"
    model = tiny_models["sd15"]
    argv = {
        "missing_model": _generate(tmp_path / "nope", out),
        "empty_dir": _generate(bad["empty_dir"], out),
        "incomplete": _generate(bad["incomplete"], out),
        "truncated": _generate(bad["truncated"], out),
        "ckpt": _generate(bad["ckpt"], out),
        "no_config": _generate(bad["no_config"], out),
        "mask_size": _generate(model, out, "--image", str(image), "--mask", str(bad["small_mask"])),
        "empty_mask": _generate(model, out, "--image", str(image), "--mask", str(bad["empty_mask"])),
        "not_image": _generate(model, out, "--image", str(bad["text"])),
        "zero_margins": _generate(model, out, "--image", str(image), "--outpaint", "0,0,0,0"),
        "absurd_margins": _generate(model, out, "--image", str(image), "--outpaint", "0,0,99999,0"),
        "bad_margins": _generate(model, out, "--image", str(image), "--outpaint", "1,2,3"),
        "zero_steps": [*_generate(model, out), "--steps", "0"],
        "unknown_scheduler": [*_generate(model, out), "--scheduler", "Heun++ 9000"],
        "mask_without_image": [*_generate(model, out), "--mask", str(mask)],
        "two_tasks": _generate(model, out, "--image", str(image), "--mask", str(mask), "--variations", "2"),
        "not_png": _generate(model, tmp_path / "o.jpg"),
        "bad_int": [*_generate(model, out), "--steps", "many"],
        "width_only": [*_generate(model, out), "--height", "0"],
        "pickle_safetensors": _generate(bad["pickle.safetensors"], out),
        "pickle_bin": _generate(bad["pickle.bin"], out),
        "pickle_pt": _generate(bad["pickle.pt"], out),
        "pickle_pth": _generate(bad["pickle.pth"], out),
        "pickle_pkl": _generate(bad["pickle.pkl"], out),
        "pickled_folder": _generate(bad["pickled_folder"], out),
        "pickle_image": _generate(model, out, "--image", str(bad["pickle.png"])),
        "pickle_mask": _generate(model, out, "--image", str(image), "--mask", str(bad["pickle.tiff"])),
    }[case]
    if case == "bad_int":
        with pytest.raises(SystemExit) as exited:
            main(argv)
        code = exited.value.code
    else:
        code = main(argv)
    captured = capsys.readouterr()
    err = captured.err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2
    assert len(error_lines) == 1 and message in error_lines[0], err
    assert "Traceback" not in err and "unpickled!" not in captured.out + err
    assert not out.exists()
