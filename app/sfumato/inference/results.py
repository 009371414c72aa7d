"""What the engine hands back: stages and step progress while it works, a result when it is done."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sfumato.generation.region import Box


@dataclass(frozen=True)
class StepProgress:
    """One finished denoising step."""

    step: int
    """1-based number of the step just finished."""
    total: int
    """How many steps this run takes (img2img runs ``strength × steps``)."""
    preview: np.ndarray | None
    """A small ``(h, w, 3)`` uint8 approximation of the first image (latent resolution)."""


ProgressCallback = Callable[[StepProgress], None]
"""Called on the engine's thread after every step; keep it quick."""

StageCallback = Callable[[str], None]
"""Called on the engine's thread when work without steps begins, with a short text for a
person ("Loading sdxl-turbo…", "Moving sdxl-turbo to the GPU…"); keep it quick."""


@dataclass(frozen=True)
class GeneratedImage:
    """One generated image.

    For txt2img, img2img and variations ``pixels`` is the whole image and ``box`` is ``None``.
    For inpaint and outpaint only ``box`` of ``base`` (the source, or the grown outpaint canvas)
    changed and ``pixels`` holds that box's final pixels, so the engine's work and memory follow
    the region, not the image; :meth:`full` composes the whole picture when one is wanted.
    """

    pixels: np.ndarray
    seed: int
    parameters: str
    """A1111-style ``parameters`` text for this image's PNG."""
    box: Box | None = None
    base: np.ndarray | None = field(default=None, repr=False)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the whole image."""
        whole = self.base if self.base is not None else self.pixels
        return whole.shape[1], whole.shape[0]

    def full(self) -> np.ndarray:
        """The whole image as a new array."""
        if self.box is None or self.base is None:
            return self.pixels.copy()
        out = self.base.copy()
        rows, cols = self.box.slices()
        out[rows, cols] = self.pixels
        return out


@dataclass(frozen=True)
class GenerationResult:
    """The images one request produced, with what is needed to reproduce and explain them."""

    images: tuple[GeneratedImage, ...]
    """Empty when cancelled."""
    seeds: tuple[int, ...]
    """The seed of each requested image (also when cancelled)."""
    notices: tuple[str, ...] = ()
    """Things the user should know: sizes rounded, steps raised, memory strategy lowered, …"""
    cancelled: bool = False
    variation_seeds: tuple[int, ...] = ()
    """The variation seed each image's noise was blended with (empty without a blend)."""
