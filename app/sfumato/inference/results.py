"""What the engine hands back: step progress while it works, a result when it is done."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


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


@dataclass(frozen=True)
class GenerationResult:
    """The images one request produced, with what is needed to reproduce and explain them."""

    images: tuple[np.ndarray, ...]
    """Full-size uint8 images: inpaints are the whole source with the region pasted in,
    outpaints the whole grown canvas. Empty when cancelled."""
    seeds: tuple[int, ...]
    """The seed each image used (one per image; also when cancelled)."""
    parameters: tuple[str, ...]
    """A1111-style ``parameters`` text for each image, for its PNG."""
    notices: tuple[str, ...] = ()
    """Things the user should know: sizes rounded, memory strategy lowered, …"""
    cancelled: bool = False
