"""Diffusers → original tensor names of SD 1.x (LDM) and SDXL (SGM) full checkpoints.

Community checkpoints are single ``.safetensors`` files in the original layouts: SD 1.x
(``v1-5-pruned-emaonly.safetensors``) holds the UNet under ``model.diffusion_model.``, the VAE
under ``first_stage_model.`` and CLIP ViT-L under ``cond_stage_model.transformer.``; SDXL
(``sd_xl_base_1.0.safetensors``) keeps the first two and holds CLIP ViT-L under
``conditioner.embedders.0.transformer.`` and OpenCLIP ViT-bigG, in OpenCLIP's own names, under
``conditioner.embedders.1.model.``. The tiny-model factory writes such files so the single-file
loading path is tested the way users exercise it; this module is the renaming it needs. Every
name is the inverse of diffusers 0.42.1's reading of these files (``loaders/single_file_utils.py``:
``DIFFUSERS_TO_LDM_MAPPING``, ``convert_ldm_unet_checkpoint``, ``convert_ldm_vae_checkpoint``,
``convert_ldm_clip_checkpoint``, ``convert_open_clip_checkpoint``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer."
SDXL_CLIP_PREFIX = "conditioner.embedders.0.transformer."
SDXL_OPEN_CLIP_PREFIX = "conditioner.embedders.1.model."

_UNET_FIXED = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",  # SDXL's text-time embedding
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
_VAE_FIXED = {
    "conv_norm_out": "norm_out",
}
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}
_VAE_CONV_ATTENTION = re.compile(r"(en|de)coder\.mid\.attn_1\.(q|k|v|proj_out)\.weight")
"""The VAE's attention projections are 1×1 convolutions in the original layout (diffusers drops
the two trailing 1s on reading: ``update_vae_attentions_ldm_to_diffusers``)."""
_OPEN_CLIP_FIXED = {
    "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
    "text_model.embeddings.position_embedding.weight": "positional_embedding",
    "text_model.final_layer_norm.weight": "ln_final.weight",
    "text_model.final_layer_norm.bias": "ln_final.bias",
}
_OPEN_CLIP_LAYER = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "self_attn.out_proj": "attn.out_proj",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}


def _rename_head(rest: str, table: Mapping[str, str]) -> str:
    for old, new in table.items():
        if rest == old or rest.startswith(old + "."):
            return new + rest[len(old) :]
    return rest


def unet_key(key: str, layers_per_block: int, up_blocks_with_attention: set[int]) -> str:
    """The LDM name of a diffusers UNet tensor name."""
    per_block = layers_per_block + 1
    for old, new in _UNET_FIXED.items():
        if key.startswith(old + "."):
            return new + key[len(old) :]
    if match := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        block, kind, layer, rest = int(match[1]), match[2], int(match[3]), match[4]
        index = block * per_block + layer + 1
        if kind == "resnets":
            return f"input_blocks.{index}.0.{_rename_head(rest, _UNET_RESNET)}"
        return f"input_blocks.{index}.1.{rest}"
    if match := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        return f"input_blocks.{(int(match[1]) + 1) * per_block}.0.op.{match[2]}"
    if match := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", key):
        return f"middle_block.{2 * int(match[1])}.{_rename_head(match[2], _UNET_RESNET)}"
    if match := re.match(r"mid_block\.attentions\.0\.(.*)", key):
        return f"middle_block.1.{match[1]}"
    if match := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        block, kind, layer, rest = int(match[1]), match[2], int(match[3]), match[4]
        index = block * per_block + layer
        if kind == "resnets":
            return f"output_blocks.{index}.0.{_rename_head(rest, _UNET_RESNET)}"
        return f"output_blocks.{index}.1.{rest}"
    if match := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
        block = int(match[1])
        slot = 2 if block in up_blocks_with_attention else 1
        return f"output_blocks.{block * per_block + layers_per_block}.{slot}.conv.{match[2]}"
    raise KeyError(f"no LDM name for UNet tensor {key}")


def vae_key(key: str, up_block_count: int) -> str:
    """The LDM name of a diffusers ``AutoencoderKL`` tensor name."""
    side, _, rest = key.partition(".")
    if side in ("quant_conv", "post_quant_conv"):
        return key
    if match := re.match(r"(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", rest):
        kind, block, layer, tail = match[1], int(match[2]), match[3], match[4]
        if kind == "up":
            block = up_block_count - 1 - block
        return f"{side}.{kind}.{block}.block.{layer}.{tail.replace('conv_shortcut', 'nin_shortcut')}"
    if match := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.(.*)", rest):
        return f"{side}.down.{match[1]}.downsample.{match[2]}"
    if match := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.(.*)", rest):
        return f"{side}.up.{up_block_count - 1 - int(match[1])}.upsample.{match[2]}"
    if match := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", rest):
        return f"{side}.mid.block_{int(match[1]) + 1}.{match[2].replace('conv_shortcut', 'nin_shortcut')}"
    if match := re.match(r"mid_block\.attentions\.0\.(.*)", rest):
        return f"{side}.mid.attn_1.{_rename_head(match[1], _VAE_ATTENTION)}"
    return f"{side}.{_rename_head(rest, _VAE_FIXED)}"


def vae_tensors(vae: Mapping[str, Any], up_block_count: int) -> dict[str, Any]:
    """A diffusers ``AutoencoderKL`` state dict under its original names and shapes."""
    renamed = {vae_key(key, up_block_count): tensor for key, tensor in vae.items()}
    return {
        key: tensor.reshape(*tensor.shape, 1, 1) if _VAE_CONV_ATTENTION.fullmatch(key) else tensor
        for key, tensor in renamed.items()
    }


def clip_key(key: str) -> str:
    """The original name of a CLIP text encoder tensor: transformers' own, where
    ``CLIPTextModel`` 5.x drops the ``text_model.`` its checkpoints keep (the projection of
    ``CLIPTextModelWithProjection`` sits beside ``text_model``)."""
    if key.startswith("text_model.") or key == "text_projection.weight":
        return key
    return "text_model." + key


def open_clip_tensors(text_encoder: Mapping[str, Any], cat: Callable[[list[Any]], Any]) -> dict[str, Any]:
    """A ``CLIPTextModelWithProjection`` state dict in OpenCLIP's names, as SDXL files hold
    ViT-bigG: one fused ``attn.in_proj_*`` per layer (query, key, value stacked in that order)
    and the projection transposed. ``cat`` joins tensors along their first dimension."""
    out: dict[str, Any] = {}
    fused: dict[str, dict[str, Any]] = {}
    for key, tensor in text_encoder.items():
        if key == "text_projection.weight":
            out["text_projection"] = tensor.T
        elif key in _OPEN_CLIP_FIXED:
            out[_OPEN_CLIP_FIXED[key]] = tensor
        elif match := re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.(.*)", key):
            layer, rest = match[1], match[2]
            if qkv := re.fullmatch(r"self_attn\.(q|k|v)_proj\.(weight|bias)", rest):
                fused.setdefault(f"transformer.resblocks.{layer}.attn.in_proj_{qkv[2]}", {})[qkv[1]] = tensor
            else:
                out[f"transformer.resblocks.{layer}.{_rename_head(rest, _OPEN_CLIP_LAYER)}"] = tensor
        else:
            raise KeyError(f"no OpenCLIP name for text encoder tensor {key}")
    for key, parts in fused.items():
        out[key] = cat([parts["q"], parts["k"], parts["v"]])
    return out


def unet_tensors(unet: Mapping[str, Any], unet_config: Mapping[str, Any]) -> dict[str, Any]:
    """A diffusers ``UNet2DConditionModel`` state dict under its original (LDM) names."""
    attention_ups = {
        i for i, kind in enumerate(unet_config["up_block_types"]) if kind.startswith("CrossAttn")
    }
    layers = int(unet_config["layers_per_block"])
    return {unet_key(key, layers, attention_ups): tensor for key, tensor in unet.items()}


def _prefixed(prefix: str, tensors: Mapping[str, Any]) -> dict[str, Any]:
    return {prefix + key: tensor for key, tensor in tensors.items()}


def sd1_checkpoint(
    unet: Mapping[str, Any],
    unet_config: Mapping[str, Any],
    vae: Mapping[str, Any],
    vae_config: Mapping[str, Any],
    text_encoder: Mapping[str, Any],
) -> dict[str, Any]:
    """One state dict in the original SD 1.x single-file layout from the three diffusers ones."""
    return {
        **_prefixed(UNET_PREFIX, unet_tensors(unet, unet_config)),
        **_prefixed(VAE_PREFIX, vae_tensors(vae, len(vae_config["up_block_types"]))),
        **_prefixed(CLIP_PREFIX, {clip_key(key): tensor for key, tensor in text_encoder.items()}),
    }


def sdxl_checkpoint(
    unet: Mapping[str, Any],
    unet_config: Mapping[str, Any],
    vae: Mapping[str, Any],
    vae_config: Mapping[str, Any],
    text_encoders: tuple[Mapping[str, Any], Mapping[str, Any]],
    cat: Callable[[list[Any]], Any],
) -> dict[str, Any]:
    """One state dict in the SGM layout of SDXL base from the four diffusers ones
    (``text_encoders``: CLIP ViT-L, OpenCLIP ViT-bigG with projection)."""
    clip_l, open_clip = text_encoders
    return {
        **_prefixed(UNET_PREFIX, unet_tensors(unet, unet_config)),
        **_prefixed(VAE_PREFIX, vae_tensors(vae, len(vae_config["up_block_types"]))),
        **_prefixed(SDXL_CLIP_PREFIX, {clip_key(key): tensor for key, tensor in clip_l.items()}),
        **_prefixed(SDXL_OPEN_CLIP_PREFIX, open_clip_tensors(open_clip, cat)),
    }
