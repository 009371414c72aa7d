"""The starting noise of a text-to-image call, blended towards a variation seed's noise.

A1111's "Variation seed" (its ``subseed``, ``modules/rng.py`` in AUTOMATIC1111/stable-diffusion-
webui) starts each image from ``slerp(strength, noise(seed), noise(variation seed))``: spherical
interpolation keeps the blend's spread that of one Gaussian draw, where a straight mix of two
draws would shrink it (ltdrdata/ComfyUI-Inspire-Pack's author measured the blur that causes:
Creative-comfyUI/seed_eng issue #1). This is Sfumato's own version: the angle is taken between
an image's two whole noise tensors (A1111 takes it per column of its ``(C, H, W)`` tensor), and
strength 0 is the seed's noise unchanged.

The seed's noise is drawn exactly as the diffusers text-to-image pipelines draw it (one
``torch.randn`` per image from that image's CPU generator, in the denoiser's dtype), from the
generator the call is then given, so the generator is where the pipeline would have left it
for the sampler's later draws (Euler a's), and a strength near 0 makes nearly the same picture.
"""

from __future__ import annotations

from typing import Any

import torch

_PARALLEL = 0.9995
"""Above this cosine the two draws are too close for slerp's division: mix them linearly."""


def slerp(low: torch.Tensor, high: torch.Tensor, t: float) -> torch.Tensor:
    """The point ``t`` of the way from ``low`` to ``high`` along the great circle between them
    (both flattened to one vector, lengths interpolated with it); ``low`` itself at ``t`` 0."""
    if t == 0:
        return low
    a, b = low.double().flatten(), high.double().flatten()
    cosine = torch.dot(a, b) / (a.norm() * b.norm())
    if abs(float(cosine)) > _PARALLEL:
        mixed = (1 - t) * a + t * b
    else:
        omega = torch.arccos(cosine)
        mixed = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
    return mixed.reshape(low.shape).to(low.dtype)


def initial_latents(
    pipe: Any,
    size: tuple[int, int],
    generators: list[torch.Generator],
    variation_seeds: tuple[int, ...],
    strength: float,
) -> torch.Tensor:
    """The ``latents`` argument for a text-to-image call of ``pipe`` at ``size`` (width,
    height): image ``i`` starts from its generator's noise blended ``strength`` of the way to
    ``variation_seeds[i]``'s; packed into tokens for FLUX.1, as its pipeline packs its own."""
    shape = _noise_shape(pipe, size)
    dtype = _denoiser(pipe).dtype
    blended = []
    for generator, variation_seed in zip(generators, variation_seeds, strict=True):
        noise = torch.randn(shape, generator=generator, device="cpu", dtype=dtype)
        other = torch.randn(
            shape, generator=torch.Generator("cpu").manual_seed(variation_seed), device="cpu", dtype=dtype
        )
        blended.append(slerp(noise, other, strength))
    latents = torch.cat(blended)
    if _packs_latents(pipe):
        return pipe._pack_latents(latents, latents.shape[0], shape[1], shape[2], shape[3])
    return latents


def _denoiser(pipe: Any) -> Any:
    unet = getattr(pipe, "unet", None)
    return unet if unet is not None else pipe.transformer


def _packs_latents(pipe: Any) -> bool:
    """FLUX.1 pipelines take their latents packed into 2×2-patch tokens."""
    return hasattr(pipe, "_pack_latents")


def _noise_shape(pipe: Any, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """One image's noise as the pipeline's ``prepare_latents`` shapes it (diffusers 0.42:
    ``StableDiffusion[XL]Pipeline`` and ``StableDiffusion3Pipeline`` use the denoiser's input
    channels at 1/``vae_scale_factor``; ``FluxPipeline`` a quarter of them, at an even size)."""
    width, height = size
    factor = pipe.vae_scale_factor
    channels = _denoiser(pipe).config.in_channels
    if _packs_latents(pipe):
        return (1, channels // 4, 2 * (height // (factor * 2)), 2 * (width // (factor * 2)))
    return (1, channels, height // factor, width // factor)
