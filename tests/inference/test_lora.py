"""LoRAs and embeddings through the engine: a job's LoRAs (the request's and its prompt's tags,
by installed name or by path) change the tiny models' pixels and leave the next job's model as
loaded; switching between them gives a fresh engine's pixels; two compose; another family's is
refused naming both; a catalog adapter (``sd15-lcm-lora``) runs on the installed SD 1.5 without
reloading it; an embedding named in the prompt changes the output."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sfumato.generation import InpaintRequest, LoraUse, Txt2ImgRequest
from sfumato.generation.metadata import parse_parameters
from sfumato.inference import Engine, profile_for
from sfumato.inference.errors import ModelError
from sfumato.inference.tiny_models import build_embedding, build_lora
from sfumato.model_store import InstalledModel, ModelManager, SourceRecord


@pytest.fixture(scope="module")
def tiny_lora(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA file for the tiny SD 1.5 (its UNet and text encoder)."""
    return build_lora(tiny_models["sd15"], tmp_path_factory.mktemp("lora"))


@pytest.fixture(scope="module")
def loras(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny LoRA files by name: ``ink`` and ``glow`` for the tiny SD 1.5, ``<model>-lora`` for
    every tiny family, ``xl`` for the tiny SDXL."""
    root = tmp_path_factory.mktemp("loras")
    made = {}
    for name, model, seed in [("ink", "sd15", 0), ("glow", "sd15", 1), ("xl", "sdxl", 0)]:
        made[name] = build_lora(tiny_models[model], root / name, seed=seed).rename(
            root / f"{name}.safetensors"
        )
    for model in ("sd2", "sd3", "flux"):
        made[model] = build_lora(tiny_models[model], root / model)
    return made


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


def _run(engine: Engine, model: Path, prompt: str = "a lighthouse", **fields: object) -> np.ndarray:
    request = Txt2ImgRequest(model=str(model), prompt=prompt, steps=2, seed=7, width=64, height=64, **fields)  # type: ignore[arg-type] (fields are the request's)
    return engine.run(request).images[0].full()


def test_a_jobs_loras_change_its_pixels_and_the_next_job_runs_the_model_as_loaded(
    tiny_models: dict[str, Path], loras: dict[str, Path]
) -> None:
    ModelManager().import_adapters(loras["ink"])
    engine = Engine(profile_for("cpu"))
    model = tiny_models["sd15"]

    plain = _run(engine, model)
    base = engine._loaded.base if engine._loaded else None
    by_name = _run(engine, model, loras=(LoraUse("ink", 0.8),))
    by_tag = _run(engine, model, prompt="a lighthouse <lora:ink:0.8>")
    by_path = _run(engine, model, loras=(LoraUse(str(loras["ink"]), 0.8),))
    weight_zero = _run(engine, model, loras=(LoraUse("ink", 0.0),))
    after = _run(engine, model)

    assert np.abs(by_name.astype(int) - plain).max() > 0
    assert np.array_equal(by_tag, by_name) and np.array_equal(by_path, by_name)  # one file, one adapter
    assert np.array_equal(weight_zero, plain) and np.array_equal(after, plain)
    assert engine._loaded is not None and engine._loaded.base is base  # never reloaded
    assert engine._loaded.loras is not None and len(engine._loaded.loras.loaded) == 1


def test_switching_loras_between_jobs_gives_a_fresh_engines_pixels_and_two_compose(
    tiny_models: dict[str, Path], loras: dict[str, Path]
) -> None:
    ink, glow = LoraUse(str(loras["ink"]), 1.0), LoraUse(str(loras["glow"]), 0.6)
    model = tiny_models["sd15"]
    engine = Engine(profile_for("cpu"))
    switched = {
        "ink": _run(engine, model, loras=(ink,)),
        "glow": _run(engine, model, loras=(glow,)),
        "both": _run(engine, model, loras=(ink, glow)),
    }
    switched["ink again"] = _run(engine, model, loras=(ink,))
    for name, uses in {"glow": (glow,), "both": (ink, glow)}.items():
        assert np.array_equal(_run(Engine(profile_for("cpu")), model, loras=uses), switched[name]), name
    assert np.array_equal(switched["ink again"], switched["ink"])
    assert not np.array_equal(switched["both"], switched["ink"]) and not np.array_equal(
        switched["both"], switched["glow"]
    )


@pytest.mark.parametrize("model", ["sd2", "sd3", "flux"])
def test_every_family_runs_its_lora_through_the_engine(
    model: str, tiny_models: dict[str, Path], loras: dict[str, Path]
) -> None:
    engine = Engine(profile_for("cpu"))
    plain = _run(engine, tiny_models[model])
    with_lora = _run(engine, tiny_models[model], loras=(LoraUse(str(loras[model])),))
    assert not np.array_equal(with_lora, plain)
    assert np.array_equal(_run(engine, tiny_models[model]), plain)


def test_a_lora_of_another_family_or_a_pickle_is_refused_in_one_line(
    tiny_models: dict[str, Path], loras: dict[str, Path], tmp_path: Path
) -> None:
    engine = Engine(profile_for("cpu"))
    with pytest.raises(ModelError) as caught:
        _run(engine, tiny_models["sd15"], loras=(LoraUse(str(loras["xl"])),))
    assert (
        str(caught.value)
        == f"xl.safetensors: this LoRA is for SDXL; the model ({tiny_models['sd15'].name}) is SD 1.x."
    )
    with pytest.raises(ModelError, match=r"old\.pt is a pickle checkpoint"):
        _run(engine, tiny_models["sd15"], loras=(LoraUse(str(tmp_path / "old.pt")),))
    with pytest.raises(ModelError, match="No LoRA named 'nothing' is installed"):
        _run(engine, tiny_models["sd15"], prompt="a boat <lora:nothing:1>")
    assert np.array_equal(
        _run(engine, tiny_models["sd15"]), _run(Engine(profile_for("cpu")), tiny_models["sd15"])
    )


def test_an_embedding_named_in_the_prompt_changes_the_output(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    sdxl, sd15 = tiny_models["sdxl"], tiny_models["sd15"]
    engine = Engine(profile_for("cpu"))
    before = {
        "prompt": _run(engine, sdxl, prompt="a lighthouse, Inkwash"),
        "negative": _run(engine, sdxl, prompt="a lighthouse", negative_prompt="inkwash"),
        "no word": _run(engine, sdxl, prompt="a lighthouse, inkwashed"),
    }
    ModelManager().import_adapters(build_embedding(sdxl, tmp_path / "inkwash.safetensors"))

    assert not np.array_equal(_run(engine, sdxl, prompt="a lighthouse, Inkwash"), before["prompt"])
    assert not np.array_equal(
        _run(engine, sdxl, prompt="a lighthouse", negative_prompt="inkwash"), before["negative"]
    )
    assert np.array_equal(_run(engine, sdxl, prompt="a lighthouse, inkwashed"), before["no word"])
    assert engine._loaded is not None and engine._loaded.embeddings is not None
    assert engine._loaded.embeddings.names == ()  # not named in this job: unloaded

    given = build_embedding(sd15, tmp_path / "glowing.safetensors")  # 32 wide: no family; given for the job
    without = _run(engine, sd15, prompt="a lighthouse, glowing")
    assert not np.array_equal(
        _run(engine, sd15, prompt="a lighthouse, glowing", embeddings=(str(given),)), without
    )
    assert np.array_equal(_run(engine, sd15, prompt="a lighthouse, glowing"), without)
