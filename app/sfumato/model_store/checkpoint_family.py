"""Which family a local checkpoint belongs to, read from tensor names and shapes or folder configs.

This is the one family detector: the model store calls it when it imports, downloads or lists a
model, and the engine calls it before it loads one, so both accept and refuse the same models.
It answers with the catalog's family ids (:data:`FAMILY_IDS`); models Sfumato recognises but
does not run (the SDXL refiner, FLUX.1 Kontext, Depth/Canny and Redux) are refused with
:class:`UnsupportedModelError`, naming what they are and what to use instead. Stable Cascade is
recognised (``cascade``: the catalog can download it) and refused only where it would be run
(:func:`refuse_unrunnable`).

Single files are read through ``safetensors.safe_open``: only the header (names, shapes, dtypes)
is parsed, no tensor data. Pickle formats are refused before anything is opened. No torch here.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError, safe_open

from sfumato.model_store.errors import (
    InvalidCheckpointError,
    PickleCheckpointError,
    UnknownFamilyError,
    UnsupportedModelError,
)

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle")
KNOWN_FAMILIES = "SD 1.x, SD 2.x, SDXL, SD 3.5, FLUX.1, Stable Cascade"
FAMILY_IDS = (
    "sd15",
    "sd15-inpainting",
    "sd2",
    "sd2-inpainting",
    "sdxl",
    "sdxl-inpainting",
    "sd35-medium",
    "sd35-large",
    "flux-dev",
    "flux-schnell",
    "flux-fill",
    "cascade",
)
"""Every family id detection answers with; the catalog's ``families`` have the same ids."""

_LDM = "model.diffusion_model."

# What each refused model is and what to use instead. Pipeline class names are diffusers' own
# (``StableDiffusionXLImg2ImgPipeline`` with ``requires_aesthetics_score`` for the refiner, as in
# stabilityai/stable-diffusion-xl-refiner-1.0's model_index.json; ``FluxControlPipeline`` for
# FLUX.1-Depth-dev and -Canny-dev, whose transformer takes 128 input channels, the width
# single_file_utils.infer_diffusers_model_type calls "flux-depth").
_REFINER = (
    "{name} is the SDXL refiner, which only refines what an SDXL base model made; Sfumato "
    "generates with base models: use SDXL base 1.0 (`sfumato models download sdxl-base`) or "
    "another SDXL checkpoint."
)
_KONTEXT = (
    "{name} is FLUX.1 Kontext, an image-editing model that is given a reference picture "
    "(diffusers' FluxKontextPipeline); Sfumato does not run it: use FLUX.1 [dev] "
    "(`sfumato models download flux-dev`), or FLUX.1 Fill [dev] (`flux-fill`) to repaint a region."
)
_CONTROL = (
    "{name} is a FLUX.1 Depth or Canny [dev] control model (diffusers' FluxControlPipeline: 128 "
    "input channels, the latents plus a control image); Sfumato does not run control models: use "
    "FLUX.1 [dev] (`sfumato models download flux-dev`) or FLUX.1 Fill [dev] (`flux-fill`)."
)
_REDUX = (
    "{name} is FLUX.1 Redux, an image-prompt adapter for FLUX.1 models (diffusers' "
    "FluxPriorReduxPipeline), not a model to generate with: use FLUX.1 [dev] "
    "(`sfumato models download flux-dev`)."
)
_UNRUNNABLE = {
    "cascade": (
        "{name} is a Stable Cascade model. Its diffusers pipelines are deprecated and Sfumato "
        "does not run them; use an SDXL, SD3 or FLUX model instead."
    ),
}

_DENOISER = {"sd": "unet", "sdxl": "unet", "sd3": "transformer", "flux": "transformer"}
_PARTS: dict[str, dict[str, tuple[str, ...]]] = {
    # Key prefixes of the other pipeline components in the original single-file layouts, as
    # diffusers' single_file_utils reads them: LDM_VAE_KEYS, LDM_CLIP_PREFIX_TO_REMOVE and the
    # "open_clip*", "clip_sd3", "open_clip_sd3" entries of CHECKPOINT_KEY_NAMES, and
    # is_t5_in_single_file. A FLUX.1 file as Black Forest Labs publishes it
    # (flux1-dev.safetensors) holds the transformer alone: nothing else is read from it.
    "sd": {"vae": ("first_stage_model.",), "text_encoder": ("cond_stage_model.",)},
    "sdxl": {
        "vae": ("first_stage_model.",),
        "text_encoder": ("conditioner.embedders.0.transformer.",),
        "text_encoder_2": ("conditioner.embedders.1.model.",),
    },
    "sd3": {
        "vae": ("first_stage_model.",),
        "text_encoder": ("text_encoders.clip_l.",),
        "text_encoder_2": ("text_encoders.clip_g.",),
        "text_encoder_3": ("text_encoders.t5xxl.",),
    },
    "flux": {"vae": (), "text_encoder": (), "text_encoder_2": ()},
}


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


def refuse_unrunnable(family: str, name: str) -> None:
    """Raise :class:`UnsupportedModelError` for a family Sfumato stores but never runs (Stable
    Cascade); ``name`` is the file or folder shown in the message."""
    message = _UNRUNNABLE.get(family)
    if message is not None:
        raise UnsupportedModelError(message.format(name=name))


def tensor_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor names and shapes from a ``.safetensors`` header, without reading tensor data."""
    refuse_pickle(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as exc:
        raise InvalidCheckpointError(f"{path.name} is not a readable .safetensors file ({exc}).") from exc


def family_from_tensors(shapes: dict[str, list[int]], name: str) -> str | None:
    """The family id whose architecture these tensors have, or ``None`` for none Sfumato knows.

    Knows the original layouts checkpoints are shared in (LDM/SGM for SD and SDXL, SAI for SD3,
    BFL for FLUX.1) and diffusers-layout FLUX transformers. Raises
    :class:`UnsupportedModelError` for models it recognises but does not run; ``name`` (the
    file's name) names them in the message, and is the only thing that tells FLUX.1 Kontext
    apart: its tensors are FLUX.1 [dev]'s, names and shapes alike (FluxKontextPipeline feeds the
    reference image as extra tokens, not channels).
    """
    unet_in = shapes.get(_LDM + "input_blocks.0.0.weight")
    if unet_in is not None:
        return _unet_family(shapes, unet_in, name)
    if any("joint_blocks." in k for k in shapes):
        return _sd3(shapes)
    if any(k.startswith("redux_") for k in shapes):  # ReduxImageEncoder: redux_up, redux_down
        raise UnsupportedModelError(_REDUX.format(name=name))
    img_in = next((v for k, v in shapes.items() if k.endswith("img_in.weight")), None)
    if img_in is not None and any("double_blocks." in k for k in shapes):
        guidance = any(k.endswith("guidance_in.in_layer.weight") for k in shapes)
        return _kontext_by_name(_flux(img_in[-1], guidance, name), name)
    x_embedder = shapes.get("x_embedder.weight")
    if x_embedder is not None and "single_transformer_blocks.0.attn.to_q.weight" in shapes:
        guidance = "time_text_embed.guidance_embedder.linear_1.weight" in shapes
        return _kontext_by_name(_flux(x_embedder[1], guidance, name), name)
    cascade = ("clip_txt_mapper", "clip_txt_pooled_mapper", "effnet_mapper")  # stage C, stage B
    if any(k.startswith(cascade) or ".channelwise." in k for k in shapes):
        return "cascade"
    return None


def _unet_family(shapes: dict[str, list[int]], unet_in: list[int], name: str) -> str:
    inpaint = "-inpainting" if len(unet_in) == 4 and unet_in[1] == 9 else ""
    # SGM layout: SDXL base's embedder 1 is OpenCLIP ViT-bigG (diffusers' "xl_base" key), the
    # refiner's only OpenCLIP is embedder 0 ("xl_refiner"). A UNet alone tells them apart by its
    # text-time embedding width: 2816 inputs for the base, 2560 for the refiner.
    if any(k.startswith("conditioner.embedders.1.model.") for k in shapes):
        return "sdxl" + inpaint
    if any(k.startswith("conditioner.embedders.0.model.") for k in shapes):
        raise UnsupportedModelError(_REFINER.format(name=name))
    label_emb = shapes.get(_LDM + "label_emb.0.0.weight")
    if label_emb is not None:
        if label_emb[1] == 2560:
            raise UnsupportedModelError(_REFINER.format(name=name))
        return "sdxl" + inpaint
    if any(k.startswith("conditioner.embedders.") for k in shapes):
        return "sdxl" + inpaint
    # SD 2 has 1024-wide text features (OpenCLIP-H), like its folders' UNet configs
    context = next(
        (v for k, v in shapes.items() if k.startswith(_LDM) and k.endswith("attn2.to_k.weight")),
        None,
    )
    openclip = any(k.startswith("cond_stage_model.model.") for k in shapes)
    sd2 = openclip or (context is not None and len(context) == 2 and context[1] == 1024)
    return ("sd2" if sd2 else "sd15") + inpaint


def _sd3(shapes: dict[str, list[int]]) -> str:
    """SD 3.5 Large by its width; everything else (SD3 Medium too, as for folders) is Medium."""
    embed = next((v for k, v in shapes.items() if k.endswith("x_embedder.proj.weight")), None)
    return "sd35-large" if embed is not None and embed[0] == 2432 else "sd35-medium"


def _flux(in_features: int, has_guidance: bool, name: str) -> str | None:
    if in_features == 384:
        return "flux-fill"
    if in_features == 128:
        raise UnsupportedModelError(_CONTROL.format(name=name))
    if in_features == 64:
        return "flux-dev" if has_guidance else "flux-schnell"
    return None


def _kontext_by_name(family: str | None, name: str) -> str | None:
    if family == "flux-dev" and "kontext" in name.lower():
        raise UnsupportedModelError(_KONTEXT.format(name=name))
    return family


def _architecture(family: str) -> str:
    if family.startswith("sdxl"):
        return "sdxl"
    if family.startswith("sd35"):
        return "sd3"
    if family.startswith("flux"):
        return "flux"
    return "sd"


def pipeline_components(family: str) -> tuple[str, ...]:
    """The weight-carrying components a pipeline of ``family`` is built from, denoiser first."""
    arch = _architecture(family)
    return (_DENOISER[arch], *_PARTS[arch])


def file_components(family: str, shapes: dict[str, list[int]]) -> tuple[str, ...]:
    """The components of :func:`pipeline_components` whose weights a single file of ``family``
    holds (the denoiser always: it is what the family was told from)."""
    arch = _architecture(family)
    held = [
        part
        for part, prefixes in _PARTS[arch].items()
        if prefixes and any(k.startswith(prefixes) for k in shapes)
    ]
    return (_DENOISER[arch], *held)


def file_family(path: Path) -> str:
    """The family of a single ``.safetensors`` checkpoint; a typed error if it is none we run."""
    shapes = tensor_shapes(path)
    family = family_from_tensors(shapes, path.name)
    if family is not None:
        return family
    if any("lora" in k.lower() for k in shapes):
        raise UnknownFamilyError(
            f"{path.name} is a LoRA, not a full checkpoint; it cannot be used as a model."
        )
    raise UnknownFamilyError(
        f"{path.name}: its tensors match no model family Sfumato knows ({KNOWN_FAMILIES}). "
        "VAEs, text encoders and LoRAs are not full checkpoints."
    )


def pipeline_family(folder: Path) -> str:
    """The family of a diffusers folder from ``model_index.json`` and its component configs
    alone (weights are not looked at); refusals as for single files."""
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        raise InvalidCheckpointError(f"{folder} is not a diffusers folder (it has no model_index.json).")
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
        pipeline = str(index.get("_class_name", ""))
        family = _family_of_pipeline(folder, index, pipeline)
    except (OSError, ValueError, AttributeError) as exc:
        raise InvalidCheckpointError(f"{folder}: unreadable config ({exc}).") from exc
    if family is None:
        raise UnknownFamilyError(f"{folder.name}: pipeline {pipeline or '?'} is not one of {KNOWN_FAMILIES}.")
    return family


def folder_family(folder: Path) -> str:
    """The family of a diffusers folder (:func:`pipeline_family`) that holds safetensors weights."""
    if (folder / "model_index.json").is_file() and not any(folder.rglob("*.safetensors")):
        pickles = [p for p in folder.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES]
        if pickles:
            refuse_pickle(pickles[0])
        raise InvalidCheckpointError(f"{folder} holds no .safetensors weights.")
    return pipeline_family(folder)


def _config(folder: Path, component: str) -> dict:
    return json.loads((folder / component / "config.json").read_text(encoding="utf-8"))


def _family_of_pipeline(folder: Path, index: dict, pipeline: str) -> str | None:
    """Family from the pipeline class; component configs split SD 1/2 (linear projections or
    1024-wide text features mean SD 2), the inpainting UNets and the FLUX transformers."""
    name = folder.name
    if pipeline in ("StableDiffusionPipeline", "StableDiffusionInpaintPipeline"):
        unet = _config(folder, "unet")
        sd2 = unet.get("use_linear_projection") or unet.get("cross_attention_dim") == 1024
        base = "sd2" if sd2 else "sd15"
        return base + "-inpainting" if unet.get("in_channels") == 9 else base
    if pipeline.startswith("StableDiffusionXL") and (
        index.get("requires_aesthetics_score") or index.get("text_encoder", [""])[0] is None
    ):
        raise UnsupportedModelError(_REFINER.format(name=name))
    if pipeline in ("StableDiffusionXLPipeline", "StableDiffusionXLInpaintPipeline"):
        return "sdxl-inpainting" if _config(folder, "unet").get("in_channels") == 9 else "sdxl"
    if pipeline == "StableDiffusion3Pipeline":  # SD3 Medium is sized like SD 3.5 Medium
        large = _config(folder, "transformer").get("caption_projection_dim") == 2432
        return "sd35-large" if large else "sd35-medium"
    if pipeline.startswith("FluxKontext"):
        raise UnsupportedModelError(_KONTEXT.format(name=name))
    if pipeline.startswith("FluxControl") and not pipeline.startswith("FluxControlNet"):
        raise UnsupportedModelError(_CONTROL.format(name=name))
    if pipeline == "FluxPriorReduxPipeline":
        raise UnsupportedModelError(_REDUX.format(name=name))
    if pipeline == "FluxFillPipeline":
        return "flux-fill"
    if pipeline == "FluxPipeline":
        transformer = _config(folder, "transformer")
        return _flux(transformer.get("in_channels", 64), bool(transformer.get("guidance_embeds")), name)
    if pipeline.startswith("StableCascade"):
        return "cascade"
    return None
