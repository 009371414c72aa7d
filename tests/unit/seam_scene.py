"""A synthetic seam: a smooth gradient inpainted by a model stand-in that drifts in colour.

Shared by ``test_generation_seam.py`` (which asserts the colour match lowers the seam's ΔE) and
``tests/benchmarks/bench_seam.py`` (which prints the figures). The stand-in repaints the masked
area with the gradient itself — the ideal content — but, like an inpainting model's VAE round
trip, returns the whole picture shifted in colour (more so to the right) and with a little
texture. Whatever ΔE remains across the mask border is therefore the seam, not the content.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from sfumato.generation.region import Region, blend_region, crop_for_model, plan_region

SIDE = 384
RADIUS = 96
"""The disc's radius where the mask is 128 (the middle of its soft edge)."""
SOFT = 16
"""Width in pixels of the mask's soft edge (a feathered brush or Feather)."""
BAND = 8
"""ΔE is measured from this many pixels outside the soft edge to this many inside it."""

# sRGB (IEC 61966-2-1) to CIE XYZ, D65 white.
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
     [0.0193339, 0.1191920, 0.9503041]]
)
_WHITE = np.array([0.95047, 1.0, 1.08883])


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of 8-bit sRGB colours ``(..., 3)``."""
    encoded = rgb.astype(np.float64) / 255
    linear = np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE
    delta = 6 / 29
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1
    )


def delta_e76(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """CIE76 colour difference (Euclidean distance in L*a*b*) of two 8-bit sRGB arrays."""
    return np.linalg.norm(srgb_to_lab(a) - srgb_to_lab(b), axis=-1)


def gradient(side: int = SIDE) -> np.ndarray:
    """A smooth RGB gradient: red grows to the right, green downwards, blue falls diagonally."""
    y, x = np.mgrid[0:side, 0:side] / (side - 1)
    rgb = np.stack([40 + 170 * x, 60 + 140 * y, 200 - 90 * (x + y) / 2], axis=-1)
    return np.rint(rgb).astype(np.uint8)


def distance_from_centre(side: int = SIDE) -> np.ndarray:
    """Each pixel's distance from the canvas centre."""
    y, x = np.mgrid[0:side, 0:side] - (side - 1) / 2
    return np.hypot(x, y)


def soft_disc(side: int = SIDE) -> np.ndarray:
    """A disc mask with a linear soft edge :data:`SOFT` pixels wide around :data:`RADIUS`."""
    ramp = (RADIUS + SOFT / 2 - distance_from_centre(side)) / SOFT
    return np.rint(np.clip(ramp, 0, 1) * 255).astype(np.uint8)


def drifting_model(image: Image.Image, mask: Image.Image, seed: int = 0) -> np.ndarray:
    """The stand-in: the model's input back (the gradient is the right content), colour-shifted.

    The shift is what inpainting models are known for: a gain and an offset per channel, the
    offset growing from left to right, plus a faint texture.
    """
    del mask  # the stand-in paints the ideal content everywhere
    pixels = np.asarray(image).astype(np.float64)
    x = np.linspace(0, 1, pixels.shape[1])[None, :, None]
    gain = np.array([1.04, 0.97, 1.02])
    offset = np.array([6.0, -4.0, 8.0]) + np.array([8.0, -6.0, 4.0]) * x
    texture = np.random.default_rng(seed).normal(0, 1.5, pixels.shape)
    return np.clip(np.rint(pixels * gain + offset + texture), 0, 255).astype(np.uint8)


def inpaint(match_colours: bool, padding: int = 32, target: int = 512) -> tuple[np.ndarray, Region]:
    """The gradient with the soft disc inpainted by the stand-in, and the region it used."""
    source, mask = gradient(), soft_disc()
    region = plan_region(mask, padding, target * target, 8)
    image, model_mask = crop_for_model(source, mask, region)
    generated = drifting_model(image, model_mask)
    out = source.copy()
    out[region.box.slices()] = blend_region(source, mask, region, generated, match_colours)
    return out, region


def seam_band() -> np.ndarray:
    """The pixels from :data:`BAND` outside the soft edge to :data:`BAND` inside it."""
    distance = distance_from_centre()
    return np.abs(distance - RADIUS) <= SOFT / 2 + BAND


def seam_delta_e(match_colours: bool) -> float:
    """Mean CIE76 ΔE, over :func:`seam_band`, between the inpainted picture and the gradient."""
    out, _ = inpaint(match_colours)
    band = seam_band()
    return float(delta_e76(out[band], gradient()[band]).mean())
