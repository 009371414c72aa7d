"""The plan's VAE dtype honoured where the engine places a pipeline: an SD 1.x VAE decodes and
encodes in float32 under a float16 UNet; an SDXL pipeline, which upcasts by itself, is left alone."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoPipelineForImage2Image, DiffusionPipeline

from sfumato.inference import MemoryStrategy, profile_for
from sfumato.inference.pipelines import apply_strategy
from sfumato.inference.vae_precision import keep_vae_in

CPU = profile_for("cpu")


def _load(folder: Path, dtype: torch.dtype) -> DiffusionPipeline:
    pipe = DiffusionPipeline.from_pretrained(str(folder), dtype=dtype, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_an_sd_vae_runs_in_float32_under_a_float16_unet(tiny_models: dict[str, Path]) -> None:
    pipe = _load(tiny_models["sd15"], torch.float16)
    reference = copy.deepcopy(pipe.vae).to(torch.float32)
    apply_strategy(pipe, MemoryStrategy.FULL, CPU, False, "float32")
    reference.to(memory_format=torch.channels_last)  # laid out as the CPU placement lays it out
    assert pipe.vae.dtype == torch.float32 and pipe.unet.dtype == torch.float16

    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)).to(torch.float16)
    with torch.no_grad():
        decoded = pipe.vae.decode(latents).sample
        expected = reference.decode(latents.float()).sample
        encoded = pipe.vae.encode(decoded).latent_dist.mean
    assert decoded.dtype == torch.float32 and torch.equal(decoded, expected)  # decoded in float32
    assert encoded.dtype == torch.float16  # latents go back to the UNet in its dtype

    generator = torch.Generator("cpu").manual_seed(1)
    out = pipe("a", num_inference_steps=2, height=64, width=64, output_type="np", generator=generator)
    assert np.isfinite(out.images).all()
    img2img = AutoPipelineForImage2Image.from_pipe(pipe)
    apply_strategy(img2img, MemoryStrategy.SLICED, CPU, True, "float32")  # placed again: idempotent
    again = img2img("a", image=out.images, strength=0.5, num_inference_steps=2, output_type="np")
    assert np.isfinite(again.images).all() and pipe.vae.dtype == torch.float32


def test_an_sdxl_pipeline_upcasts_its_vae_itself(tiny_models: dict[str, Path]) -> None:
    pipe = _load(tiny_models["sdxl"], torch.float16)
    assert pipe.vae.config.force_upcast
    keep_vae_in(pipe, torch.float32)
    assert pipe.vae.dtype == torch.float16  # diffusers upcasts it around each decode
    pipe.vae.register_to_config(force_upcast=False)  # a VAE that does not ask for it
    keep_vae_in(pipe, torch.float32)
    assert pipe.vae.dtype == torch.float32


def test_a_vae_already_in_the_plans_dtype_is_untouched(tiny_models: dict[str, Path]) -> None:
    pipe = _load(tiny_models["flux"], torch.bfloat16)
    apply_strategy(pipe, MemoryStrategy.FULL, CPU, False, "bfloat16")
    assert pipe.vae.dtype == torch.bfloat16
    assert not pipe.vae.decoder._forward_pre_hooks
