"""Diffusers → Stability AI tensor names of SD3 / SD 3.5 single files.

``sd3.5_medium.safetensors`` and ``sd3.5_large.safetensors`` hold the MMDiT under
``model.diffusion_model.`` and the VAE under ``first_stage_model.``; files that include the
text encoders (``sd3_medium_incl_clips_t5xxlfp16.safetensors``) add CLIP ViT-L, OpenCLIP
ViT-bigG and T5-XXL in their transformers names under ``text_encoders.clip_l.transformer.``,
``text_encoders.clip_g.transformer.`` and ``text_encoders.t5xxl.transformer.``. Every name is the
inverse of diffusers 0.42.1's reading of these files (``loaders/single_file_utils.py``:
``convert_sd3_transformer_checkpoint_to_diffusers``, ``create_diffusers_clip_model_from_ldm``
with the ``clip_sd3`` and ``open_clip_sd3`` keys, ``convert_sd3_t5_checkpoint_to_diffusers``).
The tiny-model factory writes such files with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sfumato.inference.ldm_layout import VAE_PREFIX, clip_key, vae_tensors

MMDIT_PREFIX = "model.diffusion_model."
CLIP_L_PREFIX = "text_encoders.clip_l.transformer."
CLIP_G_PREFIX = "text_encoders.clip_g.transformer."
T5_PREFIX = "text_encoders.t5xxl.transformer."

_TOP: dict[str, tuple[str, ...]] = {
    "pos_embed": ("pos_embed.pos_embed",),
    "x_embedder.proj.weight": ("pos_embed.proj.weight",),
    "x_embedder.proj.bias": ("pos_embed.proj.bias",),
    "t_embedder.mlp.0": ("time_text_embed.timestep_embedder.linear_1",),
    "t_embedder.mlp.2": ("time_text_embed.timestep_embedder.linear_2",),
    "y_embedder.mlp.0": ("time_text_embed.text_embedder.linear_1",),
    "y_embedder.mlp.2": ("time_text_embed.text_embedder.linear_2",),
    "context_embedder": ("context_embedder",),
    "final_layer.linear": ("proj_out",),
    "final_layer.adaLN_modulation.1": ("norm_out.linear",),
}
_BLOCK: dict[str, tuple[str, ...]] = {
    "x_block.attn.qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
    "context_block.attn.qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"),
    "x_block.attn.proj": ("attn.to_out.0",),
    "context_block.attn.proj": ("attn.to_add_out",),
    "x_block.attn2.qkv": ("attn2.to_q", "attn2.to_k", "attn2.to_v"),
    "x_block.attn2.proj": ("attn2.to_out.0",),
    "x_block.adaLN_modulation.1": ("norm1.linear",),
    "context_block.adaLN_modulation.1": ("norm1_context.linear",),
    "x_block.mlp.fc1": ("ff.net.0.proj",),
    "x_block.mlp.fc2": ("ff.net.2",),
    "context_block.mlp.fc1": ("ff_context.net.0.proj",),
    "context_block.mlp.fc2": ("ff_context.net.2",),
}
_BLOCK_NORMS = {  # SD 3.5's RMS norms on queries and keys: weights only
    "x_block.attn.ln_q.weight": "attn.norm_q.weight",
    "x_block.attn.ln_k.weight": "attn.norm_k.weight",
    "context_block.attn.ln_q.weight": "attn.norm_added_q.weight",
    "context_block.attn.ln_k.weight": "attn.norm_added_k.weight",
    "x_block.attn2.ln_q.weight": "attn2.norm_q.weight",
    "x_block.attn2.ln_k.weight": "attn2.norm_k.weight",
}


def module_names(num_layers: int) -> dict[str, tuple[str, ...]]:
    """Original (MMDiT) module name → the diffusers modules it fuses, in order, for a transformer
    of ``num_layers`` joint blocks: LoRAs name modules (kohya's
    ``lora_unet_joint_blocks_0_x_block_attn_qkv``, ComfyUI's ``diffusion_model.joint_blocks.…``).
    Modules a model lacks (``attn2`` outside SD 3.5 Medium's first blocks) are listed all the
    same; :func:`swapped_modules` have their output halves in the other order."""
    names: dict[str, tuple[str, ...]] = {}
    for original, ours in _TOP.items():
        if original == "pos_embed" or original.endswith(".bias"):
            continue
        names[original.removesuffix(".weight")] = tuple(o.removesuffix(".weight") for o in ours)
    for i in range(num_layers):
        for original, ours in _BLOCK.items():
            names[f"joint_blocks.{i}.{original}"] = tuple(f"transformer_blocks.{i}.{o}" for o in ours)
    return names


def swapped_modules(num_layers: int) -> tuple[str, ...]:
    """The original modules whose output halves diffusers takes swapped (the adaptive norms
    :func:`mmdit_tensors` swaps)."""
    last = f"joint_blocks.{num_layers - 1}.context_block.adaLN_modulation.1"
    return ("final_layer.adaLN_modulation.1", last)


def swap_halves(tensor: Any, cat: Callable[[list[Any]], Any]) -> Any:
    """``[a; b]`` → ``[b; a]`` along the first dimension: the original adaptive norms give
    (shift, scale) where diffusers' ``AdaLayerNormContinuous`` takes (scale, shift)."""
    half = tensor.shape[0] // 2
    return cat([tensor[half:], tensor[:half]])


def mmdit_tensors(
    transformer: Mapping[str, Any], num_layers: int, cat: Callable[[list[Any]], Any]
) -> dict[str, Any]:
    """An ``SD3Transformer2DModel`` state dict under its original names; ``cat`` joins tensors
    along their first dimension (the fused q/k/v projections)."""
    names: list[tuple[str, tuple[str, ...]]] = []
    for original, ours in _TOP.items():
        names += _with_suffixes(original, ours)
    for i in range(num_layers):
        block = f"transformer_blocks.{i}."
        for original, ours in _BLOCK.items():
            names += _with_suffixes(f"joint_blocks.{i}.{original}", tuple(block + o for o in ours))
        for original, norm in _BLOCK_NORMS.items():
            names.append((f"joint_blocks.{i}.{original}", (block + norm,)))
    last = f"joint_blocks.{num_layers - 1}.context_block.adaLN_modulation.1."
    out: dict[str, Any] = {}
    used: set[str] = set()
    for original, parts in names:
        if not all(part in transformer for part in parts):
            continue  # attn2, q/k norms and the last block's context outputs exist only in some
        tensor = cat([transformer[part] for part in parts]) if len(parts) > 1 else transformer[parts[0]]
        if original.startswith(("final_layer.adaLN_modulation.1.", last)):
            tensor = swap_halves(tensor, cat)
        out[original] = tensor
        used.update(parts)
    leftover = set(transformer) - used
    if leftover:
        raise KeyError(f"no SD3 name for transformer tensors {sorted(leftover)}")
    return out


def _with_suffixes(original: str, ours: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    if original == "pos_embed" or original.endswith((".weight", ".bias")):
        return [(original, ours)]
    return [(f"{original}.{s}", tuple(f"{o}.{s}" for o in ours)) for s in ("weight", "bias")]


def sd3_checkpoint(
    transformer: Mapping[str, Any],
    num_layers: int,
    vae: Mapping[str, Any],
    vae_config: Mapping[str, Any],
    text_encoders: tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]] | None,
    cat: Callable[[list[Any]], Any],
) -> dict[str, Any]:
    """One state dict in the SD3 single-file layout; without ``text_encoders`` (CLIP-L,
    CLIP-G, T5 state dicts) only the MMDiT and the VAE, like the SD 3.5 releases."""
    out = {MMDIT_PREFIX + key: tensor for key, tensor in mmdit_tensors(transformer, num_layers, cat).items()}
    out |= {VAE_PREFIX + key: t for key, t in vae_tensors(vae, len(vae_config["up_block_types"])).items()}
    if text_encoders is not None:
        clip_l, clip_g, t5 = text_encoders
        out |= {CLIP_L_PREFIX + clip_key(key): tensor for key, tensor in clip_l.items()}
        out |= {CLIP_G_PREFIX + clip_key(key): tensor for key, tensor in clip_g.items()}
        out |= {T5_PREFIX + key: tensor for key, tensor in t5.items()}
    return out
