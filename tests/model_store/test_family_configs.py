"""The shipped config folders: complete, tokenizers faithful to CLIP, parameter counts consistent."""

from __future__ import annotations

import pytest

from sfumato.model_store import ModelManager, load_catalog

SHIPPED = ["sd15", "sd15-inpainting", "sd2", "sd2-inpainting", "sdxl", "sdxl-inpainting"]
A_PHOTO_OF_A_CAT = [49406, 320, 1125, 539, 320, 2368, 49407]  # CLIP ids of "a photo of a cat"


def test_the_catalog_points_single_files_at_the_shipped_folders() -> None:
    families = load_catalog().families
    assert sorted(f for f, fam in families.items() if fam.config_dir) == sorted(SHIPPED)
    assert all(fam.params_millions for f, fam in families.items() if f != "cascade")


@pytest.mark.parametrize("family", SHIPPED)
def test_an_assembled_folder_loads_offline_and_matches_the_catalog(family: str) -> None:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    manager = ModelManager()
    folder = manager.single_file_config(family)
    assert folder is not None and (folder / "model_index.json").is_file()
    assert manager.single_file_config(family) == folder  # built once

    for tokenizer_dir in sorted(folder.glob("tokenizer*")):
        tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
        assert tokenizer("a photo of a cat")["input_ids"] == A_PHOTO_OF_A_CAT
        openclip = family.startswith("sd2") or tokenizer_dir.name == "tokenizer_2"
        assert tokenizer.pad_token == ("!" if openclip else "<|endoftext|>")

    expected = load_catalog().families[family].params_millions
    assert expected is not None
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
        text = CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder"))
    for name, module in (("unet", unet), ("vae", vae), ("text_encoder", text)):
        assert round(sum(p.numel() for p in module.parameters()) / 1e6, 1) == expected[name]
    assert unet.config.in_channels == (9 if family.endswith("inpainting") else 4)


def test_families_without_a_folder_return_none() -> None:
    assert ModelManager().single_file_config("flux-dev") is None
    assert ModelManager().single_file_config(None) is None
