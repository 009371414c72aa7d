"""SD 1.x folders as the Hub serves them list a safety checker and a feature extractor in
``model_index.json``; Sfumato never loads the checker, whether its folder is there or not."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
from transformers import CLIPConfig, CLIPImageProcessor

from sfumato.generation import Txt2ImgRequest
from sfumato.inference import Engine, profile_for


@pytest.fixture(scope="module")
def hub_layout_sd15(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny SD 1.5 with a tiny random safety checker and a feature extractor saved beside its
    other components and listed in its model_index.json, as in ``stable-diffusion-v1-5/*``."""
    folder = tmp_path_factory.mktemp("hub-layout") / "sd15-with-checker"
    shutil.copytree(tiny_models["sd15"], folder)
    torch.manual_seed(0)
    tiny = {"hidden_size": 16, "intermediate_size": 37, "num_attention_heads": 2, "num_hidden_layers": 1}
    config = CLIPConfig(
        text_config={**tiny, "vocab_size": 99, "max_position_embeddings": 77},
        vision_config={**tiny, "image_size": 32, "patch_size": 16},
        projection_dim=8,
    )
    StableDiffusionSafetyChecker(config).save_pretrained(folder / "safety_checker")
    CLIPImageProcessor(size=32, crop_size=32).save_pretrained(folder / "feature_extractor")
    index = json.loads((folder / "model_index.json").read_text())
    index |= {
        "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "requires_safety_checker": True,
    }
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


@pytest.mark.parametrize("on_disk", [True, False], ids=["checker-on-disk", "checker-listed-only"])
def test_sd15_runs_without_its_safety_checker(
    hub_layout_sd15: Path, tiny_models: dict[str, Path], tmp_path: Path, on_disk: bool
) -> None:
    folder = hub_layout_sd15
    if not on_disk:  # what a download by the model store leaves: the folders are never fetched
        folder = tmp_path / hub_layout_sd15.name
        shutil.copytree(hub_layout_sd15, folder)
        shutil.rmtree(folder / "safety_checker")
        shutil.rmtree(folder / "feature_extractor")
    engine = Engine(profile_for("cpu"))
    request = Txt2ImgRequest(model=str(folder), prompt="a lighthouse", steps=2, seed=4, width=64, height=64)
    result = engine.run(request)
    assert engine._loaded is not None and engine._loaded.base.safety_checker is None
    plain = Engine(profile_for("cpu")).run(replace(request, model=str(tiny_models["sd15"])))
    assert np.array_equal(result.images[0].pixels, plain.images[0].pixels)  # nothing was blacked out
