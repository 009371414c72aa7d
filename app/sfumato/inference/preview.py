"""Cheap live previews: a tiny decoder when one is installed, else a fitted linear map.

The linear map: on the first preview the VAE encodes a few random colour patterns once; a
least-squares fit from latent channels (plus a bias) to the patterns' colours then turns any
intermediate latent into a small RGB image with one matrix product per step. The fit works for
every family's VAE (4 or 16 channels) without shipping per-family coefficients.

The tiny decoder: a TAESD-family ``AutoencoderTiny`` (:class:`TinyDecoder`) gives a preview
close to what the VAE will decode, where one is installed (see :func:`find_tiny_decoder`); a
request that asks for fast decoding gets its final images from it too. Imported only by the
engine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sfumato.inference.families import STORE_FAMILIES, ModelInfo

log = logging.getLogger(__name__)

MAX_TINY_LATENT_SIDE = 64
"""Latents wider or taller than this are area-downscaled before the tiny decoder sees them, so a
preview is at most 8 × 64 = 512 pixels on its longer side whatever the generation's size."""

PREVIEW_SHARE = 0.25
"""Previews may take at most about this share of a run's time (see :class:`StepPreviews`)."""
CHEAP_PREVIEW_S = 0.05
"""A preview that takes less than this is made every step, whatever the steps cost."""

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


class TinyDecoder:
    """A tiny autoencoder (diffusers ``AutoencoderTiny``, the TAESD family) that decodes latents.

    Loaded from ``folder`` (a diffusers model folder: ``config.json`` and safetensors weights)
    on first use, onto ``device`` in ``dtype``; on the CPU its convolutions run channels-last
    (measured 2026-12-01 on 2 shared AMX-BF16 cores: a bfloat16 512² TAESD decode in 1.17 s
    instead of 2.60 s; in ``tests/benchmarks/bench_first_image.py``'s run, 0.21 s at best).
    Latents are fed the way a pipeline feeds a drop-in tiny VAE: ``latents / scaling_factor +
    shift_factor`` of the tiny decoder's own config. One instance serves a loaded model's live
    previews and, when a request asks for fast decoding, its final images.
    """

    def __init__(self, folder: Path, device: str, dtype: torch.dtype) -> None:
        self.folder = folder
        self._device = device
        self._dtype = dtype
        self._decoder: Any = None

    def load(self) -> Any:
        """The decoder, loaded on the first call; raises whatever loading raises."""
        if self._decoder is None:
            from diffusers import AutoencoderTiny

            decoder = AutoencoderTiny.from_pretrained(
                str(self.folder), dtype=self._dtype, use_safetensors=True, local_files_only=True
            )
            decoder = decoder.to(self._device).eval()
            if self._device == "cpu":
                decoder.to(memory_format=torch.channels_last)
            self._decoder = decoder
        return self._decoder

    def decode(self, latents: torch.Tensor, max_side: int | None = None) -> np.ndarray:
        """Unpacked ``(B, C, h, w)`` latents as ``(B, H, W, 3)`` uint8 images; latents with a
        side above ``max_side`` are area-downscaled first (a small preview of a big image)."""
        decoder = self.load()
        config = decoder.config
        latent = latents.detach()
        side = max(latent.shape[-2:])
        if max_side is not None and side > max_side:
            size = tuple(max(1, n * max_side // side) for n in latent.shape[-2:])
            latent = torch.nn.functional.interpolate(latent.float(), size=size, mode="area")
        latent = latent.to(self._device, self._dtype) / config.scaling_factor + (config.shift_factor or 0.0)
        if self._device == "cpu":
            latent = latent.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            images = decoder.decode(latent).sample
        rgb = (images.float() / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
        return np.rint(rgb * 255).astype(np.uint8)


class TinyDecoderPreviewer:
    """Previews from a :class:`TinyDecoder`: the first image of a step's latents, at most
    8 × :data:`MAX_TINY_LATENT_SIDE` pixels on its longer side. Any failure (loading or
    decoding) is logged once and every later preview comes from ``fallback``, so a broken
    decoder never fails a generation.
    """

    def __init__(self, decoder: TinyDecoder, fallback: LatentPreviewer) -> None:
        self.decoder = decoder
        self._fallback = fallback
        self._failed = False

    def __call__(self, latents: torch.Tensor) -> np.ndarray:
        """The first image of an unpacked ``(B, C, h, w)`` latent batch as ``(H, W, 3)`` uint8."""
        if not self._failed:
            try:
                return self.decoder.decode(latents[:1], MAX_TINY_LATENT_SIDE)[0]
            except Exception:
                self._failed = True
                log.warning(
                    "the tiny preview decoder in %s failed; previews use the linear map from now on",
                    self.decoder.folder,
                    exc_info=True,
                )
        return self._fallback(latents)


TINY_DECODER_FOLDER = "taesd"
"""A sub-folder of a diffusers model folder holding a tiny decoder made for that model."""


def find_tiny_decoder(info: ModelInfo) -> Path | None:
    """The folder of a tiny decoder for the model ``info`` describes, or ``None``.

    First a ``taesd/`` sub-folder of the model's own diffusers folder (a ``config.json`` in it:
    any ``AutoencoderTiny`` with the model's latent channels, whatever it is called upstream);
    then a preview decoder installed in the model store for the model's family
    (``sfumato models download taesd`` …). A store that cannot be read means no decoder.
    """
    own = info.path / TINY_DECODER_FOLDER
    if not info.single_file and (own / "config.json").is_file():
        return own
    from sfumato.model_store import ModelStoreError, preview_decoder_path

    families = [store_id for store_id, (arch, _) in STORE_FAMILIES.items() if arch is info.architecture]
    try:
        return preview_decoder_path(families)
    except ModelStoreError:
        log.warning("could not look for an installed preview decoder", exc_info=True)
        return None


def suggested_decoder(info: ModelInfo) -> str | None:
    """The id of the catalog's preview decoder made for the model ``info`` describes (``taesd``
    for SD 1.x/2.x …), or ``None`` if the catalog has none or cannot be read."""
    from sfumato.model_store import ModelStoreError, load_catalog

    try:
        decoders = load_catalog().preview_decoders
    except ModelStoreError:
        return None
    return next((d.id for d in decoders if info.family_id in d.families), None)


def make_previewer(vae: Any, tiny_decoder: TinyDecoder | None) -> LatentPreviewer | TinyDecoderPreviewer:
    """The previewer for a loaded model: ``tiny_decoder`` if it has one, falling back to the
    linear map fitted to ``vae``."""
    linear = LatentPreviewer(vae)
    return linear if tiny_decoder is None else TinyDecoderPreviewer(tiny_decoder, linear)


class StepPreviews:
    """One run's previews from ``previewer``, paced so that they cost at most about
    :data:`PREVIEW_SHARE` of the run's time.

    A preview that takes under :data:`CHEAP_PREVIEW_S` (the linear map; a tiny decoder on a GPU)
    is made every step. A slower one (a tiny decoder on a CPU) is made again only once
    ``cost / PREVIEW_SHARE`` seconds have passed since the last; the steps between repeat the
    last preview. The first call pays one-off set-up (fitting the map, loading the decoder), so
    the pacing uses the cost of the latest call after it. Make one per run; ``clock`` is the
    time source in seconds.
    """

    def __init__(
        self,
        previewer: Callable[[torch.Tensor], np.ndarray],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._previewer = previewer
        self._clock = clock
        self._calls = 0
        self._cost = 0.0
        self._finished = 0.0
        self._last: np.ndarray | None = None

    def __call__(self, latents: torch.Tensor) -> np.ndarray:
        """The preview for this step's unpacked ``(B, C, h, w)`` latents (maybe the last one again)."""
        started = self._clock()
        due = self._cost < CHEAP_PREVIEW_S or started - self._finished >= self._cost / PREVIEW_SHARE
        if self._last is None or due:
            self._last = self._previewer(latents)
            self._finished = self._clock()
            self._calls += 1
            if self._calls > 1:
                self._cost = self._finished - started
        return self._last
