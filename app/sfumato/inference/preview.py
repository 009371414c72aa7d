"""Cheap live previews: a linear latent → RGB map fitted to the loaded model's own VAE.

On the first preview the VAE encodes a few random colour patterns once; a least-squares fit
from latent channels (plus a bias) to the patterns' colours then turns any intermediate latent
into a small RGB image with one matrix product per step. The fit works for every family's VAE
(4 or 16 channels) without shipping per-family coefficients. Imported only by the engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

_PATTERN_SIZE = 64
_BLOCK = 16


def _colour_patterns(count: int = 4) -> np.ndarray:
    """``count`` images of random flat colour blocks, float32 in [0, 1], shape (N, H, W, 3)."""
    rng = np.random.default_rng(0)
    blocks = _PATTERN_SIZE // _BLOCK
    colours = rng.random((count, blocks, blocks, 3), dtype=np.float32)
    return colours.repeat(_BLOCK, axis=1).repeat(_BLOCK, axis=2)


def _vae_latents(vae: Any, images: np.ndarray) -> torch.Tensor:
    """Latents of ``images`` as the pipelines hold them: ``(mean - shift) * scale``."""
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2) * 2 - 1
    param = next(vae.parameters())
    device = param.device if param.device.type != "meta" else torch.device("cpu")
    with torch.no_grad():
        mean = vae.encode(pixels.to(device=device, dtype=vae.dtype)).latent_dist.mean
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return ((mean.float() - shift) * vae.config.scaling_factor).cpu()


def fit_latent_to_rgb(vae: Any) -> np.ndarray:
    """A ``(channels + 1, 3)`` matrix mapping a latent pixel (and 1) to RGB in [0, 1]."""
    images = _colour_patterns()
    latents = _vae_latents(vae, images)
    factor = _PATTERN_SIZE // latents.shape[-1]
    count, height, width = images.shape[0], latents.shape[-2], latents.shape[-1]
    targets = images.reshape(count, height, factor, width, factor, 3).mean(axis=(2, 4))
    features = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1]).numpy()
    features = np.concatenate([features, np.ones((features.shape[0], 1), np.float32)], axis=1)
    matrix, *_ = np.linalg.lstsq(features, targets.reshape(-1, 3), rcond=None)
    return matrix.astype(np.float32)


class LatentPreviewer:
    """Turns a step's latents into a small RGB preview; fits its map on first use."""

    def __init__(self, vae: Any) -> None:
        self._vae = vae
        self._matrix: np.ndarray | None = None

    def __call__(self, latents: torch.Tensor) -> np.ndarray:
        """The first image of an unpacked ``(B, C, h, w)`` latent batch as ``(h, w, 3)`` uint8."""
        if self._matrix is None:
            self._matrix = fit_latent_to_rgb(self._vae)
        latent = latents[0].detach().float().cpu().permute(1, 2, 0).numpy()
        rgb = latent @ self._matrix[:-1] + self._matrix[-1]
        return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
