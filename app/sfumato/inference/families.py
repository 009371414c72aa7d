"""Model families: what each one is, how big it works, and how to recognise it.

Folders are recognised from small files (``model_index.json``, component ``config.json``);
single files by the model store's detector, whose family ids :data:`STORE_FAMILIES` maps to the
engine's. Weights are never loaded here and this module does not import torch.
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


STORE_FAMILIES: dict[str, tuple[Family, bool]] = {
    "sd15": (Family.SD1, False),
    "sd15-inpainting": (Family.SD1, True),
    "sd2": (Family.SD2, False),
    "sd2-inpainting": (Family.SD2, True),
    "sdxl": (Family.SDXL, False),
    "sdxl-inpainting": (Family.SDXL, True),
    "sd35-medium": (Family.SD3, False),
    "sd35-large": (Family.SD3, False),
    "flux-dev": (Family.FLUX, False),
    "flux-schnell": (Family.FLUX, False),
    "flux-fill": (Family.FLUX, True),
    "cascade": (Family.STABLE_CASCADE, False),
}
"""The model store's family ids (what it detects in a single file) → engine family, inpaint-only."""


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
