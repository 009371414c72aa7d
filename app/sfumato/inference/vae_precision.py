"""A VAE that decodes (and encodes) in float32 while the rest of the pipeline runs in half precision.

The SD 1.x/2.x/XL VAEs overflow in float16 (black or speckled images), so the plan gives them
``vae_dtype="float32"`` when the model runs in float16 (:mod:`sfumato.model_store.fit`). How
diffusers 0.42.1 handles that itself:

* the SDXL pipelines (txt2img, img2img, inpaint) upcast a float16 VAE to float32 around each
  decode and encode when ``vae.config.force_upcast`` is true (``needs_upcasting`` in
  ``pipeline_stable_diffusion_xl.py``), and cast it back afterwards; their img2img also casts the
  VAE back to the pipeline's dtype after encoding, so keeping it in float32 would not last;
* the SD 1.x/2.x pipelines never upcast: they decode in the VAE's dtype.

So :func:`keep_vae_in` leaves an SDXL pipeline alone while its VAE asks for the upcast, and
otherwise keeps the VAE's weights in float32 and converts at its edges: inputs of the encoder,
``post_quant_conv`` and decoder become float32, and the latents the encoder side hands back
(``quant_conv``, or the encoder itself) return in the pipeline's dtype. Imports torch: imported only
by :mod:`sfumato.inference.pipelines`.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import (
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
)

_SELF_UPCASTING = (
    StableDiffusionXLPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
)
"""Pipelines that upcast a float16 VAE themselves when its config says ``force_upcast``."""


def keep_vae_in(pipe: Any, dtype: torch.dtype) -> None:
    """Make ``pipe``'s VAE compute in ``dtype`` while the other components keep theirs.

    Nothing to do when the VAE already is in ``dtype``, or when the pipeline upcasts a float16 VAE
    itself. Safe to call again (the engine places a pipeline more than once).
    """
    vae = pipe.vae
    compute = vae.dtype
    if compute == dtype:
        return
    if (
        isinstance(pipe, _SELF_UPCASTING)
        and compute == torch.float16
        and dtype == torch.float32
        and getattr(vae.config, "force_upcast", False)
    ):
        return
    vae.to(dtype)

    def cast_in(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(a.to(dtype) if torch.is_tensor(a) and a.is_floating_point() else a for a in args)

    def cast_out(module: Any, args: tuple[Any, ...], output: Any) -> Any:
        return output.to(compute) if torch.is_tensor(output) else output

    for name in ("encoder", "post_quant_conv", "decoder"):
        module = getattr(vae, name, None)
        if module is not None:
            module.register_forward_pre_hook(cast_in)
    quant_conv = getattr(vae, "quant_conv", None)
    (quant_conv if quant_conv is not None else vae.encoder).register_forward_hook(cast_out)
