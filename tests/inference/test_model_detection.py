"""Family detection, validation and refusal of unusable model files (no weights are loaded)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from sfumato.inference import Family, ModelError, UnsupportedError
from sfumato.inference.model_files import detect_model, model_hash, resolve_model
from sfumato.model_store import ModelManager


@pytest.mark.parametrize(
    ("name", "family", "inpaint_only"),
    [
        ("sd15", Family.SD1, False),
        ("sd2", Family.SD2, False),
        ("sd15-inpaint", Family.SD1, True),
        ("sdxl", Family.SDXL, False),
        ("sd3", Family.SD3, False),
        ("flux", Family.FLUX, False),
        ("flux-fill", Family.FLUX, True),
    ],
)
def test_folder_family(tiny_models: dict[str, Path], name: str, family: Family, inpaint_only: bool) -> None:
    info = detect_model(tiny_models[name])
    assert (info.family, info.inpaint_only, info.single_file) == (family, inpaint_only, False)
    assert info.name == name


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


@pytest.mark.parametrize(
    ("shapes", "family", "inpaint_only", "store_family"),
    [
        ({UNET_IN: (320, 4, 3, 3), ATTN_K: (320, 768)}, Family.SD1, False, "sd15"),
        ({UNET_IN: (320, 9, 3, 3), ATTN_K: (320, 768)}, Family.SD1, True, "sd15-inpainting"),
        ({UNET_IN: (320, 4, 3, 3), ATTN_K: (320, 1024)}, Family.SD2, False, "sd2"),
        (
            {UNET_IN: (320, 4, 3, 3), "conditioner.embedders.1.model.ln_final.weight": (1280,)},
            Family.SDXL,
            False,
            "sdxl",
        ),
        ({"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight": (4, 4)}, Family.SD3, False, None),
        ({FLUX_BLOCK: (4,), "img_in.weight": (8, 64)}, Family.FLUX, False, None),
        ({FLUX_BLOCK: (4,), "img_in.weight": (8, 384)}, Family.FLUX, True, None),
    ],
)
def test_single_file_family(
    tmp_path: Path,
    shapes: dict[str, tuple[int, ...]],
    family: Family,
    inpaint_only: bool,
    store_family: str | None,
) -> None:
    """Families with a config the store ships get it; the others have none (and are refused)."""
    info = detect_model(_single_file(tmp_path / "model.safetensors", shapes))
    assert (info.family, info.inpaint_only, info.single_file) == (family, inpaint_only, True)
    if store_family is None:
        assert info.config_dir is None
    else:
        assert info.config_dir == ModelManager().single_file_config(store_family)
        assert info.config_dir is not None and (info.config_dir / "model_index.json").is_file()


def test_a_lone_sd15_file_gets_the_stores_sd15_config(tmp_path: Path) -> None:
    path = _single_file(tmp_path / "mine.safetensors", {UNET_IN: (320, 4, 3, 3), ATTN_K: (320, 768)})
    config_dir = detect_model(path).config_dir
    assert config_dir is not None and config_dir.name == "sd15"
    assert config_dir == ModelManager().single_file_config("sd15")
    unet = json.loads((config_dir / "unet" / "config.json").read_text())
    assert (unet["in_channels"], unet["cross_attention_dim"]) == (4, 768)


def test_single_file_picks_up_its_config_folder(tmp_path: Path) -> None:
    """A ``<stem>.config`` folder beside the file wins over the store's shipped config."""
    path = _single_file(tmp_path / "mine.safetensors", {UNET_IN: (320, 4, 3, 3)})
    (tmp_path / "mine.config").mkdir()
    assert detect_model(path).config_dir == tmp_path / "mine.config"


def test_stable_cascade_is_detected_and_refused_clearly(tmp_path: Path) -> None:
    folder = tmp_path / "cascade"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableCascadeDecoderPipeline"}))
    with pytest.raises(UnsupportedError, match="Stable Cascade"):
        detect_model(folder)
    for stage, key in [("c", "clip_txt_mapper.weight"), ("b", "down_blocks.1.0.channelwise.0.weight")]:
        file = _single_file(tmp_path / f"stage_{stage}.safetensors", {key: (4, 4)})
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
