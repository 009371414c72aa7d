"""FLUX.1 transformer tensor names: diffusers ↔ the Black Forest Labs single-file layout.

``flux1-dev.safetensors``, ``flux1-schnell.safetensors`` and ``flux1-fill-dev.safetensors`` hold
the transformer alone, in the names of BFL's reference code (``double_blocks.``,
``single_blocks.``, ``img_in.``, ``txt_in.``, ``time_in.``, ``vector_in.``, ``guidance_in.``,
``final_layer.``), sometimes under ``model.diffusion_model.`` (ComfyUI saves). The names are
learnt from diffusers 0.42.1's ``convert_flux_transformer_checkpoint_to_diffusers``
(``loaders/single_file_utils.py``). That converter splits each single block's fused
``linear1`` with the released width written in (``inner_dim = 3072``, ``mlp_ratio = 4.0``), so it
reads only full-size models; :func:`from_bfl` splits by the target model's own shapes instead,
and the engine loads BFL files with it. :func:`to_bfl` is the inverse, for the tiny-model
factory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

PREFIX = "model.diffusion_model."
_TOP: dict[str, tuple[str, ...]] = {
    "time_in.in_layer": ("time_text_embed.timestep_embedder.linear_1",),
    "time_in.out_layer": ("time_text_embed.timestep_embedder.linear_2",),
    "vector_in.in_layer": ("time_text_embed.text_embedder.linear_1",),
    "vector_in.out_layer": ("time_text_embed.text_embedder.linear_2",),
    "guidance_in.in_layer": ("time_text_embed.guidance_embedder.linear_1",),
    "guidance_in.out_layer": ("time_text_embed.guidance_embedder.linear_2",),
    "txt_in": ("context_embedder",),
    "img_in": ("x_embedder",),
    "final_layer.linear": ("proj_out",),
    "final_layer.adaLN_modulation.1": ("norm_out.linear",),
}
_DOUBLE: dict[str, tuple[str, ...]] = {
    "img_mod.lin": ("norm1.linear",),
    "txt_mod.lin": ("norm1_context.linear",),
    "img_attn.qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
    "txt_attn.qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"),
    "img_attn.proj": ("attn.to_out.0",),
    "txt_attn.proj": ("attn.to_add_out",),
    "img_mlp.0": ("ff.net.0.proj",),
    "img_mlp.2": ("ff.net.2",),
    "txt_mlp.0": ("ff_context.net.0.proj",),
    "txt_mlp.2": ("ff_context.net.2",),
}
_DOUBLE_NORMS = {
    "img_attn.norm.query_norm.scale": "attn.norm_q.weight",
    "img_attn.norm.key_norm.scale": "attn.norm_k.weight",
    "txt_attn.norm.query_norm.scale": "attn.norm_added_q.weight",
    "txt_attn.norm.key_norm.scale": "attn.norm_added_k.weight",
}
_SINGLE: dict[str, tuple[str, ...]] = {
    "modulation.lin": ("norm.linear",),
    "linear1": ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"),
    "linear2": ("proj_out",),
}
_SINGLE_NORMS = {
    "norm.query_norm.scale": "attn.norm_q.weight",
    "norm.key_norm.scale": "attn.norm_k.weight",
}
_SWAPPED = "final_layer.adaLN_modulation.1."
"""BFL's final norm gives (shift, scale), diffusers' ``AdaLayerNormContinuous`` (scale, shift)."""


def _names(double: int, single: int) -> list[tuple[str, tuple[str, ...]]]:
    """(BFL name, the diffusers names it fuses, in order) for every tensor of a transformer with
    ``double`` double-stream and ``single`` single-stream blocks."""
    names: list[tuple[str, tuple[str, ...]]] = []

    def linear(original: str, ours: tuple[str, ...]) -> None:
        for suffix in ("weight", "bias"):
            names.append((f"{original}.{suffix}", tuple(f"{o}.{suffix}" for o in ours)))

    for original, ours in _TOP.items():
        linear(original, ours)
    for i in range(double):
        for original, ours in _DOUBLE.items():
            linear(f"double_blocks.{i}.{original}", tuple(f"transformer_blocks.{i}.{o}" for o in ours))
        for original, norm in _DOUBLE_NORMS.items():
            names.append((f"double_blocks.{i}.{original}", (f"transformer_blocks.{i}.{norm}",)))
    for i in range(single):
        for original, ours in _SINGLE.items():
            linear(f"single_blocks.{i}.{original}", tuple(f"single_transformer_blocks.{i}.{o}" for o in ours))
        for original, norm in _SINGLE_NORMS.items():
            names.append((f"single_blocks.{i}.{original}", (f"single_transformer_blocks.{i}.{norm}",)))
    return names


def module_names(double: int, single: int) -> dict[str, tuple[str, ...]]:
    """BFL module name → the diffusers modules it fuses, in order, for a transformer with
    ``double`` double-stream and ``single`` single-stream blocks: LoRAs name modules (kohya's
    ``lora_unet_double_blocks_0_img_attn_qkv``, ComfyUI's ``diffusion_model.single_blocks.0.linear1``),
    not tensors. :data:`SWAPPED_MODULE`'s output halves are in the other order."""
    return {
        original.removesuffix(".weight"): tuple(part.removesuffix(".weight") for part in parts)
        for original, parts in _names(double, single)
        if original.endswith(".weight")
    }


SWAPPED_MODULE = _SWAPPED.removesuffix(".")
"""The BFL module whose output halves diffusers takes in the other order (its final norm)."""


def _count(keys: Any, pattern: str) -> int:
    found = {int(m[1]) for key in keys if (m := re.match(pattern, key))}
    return max(found) + 1 if found else 0


def _swap(tensor: Any, cat: Callable[[list[Any]], Any]) -> Any:
    half = tensor.shape[0] // 2
    return cat([tensor[half:], tensor[:half]])


def to_bfl(transformer: Mapping[str, Any], cat: Callable[[list[Any]], Any]) -> dict[str, Any]:
    """A ``FluxTransformer2DModel`` state dict in BFL's names (``cat`` joins along dim 0)."""
    double = _count(transformer, r"transformer_blocks\.(\d+)\.")
    single = _count(transformer, r"single_transformer_blocks\.(\d+)\.")
    out: dict[str, Any] = {}
    used: set[str] = set()
    for original, parts in _names(double, single):
        if not all(part in transformer for part in parts):
            continue  # the guidance embedder exists only in guidance-distilled models
        tensor = cat([transformer[p] for p in parts]) if len(parts) > 1 else transformer[parts[0]]
        out[original] = _swap(tensor, cat) if original.startswith(_SWAPPED) else tensor
        used.update(parts)
    leftover = set(transformer) - used
    if leftover:
        raise KeyError(f"no BFL name for transformer tensors {sorted(leftover)}")
    return out


def from_bfl(
    checkpoint: Mapping[str, Any],
    shapes: Mapping[str, tuple[int, ...]],
    cat: Callable[[list[Any]], Any],
    split: Callable[[Any, list[int]], list[Any]],
) -> dict[str, Any]:
    """A BFL-layout FLUX.1 transformer checkpoint in diffusers' names, fused tensors split by
    ``shapes`` (the target model's ``name → shape``); ``split(tensor, sizes)`` cuts along dim 0.

    A checkpoint already in diffusers' names is returned as it is (without a
    ``model.diffusion_model.`` prefix). Raises ``KeyError`` for a BFL tensor of no known name;
    whether every model tensor is there is for the (strict) state-dict load to say.
    """
    tensors = {key.removeprefix(PREFIX): tensor for key, tensor in checkpoint.items()}
    if not any(key.startswith("double_blocks.") for key in tensors):
        return tensors
    double = _count(tensors, r"double_blocks\.(\d+)\.")
    single = _count(tensors, r"single_blocks\.(\d+)\.")
    out: dict[str, Any] = {}
    for original, parts in _names(double, single):
        if original not in tensors:
            continue
        tensor = tensors.pop(original)
        if original.startswith(_SWAPPED):
            tensor = _swap(tensor, cat)
        pieces = split(tensor, [shapes[p][0] for p in parts]) if len(parts) > 1 else [tensor]
        out.update(zip(parts, pieces, strict=True))
    if tensors:
        raise KeyError(f"no diffusers name for FLUX.1 tensors {sorted(tensors)}")
    return out
