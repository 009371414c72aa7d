"""Model architectures as the engine plans with them: what each one is and how big it works.

Models are recognised by the model store's detector
(:mod:`sfumato.model_store.checkpoint_family`), which answers with the catalog's family ids
(``sd15``, ``sdxl-inpainting``, ``flux-fill`` …; a family is the catalog's
:class:`~sfumato.model_store.catalog.Family`). :data:`STORE_FAMILIES` is the one mapping from
those ids to the engine's coarser :class:`Architecture` (what traits and pipeline classes
follow) and whether the model is made for masked tasks only. This module does not import torch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from sfumato.generation.schedulers import FLOW_SCHEDULERS, UNET_SCHEDULERS


class Architecture(enum.StrEnum):
    """The model architectures the engine runs (several catalog families share one)."""

    SD1 = "sd1"
    SD2 = "sd2"
    SDXL = "sdxl"
    SD3 = "sd3"
    FLUX = "flux"


@dataclass(frozen=True)
class ArchitectureTraits:
    """Facts about an architecture the engine plans with."""

    label: str
    multiple: int
    """Width and height must be multiples of this (VAE factor × patch size)."""
    vram_gib: float
    """Roughly how much VRAM a half-precision run at native size needs with everything on the GPU."""
    schedulers: tuple[str, ...]
    plain_text_prompts: bool = False
    """Whether a T5 encoder reads the prompt as plain text (SD3, FLUX.1), so its weights and
    ``BREAK`` are ignored; else CLIP encoders alone read it, weighted and in 77-token chunks
    (:mod:`~sfumato.inference.prompt_encoding`)."""


TRAITS: dict[Architecture, ArchitectureTraits] = {
    Architecture.SD1: ArchitectureTraits("Stable Diffusion 1.x", 8, 4.0, UNET_SCHEDULERS),
    Architecture.SD2: ArchitectureTraits("Stable Diffusion 2.x", 8, 5.0, UNET_SCHEDULERS),
    Architecture.SDXL: ArchitectureTraits("Stable Diffusion XL", 8, 9.0, UNET_SCHEDULERS),
    Architecture.SD3: ArchitectureTraits("Stable Diffusion 3", 16, 14.0, FLOW_SCHEDULERS, True),
    Architecture.FLUX: ArchitectureTraits("FLUX.1", 16, 26.0, FLOW_SCHEDULERS, True),
}


@dataclass(frozen=True)
class ModelInfo:
    """A recognised model on disk."""

    path: Path
    family_id: str
    """The model store's family id (``sd15``, ``sdxl-inpainting``, ``flux-dev`` …)."""
    single_file: bool
    config_dir: Path | None = None
    """For a single file: the local diffusers folder it is completed with (configs and
    tokenizers, plus the weights of :attr:`borrowed`); ``None`` when none was found."""
    borrowed: tuple[str, ...] = ()
    """For a single file: the components it lacks, loaded from :attr:`config_dir`'s weights."""

    @property
    def architecture(self) -> Architecture:
        """The engine's architecture for the model's family."""
        return STORE_FAMILIES[self.family_id][0]

    @property
    def inpaint_only(self) -> bool:
        """A 9-channel SD inpainting UNet or a FLUX.1 Fill transformer: made for masked tasks."""
        return STORE_FAMILIES[self.family_id][1]

    @property
    def name(self) -> str:
        """A short display name: the folder or file name without suffix."""
        return self.path.stem if self.single_file else self.path.name

    @property
    def traits(self) -> ArchitectureTraits:
        """The architecture's traits."""
        return TRAITS[self.architecture]


STORE_FAMILIES: dict[str, tuple[Architecture, bool]] = {
    "sd15": (Architecture.SD1, False),
    "sd15-inpainting": (Architecture.SD1, True),
    "sd2": (Architecture.SD2, False),
    "sd2-inpainting": (Architecture.SD2, True),
    "sdxl": (Architecture.SDXL, False),
    "sdxl-inpainting": (Architecture.SDXL, True),
    "sd35-medium": (Architecture.SD3, False),
    "sd35-large": (Architecture.SD3, False),
    "flux-dev": (Architecture.FLUX, False),
    "flux-schnell": (Architecture.FLUX, False),
    "flux-fill": (Architecture.FLUX, True),
}
"""Every family id the model store detects
(:data:`~sfumato.model_store.checkpoint_family.FAMILY_IDS`) that the engine runs → its
architecture, inpaint-only. Stable Cascade (``cascade``) is refused before a model gets this far."""
