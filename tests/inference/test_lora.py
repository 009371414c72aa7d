"""LoRA adapters: a tiny LoRA made with PEFT changes the tiny SD 1.5's pixels, weight 0 and
taking it away give the model's own pixels back, and a catalog adapter (``sd15-lcm-lora``) runs
on the installed SD 1.5 without reloading it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline

from sfumato.generation import InpaintRequest, Txt2ImgRequest
from sfumato.generation.metadata import parse_parameters
from sfumato.inference import Engine, pipelines, profile_for
from sfumato.inference.errors import ModelError
from sfumato.inference.tiny_models import build_lora
from sfumato.model_store import InstalledModel, ModelManager, SourceRecord


@pytest.fixture(scope="module")
def tiny_lora(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA file for the tiny SD 1.5's UNet."""
    return build_lora(tiny_models["sd15"], tmp_path_factory.mktemp("lora"))


def _pixels(pipe: DiffusionPipeline) -> np.ndarray:
    generator = torch.Generator("cpu").manual_seed(3)
    out = pipe("a lighthouse", num_inference_steps=2, generator=generator, width=64, height=64,
               output_type="np")  # fmt: skip
    return out.images[0]


def test_a_lora_changes_the_output_and_weight_zero_or_none_gives_the_model_back(
    tiny_models: dict[str, Path], tiny_lora: Path
) -> None:
    pipe = DiffusionPipeline.from_pretrained(tiny_models["sd15"], local_files_only=True, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    plain = _pixels(pipe)

    pipelines.use_lora(pipe, tiny_lora, 1.0)
    with_lora = _pixels(pipe)
    pipelines.use_lora(pipe, tiny_lora, 0.0)
    weight_zero = _pixels(pipe)
    pipelines.use_lora(pipe, None)
    taken_off = _pixels(pipe)

    assert np.abs(with_lora - plain).max() > 0.01
    assert np.array_equal(weight_zero, plain) and np.array_equal(taken_off, plain)


def test_a_lora_of_another_architecture_is_refused_with_its_name(
    tiny_models: dict[str, Path], tiny_lora: Path
) -> None:
    pipe = DiffusionPipeline.from_pretrained(tiny_models["sdxl"], local_files_only=True)
    with pytest.raises(ModelError, match=r"Could not apply the LoRA pytorch_lora_weights\.safetensors"):
        pipelines.use_lora(pipe, tiny_lora)


def _install(model_id: str, root: Path, entry: str = "") -> InstalledModel:
    """Record ``root`` (``/entry``) as the store's installed catalog model ``model_id``."""
    variant = "lora" if entry else "fp16"
    record = SourceRecord("main", root, entry, ())
    model = InstalledModel(f"{model_id}@{variant}", "catalog", "sd15", (record,), model_id, variant)
    ModelManager().cache.write(model)
    return model


def _request(model: str, seed: int = 5) -> Txt2ImgRequest:
    return Txt2ImgRequest(model=model, prompt="a lighthouse", steps=2, seed=seed, width=64, height=64,
                          scheduler="LCM", guidance=1.0)  # fmt: skip


def test_the_catalog_adapter_runs_on_its_model_and_comes_off_without_a_reload(
    tiny_models: dict[str, Path], tiny_lora: Path
) -> None:
    _install("sd15", tiny_models["sd15"])
    adapter = _install("sd15-lcm-lora", tiny_lora.parent, tiny_lora.name)
    engine = Engine(profile_for("cpu"))

    plain = engine.run(_request("sd15")).images[0]
    base = engine._loaded.base if engine._loaded else None
    by_id = engine.run(_request("sd15-lcm-lora")).images[0]
    by_path = engine.run(_request(str(adapter.path))).images[0]  # what the window's picker passes
    again = engine.run(_request("sd15")).images[0]

    assert not np.array_equal(by_id.full(), plain.full())
    assert np.array_equal(by_path.full(), by_id.full()) and np.array_equal(again.full(), plain.full())
    assert engine._loaded is not None and engine._loaded.base is base  # loaded once
    values = parse_parameters(by_id.parameters).values
    assert values["LoRA"] == "sd15-lcm-lora" and values["Model"] == tiny_models["sd15"].name
    assert "LoRA" not in parse_parameters(again.parameters).values


def test_the_adapter_also_inpaints(tiny_models: dict[str, Path], tiny_lora: Path, source: np.ndarray) -> None:
    _install("sd15", tiny_models["sd15"])
    _install("sd15-lcm-lora", tiny_lora.parent, tiny_lora.name)
    mask = np.zeros(source.shape[:2], np.uint8)
    mask[10:40, 20:50] = 255
    engine = Engine(profile_for("cpu"))
    common = {"prompt": "a boat", "steps": 2, "seed": 1, "source": source, "mask": mask, "scheduler": "LCM"}
    plain = engine.run(InpaintRequest(model="sd15", **common)).images[0].full()
    adapted = engine.run(InpaintRequest(model="sd15-lcm-lora", **common)).images[0].full()
    assert not np.array_equal(plain, adapted)
    assert np.array_equal(plain[mask == 0], adapted[mask == 0])  # outside the mask: the source


def test_an_adapter_without_its_model_says_what_to_download(tiny_lora: Path) -> None:
    _install("sd15-lcm-lora", tiny_lora.parent, tiny_lora.name)
    with pytest.raises(ModelError, match=r"sd15 is not installed: run `sfumato models download sd15`"):
        Engine(profile_for("cpu")).run(_request("sd15-lcm-lora"))


def test_model_default_sampling_on_the_adapter_is_the_scheduler_it_was_made_for(
    tiny_models: dict[str, Path], tiny_lora: Path
) -> None:
    """A request that names no scheduler (the panel's "Model default", the CLI without
    ``--scheduler``) samples the LCM-LoRA with LCM, as its card says, and SD 1.5 alone with its own."""
    _install("sd15", tiny_models["sd15"])
    _install("sd15-lcm-lora", tiny_lora.parent, tiny_lora.name)
    engine = Engine(profile_for("cpu"))

    def sampler(model: str) -> str:
        request = replace(_request(model), scheduler="")
        return parse_parameters(engine.run(request).images[0].parameters).values["Sampler"]

    assert sampler("sd15-lcm-lora") == "LCM"
    assert sampler("sd15") != "LCM"
