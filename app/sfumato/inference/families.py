"""Model families: what each one is, how big it works, and how to recognise it.

Detection reads only small files (``model_index.json``, component ``config.json``) or the
tensor names and shapes of a single ``.safetensors`` file; weights are never loaded here and
this module does not import torch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from sfumato.generation.schedulers import FLOW_SCHEDULERS, UNET_SCHEDULERS


class Family(enum.StrEnum):
    """The model families the engine knows."""

    SD1 = "sd1"
    SD2 = "sd2"
    SDXL = "sdxl"
    SD3 = "sd3"
    FLUX = "flux"
    STABLE_CASCADE = "stable-cascade"


@dataclass(frozen=True)
class FamilyTraits:
    """Facts about a family the engine plans with."""

    label: str
    multiple: int
    """Width and height must be multiples of this (VAE factor × patch size)."""
    vram_gib: float
    """Roughly how much VRAM a half-precision run at native size needs with everything on the GPU."""
    schedulers: tuple[str, ...]


TRAITS: dict[Family, FamilyTraits] = {
    Family.SD1: FamilyTraits("Stable Diffusion 1.x", 8, 4.0, UNET_SCHEDULERS),
    Family.SD2: FamilyTraits("Stable Diffusion 2.x", 8, 5.0, UNET_SCHEDULERS),
    Family.SDXL: FamilyTraits("Stable Diffusion XL", 8, 9.0, UNET_SCHEDULERS),
    Family.SD3: FamilyTraits("Stable Diffusion 3", 16, 14.0, FLOW_SCHEDULERS),
    Family.FLUX: FamilyTraits("FLUX.1", 16, 26.0, FLOW_SCHEDULERS),
    Family.STABLE_CASCADE: FamilyTraits("Stable Cascade", 128, 16.0, ()),
}


@dataclass(frozen=True)
class ModelInfo:
    """A recognised model on disk."""

    path: Path
    family: Family
    inpaint_only: bool
    """A 9-channel SD inpainting UNet or a FLUX.1 Fill transformer: made for masked tasks."""
    single_file: bool
    config_dir: Path | None = None
    """For a single file: a local diffusers folder (JSON and tokenizers, no weights) to build it with."""

    @property
    def name(self) -> str:
        """A short display name: the folder or file name without suffix."""
        return self.path.stem if self.single_file else self.path.name

    @property
    def traits(self) -> FamilyTraits:
        """The family's traits."""
        return TRAITS[self.family]


def family_from_pipeline_class(class_name: str) -> Family | None:
    """The family a diffusers pipeline class name belongs to (SD1 for every plain SD pipeline)."""
    if class_name.startswith(("StableCascade", "Wuerstchen")):
        return Family.STABLE_CASCADE
    if class_name.startswith("Flux"):
        return Family.FLUX
    if class_name.startswith("StableDiffusion3"):
        return Family.SD3
    if class_name.startswith("StableDiffusionXL"):
        return Family.SDXL
    if class_name.startswith("StableDiffusion"):
        return Family.SD1
    return None


def sd_family_from_unet(config: dict[str, object]) -> Family:
    """SD1 or SD2 from a UNet config: SD2 uses linear projections and 1024-wide text features."""
    if config.get("use_linear_projection") or config.get("cross_attention_dim") == 1024:
        return Family.SD2
    return Family.SD1


def family_from_tensors(shapes: dict[str, list[int]]) -> tuple[Family, bool] | None:
    """Family and inpaint-only flag from a single file's tensor names and shapes, if recognisable.

    Knows the original (LDM/BFL/SAI) key layouts the community distributes checkpoints in.
    """
    keys = shapes.keys()
    flux_in = next((k for k in keys if k.endswith("img_in.weight")), None)
    if flux_in is not None and any("double_blocks." in k for k in keys):
        return Family.FLUX, shapes[flux_in][-1] == 384
    if any("joint_blocks." in k for k in keys):
        return Family.SD3, False
    if any(k.startswith(("clip_txt_mapper", "clip_txt_pooled_mapper")) or ".channelwise." in k for k in keys):
        return Family.STABLE_CASCADE, False
    conv_in = shapes.get("model.diffusion_model.input_blocks.0.0.weight")
    if conv_in is None:
        return None
    inpaint = len(conv_in) == 4 and conv_in[1] == 9
    if any(k.startswith("conditioner.embedders.") for k in keys) or any(
        k.startswith("model.diffusion_model.label_emb.") for k in keys
    ):
        return Family.SDXL, inpaint
    context = next(
        (v for k, v in shapes.items() if k.endswith("attn2.to_k.weight") and len(v) == 2), None
    )
    if any(k.startswith("cond_stage_model.model.") for k in keys) or (
        context is not None and context[1] == 1024
    ):
        return Family.SD2, inpaint
    return Family.SD1, inpaint
