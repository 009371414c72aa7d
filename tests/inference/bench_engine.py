"""Engine benchmark: overhead against a bare diffusers call, and inpaint cost against image size.

Run ``python tests/inference/bench_engine.py`` (add ``--large`` for the SD 1.5-size UNet at 512²,
several minutes on a CPU). Not a test: it prints figures. Targets (issue 3): engine overhead
≤ 3 % of a bare diffusers call with the same model, steps and seed; a 256² mask inpainted on an
8192² image ≤ 1.1× the time of the same mask on a 1024² image.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from sfumato.generation import InpaintRequest, Txt2ImgRequest
from sfumato.inference import Engine, profile_for
from sfumato.inference.tiny_models import build_sd15, clip_tokenizer, sd_scheduler


def build_sd15_size(folder: Path) -> Path:
    """Random weights in SD 1.5's real shapes (UNet 860M, VAE 84M, CLIP-L 123M), saved in fp16."""
    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        sample_size=512,
    )
    config = CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, vocab_size=200, max_position_embeddings=77,
        hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
    )  # fmt: skip
    text = CLIPTextModel(config)
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text, tokenizer=clip_tokenizer(), unet=unet, scheduler=sd_scheduler(),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.to(torch.float16).save_pretrained(folder)
    return folder


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


class TimedEngine(Engine):
    """An engine that records how long each pipeline call took, to separate its own work."""

    def __init__(self) -> None:
        super().__init__(profile_for("cpu"))
        self.pipeline_seconds: list[float] = []

    def _invoke(self, pipe: Any, kwargs: dict[str, Any]) -> Any:
        started = time.perf_counter()
        result = super()._invoke(pipe, kwargs)
        self.pipeline_seconds.append(time.perf_counter() - started)
        return result


def overhead(model: Path, size: int, steps: int, repeats: int) -> None:
    """Median engine run against the median bare pipeline call, interleaved in one process.

    The order alternates every repeat so drifting machine load does not favour either side;
    the engine's own work (its run minus the pipeline call inside it) is printed too, since it
    does not depend on that load.
    """
    engine = TimedEngine()
    request = Txt2ImgRequest(
        model=str(model), prompt="a lighthouse at dusk", steps=steps, seed=1, width=size, height=size,
        guidance=7.0, scheduler="Euler",
    )  # fmt: skip
    bare = StableDiffusionPipeline.from_pretrained(model, dtype=torch.float32, local_files_only=True)
    bare.set_progress_bar_config(disable=True)

    def bare_call() -> np.ndarray:
        images = bare(
            prompt=[request.prompt], num_inference_steps=steps, guidance_scale=7.0, height=size,
            width=size, generator=[torch.Generator("cpu").manual_seed(1)], output_type="np",
        ).images  # fmt: skip
        return np.clip(np.rint(images[0] * 255), 0, 255).astype(np.uint8)

    same = np.array_equal(engine.run(request).images[0].pixels, bare_call())
    engine.pipeline_seconds.clear()
    engine_times: list[float] = []
    bare_times: list[float] = []
    for repeat in range(repeats):
        pair = [(engine_times, lambda: engine.run(request)), (bare_times, bare_call)]
        for times, call in pair if repeat % 2 == 0 else reversed(pair):
            times.append(_timed(call))
    ours, theirs = statistics.median(engine_times), statistics.median(bare_times)
    own = statistics.median(t - p for t, p in zip(engine_times, engine.pipeline_seconds, strict=True))
    print(
        f"overhead {model.name} {size}² {steps} steps: engine {ours:.3f} s, bare diffusers "
        f"{theirs:.3f} s, ratio {ours / theirs:.3f} ({(ours / theirs - 1) * 100:+.1f} %); engine's "
        f"own work {own * 1000:.1f} ms ({own / theirs * 100:.2f} %), identical pixels: {same}"
    )


def inpaint_scaling(model: Path, native: int, steps: int, repeats: int) -> None:
    """The same 256² mask inpainted on a 1024² and on an 8192² image, runs interleaved."""
    engine = Engine(profile_for("cpu"))
    requests = {}
    for side in (1024, 8192):
        source = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
        mask = np.zeros((side, side), np.uint8)
        mask[side // 2 : side // 2 + 256, side // 3 : side // 3 + 256] = 255
        requests[side] = InpaintRequest(
            model=str(model), prompt="a window", steps=steps, seed=1, source=source, mask=mask,
            padding=32, width=native, height=native,
        )  # fmt: skip
        engine.run(requests[side])
    times: dict[int, list[float]] = {1024: [], 8192: []}
    for _ in range(repeats):
        for side, request in requests.items():
            times[side].append(_timed(lambda r=request: engine.run(r)))
    small, big = statistics.median(times[1024]), statistics.median(times[8192])
    print(
        f"inpaint {model.name} 256² mask at {native}², {steps} steps: 1024² {small:.3f} s, "
        f"8192² {big:.3f} s, ratio {big / small:.3f}"
    )


def main() -> None:
    """Build the models in a temporary folder and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", action="store_true", help="also the SD 1.5-size UNet at 512²")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as root:
        tiny = build_sd15(Path(root) / "tiny-sd15")
        overhead(tiny, 64, 4, repeats=30)
        inpaint_scaling(tiny, 64, 4, repeats=15)
        if args.large:
            large = build_sd15_size(Path(root) / "sd15-size")
            overhead(large, 512, 3, repeats=2)
            inpaint_scaling(large, 512, 3, repeats=1)


if __name__ == "__main__":
    main()
