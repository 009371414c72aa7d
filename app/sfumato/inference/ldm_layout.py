"""Diffusers → original (LDM) tensor names for an SD 1.x checkpoint: UNet, VAE and CLIP-L.

Community checkpoints are single ``.safetensors`` files in the original Stable Diffusion key
layout. The tiny-model factory writes one in that layout so the single-file loading path is
tested the way users exercise it; this module is the renaming it needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer."

_UNET_FIXED = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
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


def clip_key(key: str) -> str:
    """The original name of a CLIP text encoder tensor (transformers 5 drops ``text_model.``)."""
    return key if key.startswith("text_model.") else "text_model." + key


def sd1_checkpoint(
    unet: Mapping[str, Any],
    unet_config: Mapping[str, Any],
    vae: Mapping[str, Any],
    vae_config: Mapping[str, Any],
    text_encoder: Mapping[str, Any],
) -> dict[str, Any]:
    """One state dict in the original SD 1.x single-file layout from the three diffusers ones."""
    attention_ups = {
        i for i, kind in enumerate(unet_config["up_block_types"]) if kind.startswith("CrossAttn")
    }
    layers = int(unet_config["layers_per_block"])
    ups = len(vae_config["up_block_types"])
    renamers: list[tuple[str, Mapping[str, Any], Callable[[str], str]]] = [
        (UNET_PREFIX, unet, lambda key: unet_key(key, layers, attention_ups)),
        (VAE_PREFIX, vae, lambda key: vae_key(key, ups)),
        (CLIP_PREFIX, text_encoder, clip_key),
    ]
    return {
        prefix + rename(key): tensor
        for prefix, tensors, rename in renamers
        for key, tensor in tensors.items()
    }
