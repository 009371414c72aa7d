"""LoRAs and embeddings on the tiny models of every family, below the engine: a LoRA made with
PEFT reads the same in the diffusers, kohya and ComfyUI layouts (same pixels), changes the
output, comes off exactly; two compose; a tiny embedding changes the output and unloads exactly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from lora_layouts import convert
from safetensors.torch import load_file, save_file

from sfumato.inference import adapters
from sfumato.inference.adapters import AppliedLora, EmbeddingSet, LoraSet, trigger_words
from sfumato.inference.tiny_models import build_embedding, build_lora
from sfumato.model_store.adapters import describe_file

FAMILIES = {"sd15": "sd15", "sd2": "sd2", "sdxl": "sdxl", "sd3": "sd35-medium", "flux": "flux-dev"}
"""Tiny model → the LoRA family its LoRAs are detected as."""


@pytest.fixture(scope="module")
def lora_files(
    tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, int], dict[str, Path]]:
    """``(model, seed) → layout → file``: a tiny LoRA for the model, in the three layouts."""
    made: dict[tuple[str, int], dict[str, Path]] = {}

    def make(model: str, seed: int = 0) -> dict[str, Path]:
        if (model, seed) not in made:
            folder = tmp_path_factory.mktemp(f"lora-{model}-{seed}")
            file = build_lora(tiny_models[model], folder, seed=seed)
            layouts = {"diffusers": file}
            for layout in ("kohya", "comfyui"):
                layouts[layout] = convert(
                    file, tiny_models[model], model, layout, folder / f"{layout}.safetensors"
                )
            made[(model, seed)] = layouts
        return made[(model, seed)]

    return make


def _pipe(folder: Path) -> DiffusionPipeline:
    pipe = DiffusionPipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _pixels(pipe: DiffusionPipeline, prompt: str = "a lighthouse") -> np.ndarray:
    extra = {"max_sequence_length": 16} if "Flux" in type(pipe).__name__ else {}
    out = pipe(prompt, num_inference_steps=2, generator=torch.Generator("cpu").manual_seed(3), width=64,
               height=64, output_type="np", **extra)  # fmt: skip
    return out.images[0]


def _use(path: Path, weight: float = 1.0) -> AppliedLora:
    return AppliedLora(describe_file(path), weight)


@pytest.mark.parametrize("model", sorted(FAMILIES))
def test_a_lora_reads_the_same_in_every_layout_changes_the_output_and_comes_off_exactly(
    model: str, tiny_models: dict[str, Path], lora_files: Callable[[str, int], dict[str, Path]]
) -> None:
    files = lora_files(model, 0)
    pipe = _pipe(tiny_models[model])
    plain = _pixels(pipe)
    loras = LoraSet(pipe)
    pixels = {}
    for layout, file in files.items():
        assert describe_file(file).family == FAMILIES[model], layout
        added, notices = loras.apply([_use(file)])
        assert added and notices == []
        pixels[layout] = _pixels(pipe)
    loras.apply([_use(files["kohya"], 0.0)])  # weight 0: the model's own pixels
    weight_zero = _pixels(pipe)
    loras.apply([])
    taken_off = _pixels(pipe)

    assert np.abs(pixels["diffusers"] - plain).max() > 0.01
    assert np.array_equal(pixels["kohya"], pixels["diffusers"]), "kohya (alpha = rank / 2, names fused)"
    assert np.array_equal(pixels["comfyui"], pixels["diffusers"])
    assert np.array_equal(weight_zero, plain) and np.array_equal(taken_off, plain)
    assert len(loras.loaded) == 3  # one adapter per file, all kept for the next job


def test_two_loras_compose_and_switching_between_them_needs_no_reload(
    tiny_models: dict[str, Path], lora_files: Callable[[str, int], dict[str, Path]]
) -> None:
    first, second = lora_files("sd15", 0)["diffusers"], lora_files("sd15", 1)["kohya"]
    pipe = _pipe(tiny_models["sd15"])
    loras = LoraSet(pipe)
    loras.apply([_use(first)])
    one = _pixels(pipe)
    loras.apply([_use(second, 0.7)])
    other = _pixels(pipe)
    loras.apply([_use(first), _use(second, 0.7)])
    both = _pixels(pipe)
    added, _ = loras.apply([_use(first)])  # back to the first: loaded already

    assert not added and np.array_equal(_pixels(pipe), one)
    assert np.abs(both - one).max() > 0.01 and np.abs(both - other).max() > 0.01
    fresh = _pipe(tiny_models["sd15"])
    LoraSet(fresh).apply([_use(first), _use(second, 0.7)])
    assert np.array_equal(_pixels(fresh), both)  # switching gives a fresh load's pixels


def test_the_least_recently_used_lora_goes_when_more_are_wanted(
    tiny_models: dict[str, Path],
    lora_files: Callable[[str, int], dict[str, Path]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(adapters, "LORA_CAPACITY", 2)
    files = [lora_files("sd15", seed)["diffusers"] for seed in (0, 1, 2)]
    loras = LoraSet(_pipe(tiny_models["sd15"]))
    names = [adapters.adapter_name(describe_file(f)) for f in files]
    loras.apply([_use(files[0])])
    loras.apply([_use(files[1])])
    loras.apply([_use(files[0])])  # now the first is the more recently used
    loras.apply([_use(files[2])])
    assert loras.loaded == (names[0], names[2])


def test_what_a_comfyui_lora_carries_beyond_lora_layers_is_left_out_with_a_notice(
    tiny_models: dict[str, Path], lora_files: Callable[[str, int], dict[str, Path]], tmp_path: Path
) -> None:
    tensors = load_file(str(lora_files("sd15", 0)["comfyui"]))
    tensors["diffusion_model.input_blocks.4.1.norm.diff_b"] = torch.zeros(32)
    save_file(tensors, str(tmp_path / "extracted.safetensors"))
    unknown = dict(tensors, **{"diffusion_model.nowhere.lora_down.weight": torch.zeros(4, 8),
                               "diffusion_model.nowhere.lora_up.weight": torch.zeros(8, 4)})  # fmt: skip
    save_file(unknown, str(tmp_path / "other.safetensors"))
    loras = LoraSet(_pipe(tiny_models["sd15"]))

    _, notices = loras.apply([_use(tmp_path / "extracted.safetensors")])

    assert notices == [
        "extracted.safetensors: its norm and bias changes (.diff) were left out (diffusers applies none)."
    ]
    with pytest.raises(ValueError, match="the model has no layer nowhere"):
        loras.apply([_use(tmp_path / "other.safetensors")])


@pytest.mark.parametrize("model", ["sd15", "sdxl"])
def test_an_embedding_changes_the_output_by_its_word_and_unloads_exactly(
    model: str, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    file = build_embedding(tiny_models[model], tmp_path / "inkwash.safetensors", vectors=3)
    embedding = describe_file(file)
    pipe = _pipe(tiny_models[model])
    prompt = "a lighthouse, inkwash"
    plain = _pixels(pipe, prompt)
    embeddings = EmbeddingSet(pipe)

    assert trigger_words([embedding], [prompt]) == [embedding]
    assert trigger_words([embedding], ["a lighthouse, inkwashed"]) == []
    assert embeddings.use([embedding]) and not embeddings.use([embedding])
    with_it = _pixels(pipe, prompt)
    assert np.array_equal(
        _pixels(pipe, "a boat"), _pixels(_pipe(tiny_models[model]), "a boat")
    )  # unused: no change
    assert embeddings.use([]) and embeddings.names == ()

    assert np.abs(with_it - plain).max() > 0.01
    assert np.array_equal(_pixels(pipe, prompt), plain)  # unloaded: the model's own reading


def test_an_embedding_of_another_width_is_refused_with_both_widths(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    file = tmp_path / "wide.safetensors"
    save_file({"emb_params": torch.zeros(2, 768)}, str(file))
    with pytest.raises(ValueError, match="768-wide vectors, the model's text encoder takes 32"):
        EmbeddingSet(_pipe(tiny_models["sd15"])).use([describe_file(file)])
