"""LoRAs and embeddings in the model store: the family from the keys in every layout, refusals
naming both families, imports of files and folders, listing, resolving by name, removing.

The key names are the real layouts' (kohya-ss sd-scripts, diffusers/PEFT, ComfyUI's LoraSave;
see :mod:`sfumato.model_store.checkpoint_family`) at the real models' widths: CLIP-L 768,
OpenCLIP-H 1024 (SD 2.x), SDXL's 2048-wide cross-attention and 1280-wide OpenCLIP-bigG, SD3
Medium 1536, SD 3.5 Large 2432, FLUX.1 3072. Only headers are read, so the tensors are zeros.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from store_helpers import write_checkpoint

from sfumato.cli import main
from sfumato.model_store import (
    FamilyMismatchError,
    ModelManager,
    PickleCheckpointError,
    UnknownFamilyError,
    UnknownModelError,
)
from sfumato.model_store.checkpoint_family import (
    check_adapter_family,
    embedding_family,
    file_adapter,
    lora_family,
)

R = 8  # rank


def _lora(prefix: str, width: int, suffix: str = ".lora_down.weight") -> dict[str, tuple[int, ...]]:
    up = suffix.replace("down", "up").replace("lora_A", "lora_B")
    return {prefix + suffix: (R, width), prefix + up: (width, R)}


KOHYA_SD15 = {
    **_lora("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 768),
    "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": (R, 320, 1, 1),
    "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": (320, R, 1, 1),
    "lora_unet_down_blocks_0_attentions_0_proj_in.alpha": (),
    **_lora("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 768),
}
KOHYA_SD2 = {
    **_lora("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 1024),
    **_lora("lora_unet_down_blocks_0_attentions_0_proj_in", 320),
    **_lora("lora_te_text_model_encoder_layers_22_self_attn_q_proj", 1024),
}
KOHYA_SDXL = {
    **_lora("lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k", 2048),
    **_lora("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", 768),
    **_lora("lora_te2_text_model_encoder_layers_0_self_attn_q_proj", 1280),
}
LAYOUTS: dict[str, tuple[dict[str, tuple[int, ...]], str]] = {
    "kohya SD 1.5": (KOHYA_SD15, "sd15"),
    "kohya SD 2.1": (KOHYA_SD2, "sd2"),
    "kohya SDXL": (KOHYA_SDXL, "sdxl"),
    "kohya SD3": (_lora("lora_unet_joint_blocks_0_x_block_attn_qkv", 1536), "sd35-medium"),
    "kohya FLUX.1": (_lora("lora_unet_double_blocks_0_img_attn_qkv", 3072), "flux-dev"),
    "diffusers SD 1.5": (
        _lora("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k", 768, ".lora_A.weight"),
        "sd15",
    ),
    "diffusers SDXL, UNet only": (
        _lora("unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k", 2048, ".lora_A.weight"),
        "sdxl",
    ),
    "diffusers SDXL, old names": (
        _lora(
            "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.processor.to_k_lora",
            2048,
            ".down.weight",
        ),
        "sdxl",
    ),
    "diffusers SD3 Medium": (
        _lora("transformer.transformer_blocks.0.attn.to_q", 1536, ".lora_A.weight"),
        "sd35-medium",
    ),
    "diffusers SD 3.5 Large": (
        _lora("transformer.transformer_blocks.0.attn.to_q", 2432, ".lora_A.weight"),
        "sd35-large",
    ),
    "diffusers FLUX.1": (
        _lora("transformer.single_transformer_blocks.0.attn.to_q", 3072, ".lora_A.weight"),
        "flux-dev",
    ),
    "diffusers FLUX.1, double blocks only": (
        _lora("transformer.transformer_blocks.0.attn.to_q", 3072, ".lora_A.weight"),
        "flux-dev",
    ),
    "ComfyUI SD 1.5": (
        {
            **_lora("diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k", 768),
            **_lora("text_encoders.clip_l.transformer.text_model.encoder.layers.0.self_attn.q_proj", 768),
        },
        "sd15",
    ),
    "ComfyUI SD 2.1": (
        _lora("text_encoders.clip_h.transformer.text_model.encoder.layers.0.self_attn.q_proj", 1024),
        "sd2",
    ),
    "ComfyUI SDXL": (
        _lora("text_encoders.clip_g.transformer.text_model.encoder.layers.0.self_attn.q_proj", 1280),
        "sdxl",
    ),
    "ComfyUI FLUX.1": (_lora("diffusion_model.double_blocks.0.img_attn.qkv", 3072), "flux-dev"),
    "ComfyUI SD3": (_lora("diffusion_model.joint_blocks.0.context_block.attn.qkv", 1536), "sd35-medium"),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_family_of_a_lora_is_read_from_its_keys_in_every_layout(layout: str, tmp_path: Path) -> None:
    shapes, family = LAYOUTS[layout]
    file = write_checkpoint(tmp_path / "style.safetensors", shapes)
    assert file_adapter(file) == ("lora", family)


def test_a_lora_that_does_not_say_its_family_or_is_not_a_lora_is_refused_with_a_reason() -> None:
    self_attention_only = _lora("lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q", 640)
    with pytest.raises(
        UnknownFamilyError, match=r"x\.safetensors: its tensors do not say which model family"
    ):
        lora_family({k: list(v) for k, v in self_attention_only.items()}, "x.safetensors")
    loha = {"lora_unet_x.hada_w1_a": [4, 8], "lora_unet_x.hada_w1_b": [8, 4]}
    with pytest.raises(UnknownFamilyError, match="is a LyCORIS adapter"):
        lora_family(loha, "x.safetensors")


def test_embeddings_are_told_by_their_keys_and_width() -> None:
    assert embedding_family({"emb_params": [2, 768]}) == "sd15"
    assert embedding_family({"<cat-toy>": [768]}) == "sd15"  # diffusers' learned_embeds
    assert embedding_family({"emb_params": [8, 1024]}) == "sd2"
    assert embedding_family({"clip_l": [2, 768], "clip_g": [2, 1280]}) == "sdxl"
    assert embedding_family({"emb_params": [2, 32]}) is None


def test_a_lora_of_another_family_is_refused_naming_both() -> None:
    with pytest.raises(FamilyMismatchError) as caught:
        check_adapter_family("LoRA", "detail.safetensors", "sdxl", "sd15-inpainting", "dreamshaper")
    assert (
        str(caught.value) == "detail.safetensors: this LoRA is for SDXL; the model (dreamshaper) is SD 1.x."
    )
    check_adapter_family(
        "LoRA", "turbo.safetensors", "flux-dev", "flux-schnell", "schnell"
    )  # one architecture


def _store(tmp_path: Path) -> ModelManager:
    return ModelManager(tmp_path / "cache")


def test_importing_a_lora_copies_it_into_the_store_and_names_it_by_its_stem(tmp_path: Path) -> None:
    manager = _store(tmp_path)
    source = write_checkpoint(tmp_path / "in" / "Ink Style.safetensors", KOHYA_SD15)

    (result,) = manager.import_adapters(source)

    adapter = result.adapter
    assert adapter is not None and (adapter.name, adapter.kind, adapter.family) == (
        "Ink Style",
        "lora",
        "sd15",
    )
    assert adapter.path == manager.cache.root / "loras" / "Ink Style.safetensors"
    assert adapter.path.read_bytes() == source.read_bytes() and adapter.source == str(source.resolve())
    source.unlink()  # stored with the models: the original may go
    assert manager.lora("Ink Style") == adapter == manager.lora("ink style")
    assert manager.loras("sd15-inpainting") == [adapter] and manager.loras("sdxl") == []
    (again,) = manager.import_adapters(manager.lora("Ink Style").path)  # the same bytes: no change
    assert again.adapter == adapter


def test_a_name_taken_by_another_file_is_refused_and_nothing_is_lost(tmp_path: Path) -> None:
    manager = _store(tmp_path)
    manager.import_adapters(write_checkpoint(tmp_path / "a" / "style.safetensors", KOHYA_SD15))
    (clash,) = manager.import_adapters(write_checkpoint(tmp_path / "b" / "style.safetensors", KOHYA_SDXL))
    assert clash.adapter is None and "A lora named style is already installed" in clash.error
    assert manager.lora("style").family == "sd15"


def test_importing_an_a1111_install_takes_its_loras_and_embeddings_and_refuses_pickles(
    tmp_path: Path,
) -> None:
    webui = tmp_path / "stable-diffusion-webui"
    write_checkpoint(webui / "models" / "Lora" / "ink.safetensors", KOHYA_SD15)
    write_checkpoint(webui / "models" / "Lora" / "xl" / "glow.safetensors", KOHYA_SDXL)
    (webui / "models" / "Lora" / "old.pt").write_bytes(b"pickle")
    write_checkpoint(webui / "embeddings" / "badhands.safetensors", {"emb_params": (4, 768)})
    write_checkpoint(webui / "embeddings" / "tiny.safetensors", {"emb_params": (4, 32)})
    manager = _store(tmp_path)

    results = {r.source.name: r for r in manager.import_adapters(webui)}

    assert sorted(results) == [
        "badhands.safetensors",
        "glow.safetensors",
        "ink.safetensors",
        "old.pt",
        "tiny.safetensors",
    ]
    assert (
        results["glow.safetensors"].adapter is not None
        and results["glow.safetensors"].adapter.family == "sdxl"
    )
    assert "pickle checkpoint" in results["old.pt"].error
    assert "32-wide vectors" in results["tiny.safetensors"].error
    assert [e.name for e in manager.embeddings("sd15")] == ["badhands"] and manager.embeddings("sdxl") == []
    assert [a.name for a in manager.adapters.installed()] == ["glow", "ink", "badhands"]


def test_a_lora_is_found_by_name_by_path_or_as_a_catalog_adapter(tmp_path: Path) -> None:
    manager = _store(tmp_path)
    outside = write_checkpoint(tmp_path / "elsewhere" / "sketch.safetensors", KOHYA_SDXL)
    by_path = manager.lora(str(outside))
    assert (by_path.name, by_path.family, by_path.sha256) == ("sketch", "sdxl", None)
    with pytest.raises(PickleCheckpointError):
        manager.lora(str(tmp_path / "old.ckpt"))
    with pytest.raises(UnknownModelError, match="No LoRA named 'nothing' is installed"):
        manager.lora("nothing")
    with pytest.raises(Exception, match="is a textual-inversion embedding, not a LoRA"):
        manager.lora(str(write_checkpoint(tmp_path / "e.safetensors", {"emb_params": (2, 768)})))


def test_models_import_list_and_remove_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    lora = write_checkpoint(tmp_path / "ink.safetensors", KOHYA_SD15)
    embedding = write_checkpoint(tmp_path / "glowxl.safetensors", {"clip_l": (2, 768), "clip_g": (2, 1280)})

    assert main(["models", "--cache-dir", str(cache), "import", str(lora)]) == 0
    assert main(["models", "--cache-dir", str(cache), "import", str(embedding)]) == 0
    out = capsys.readouterr().out
    assert "lora ink: for SD 1.x, used by <lora:ink:1>" in out
    assert "embedding glowxl: for SDXL, used by the word glowxl" in out

    monkeypatch.setattr(ModelManager, "plan", lambda self, *a, **k: _no_plan())
    assert main(["models", "--cache-dir", str(cache), "list"]) == 0
    listed = capsys.readouterr().out.split("installed:")[1]
    assert "ink" in listed and " lora " in listed and " embedding " in listed and "sdxl" in listed

    assert main(["models", "--cache-dir", str(cache), "remove", "lora:ink"]) == 0
    assert "ink: removed" in capsys.readouterr().out
    assert not (cache / "loras" / "ink.safetensors").exists()
    assert main(["models", "--cache-dir", str(cache), "import", str(tmp_path / "nope.pt")]) == 2
    assert capsys.readouterr().err.startswith("error: nope.pt is a pickle checkpoint")


def _no_plan() -> object:
    class Plan:
        fits = None
        reason = ""

        @staticmethod
        def summary() -> str:
            return ""

    return Plan()
