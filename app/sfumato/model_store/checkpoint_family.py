"""Which family a local checkpoint belongs to, read from tensor names and shapes or folder configs.

This is the one family detector: the model store calls it when it imports, downloads or lists a
model, and the engine calls it before it loads one, so both accept and refuse the same models.
It answers with the catalog's family ids (:data:`FAMILY_IDS`); models Sfumato recognises but
does not run (the SDXL refiner, FLUX.1 Kontext, Depth/Canny and Redux) are refused with
:class:`UnsupportedModelError`, naming what they are and what to use instead. Stable Cascade is
recognised (``cascade``: the catalog can download it) and refused only where it would be run
(:func:`refuse_unrunnable`).

LoRAs and textual-inversion embeddings are recognised here too (:func:`file_adapter`,
:func:`lora_family`, :func:`embedding_family`), in every key layout they are shared in, and a
LoRA or embedding of another family than a model's is refused naming both
(:func:`check_adapter_family`).

Single files are read through ``safetensors.safe_open``: only the header (names, shapes, dtypes)
is parsed, no tensor data. Pickle formats are refused before anything is opened. No torch here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from safetensors import SafetensorError, safe_open

from sfumato.model_store.errors import (
    FamilyMismatchError,
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
    kind = adapter_kind(shapes)
    if kind is not None or any("lora" in k.lower() for k in shapes):
        what = "a textual-inversion embedding" if kind == "embedding" else "a LoRA"
        raise UnknownFamilyError(
            f"{path.name} is {what}, not a full checkpoint; it cannot be used as a model "
            "(`sfumato models import` installs it)."
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


# -- LoRAs and textual-inversion embeddings ---------------------------------------------------
#
# Key layouts, learnt from the code that writes and reads them:
# * kohya-ss sd-scripts / A1111: one flat name per module, the module path with "_" for ".",
#   ``lora_unet_…`` (SD 1.x/2.x: diffusers module names, down_blocks_0_attentions_0_…; SDXL:
#   the SGM UNet's, input_blocks_4_1_…; SD3: MMDiT names, joint_blocks_0_x_block_attn_qkv;
#   FLUX.1: BFL names, double_blocks_0_img_attn_qkv, single_blocks_0_linear1), ``lora_te_…`` for
#   SD 1.x/2.x's text encoder, ``lora_te1_`` / ``lora_te2_`` (/ ``lora_te3_``, T5) for SDXL, SD3
#   and FLUX.1, each with ``.lora_down.weight``, ``.lora_up.weight`` and a scalar ``.alpha``
#   (sd-scripts networks/lora.py, networks/lora_sd3.py: LORA_PREFIX_SD3 = "lora_unet",
#   LORA_PREFIX_TEXT_ENCODER_CLIP_L = "lora_te1" …; diffusers 0.42.1
#   loaders/lora_conversion_utils.py, _convert_non_diffusers_lora_to_diffusers and
#   _convert_kohya_flux_lora_to_diffusers read them).
# * diffusers / PEFT: ``unet.``, ``text_encoder.``, ``text_encoder_2.``, ``transformer.`` + the
#   diffusers module path + ``.lora_A.weight`` / ``.lora_B.weight`` (older diffusers files:
#   ``…processor.to_q_lora.down.weight``, ``….lora_linear_layer.down.weight``).
# * ComfyUI: ``diffusion_model.`` + the original model's module path (LDM/SGM, MMDiT, BFL) and
#   ``text_encoders.clip_l.transformer.…`` (``clip_g``, ``clip_h``, ``t5xxl``) + ``.lora_up.weight``
#   / ``.lora_down.weight`` (comfy_extras/nodes_lora_extract.py, LoraSave: prefix_lora
#   "diffusion_model." and "text_encoders."), plus ``.diff`` / ``.diff_b`` for norms and biases.
# Embeddings: A1111 saves ``emb_params`` (vectors × width), diffusers one tensor under the
# token's name, SDXL embeddings ``clip_l`` and ``clip_g`` (diffusers' load_textual_inversion
# docstring, "unload from SDXL").

ADAPTER_LABELS = {
    "sd15": "SD 1.x",
    "sd2": "SD 2.x",
    "sdxl": "SDXL",
    "sd35-medium": "SD 3 / 3.5 Medium",
    "sd35-large": "SD 3.5 Large",
    "flux-dev": "FLUX.1",
}
"""The families a LoRA or an embedding is made for (the catalog family id of the base model
they apply to) and what messages call them."""

_ADAPTER_BASE = {
    "sd15-inpainting": "sd15",
    "sd2-inpainting": "sd2",
    "sdxl-inpainting": "sdxl",
    "flux-schnell": "flux-dev",
    "flux-fill": "flux-dev",
}
_LORA_DOWN = re.compile(r"(?:\.lora_down|\.lora_A|[._]lora\.down|\.lora_linear_layer\.down)\.weight$")
_LYCORIS = (".hada_w1_a", ".lokr_w1", ".lokr_w2", ".oft_blocks", ".boft_blocks")
_TE_WIDTH = re.compile(r"(self_attn_(q|k|v|out)_proj|mlp_fc1)(_lora)?$")
_TE_LAYER = re.compile(r"encoder_layers_(\d+)_")
_CROSS_ATTENTION = re.compile(r"attn2_(processor_)?to_[kv](_lora)?$")
_DEEP_BLOCK = re.compile(r"transformer_blocks_([1-9]\d*)_")
_SD3_QUERY = re.compile(r"(attn_to_q|x_block_attn_qkv)(_lora)?$")


def adapter_family(model_family: str) -> str:
    """The family a LoRA or an embedding must be made for to apply to a model of
    ``model_family`` (a catalog family id): the inpainting models take their base model's,
    FLUX.1 [schnell] and Fill take FLUX.1 [dev]'s (one architecture)."""
    return _ADAPTER_BASE.get(model_family, model_family)


def check_adapter_family(kind: str, name: str, family: str, model_family: str, model_name: str) -> None:
    """Raise :class:`FamilyMismatchError` unless the ``kind`` (``LoRA``, ``embedding``) ``name``,
    made for ``family``, applies to the model ``model_name`` of ``model_family``."""
    wanted = adapter_family(model_family)
    if family != wanted:
        made_for = ADAPTER_LABELS.get(family, family)
        raise FamilyMismatchError(
            f"{name}: this {kind} is for {made_for}; the model ({model_name}) is "
            f"{ADAPTER_LABELS.get(wanted, wanted)}."
        )


def adapter_kind(shapes: dict[str, list[int]]) -> str | None:
    """``"lora"``, ``"embedding"`` or ``None`` (a checkpoint, a VAE …) for a file's tensors."""
    if any(_LORA_DOWN.search(key) for key in shapes):
        return "lora"
    if "emb_params" in shapes or {"clip_l", "clip_g"} <= set(shapes):
        return "embedding"
    if len(shapes) == 1:  # diffusers' learned_embeds: one tensor named after its token (<cat-toy>)
        key, shape = next(iter(shapes.items()))
        if "." not in key and "lora" not in key.lower() and 1 <= len(shape) <= 2:
            return "embedding"
    return None


def lora_layout(keys: Iterable[str]) -> str:
    """``"kohya"``, ``"comfyui"`` or ``"diffusers"``: the key layout a LoRA file uses."""
    keys = list(keys)
    if any(k.startswith(("lora_unet_", "lora_te", "lora_transformer_")) for k in keys):
        return "kohya"
    if any(k.startswith(("diffusion_model.", "text_encoders.")) for k in keys):
        return "comfyui"
    return "diffusers"


def lora_family(shapes: dict[str, list[int]], name: str) -> str:
    """The family (a key of :data:`ADAPTER_LABELS`) the LoRA with these tensors is made for, in
    any of the three key layouts; :class:`UnknownFamilyError` when its tensors do not tell.

    FLUX.1 has single-stream blocks (``single_transformer_blocks``, BFL's ``single_blocks``) and
    double blocks 3072 wide; SD3 has MMDiT joint blocks (``joint_blocks``, diffusers'
    ``transformer_blocks`` without single ones), 2432 wide for 3.5 Large. Among the UNets, SDXL
    is told by its second text encoder, 2048-wide cross-attention, its added-conditioning
    embedding or transformer blocks deeper than one (SD 1.x/2.x have one per attention); SD 2.x
    from SD 1.x by 1024-wide cross-attention or text encoder (OpenCLIP-H; CLIP-L is 768), more
    than 12 text-encoder layers, or linear ``proj_in`` layers (SD 1.x's are 1×1 convolutions).
    """
    if any(k.endswith(_LYCORIS) for k in shapes):
        raise UnknownFamilyError(
            f"{name} is a LyCORIS adapter (LoHa, LoKr or OFT), not a LoRA; Sfumato applies LoRAs only."
        )
    downs = {_LORA_DOWN.sub("", k).replace(".", "_"): v for k, v in shapes.items() if _LORA_DOWN.search(k)}
    if not downs:
        raise UnknownFamilyError(f"{name} holds no LoRA weights (no lora_down / lora_A tensors).")
    flats = list(downs)
    family = _transformer_lora_family(downs) or _unet_lora_family(downs, flats)
    if family is None:
        raise UnknownFamilyError(
            f"{name}: its tensors do not say which model family the LoRA is for (Sfumato reads "
            f"LoRAs for {', '.join(ADAPTER_LABELS.values())} in kohya, diffusers and ComfyUI layouts)."
        )
    return family


def _transformer_lora_family(downs: dict[str, list[int]]) -> str | None:
    flats = list(downs)
    if any(s in f for f in flats for s in ("single_transformer_blocks", "double_blocks", "single_blocks")):
        return "flux-dev"
    sd3_names = any("joint_blocks" in f or "context_block" in f or f.startswith("lora_te3_") for f in flats)
    transformer = any(f.startswith(("transformer_transformer_blocks", "lora_transformer_")) for f in flats)
    if not (sd3_names or transformer):
        return None
    width = next((v[1] for f, v in downs.items() if _SD3_QUERY.search(f) and len(v) >= 2), None)
    if width == 3072 and not sd3_names:  # FLUX.1's double blocks, in a file without single ones
        return "flux-dev"
    return "sd35-large" if width == 2432 else "sd35-medium"


def _unet_lora_family(downs: dict[str, list[int]], flats: list[str]) -> str | None:
    cross = {v[1] for f, v in downs.items() if _CROSS_ATTENTION.search(f) and len(v) >= 2}
    second = ("lora_te2_", "text_encoder_2_", "text_encoders_clip_g_")
    second_encoder = any(f.startswith(second) for f in flats)
    added = any("add_embedding" in f or "label_emb" in f for f in flats)
    if second_encoder or added or 2048 in cross or any(_DEEP_BLOCK.search(f) for f in flats):
        return "sdxl"
    first = ("lora_te_", "lora_te1_", "text_encoder_", "text_encoders_clip_l_", "text_encoders_clip_h_")
    encoder = {f: v for f, v in downs.items() if f.startswith(first)}
    widths = {v[1] for f, v in encoder.items() if _TE_WIDTH.search(f) and len(v) >= 2}
    layers = {int(m[1]) for f in encoder if (m := _TE_LAYER.search(f))}
    proj_in = {len(v) for f, v in downs.items() if f.endswith("proj_in")}
    sd2 = (
        1024 in cross
        or 1024 in widths
        or any(f.startswith("text_encoders_clip_h_") for f in flats)
        or max(layers, default=0) >= 12
        or 2 in proj_in
    )
    sd1 = 768 in cross or 768 in widths or 4 in proj_in
    if sd2 != sd1:
        return "sd2" if sd2 else "sd15"
    return None


def embedding_family(shapes: dict[str, list[int]]) -> str | None:
    """The family an embedding with these tensors is made for: SDXL for ``clip_l`` + ``clip_g``,
    else by the vectors' width (768: SD 1.x's CLIP-L, 1024: SD 2.x's OpenCLIP-H); ``None`` for
    another width (it can still be used with a model whose text encoder is that wide)."""
    if {"clip_l", "clip_g"} <= set(shapes):
        return "sdxl"
    return {768: "sd15", 1024: "sd2"}.get(embedding_width(shapes))


def embedding_width(shapes: dict[str, list[int]]) -> int:
    """The width of a single-encoder embedding's vectors (``clip_l``'s for an SDXL one)."""
    vectors = shapes.get("emb_params") or shapes.get("clip_l") or next(iter(shapes.values()))
    return int(vectors[-1])


def file_adapter(path: Path) -> tuple[str, str | None]:
    """``(kind, family)`` of a LoRA or embedding file (``family`` ``None``: an embedding of a
    width no family has); pickles are refused, other files raise :class:`UnknownFamilyError`."""
    shapes = tensor_shapes(path)
    kind = adapter_kind(shapes)
    if kind == "lora":
        return kind, lora_family(shapes, path.name)
    if kind == "embedding":
        return kind, embedding_family(shapes)
    raise UnknownFamilyError(f"{path.name} is neither a LoRA nor a textual-inversion embedding.")
