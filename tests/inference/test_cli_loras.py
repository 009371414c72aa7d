"""``sfumato generate --lora / --embedding / --batch``: LoRAs by name or file at a weight, a
job's embeddings, several images, and one ``error:`` line for a LoRA that cannot apply."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfumato.cli import main
from sfumato.commands.generate import parse_lora
from sfumato.generation import LoraUse
from sfumato.inference.tiny_models import build_embedding, build_lora


def _generate(model: Path, out: Path, *extra: str) -> list[str]:
    return ["generate", "--model", str(model), "--prompt", "a boat", "--steps", "2", "--seed", "3",
            "--width", "64", "--height", "64", "--out", str(out), *extra]  # fmt: skip


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("ink", LoraUse("ink")),
        ("ink:0.8", LoraUse("ink", 0.8)),
        ("ink:-1.5", LoraUse("ink", -1.5)),
        ("my:lora", LoraUse("my:lora")),
        (r"C:\loras\ink.safetensors", LoraUse(r"C:\loras\ink.safetensors")),
        (r"C:\loras\ink.safetensors:0.5", LoraUse(r"C:\loras\ink.safetensors", 0.5)),
        ("/home/me/loras/ink.safetensors:1", LoraUse("/home/me/loras/ink.safetensors", 1.0)),
    ],
)
def test_lora_options_read_a_weight_after_the_last_colon_only_when_it_is_a_number(
    spec: str, parsed: LoraUse
) -> None:
    assert parse_lora(spec) == parsed


def test_loras_by_name_and_file_embeddings_and_a_batch(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tiny_models["sd15"]
    lora = build_lora(model, tmp_path / "ink").rename(tmp_path / "ink.safetensors")
    assert main(["models", "import", str(lora)]) == 0
    embedding = build_embedding(model, tmp_path / "glowing.safetensors")
    runs = {
        "plain": [],
        "by name": ["--lora", "ink:0.8"],
        "by file": ["--lora", f"{lora}:0.8"],
        "embedding": ["--embedding", str(embedding), "--prompt", "a boat, glowing"],
    }
    pixels = {}
    for name, extra in runs.items():
        out = tmp_path / f"{name}.png"
        assert main(_generate(model, out, *extra)) == 0, capsys.readouterr().err
        pixels[name] = _pixels(out)

    assert not np.array_equal(pixels["by name"], pixels["plain"])
    assert np.array_equal(pixels["by file"], pixels["by name"])
    assert not np.array_equal(pixels["embedding"], pixels["plain"])

    assert main(_generate(model, tmp_path / "many.png", "--batch", "3")) == 0
    written = sorted(p.name for p in tmp_path.glob("many-*.png"))
    assert written == ["many-1.png", "many-2.png", "many-3.png"]
    assert np.array_equal(_pixels(tmp_path / "many-1.png"), pixels["plain"])  # seed 3, then 4 and 5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--lora", "nothing"], "error: No LoRA named 'nothing' is installed"),
        (["--lora", "ink:20"], "error: LoRA weight must be a number between -10 and 10"),
        (["--lora", "old.pt"], "error: old.pt is a pickle checkpoint"),
        (["--embedding", "missing.safetensors"], "error: missing.safetensors does not exist."),
        (["--batch", "0"], "error: Batch size must be between 1 and 16."),
    ],
)
def test_a_lora_or_embedding_that_cannot_apply_is_one_error_line(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
    message: str,
) -> None:  # fmt: skip
    assert main(_generate(tiny_models["sd15"], tmp_path / "out.png", *extra)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(message) and all(not line.startswith("Traceback") for line in err)


def test_a_lora_of_another_family_names_both(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    xl = build_lora(tiny_models["sdxl"], tmp_path / "xl").rename(tmp_path / "xl.safetensors")
    assert main(_generate(tiny_models["sd15"], tmp_path / "out.png", "--lora", str(xl))) == 2
    name = tiny_models["sd15"].name
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: xl.safetensors: this LoRA is for SDXL; the model ({name}) is SD 1.x."
    )
