"""Family detection, validation and refusal of unusable model files (no weights are loaded)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from sfumato.inference import Architecture, ModelError, UnsupportedError
from sfumato.inference.families import STORE_FAMILIES
from sfumato.inference.model_files import check_loadable_offline, detect_model, model_hash, resolve_model
from sfumato.model_store import ModelManager, UnsupportedModelError, load_catalog
from sfumato.model_store.checkpoint_family import FAMILY_IDS, file_family, folder_family


@pytest.mark.parametrize(
    ("name", "architecture", "inpaint_only"),
    [
        ("sd15", Architecture.SD1, False),
        ("sd2", Architecture.SD2, False),
        ("sd15-inpaint", Architecture.SD1, True),
        ("sdxl", Architecture.SDXL, False),
        ("sd3", Architecture.SD3, False),
        ("flux", Architecture.FLUX, False),
        ("flux-dev", Architecture.FLUX, False),
        ("flux-fill", Architecture.FLUX, True),
    ],
)
def test_folder_family(
    tiny_models: dict[str, Path], name: str, architecture: Architecture, inpaint_only: bool
) -> None:
    info = detect_model(tiny_models[name])
    assert (info.architecture, info.inpaint_only, info.single_file) == (architecture, inpaint_only, False)
    assert info.name == name
    assert info.family_id == folder_family(tiny_models[name])  # the store's answer, the same rules


def test_one_family_vocabulary() -> None:
    """Detection answers with the catalog's family ids; the engine maps every one it runs."""
    assert set(FAMILY_IDS) == set(load_catalog().families)
    assert set(STORE_FAMILIES) == set(FAMILY_IDS) - {"cascade"}


def test_model_hash_is_stable_and_distinguishes_models(tiny_models: dict[str, Path]) -> None:
    sd15 = detect_model(tiny_models["sd15"])
    assert model_hash(sd15) == model_hash(sd15)
    assert len(model_hash(sd15)) == 10
    assert model_hash(sd15) != model_hash(detect_model(tiny_models["sd2"]))


def _single_file(path: Path, shapes: dict[str, tuple[int, ...]]) -> Path:
    save_file({key: np.zeros(shape, np.float16) for key, shape in shapes.items()}, str(path))
    return path


UNET_IN = "model.diffusion_model.input_blocks.0.0.weight"
FLUX_BLOCK = "double_blocks.0.img_attn.norm.key_norm.scale"
ATTN_K = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
# One tensor of each other component, with the prefixes of the real files (LDM_VAE_KEYS,
# CHECKPOINT_KEY_NAMES["clip"], ["clip_sdxl"], ["open_clip_sdxl"] in diffusers' single_file_utils)
SD_PARTS = {
    "first_stage_model.decoder.conv_in.weight": (512, 4, 3, 3),
    "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": (77, 768),
}
SDXL_PARTS = {
    "first_stage_model.decoder.conv_in.weight": (512, 4, 3, 3),
    "conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight": (77, 768),
    "conditioner.embedders.1.model.positional_embedding": (77, 1280),
}


@pytest.mark.parametrize(
    ("shapes", "architecture", "inpaint_only", "store_family"),
    [
        ({UNET_IN: (320, 4, 3, 3), ATTN_K: (320, 768), **SD_PARTS}, Architecture.SD1, False, "sd15"),
        (
            {UNET_IN: (320, 9, 3, 3), ATTN_K: (320, 768), **SD_PARTS},
            Architecture.SD1,
            True,
            "sd15-inpainting",
        ),
        ({UNET_IN: (320, 4, 3, 3), ATTN_K: (320, 1024), **SD_PARTS}, Architecture.SD2, False, "sd2"),
        ({UNET_IN: (320, 4, 3, 3), **SDXL_PARTS}, Architecture.SDXL, False, "sdxl"),
        (
            {"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight": (4, 4)},
            Architecture.SD3,
            False,
            None,
        ),
        ({FLUX_BLOCK: (4,), "img_in.weight": (8, 64)}, Architecture.FLUX, False, None),
        ({FLUX_BLOCK: (4,), "img_in.weight": (8, 384)}, Architecture.FLUX, True, None),
    ],
)
def test_single_file_family(
    tmp_path: Path,
    shapes: dict[str, tuple[int, ...]],
    architecture: Architecture,
    inpaint_only: bool,
    store_family: str | None,
) -> None:
    """Whole SD/SDXL checkpoints get the config the store ships; SD3 and FLUX have none (a lone
    file is refused before loading, see test_single_file)."""
    info = detect_model(_single_file(tmp_path / "model.safetensors", shapes))
    assert (info.architecture, info.inpaint_only, info.single_file) == (architecture, inpaint_only, True)
    if store_family is None:
        assert info.config_dir is None
        with pytest.raises(ModelError, match=r"model\.config"):
            check_loadable_offline(info)
    else:
        assert info.borrowed == ()
        assert info.config_dir == ModelManager().single_file_config(store_family)
        check_loadable_offline(info)  # the shipped folder has every config and tokenizer


def test_a_lone_sd15_file_gets_the_stores_sd15_config(tmp_path: Path) -> None:
    shapes = {UNET_IN: (320, 4, 3, 3), ATTN_K: (320, 768), **SD_PARTS}
    path = _single_file(tmp_path / "mine.safetensors", shapes)
    config_dir = detect_model(path).config_dir
    assert config_dir is not None and config_dir.name == "sd15"
    assert config_dir == ModelManager().single_file_config("sd15")
    unet = json.loads((config_dir / "unet" / "config.json").read_text())
    assert (unet["in_channels"], unet["cross_attention_dim"]) == (4, 768)


def test_a_unet_alone_is_not_completed_by_a_weightless_config(tmp_path: Path) -> None:
    """The shipped configs hold no weights: a file without its VAE and text encoder needs a
    folder that has them (none is installed here)."""
    info = detect_model(_single_file(tmp_path / "unet.safetensors", {UNET_IN: (320, 4, 3, 3)}))
    assert (info.family_id, info.borrowed, info.config_dir) == ("sd15", ("vae", "text_encoder"), None)


def test_single_file_picks_up_its_config_folder(tmp_path: Path) -> None:
    """A ``<stem>.config`` folder beside the file wins over the store's shipped config."""
    path = _single_file(tmp_path / "mine.safetensors", {UNET_IN: (320, 4, 3, 3)})
    (tmp_path / "mine.config").mkdir()
    assert detect_model(path).config_dir == tmp_path / "mine.config"


def _folder(root: Path, index: dict[str, object], transformer: dict[str, object] | None = None) -> Path:
    """A diffusers folder with this ``model_index.json`` (and transformer config), and a weight."""
    (root / "transformer").mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps(index))
    if transformer is not None:
        (root / "transformer" / "config.json").write_text(json.dumps(transformer))
    _single_file(root / "transformer" / "diffusion_pytorch_model.safetensors", {"w": (1,)})
    return root


DEV = {FLUX_BLOCK: (4,), "img_in.weight": (8, 64), "guidance_in.in_layer.weight": (8, 256)}
# Pipeline classes as diffusers names them; the refiner's model_index.json as
# stabilityai/stable-diffusion-xl-refiner-1.0 has it (requires_aesthetics_score, no CLIP-L).
REFUSED_FOLDERS = [
    ({"_class_name": "StableDiffusionXLImg2ImgPipeline", "requires_aesthetics_score": True,
      "text_encoder": [None, None]}, None, "SDXL refiner"),
    ({"_class_name": "FluxKontextPipeline"}, None, "FLUX.1 Kontext"),
    ({"_class_name": "FluxControlPipeline"}, None, "FLUX.1 Depth or Canny"),
    ({"_class_name": "FluxPipeline"}, {"in_channels": 128, "guidance_embeds": True}, "FLUX.1 Depth or Canny"),
    ({"_class_name": "FluxPriorReduxPipeline"}, None, "FLUX.1 Redux"),
]
REFUSED_FILES = [
    # SGM layout with OpenCLIP as embedder 0 only: diffusers' "xl_refiner" key
    ("sd_xl_refiner_1.0.safetensors", {UNET_IN: (384, 4, 3, 3),
     "conditioner.embedders.0.model.transformer.resblocks.9.mlp.c_proj.bias": (1280,)}, "SDXL refiner"),
    ("refiner_unet.safetensors", {UNET_IN: (384, 4, 3, 3),
     "model.diffusion_model.label_emb.0.0.weight": (1536, 2560)}, "SDXL refiner"),
    ("flux1-kontext-dev.safetensors", DEV, "FLUX.1 Kontext"),
    ("flux1-depth-dev.safetensors", {**DEV, "img_in.weight": (8, 128)}, "FLUX.1 Depth or Canny"),
    # ReduxImageEncoder(redux_dim=1152, txt_in_features=4096): redux_up 1152→12288, redux_down →4096
    ("flux1-redux-dev.safetensors", {"redux_up.weight": (12288, 1152), "redux_down.weight": (4096, 12288)},
     "FLUX.1 Redux"),
]


@pytest.mark.parametrize(("index", "transformer", "what"), REFUSED_FOLDERS)
def test_folders_sfumato_does_not_run_are_refused_alike_everywhere(
    tmp_path: Path, index: dict[str, object], transformer: dict[str, object] | None, what: str
) -> None:
    """The engine (CLI, window) and the model store give the same refusal, naming the model."""
    folder = _folder(tmp_path / "model", index, transformer)
    with pytest.raises(UnsupportedError, match=what) as engine:
        detect_model(folder)
    with pytest.raises(UnsupportedModelError) as store:
        folder_family(folder)
    assert str(engine.value) == str(store.value)
    assert "model" in str(store.value) and "use " in str(store.value)  # what to use instead


@pytest.mark.parametrize(("name", "shapes", "what"), REFUSED_FILES)
def test_files_sfumato_does_not_run_are_refused_alike_everywhere(
    tmp_path: Path, name: str, shapes: dict[str, tuple[int, ...]], what: str
) -> None:
    file = _single_file(tmp_path / name, shapes)
    with pytest.raises(UnsupportedError, match=what) as engine:
        detect_model(file)
    with pytest.raises(UnsupportedModelError) as store:
        file_family(file)
    assert str(engine.value) == str(store.value)
    assert name in str(store.value) and "use " in str(store.value)


def test_stable_cascade_is_detected_and_refused_clearly(tmp_path: Path) -> None:
    """The store keeps Stable Cascade (the catalog downloads it); the engine refuses to run it."""
    folder = tmp_path / "cascade"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableCascadeDecoderPipeline"}))
    with pytest.raises(UnsupportedError, match="Stable Cascade"):
        detect_model(folder)
    for stage, key in [("c", "clip_txt_mapper.weight"), ("b", "down_blocks.1.0.channelwise.0.weight")]:
        file = _single_file(tmp_path / f"stage_{stage}.safetensors", {key: (4, 4)})
        assert file_family(file) == "cascade"
        with pytest.raises(UnsupportedError, match="Stable Cascade"):
            detect_model(file)


class _Boom:
    """Unpickling this would create a marker file: the test proves nobody unpickles."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".pth", ".bin"])
def test_pickle_checkpoints_are_refused_unopened(tmp_path: Path, suffix: str) -> None:
    import pickle

    marker = tmp_path / "unpickled"
    path = tmp_path / f"model{suffix}"
    path.write_bytes(pickle.dumps(_Boom(marker)))
    with pytest.raises(ModelError, match="pickle"):
        detect_model(path)
    assert not marker.exists()


def test_pickle_weights_inside_a_folder_are_refused(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_models["sd15"], tmp_path / "sd15")
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    weights.rename(folder / "unet" / "diffusion_pytorch_model.bin")
    with pytest.raises(ModelError, match="pickle"):
        detect_model(folder)


def test_truncated_safetensors_is_refused(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    file = _single_file(tmp_path / "whole.safetensors", {UNET_IN: (320, 4, 3, 3), ATTN_K: (320, 768)})
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(file.read_bytes()[:-1000])
    with pytest.raises(ModelError, match="truncated"):
        detect_model(truncated)
    folder = shutil.copytree(tiny_models["sd15"], tmp_path / "sd15")
    weights = folder / "vae" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ModelError, match="truncated"):
        detect_model(folder)


def test_incomplete_folder_names_the_missing_part(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_models["sdxl"], tmp_path / "sdxl")
    shutil.rmtree(folder / "text_encoder_2")
    with pytest.raises(ModelError, match="text_encoder_2"):
        detect_model(folder)


def test_folder_without_index_and_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model_index\.json"):
        detect_model(tmp_path)
    with pytest.raises(ModelError, match="not found"):
        resolve_model(str(tmp_path / "nowhere"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelError, match="not a model"):
        detect_model(tmp_path / "notes.txt")
