"""Local files: family detection, pickle refusal, imports, registered folders, the HF cache,
verify / repair / remove, and resolve_model."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_hub import FakeHub
from store_helpers import LDM, SD15_SHAPES, write_checkpoint

from sfumato.model_store import (
    InvalidCheckpointError,
    ModelManager,
    NotInstalledError,
    PickleCheckpointError,
    UnknownFamilyError,
    UnknownModelError,
    UnsupportedModelError,
    resolve_model,
)
from sfumato.model_store.checkpoint_family import (
    file_components,
    file_family,
    folder_family,
    pipeline_components,
    tensor_shapes,
)

UNET16 = "unet/diffusion_pytorch_model.fp16.safetensors"
SDXL_SHAPES = {LDM + "input_blocks.0.0.weight": (1, 4, 1, 1), LDM + "label_emb.0.0.weight": (1, 2816)}


@pytest.mark.parametrize(
    ("shapes", "family"),
    [
        (SD15_SHAPES, "sd15"),
        ({**SD15_SHAPES, LDM + "input_blocks.0.0.weight": (1, 9, 1, 1)}, "sd15-inpainting"),
        ({**SD15_SHAPES, LDM + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (1, 1024)}, "sd2"),
        (SDXL_SHAPES, "sdxl"),
        ({**SDXL_SHAPES, LDM + "input_blocks.0.0.weight": (1, 9, 1, 1)}, "sdxl-inpainting"),
        ({"x_embedder.proj.weight": (2432, 1), "joint_blocks.0.x_block.attn.qkv.weight": (1,)}, "sd35-large"),
        (
            {
                LDM + "x_embedder.proj.weight": (1536, 1),
                LDM + "joint_blocks.0.x_block.attn.qkv.weight": (1,),
                LDM + "joint_blocks.0.x_block.attn2.qkv.weight": (1,),
            },
            "sd35-medium",
        ),
        (
            {
                "img_in.weight": (1, 64),
                "double_blocks.0.img_attn.qkv.weight": (1,),
                "guidance_in.in_layer.weight": (1,),
            },
            "flux-dev",
        ),
        ({"img_in.weight": (1, 64), "double_blocks.0.img_attn.qkv.weight": (1,)}, "flux-schnell"),
        ({"img_in.weight": (1, 384), "double_blocks.0.img_attn.qkv.weight": (1,)}, "flux-fill"),
        (
            {"x_embedder.weight": (1, 64), "single_transformer_blocks.0.attn.to_q.weight": (1,)},
            "flux-schnell",
        ),
        ({"clip_txt_mapper.weight": (1,)}, "cascade"),
        ({"down_blocks.1.0.channelwise.0.weight": (1,)}, "cascade"),  # stage B
        # the shapes the engine also knows: SGM-layout SDXL, SD3 Medium, other FLUX key names
        ({**SD15_SHAPES, "conditioner.embedders.1.model.ln_final.weight": (1,)}, "sdxl"),
        (
            {"x_embedder.proj.weight": (1536, 1), "joint_blocks.0.x_block.attn.qkv.weight": (1,)},
            "sd35-medium",
        ),
        ({"img_in.weight": (1, 384), "double_blocks.0.img_attn.norm.key_norm.scale": (1,)}, "flux-fill"),
    ],
)
def test_family_from_tensor_names_and_shapes(tmp_path: Path, shapes: dict, family: str) -> None:
    assert file_family(write_checkpoint(tmp_path / "m.safetensors", shapes)) == family


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        ({"lora_unet_down.lora_up.weight": (1,)}, "is a LoRA"),
        ({"encoder.conv_in.weight": (1,)}, "match no model family"),
        (  # SDXL refiner's UNet: 2560 text-time inputs where the base has 2816
            {LDM + "input_blocks.0.0.weight": (1, 4, 1, 1), LDM + "label_emb.0.0.weight": (1, 2560)},
            "is the SDXL refiner.*sdxl-base",
        ),
        (  # FLUX.1 Depth/Canny [dev]: 128 input channels (diffusers' "flux-depth")
            {"img_in.weight": (1, 128), "double_blocks.0.img_attn.qkv.weight": (1,)},
            "FLUX.1 Depth or Canny",
        ),
    ],
)
def test_a_single_file_of_unknown_family_is_refused_clearly(
    tmp_path: Path, shapes: dict, message: str
) -> None:
    path = write_checkpoint(tmp_path / "odd.safetensors", shapes)
    with pytest.raises(UnknownFamilyError, match=message):
        ModelManager(hf_cache_dir=tmp_path / "hf").import_path(path)
    assert ModelManager().cache.read_all() == []


class _Payload:
    """Unpickling this would create a marker file: proof that nothing was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".pth", ".bin"])
def test_pickle_checkpoints_are_refused_and_never_unpickled(tmp_path: Path, suffix: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / f"model{suffix}"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(PickleCheckpointError, match=r"run any code.*\.safetensors"):
        ModelManager().import_path(path)
    with pytest.raises(PickleCheckpointError):
        resolve_model(str(path))
    folder = tmp_path / "folder"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (folder / "unet" / f"diffusion_pytorch_model{suffix}").write_bytes(path.read_bytes())
    with pytest.raises(PickleCheckpointError):
        ModelManager().import_path(folder)
    assert not marker.exists()


def test_a_file_that_is_not_safetensors_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fake.safetensors"
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(InvalidCheckpointError, match=r"not a readable \.safetensors"):
        ModelManager().import_path(path)
    with pytest.raises(InvalidCheckpointError, match=r"only \.safetensors files and diffusers folders"):
        ModelManager().import_path(_touch(tmp_path / "x.onnx"))


def _touch(path: Path) -> Path:
    path.write_bytes(b"x")
    return path


def diffusers_folder(root: Path, pipeline: str, component: str, config: dict) -> Path:
    """A weightless diffusers folder with one component config and a token weight file."""
    (root / component).mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps({"_class_name": pipeline}))
    (root / component / "config.json").write_text(json.dumps(config))
    write_checkpoint(root / component / "diffusion_pytorch_model.safetensors", {"w": (1,)})
    return root


@pytest.mark.parametrize(
    ("pipeline", "component", "config", "family"),
    [
        ("StableDiffusionPipeline", "unet", {"cross_attention_dim": 768, "in_channels": 4}, "sd15"),
        (
            "StableDiffusionPipeline",
            "unet",
            {"cross_attention_dim": 32, "use_linear_projection": True},
            "sd2",
        ),
        (
            "StableDiffusionInpaintPipeline",
            "unet",
            {"cross_attention_dim": 768, "in_channels": 9},
            "sd15-inpainting",
        ),
        ("StableDiffusionXLInpaintPipeline", "unet", {"in_channels": 9}, "sdxl-inpainting"),
        ("StableDiffusion3Pipeline", "transformer", {"caption_projection_dim": 2432}, "sd35-large"),
        ("FluxPipeline", "transformer", {"guidance_embeds": True}, "flux-dev"),
        ("FluxFillPipeline", "transformer", {}, "flux-fill"),
    ],
)
def test_family_of_diffusers_folders(
    tmp_path: Path, pipeline: str, component: str, config: dict, family: str
) -> None:
    assert folder_family(diffusers_folder(tmp_path / "m", pipeline, component, config)) == family


def test_a_model_sfumato_does_not_run_is_not_imported(tmp_path: Path) -> None:
    """Refused by name (the same refusal as the engine's, see test_model_detection)."""
    folder = diffusers_folder(tmp_path / "kontext", "FluxKontextPipeline", "transformer", {})
    manager = ModelManager(hf_cache_dir=tmp_path / "hf")
    with pytest.raises(UnsupportedModelError, match=r"kontext is FLUX\.1 Kontext.*flux-dev"):
        manager.import_path(folder)
    assert manager.cache.read_all() == []


_SD3 = "model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight"
_VAE = "first_stage_model.decoder.conv_in.weight"


@pytest.mark.parametrize(
    ("shapes", "family", "held"),
    [
        (
            {**SD15_SHAPES, "first_stage_model.decoder.conv_in.weight": (1,),
             "cond_stage_model.transformer.text_model.final_layer_norm.weight": (1,)},
            "sd15",
            ("unet", "vae", "text_encoder"),
        ),
        (SD15_SHAPES, "sd15", ("unet",)),
        (
            {**SDXL_SHAPES, "first_stage_model.decoder.conv_in.weight": (1,),
             "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight": (1,),
             "conditioner.embedders.1.model.ln_final.weight": (1,)},
            "sdxl",
            ("unet", "vae", "text_encoder", "text_encoder_2"),
        ),
        ({_SD3: (1,), _VAE: (1,)}, "sd35-medium", ("transformer", "vae")),
        (
            {_SD3: (1,), _VAE: (1,),
             "text_encoders.clip_l.transformer.text_model.final_layer_norm.weight": (1,),
             "text_encoders.clip_g.transformer.text_model.final_layer_norm.weight": (1,),
             "text_encoders.t5xxl.transformer.shared.weight": (1,)},
            "sd35-medium",
            ("transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3"),
        ),
        (  # a FLUX.1 file is read for its transformer alone
            {"img_in.weight": (1, 64), "double_blocks.0.img_attn.qkv.weight": (1,),
             "vae.decoder.conv_in.weight": (1,)},
            "flux-schnell",
            ("transformer",),
        ),
    ],
)
def test_which_components_a_single_file_holds(tmp_path: Path, shapes: dict, family: str, held: tuple) -> None:
    path = write_checkpoint(tmp_path / "m.safetensors", shapes)
    assert file_family(path) == family
    assert file_components(family, tensor_shapes(path)) == held
    assert set(held) <= set(pipeline_components(family))


def test_an_unknown_pipeline_is_refused(tmp_path: Path) -> None:
    folder = diffusers_folder(tmp_path / "m", "KandinskyPipeline", "unet", {})
    with pytest.raises(UnknownFamilyError, match="KandinskyPipeline"):
        ModelManager().import_path(folder)


def test_import_records_in_place_and_verify_notices_changes(tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "mine.safetensors", SD15_SHAPES)
    manager = ModelManager(hf_cache_dir=tmp_path / "hf")
    (model,) = manager.import_path(path)
    assert (model.key, model.kind, model.family, model.path) == ("local:mine", "local", "sd15", path)
    assert resolve_model("local:mine") == path == resolve_model(str(path))
    assert [r.ok for r in manager.verify("local:mine")] == [True]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    (result,) = manager.verify("local:mine")
    assert result.problems == ("mine.safetensors: content differs from its sha256",)
    folder = diffusers_folder(
        tmp_path / "pipe", "StableDiffusionPipeline", "unet", {"cross_attention_dim": 768}
    )
    (pipe,) = manager.import_path(folder)
    assert pipe.path == folder and pipe.family == "sd15"
    manager.remove("local:mine")
    assert path.exists()  # imported files are never deleted
    with pytest.raises(UnknownModelError):
        resolve_model("local:mine")


def test_a1111_and_comfyui_folders_are_used_in_place(tmp_path: Path) -> None:
    a1111 = tmp_path / "stable-diffusion-webui"
    write_checkpoint(a1111 / "models" / "Stable-diffusion" / "sub" / "dream.safetensors", SD15_SHAPES)
    write_checkpoint(
        a1111 / "models" / "Stable-diffusion" / "vae.safetensors", {"encoder.conv_in.weight": (1,)}
    )
    write_checkpoint(a1111 / "models" / "Lora" / "style.safetensors", SD15_SHAPES)
    comfy = tmp_path / "ComfyUI"
    write_checkpoint(comfy / "models" / "checkpoints" / "xl.safetensors", SDXL_SHAPES)
    flux = {
        "img_in.weight": (1, 64),
        "double_blocks.0.img_attn.qkv.weight": (1,),
        "guidance_in.in_layer.weight": (1,),
    }
    write_checkpoint(comfy / "models" / "diffusion_models" / "flux1-dev.safetensors", flux)
    write_checkpoint(comfy / "models" / "text_encoders" / "t5xxl_fp16.safetensors", {"shared.weight": (1,)})
    manager = ModelManager(hf_cache_dir=tmp_path / "hf")
    found = manager.import_path(a1111)
    assert [(m.key, m.family) for m in found] == [
        ("external:models/Stable-diffusion/sub/dream.safetensors", "sd15")
    ]
    manager.register_folder(comfy)
    manager.register_folder(comfy)  # registering twice is harmless
    listed = {m.key: m for m in ModelManager(hf_cache_dir=tmp_path / "hf").installed()}
    assert set(listed) == {
        "external:models/Stable-diffusion/sub/dream.safetensors",
        "external:models/checkpoints/xl.safetensors",
        "external:models/diffusion_models/flux1-dev.safetensors",
    }
    assert listed["external:models/diffusion_models/flux1-dev.safetensors"].family == "flux-dev"
    assert (
        listed["external:models/checkpoints/xl.safetensors"].path
        == comfy / "models" / "checkpoints" / "xl.safetensors"
    )
    assert not list(manager.cache.root.rglob("*.safetensors"))  # nothing copied
    assert manager.resolve("external:models/checkpoints/xl.safetensors").family == "sdxl"
    with pytest.raises(NotInstalledError, match="not managed by Sfumato"):
        manager.remove("external:models/checkpoints/xl.safetensors")


def test_an_existing_hugging_face_cache_is_reused(tmp_path: Path) -> None:
    hf = tmp_path / "hf"
    snapshot = hf / "models--org--pipe" / "snapshots" / "abc123"
    diffusers_folder(snapshot, "StableDiffusionXLPipeline", "unet", {"in_channels": 4})
    (hf / "models--org--pipe" / "refs").mkdir()
    (hf / "models--org--pipe" / "refs" / "main").write_text("abc123")
    manager = ModelManager(hf_cache_dir=hf)
    model = manager.resolve("org/pipe")
    assert (model.kind, model.family, model.path) == ("hf-cache", "sdxl", snapshot)
    assert "hf-cache:org/pipe" in {m.key for m in manager.installed()}


def test_resolve_errors_say_what_to_do(tmp_path: Path, test_catalog: Path) -> None:
    manager = ModelManager(hf_cache_dir=tmp_path / "hf")
    with pytest.raises(NotInstalledError, match="sfumato models download tiny-sd"):
        manager.resolve("tiny-sd@fp32")
    with pytest.raises(NotInstalledError, match="sfumato models download someone/model"):
        manager.resolve("someone/model")
    with pytest.raises(InvalidCheckpointError, match="does not exist"):
        manager.resolve(str(tmp_path / "gone.safetensors"))
    with pytest.raises(UnknownModelError, match="sfumato models list"):
        manager.resolve("nonsense")


def test_verify_repair_and_remove_downloaded_models(
    make_manager: Callable[..., ModelManager], hub: FakeHub
) -> None:
    manager = make_manager()
    fp16 = manager.install("tiny-sd")
    fp32 = manager.install("tiny-sd", variant="fp32")
    assert fp16.path == fp32.path and resolve_model("tiny-sd") == fp16.path
    assert all(r.ok for r in manager.verify())
    target = fp16.path / UNET16
    target.write_bytes(bytes(b ^ 1 for b in target.read_bytes()))
    (result,) = manager.verify("tiny-sd@fp16")
    assert result.problems == (f"{UNET16}: content differs from its sha256",)
    before = len(hub.ranges(UNET16))
    manager.repair("tiny-sd@fp16")
    assert len(hub.ranges(UNET16)) == before + 1
    assert manager.verify("tiny-sd@fp16")[0].ok

    manager.remove("tiny-sd@fp32")
    assert not (fp32.path / "unet/diffusion_pytorch_model.safetensors").exists()
    assert (fp16.path / "model_index.json").exists()  # still used by the fp16 install
    manager.remove("tiny-sd")
    assert not fp16.path.exists()
    with pytest.raises(NotInstalledError):
        resolve_model("tiny-sd")
