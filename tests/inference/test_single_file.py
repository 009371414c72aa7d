"""Single .safetensors files as A1111 and ComfyUI folders hold them: the real files' key layouts
at tiny sizes, loaded offline, completed from a folder where they lack components.

Each file is written from a tiny diffusers folder (``export_single_file``) and must give the
same pixels as that folder: the file → pipeline round trip. The key names the real files have
are diffusers' own ``CHECKPOINT_KEY_NAMES`` (``loaders/single_file_utils.py``), which is how
diffusers recognises each layout.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers.loaders.single_file_utils import CHECKPOINT_KEY_NAMES
from safetensors.numpy import save_file
from safetensors.torch import save_file as save_torch

from sfumato.generation import Txt2ImgRequest
from sfumato.inference import Architecture, Engine, ModelError, profile_for
from sfumato.inference.model_files import detect_model
from sfumato.inference.tiny_models import export_single_file, tiny_vae
from sfumato.model_store import ModelManager
from sfumato.model_store.checkpoint_family import tensor_shapes

COMMON = {"prompt": "a cat", "steps": 2, "seed": 5, "width": 64, "height": 64}
PREFIXES = {
    "v1-5-pruned-emaonly": {"model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer."},
    "sd_xl_base_1.0": {
        "model.diffusion_model.", "first_stage_model.", "conditioner.embedders.0.transformer.",
        "conditioner.embedders.1.model.",
    },
    "sd3_medium_incl_clips_t5xxlfp16": {
        "model.diffusion_model.", "first_stage_model.", "text_encoders.clip_l.transformer.",
        "text_encoders.clip_g.transformer.", "text_encoders.t5xxl.transformer.",
    },
    "sd3.5_medium": {"model.diffusion_model.", "first_stage_model."},
}
LAYOUT_KEYS = {  # keys diffusers recognises each real layout by (CHECKPOINT_KEY_NAMES)
    "v1-5-pruned-emaonly": [CHECKPOINT_KEY_NAMES["clip"], CHECKPOINT_KEY_NAMES["inpainting"]],
    "sd_xl_base_1.0": [CHECKPOINT_KEY_NAMES["clip_sdxl"], CHECKPOINT_KEY_NAMES["open_clip_sdxl"]],
    "sd3_medium_incl_clips_t5xxlfp16": [
        CHECKPOINT_KEY_NAMES["clip_sd3"],
        CHECKPOINT_KEY_NAMES["open_clip_sd3"],
        CHECKPOINT_KEY_NAMES["sd3"][1],
        "text_encoders.t5xxl.transformer.shared.weight",  # is_t5_in_single_file
    ],
    "sd3.5_medium": [CHECKPOINT_KEY_NAMES["sd3"][1]],
    "flux1-dev": [
        CHECKPOINT_KEY_NAMES["flux"][0],
        "guidance_in.in_layer.weight",
        "single_blocks.0.linear1.weight",
    ],
}
SOURCES = {  # file stem → tiny folder it is written from, whether it holds the text encoders
    "v1-5-pruned-emaonly": ("sd15", True),
    "sd_xl_base_1.0": ("sdxl", True),
    "sd3_medium_incl_clips_t5xxlfp16": ("sd3", True),
    "sd3.5_medium": ("sd3", False),
    "flux1-dev": ("flux-dev", True),
}


@pytest.fixture(scope="session")
def single_files(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each layout as one file, with its ``<stem>.config`` folder (the tiny folder without the
    weights the file holds)."""
    root = tmp_path_factory.mktemp("single-files")
    return {
        stem: export_single_file(tiny_models[name], root / f"{stem}.safetensors", text_encoders=encoders)
        for stem, (name, encoders) in SOURCES.items()
    }


def _pixels(engine: Engine, model: Path) -> np.ndarray:
    return engine.run(Txt2ImgRequest(model=str(model), **COMMON)).images[0].pixels


def _config_of(file: Path) -> Path:
    return file.with_name(file.stem + ".config")


def _alone(file: Path, where: Path) -> Path:
    """``file`` copied into ``where`` without its ``.config`` folder."""
    where.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(file, where / file.name))


@pytest.mark.parametrize("stem", list(LAYOUT_KEYS))
def test_files_have_the_real_layouts(single_files: dict[str, Path], stem: str) -> None:
    keys = set(tensor_shapes(single_files[stem]))
    assert set(LAYOUT_KEYS[stem]) <= keys
    if stem in PREFIXES:
        assert {p for p in PREFIXES[stem] if any(k.startswith(p) for k in keys)} == PREFIXES[stem]
        assert all(k.startswith(tuple(PREFIXES[stem])) for k in keys)
    else:  # the transformer alone, in BFL's names at the top level
        assert all(k.split(".")[0] in {"img_in", "txt_in", "time_in", "vector_in", "guidance_in",
                                       "double_blocks", "single_blocks", "final_layer"} for k in keys)


@pytest.mark.parametrize("stem", list(SOURCES))
def test_single_file_gives_the_same_pixels_as_its_folder(
    tiny_models: dict[str, Path], single_files: dict[str, Path], engine: Engine, stem: str
) -> None:
    file = single_files[stem]
    info = detect_model(file)
    assert info.single_file and info.config_dir == file.with_name(f"{stem}.config")
    assert np.array_equal(_pixels(engine, file), _pixels(engine, tiny_models[SOURCES[stem][0]]))


def test_single_file_is_detected_with_its_config(tiny_single_file: Path) -> None:
    info = detect_model(tiny_single_file)
    assert (info.architecture, info.single_file, info.inpaint_only) == (Architecture.SD1, True, False)
    assert (info.config_dir, info.borrowed) == (tiny_single_file.with_name("tiny-sd15.config"), ())


def test_single_file_reports_its_name(tiny_single_file: Path, engine: Engine) -> None:
    result = engine.run(Txt2ImgRequest(model=str(tiny_single_file), **COMMON))
    assert "Model: tiny-sd15," in result.images[0].parameters


def test_a_baked_in_vae_is_the_one_that_decodes(
    tiny_models: dict[str, Path], engine: Engine, tmp_path: Path
) -> None:
    """An SDXL file whose VAE is not its folder's (a fine-tuned VAE baked in) decodes with it."""
    baked = tiny_vae(4, seed=7)
    file = export_single_file(tiny_models["sdxl"], tmp_path / "baked.safetensors", vae=baked)
    from sfumato.inference.pipelines import load_pipeline

    loaded = load_pipeline(detect_model(file), replace(profile_for("cpu"), dtype="float32")).vae.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in baked.state_dict().items())
    with_baked = shutil.copytree(tiny_models["sdxl"], tmp_path / "sdxl-baked")
    baked.save_pretrained(with_baked / "vae")
    pixels = _pixels(engine, file)
    assert np.array_equal(pixels, _pixels(engine, with_baked))
    assert not np.array_equal(pixels, _pixels(engine, tiny_models["sdxl"]))


def test_a_flux_transformer_is_completed_by_the_installed_model(
    tiny_models: dict[str, Path], single_files: dict[str, Path], engine: Engine, tmp_path: Path
) -> None:
    """flux1-dev.safetensors alone loads with the VAE and text encoders of an installed
    FLUX.1 [dev] diffusers folder (here imported; a catalog download is found the same way)."""
    file = _alone(single_files["flux1-dev"], tmp_path / "ComfyUI" / "models" / "unet")
    ModelManager(hf_cache_dir=tmp_path / "hf").import_path(tiny_models["flux-dev"])
    info = detect_model(file)
    assert (info.family_id, info.borrowed) == ("flux-dev", ("vae", "text_encoder", "text_encoder_2"))
    assert info.config_dir == tiny_models["flux-dev"]
    assert np.array_equal(_pixels(engine, file), _pixels(engine, tiny_models["flux-dev"]))


def test_a_flux_transformer_in_diffusers_names_loads_too(
    tiny_models: dict[str, Path], single_files: dict[str, Path], engine: Engine, tmp_path: Path
) -> None:
    from diffusers import FluxTransformer2DModel

    transformer = FluxTransformer2DModel.from_pretrained(tiny_models["flux-dev"], subfolder="transformer")
    file = tmp_path / "flux-diffusers.safetensors"
    save_torch(transformer.state_dict(), str(file))
    shutil.copytree(_config_of(single_files["flux1-dev"]), tmp_path / "flux-diffusers.config")
    assert np.array_equal(_pixels(engine, file), _pixels(engine, tiny_models["flux-dev"]))


def test_a_lone_flux_transformer_says_what_is_missing_and_where_to_put_it(
    single_files: dict[str, Path], engine: Engine, tmp_path: Path
) -> None:
    file = _alone(single_files["flux1-dev"], tmp_path)
    with pytest.raises(ModelError) as refusal:
        engine.load(str(file))
    assert str(refusal.value) == (
        "flux1-dev.safetensors holds only the transformer, not the VAE and the text encoders "
        "(text_encoder, text_encoder_2): install FLUX.1 [dev] (`sfumato models download flux-dev`) "
        "or put its diffusers folder next to it as flux1-dev.config (the weights of the "
        "transformer may be left out)."
    )


def test_sd35_without_text_encoders_says_which_are_missing(
    single_files: dict[str, Path], engine: Engine, tmp_path: Path
) -> None:
    file = _alone(single_files["sd3.5_medium"], tmp_path)
    with pytest.raises(ModelError) as refusal:
        engine.load(str(file))
    assert str(refusal.value) == (
        "sd3.5_medium.safetensors holds the transformer and the VAE, not the text encoders "
        "(text_encoder, text_encoder_2, text_encoder_3): install Stable Diffusion 3.5 Medium "
        "(`sfumato models download sd35-medium`) or put its diffusers folder next to it as "
        "sd3.5_medium.config (the weights of the transformer and the VAE may be left out)."
    )


def test_a_whole_sd3_file_without_configuration_says_so(
    single_files: dict[str, Path], engine: Engine, tmp_path: Path
) -> None:
    """SD 3.5 has no shipped config (its T5 tokenizer cannot be built offline)."""
    file = _alone(single_files["sd3_medium_incl_clips_t5xxlfp16"], tmp_path)
    with pytest.raises(ModelError, match=r"holds every component, but Sfumato ships no configuration for "
                       r"Stable Diffusion 3\.5 Medium.*sd3_medium_incl_clips_t5xxlfp16\.config \(configs"):
        engine.load(str(file))


def test_an_incomplete_config_folder_names_what_it_lacks(
    single_files: dict[str, Path], engine: Engine, tmp_path: Path
) -> None:
    file = _alone(single_files["flux1-dev"], tmp_path)
    config = shutil.copytree(_config_of(single_files["flux1-dev"]), tmp_path / "flux1-dev.config")
    for weights in (config / "text_encoder_2").glob("*.safetensors"):
        weights.unlink()
    (config / "transformer" / "config.json").unlink()
    lacks = r"flux1-dev\.config completes it but lacks transformer/config\.json, the text_encoder_2 weights"
    with pytest.raises(ModelError, match=lacks):
        engine.load(str(file))


def test_single_file_without_any_config_says_what_it_needs(tmp_path: Path, engine: Engine) -> None:
    """A FLUX.1 file is refused before loading when nothing at hand completes it."""
    alone = tmp_path / "alone.safetensors"
    shapes = {"img_in.weight": (8, 64), "double_blocks.0.img_attn.qkv.weight": (4,)}
    save_file({key: np.zeros(shape, np.float16) for key, shape in shapes.items()}, str(alone))
    with pytest.raises(ModelError, match=r"holds only the transformer.*flux-schnell.*alone\.config"):
        engine.load(str(alone))
