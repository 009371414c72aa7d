"""The renamings that write real-layout single files are the inverse of diffusers' readers.

diffusers 0.42.1's converters in ``loaders/single_file_utils.py`` are the reference for the key
names; each test writes a state dict in the original layout with our code and reads it back with
diffusers' converter (for FLUX.1 also with ours, which the engine uses).
"""

from __future__ import annotations

import torch
from diffusers import FluxTransformer2DModel, SD3Transformer2DModel
from diffusers.loaders.single_file_utils import (
    convert_flux_transformer_checkpoint_to_diffusers,
    convert_sd3_transformer_checkpoint_to_diffusers,
)

from sfumato.inference.flux_layout import from_bfl, to_bfl
from sfumato.inference.sd3_layout import mmdit_tensors


def _cat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(tensors, dim=0)


def _split(tensor: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    return list(torch.split(tensor, sizes, dim=0))


def test_flux_names_at_the_released_width_are_what_diffusers_reads() -> None:
    """At FLUX.1 [dev]'s width (24 heads × 128, diffusers' defaults) on the meta device: our BFL
    names and shapes are exactly what diffusers' converter takes, and our reader gives what it
    gives."""
    with torch.device("meta"):
        model = FluxTransformer2DModel(num_layers=2, num_single_layers=2, guidance_embeds=True)
    ours = model.state_dict()
    bfl = to_bfl(ours, _cat)
    assert "double_blocks.1.img_attn.qkv.weight" in bfl and "single_blocks.1.linear1.weight" in bfl
    theirs = convert_flux_transformer_checkpoint_to_diffusers(dict(bfl))
    assert {k: v.shape for k, v in theirs.items()} == {k: v.shape for k, v in ours.items()}
    shapes = {k: tuple(v.shape) for k, v in ours.items()}
    read = from_bfl({"model.diffusion_model." + k: v for k, v in bfl.items()}, shapes, _cat, _split)
    assert {k: v.shape for k, v in read.items()} == {k: v.shape for k, v in theirs.items()}


def test_flux_round_trip_keeps_every_value() -> None:
    torch.manual_seed(0)
    model = FluxTransformer2DModel(
        num_layers=2, num_single_layers=2, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=32, pooled_projection_dim=32, guidance_embeds=False, axes_dims_rope=(4, 4, 8),
    )
    ours = model.state_dict()
    read = from_bfl(to_bfl(ours, _cat), {k: tuple(v.shape) for k, v in ours.items()}, _cat, _split)
    assert read.keys() == ours.keys()
    assert all(torch.equal(read[k], ours[k]) for k in ours)


def test_sd35_mmdit_with_dual_attention_and_qk_norms_reads_back_exactly() -> None:
    """SD 3.5 Medium's MMDiT has a second attention in its first blocks and RMS norms on
    queries and keys; the tiny SD3 has neither, so they are checked here."""
    torch.manual_seed(0)
    model = SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=16, num_layers=2, attention_head_dim=8,
        num_attention_heads=4, joint_attention_dim=64, caption_projection_dim=32,
        pooled_projection_dim=64, out_channels=16, pos_embed_max_size=96, qk_norm="rms_norm",
        dual_attention_layers=(0,),
    )
    ours = model.state_dict()
    original = mmdit_tensors(ours, 2, _cat)
    assert "joint_blocks.0.x_block.attn2.qkv.weight" in original
    assert "joint_blocks.1.context_block.attn.ln_q.weight" in original
    assert "joint_blocks.1.context_block.attn.proj.weight" not in original  # last block: context pre-only
    prefixed = {"model.diffusion_model." + k: v for k, v in original.items()}
    theirs = convert_sd3_transformer_checkpoint_to_diffusers(prefixed)
    assert theirs.keys() == ours.keys()
    assert all(torch.equal(theirs[k], ours[k]) for k in ours)
