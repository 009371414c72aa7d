"""Which family a local checkpoint belongs to, read from tensor names and shapes or folder configs.

Single files are read through ``safetensors.safe_open``: only the header (names, shapes, dtypes)
is parsed, no tensor data. Pickle formats are refused before anything is opened.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError, safe_open

from sfumato.model_store.errors import InvalidCheckpointError, PickleCheckpointError, UnknownFamilyError

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle")
KNOWN_FAMILIES = "SD 1.x, SD 2.x, SDXL, SD 3.5, FLUX.1, Stable Cascade"
_LDM = "model.diffusion_model."


def refuse_pickle(path: Path) -> None:
    """Raise :class:`PickleCheckpointError` for pickle-based checkpoints (never unpickled here)."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise PickleCheckpointError(
            f"{path.name} is a pickle checkpoint ({path.suffix}): opening it can run any code hidden "
            "inside, so Sfumato never loads it. Look for a .safetensors download of the same model, "
            "or convert it in a separate, disposable Python environment: "
            "`torch.load(path, map_location='cpu', weights_only=True)` then "
            "`safetensors.torch.save_file(state_dict, 'model.safetensors')`."
        )


def tensor_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor names and shapes from a ``.safetensors`` header, without reading tensor data."""
    refuse_pickle(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as exc:
        raise InvalidCheckpointError(f"{path.name} is not a readable .safetensors file ({exc}).") from exc


def family_from_tensors(shapes: dict[str, list[int]]) -> str | None:
    """The catalog family id whose architecture these tensors have, or ``None``.

    Knows the original (LDM/SGM, SAI, BFL) layouts checkpoints are shared in, and diffusers-layout
    FLUX transformers. The engine detects single files with this function too.
    """
    unet_in = shapes.get(_LDM + "input_blocks.0.0.weight")
    if unet_in is not None:
        inpaint = "-inpainting" if len(unet_in) == 4 and unet_in[1] == 9 else ""
        label_emb = shapes.get(_LDM + "label_emb.0.0.weight")
        if label_emb is not None:
            return "sdxl" + inpaint if label_emb[1] == 2816 else None  # 2560: the refiner
        if any(k.startswith("conditioner.embedders.") for k in shapes):  # SGM layout: SDXL's
            return "sdxl" + inpaint
        # SD 2 has 1024-wide text features (OpenCLIP-H); the engine decides the same way
        context = next(
            (
                v
                for k, v in shapes.items()
                if k.startswith(_LDM) and k.endswith("attn2.to_k.weight") and len(v) == 2
            ),
            None,
        )
        openclip = any(k.startswith("cond_stage_model.model.") for k in shapes)
        return ("sd2" if openclip or (context and context[1] == 1024) else "sd15") + inpaint
    if any("joint_blocks." in k for k in shapes):
        return _sd3(shapes)
    img_in = next((v for k, v in shapes.items() if k.endswith("img_in.weight")), None)
    if img_in is not None and any("double_blocks." in k for k in shapes):
        return _flux(img_in[-1], any(k.endswith("guidance_in.in_layer.weight") for k in shapes))
    x_embedder = shapes.get("x_embedder.weight")
    if x_embedder is not None and "single_transformer_blocks.0.attn.to_q.weight" in shapes:
        return _flux(x_embedder[1], "time_text_embed.guidance_embedder.linear_1.weight" in shapes)
    cascade = ("clip_txt_mapper", "clip_txt_pooled_mapper", "effnet_mapper")  # stage C, stage B
    if any(k.startswith(cascade) or ".channelwise." in k for k in shapes):
        return "cascade"
    return None


def _sd3(shapes: dict[str, list[int]]) -> str:
    """SD 3.5 Large by its width; everything else (SD3 Medium too, as for folders) is Medium."""
    embed = next((v for k, v in shapes.items() if k.endswith("x_embedder.proj.weight")), None)
    return "sd35-large" if embed is not None and embed[0] == 2432 else "sd35-medium"


def _flux(in_features: int, has_guidance: bool) -> str | None:
    if in_features == 384:
        return "flux-fill"
    if in_features == 64:
        return "flux-dev" if has_guidance else "flux-schnell"
    return None


def file_family(path: Path) -> str:
    """The family of a single ``.safetensors`` checkpoint; a typed error if it is none we know."""
    shapes = tensor_shapes(path)
    family = family_from_tensors(shapes)
    if family is not None:
        return family
    if any("lora" in k.lower() for k in shapes):
        raise UnknownFamilyError(
            f"{path.name} is a LoRA, not a full checkpoint; it cannot be used as a model."
        )
    raise UnknownFamilyError(
        f"{path.name}: its tensors match no model family Sfumato knows ({KNOWN_FAMILIES}). "
        "VAEs, text encoders, refiners and LoRAs are not full checkpoints."
    )


def folder_family(folder: Path) -> str:
    """The family of a diffusers folder, from ``model_index.json`` and its component configs."""
    index = folder / "model_index.json"
    if not index.is_file():
        raise InvalidCheckpointError(f"{folder} is not a diffusers folder (it has no model_index.json).")
    if not any(folder.rglob("*.safetensors")):
        pickles = [p for p in folder.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES]
        if pickles:
            refuse_pickle(pickles[0])
        raise InvalidCheckpointError(f"{folder} holds no .safetensors weights.")
    try:
        pipeline = json.loads(index.read_text(encoding="utf-8")).get("_class_name", "")
        family = _family_of_pipeline(folder, pipeline)
    except (OSError, ValueError) as exc:
        raise InvalidCheckpointError(f"{folder}: unreadable config ({exc}).") from exc
    if family is None:
        raise UnknownFamilyError(f"{folder.name}: pipeline {pipeline or '?'} is not one of {KNOWN_FAMILIES}.")
    return family


def _config(folder: Path, component: str) -> dict:
    return json.loads((folder / component / "config.json").read_text(encoding="utf-8"))


def _family_of_pipeline(folder: Path, pipeline: str) -> str | None:
    """Family from the pipeline class; component configs split SD 1/2 and the inpainting UNets
    (the same rule the engine uses: linear projections or 1024-wide text features mean SD 2)."""
    if pipeline in ("StableDiffusionPipeline", "StableDiffusionInpaintPipeline"):
        unet = _config(folder, "unet")
        sd2 = unet.get("use_linear_projection") or unet.get("cross_attention_dim") == 1024
        base = "sd2" if sd2 else "sd15"
        return base + "-inpainting" if unet.get("in_channels") == 9 else base
    if pipeline in ("StableDiffusionXLPipeline", "StableDiffusionXLInpaintPipeline"):
        return "sdxl-inpainting" if _config(folder, "unet").get("in_channels") == 9 else "sdxl"
    if pipeline == "StableDiffusion3Pipeline":  # SD3 Medium is sized like SD 3.5 Medium
        large = _config(folder, "transformer").get("caption_projection_dim") == 2432
        return "sd35-large" if large else "sd35-medium"
    if pipeline == "FluxPipeline":
        return "flux-dev" if _config(folder, "transformer").get("guidance_embeds") else "flux-schnell"
    if pipeline == "FluxFillPipeline":
        return "flux-fill"
    if pipeline.startswith("StableCascade"):
        return "cascade"
    return None
