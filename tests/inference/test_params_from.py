"""Reusing a PNG's parameters with the models installed here: the model lookup and
``sfumato generate --params-from``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfumato.cli import main
from sfumato.generation.metadata import parse_parameters, read_parameters, save_png
from sfumato.inference.model_files import detect_model, installed_model, model_hash
from sfumato.model_store import ModelManager


def test_an_installed_model_is_found_by_the_name_or_the_hash_sfumato_records(
    tiny_models: dict[str, Path],
) -> None:
    folder = tiny_models["sd15"]
    assert installed_model("sd15") is None  # nothing installed yet
    (model,) = ModelManager().import_path(folder)
    recorded = model_hash(detect_model(folder))
    assert installed_model("sd15") == model.key  # the Model name: the folder's name
    assert installed_model("renamed", recorded) == model.key
    assert installed_model(model.key) == model.key
    assert installed_model("v1-5-pruned-emaonly", "6ce0161689") is None


def _generate(out: Path, *extra: str) -> list[str]:
    return ["generate", "--steps", "2", "--out", str(out), *extra]


def _tiny_png(tiny_models: dict[str, Path], tmp_path: Path) -> Path:
    out = tmp_path / "first.png"
    args = ["--model", str(tiny_models["sd15"]), "--prompt", "a boat", "--negative", "fog", "--seed", "3"]
    assert main(_generate(out, *args, "--width", "64", "--height", "72", "--scheduler", "Euler")) == 0
    return out


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_params_from_makes_the_same_picture_with_the_installed_model(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _tiny_png(tiny_models, tmp_path)
    ModelManager().import_path(tiny_models["sd15"])
    again = tmp_path / "again.png"
    assert main(_generate(again, "--params-from", str(first))) == 0
    assert np.array_equal(_pixels(first), _pixels(again))
    parsed = parse_parameters(read_parameters(again) or "")
    assert (parsed.prompt, parsed.negative_prompt, parsed.values["Size"]) == ("a boat", "fog", "64x72")
    other = tmp_path / "other.png"  # options given explicitly win
    assert main(_generate(other, "--params-from", str(first), "--seed", "9", "--prompt", "a ship")) == 0
    parsed = parse_parameters(read_parameters(other) or "")
    assert (parsed.values["Seed"], parsed.prompt, parsed.negative_prompt) == ("9", "a ship", "fog")


def test_a_model_that_is_not_installed_needs_model(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _tiny_png(tiny_models, tmp_path)
    capsys.readouterr()
    assert main(_generate(tmp_path / "x.png", "--params-from", str(first))) == 2
    assert capsys.readouterr().err == (
        "error: --params-from first.png: its model (sd15) is not installed; give --model.\n"
    )
    model = ["--model", str(tiny_models["sd15"])]
    assert main(_generate(tmp_path / "y.png", "--params-from", str(first), *model)) == 0
    err = capsys.readouterr().err
    assert "note: The model sd15 (hash " in err and "note: Generating with --model" in err
    assert np.array_equal(_pixels(first), _pixels(tmp_path / "y.png"))


def test_a1111_parameters_fill_the_options_and_say_what_they_leave(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a1111 = tmp_path / "a1111.png"
    save_png(
        a1111, np.zeros((8, 8, 3), np.uint8),
        "banana AND car\nSteps: 70, Sampler: LMS Karras, CFG scale: 7, Seed: 1745286955, Size: 64x64, "
        "Version: v1.6.0",
    )  # fmt: skip
    out = tmp_path / "out.png"
    assert main(_generate(out, "--params-from", str(a1111), "--model", str(tiny_models["sd15"]))) == 0
    err = capsys.readouterr().err
    assert "note: Sfumato has no sampler 'LMS Karras'; the model's default is used." in err
    assert "note: Not used from a1111.png: Version: v1.6.0." in err
    values = parse_parameters(read_parameters(out) or "").values
    assert (values["Seed"], values["Steps"], values["Size"]) == ("1745286955", "2", "64x64")


def test_bad_params_from_files_are_one_error_line(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    model = ["--model", str(tiny_models["sd15"])]
    for path, message in [(plain, "“plain.png” has no generation parameters."), (damaged, "--params-from: ")]:
        capsys.readouterr()
        assert main(_generate(tmp_path / "o.png", "--params-from", str(path), *model)) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {message}") and err.count("\n") == 1


def test_vary_subtle_and_strong(
    tiny_models: dict[str, Path], tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = ["--model", str(tiny_models["sd15"]), "--prompt", "a boat", "--image", str(image)]
    assert main(_generate(tmp_path / "v.png", *model, "--vary", "strong", "--variations", "2")) == 0
    written = sorted(tmp_path.glob("v-*.png"))
    assert [p.name for p in written] == ["v-1.png", "v-2.png"]
    assert parse_parameters(read_parameters(written[0]) or "").values["Denoising strength"] == "0.85"
    assert main(_generate(tmp_path / "s.png", *model, "--vary", "subtle")) == 0
    assert len(list(tmp_path.glob("s-*.png"))) == 4  # four without --variations
    assert parse_parameters(read_parameters(tmp_path / "s-1.png") or "").values["Denoising strength"] == "0.5"
    capsys.readouterr()
    assert main(_generate(tmp_path / "w.png", *model, "--vary", "subtle", "--strength", "0.3")) == 2
    assert capsys.readouterr().err == "error: Give --vary or --strength, not both.\n"


def test_variation_seed_options(
    tiny_models: dict[str, Path], tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = ["--model", str(tiny_models["sd15"]), "--prompt", "a boat", "--width", "64", "--height", "64"]
    blend = ["--seed", "4", "--variation-seed", "8", "--variation-strength", "0.2"]
    out = tmp_path / "b.png"
    assert main(_generate(out, *model, *blend)) == 0
    assert f"seed 4, variation seed 8: {out}" in capsys.readouterr().err
    values = parse_parameters(read_parameters(out) or "").values
    assert (values["Variation seed"], values["Variation seed strength"]) == ("8", "0.2")
    again = tmp_path / "again.png"
    ModelManager().import_path(tiny_models["sd15"])
    assert main(_generate(again, "--params-from", str(out))) == 0
    assert np.array_equal(_pixels(out), _pixels(again))
    assert main(_generate(tmp_path / "i.png", *model, "--image", str(image), *blend)) == 2
    assert capsys.readouterr().err.endswith("is for txt2img (without --image).\n")


@pytest.fixture
def image(tmp_path: Path, source: np.ndarray) -> Path:
    path = tmp_path / "source.png"
    Image.fromarray(source).save(path)
    return path
