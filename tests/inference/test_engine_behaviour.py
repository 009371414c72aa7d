"""Engine behaviour: determinism, progress and preview, cancel, task switching, OOM recovery, load
stages, steps raised for low strengths, FLUX without a negative prompt."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sfumato.generation import Img2ImgRequest, InpaintRequest, Txt2ImgRequest
from sfumato.generation.metadata import parse_parameters
from sfumato.generation.region import crop_for_model, plan_region
from sfumato.generation.schedulers import FLOW_MATCH_EULER, UNET_SCHEDULERS
from sfumato.inference import (
    Engine,
    MemoryStrategy,
    OutOfMemoryError,
    StepProgress,
    UnsupportedError,
    profile_for,
)


def _txt2img(model: Path, **overrides: Any) -> Txt2ImgRequest:
    fields = {"model": str(model), "prompt": "a lighthouse", "steps": 3, "seed": 11}
    fields |= {"width": 64, "height": 64}
    return Txt2ImgRequest(**{**fields, **overrides})


@pytest.mark.parametrize("name", ["sd15", "sdxl", "sd3", "flux"])
def test_same_seed_same_pixels_other_seed_other_pixels(
    engine: Engine, tiny_models: dict[str, Path], name: str
) -> None:
    first = engine.run(_txt2img(tiny_models[name]))
    again = engine.run(_txt2img(tiny_models[name]))
    other = engine.run(_txt2img(tiny_models[name], seed=12))
    assert np.array_equal(first.images[0].pixels, again.images[0].pixels)
    assert not np.array_equal(first.images[0].pixels, other.images[0].pixels)


@pytest.mark.parametrize("scheduler", ["Euler a", "DPM++ 2M Karras", "LCM"])
def test_reused_stateful_schedulers_stay_deterministic(
    engine: Engine, tiny_models: dict[str, Path], scheduler: str
) -> None:
    request = _txt2img(tiny_models["sd15"], scheduler=scheduler)
    first = engine.run(request)
    engine.run(_txt2img(tiny_models["sd15"], scheduler=scheduler, seed=99, steps=2))
    again = engine.run(request)
    assert np.array_equal(first.images[0].pixels, again.images[0].pixels)


def test_random_seed_is_reported_and_reproduces(engine: Engine, tiny_models: dict[str, Path]) -> None:
    result = engine.run(_txt2img(tiny_models["sd15"], seed=-1, batch_size=2))
    first = result.seeds[0]
    assert result.seeds == (first, first + 1)
    assert result.images[1].seed == first + 1
    assert parse_parameters(result.images[1].parameters).values["Seed"] == str(first + 1)
    replay = engine.run(_txt2img(tiny_models["sd15"], seed=first, batch_size=2))
    assert all(
        np.array_equal(a.pixels, b.pixels) for a, b in zip(result.images, replay.images, strict=True)
    )


def test_progress_reports_every_step_with_a_preview(engine: Engine, tiny_models: dict[str, Path]) -> None:
    updates: list[StepProgress] = []
    engine.run(_txt2img(tiny_models["flux"], steps=4), on_step=updates.append)
    assert [u.step for u in updates] == [1, 2, 3, 4]
    assert {u.total for u in updates} == {4}
    preview = updates[-1].preview
    assert preview is not None and preview.dtype == np.uint8 and preview.shape == (8, 8, 3)


def test_cancel_stops_after_the_current_step_and_the_model_stays_usable(
    engine: Engine, tiny_models: dict[str, Path]
) -> None:
    cancel = threading.Event()
    steps: list[int] = []

    def on_step(progress: StepProgress) -> None:
        steps.append(progress.step)
        if progress.step == 2:
            cancel.set()

    request = _txt2img(tiny_models["sd15"], steps=4)
    cancelled = engine.run(request, on_step=on_step, cancel=cancel)
    assert cancelled.cancelled and cancelled.images == ()
    assert steps == [1, 2]

    finished = engine.run(request)
    fresh = Engine(profile_for("cpu")).run(request)
    assert not finished.cancelled
    assert np.array_equal(finished.images[0].pixels, fresh.images[0].pixels)


def test_cancel_set_before_the_run_does_no_work(engine: Engine, tiny_models: dict[str, Path]) -> None:
    cancel = threading.Event()
    cancel.set()
    steps: list[int] = []
    result = engine.run(_txt2img(tiny_models["sd15"]), on_step=lambda p: steps.append(p.step), cancel=cancel)
    assert result.cancelled and steps == []


def test_switching_task_reuses_the_loaded_weights(
    engine: Engine, tiny_models: dict[str, Path], source: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipes: list[Any] = []
    original = Engine._invoke

    def spy(self: Engine, pipe: Any, kwargs: dict[str, Any]) -> Any:
        pipes.append(pipe)
        return original(self, pipe, kwargs)

    monkeypatch.setattr(Engine, "_invoke", spy)
    engine.run(_txt2img(tiny_models["sdxl"]))
    mask = np.zeros(source.shape[:2], np.uint8)
    mask[10:30, 10:30] = 255
    engine.run(InpaintRequest(model=str(tiny_models["sdxl"]), prompt="x", steps=2, source=source, mask=mask))
    txt2img, inpaint = pipes
    assert type(txt2img).__name__ == "StableDiffusionXLPipeline"
    assert type(inpaint).__name__ == "StableDiffusionXLInpaintPipeline"
    assert inpaint.unet is txt2img.unet and inpaint.vae is txt2img.vae


def test_inpaint_sends_only_the_region_to_the_pipeline(
    engine: Engine, tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    big = rng.integers(0, 256, (400, 600, 3), dtype=np.uint8)
    mask = np.zeros(big.shape[:2], np.uint8)
    mask[200:230, 300:370] = 255
    seen: list[dict[str, Any]] = []
    original = Engine._invoke

    def spy(self: Engine, pipe: Any, kwargs: dict[str, Any]) -> Any:
        seen.append(kwargs)
        return original(self, pipe, kwargs)

    monkeypatch.setattr(Engine, "_invoke", spy)
    request = InpaintRequest(
        model=str(tiny_models["sd15"]), prompt="x", steps=2, seed=1, source=big, mask=mask, padding=10,
        width=64, height=64, scheduler="Euler",
    )  # fmt: skip
    result = engine.run(request)

    region = plan_region(mask, 10, 64 * 64, 8)
    sent = seen[0]["image"][0]
    assert region.box.height == 64  # 50 rows grown to the minimum side
    assert sent.size == region.size == (80, 56)
    assert (seen[0]["width"], seen[0]["height"]) == region.size
    assert np.array_equal(np.asarray(sent), np.asarray(crop_for_model(big, mask, region)[0]))
    image = result.images[0]
    assert image.box == region.box and image.pixels.shape == (region.box.height, region.box.width, 3)
    assert image.size == (600, 400)
    assert np.array_equal(image.full()[mask == 0], big[mask == 0])
    assert "Size: 64x64" in image.parameters
    replay = parse_parameters(image.parameters).to_request(model=request.model, source=big, mask=mask)
    assert replay == request


SCHEDULER_CLASSES = {
    "Euler a": ("EulerAncestralDiscreteScheduler", False),
    "Euler": ("EulerDiscreteScheduler", False),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", False),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", True),
    "DDIM": ("DDIMScheduler", False),
    "DDIM Trailing": ("DDIMScheduler", False),
    "LCM": ("LCMScheduler", False),
}


@pytest.mark.parametrize("scheduler", UNET_SCHEDULERS)
def test_every_unet_scheduler_runs(
    engine: Engine, tiny_models: dict[str, Path], scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[Any] = []
    original = Engine._invoke

    def spy(self: Engine, pipe: Any, kwargs: dict[str, Any]) -> Any:
        used.append(pipe.scheduler)
        return original(self, pipe, kwargs)

    monkeypatch.setattr(Engine, "_invoke", spy)
    result = engine.run(_txt2img(tiny_models["sd15"], steps=2, scheduler=scheduler))
    assert parse_parameters(result.images[0].parameters).values["Sampler"] == scheduler
    class_name, karras = SCHEDULER_CLASSES[scheduler]
    assert type(used[0]).__name__ == class_name
    assert bool(getattr(used[0].config, "use_karras_sigmas", False)) == karras


def test_flow_families_offer_only_flow_matching(engine: Engine, tiny_models: dict[str, Path]) -> None:
    result = engine.run(_txt2img(tiny_models["sd3"], steps=2))
    assert parse_parameters(result.images[0].parameters).values["Sampler"] == FLOW_MATCH_EULER
    with pytest.raises(UnsupportedError, match="DPM\\+\\+ 2M is not available"):
        engine.run(_txt2img(tiny_models["flux"], scheduler="DPM++ 2M"))


def test_sizes_are_rounded_with_a_notice(engine: Engine, tiny_models: dict[str, Path]) -> None:
    result = engine.run(_txt2img(tiny_models["sd3"], steps=2, width=70, height=50))
    assert result.images[0].pixels.shape == (48, 64, 3)
    assert any("70×50" in notice and "64×48" in notice for notice in result.notices)


def test_out_of_memory_is_retried_with_a_leaner_strategy_and_the_next_job_tries_the_plan_again(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(profile_for("cpu"))
    calls: list[MemoryStrategy | None] = []
    original = Engine._invoke

    def fail_first(self: Engine, pipe: Any, kwargs: dict[str, Any]) -> Any:
        calls.append(self.strategy)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return original(self, pipe, kwargs)

    monkeypatch.setattr(Engine, "_invoke", fail_first)
    request = _txt2img(tiny_models["sd15"], steps=2)
    result = engine.run(request)

    assert calls == [MemoryStrategy.FULL, MemoryStrategy.SLICED]
    assert len(result.images) == 1
    assert any("memory" in notice and "tiled VAE" in notice for notice in result.notices)
    assert engine._loaded is not None and engine._loaded.base.vae.use_tiling

    again = engine.run(request)
    assert calls[2:] == [MemoryStrategy.FULL] and again.notices == ()
    assert not engine._loaded.base.vae.use_tiling  # the leaner set-up was undone
    assert np.array_equal(again.images[0].pixels, Engine(profile_for("cpu")).run(request).images[0].pixels)


def test_out_of_memory_while_placing_the_model_is_retried_leaner(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine = Engine(profile_for("cpu"))
    placed: list[MemoryStrategy] = []
    original = Engine._place

    def fail_first(self: Engine, pipe: Any, strategy: MemoryStrategy, tiled_vae: bool) -> None:
        placed.append(strategy)
        if len(placed) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory while moving the UNet (injected)")
        original(self, pipe, strategy, tiled_vae)

    monkeypatch.setattr(Engine, "_place", fail_first)
    request = _txt2img(tiny_models["sdxl"], steps=2)
    with caplog.at_level("INFO", logger="sfumato.inference.engine"):
        result = engine.run(request)
    assert placed == [MemoryStrategy.FULL, MemoryStrategy.SLICED]
    assert len(result.images) == 1
    assert any("Ran out of GPU memory" in n and "tries the whole model on the GPU again" in n
               for n in result.notices)
    assert "the next one tries FULL again" in caplog.text

    again = engine.run(request)
    assert placed[2:] == [MemoryStrategy.FULL] and again.notices == ()
    assert engine.strategy is MemoryStrategy.FULL


def test_out_of_memory_twice_is_a_typed_error(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(profile_for("cpu"))
    calls: list[int] = []

    def always_fail(self: Engine, pipe: Any, kwargs: dict[str, Any]) -> Any:
        calls.append(1)
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    monkeypatch.setattr(Engine, "_invoke", always_fail)
    with pytest.raises(OutOfMemoryError, match="Out of GPU memory"):
        engine.run(_txt2img(tiny_models["sd15"], steps=2))
    assert len(calls) == 2


def test_loading_reports_its_stages_and_cancels_between_them(tiny_models: dict[str, Path]) -> None:
    engine = Engine(profile_for("cpu"))
    cancel = threading.Event()
    stages: list[str] = []

    def on_stage(text: str) -> None:
        stages.append(text)
        if text.startswith("Loading"):
            cancel.set()  # as if Esc came while from_pretrained was reading the weights

    request = _txt2img(tiny_models["sd15"], steps=2)
    steps: list[int] = []
    cancelled = engine.run(request, on_step=lambda p: steps.append(p.step), cancel=cancel, on_stage=on_stage)
    assert cancelled.cancelled and cancelled.images == () and steps == []
    assert stages == ["Loading sd15…"]
    assert engine.model is None  # nothing half-loaded is kept

    stages.clear()
    finished = engine.run(request, on_stage=stages.append)
    assert stages == ["Loading sd15…", "Generating…"]  # a CPU has nothing to move to a GPU
    assert np.array_equal(finished.images[0].pixels, Engine(profile_for("cpu")).run(request).images[0].pixels)
    stages.clear()
    engine.run(request, on_stage=stages.append)
    assert stages == ["Generating…"]  # loaded once


def test_load_alone_can_be_cancelled(tiny_models: dict[str, Path]) -> None:
    engine = Engine(profile_for("cpu"))
    cancel = threading.Event()
    assert engine.load(str(tiny_models["sd3"]), on_stage=lambda _text: cancel.set(), cancel=cancel) is None
    assert engine.model is None
    info = engine.load(str(tiny_models["sd3"]))
    assert info is not None and engine.model == info


def test_a_gpu_placement_is_a_stage_of_its_own(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    placed: list[MemoryStrategy] = []
    monkeypatch.setattr(Engine, "_place", lambda self, pipe, strategy, tiled: placed.append(strategy))
    big_card = profile_for("cuda", "NVIDIA H100", (9, 0), 80 * 2**30)
    engine = Engine(replace(big_card, dtype="float32"))  # kept on the CPU: the placement is faked
    stages: list[str] = []
    engine.run(_txt2img(tiny_models["sd15"], steps=2), on_stage=stages.append)
    assert stages == ["Loading sd15…", "Moving sd15 to the GPU…", "Generating…"]
    assert placed == [MemoryStrategy.FULL]


@pytest.mark.parametrize("name", ["sdxl", "flux"])
def test_a_low_strength_on_one_step_raises_the_steps_to_run_one(
    engine: Engine, tiny_models: dict[str, Path], source: np.ndarray, monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    sent: list[int] = []
    original = Engine._invoke

    def spy(self: Engine, pipe: Any, kwargs: dict[str, Any]) -> Any:
        sent.append(kwargs["num_inference_steps"])
        return original(self, pipe, kwargs)

    monkeypatch.setattr(Engine, "_invoke", spy)
    updates: list[StepProgress] = []
    request = Img2ImgRequest(model=str(tiny_models[name]), prompt="x", steps=1, strength=0.3, seed=3,
                             source=source, width=64, height=64)
    result = engine.run(request, on_step=updates.append)
    assert sent == [4]  # int(4 × 0.3) = 1 is the first count that runs a step
    assert updates and updates[-1].step == updates[-1].total >= 1
    assert any("raised from 1 to 4" in n and "strength 0.3" in n for n in result.notices)
    assert parse_parameters(result.images[0].parameters).values["Steps"] == "4"

    mask = np.zeros(source.shape[:2], np.uint8)
    mask[8:40, 8:40] = 255
    inpaint = engine.run(InpaintRequest(model=str(tiny_models[name]), prompt="x", steps=1, strength=0.3,
                                        source=source, mask=mask, width=64, height=64))
    assert sent[1:] == [4] and any("raised from 1 to 4" in n for n in inpaint.notices)


def test_flux_runs_without_the_negative_prompt_and_says_so(
    engine: Engine, tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []
    original = Engine._invoke

    def spy(self: Engine, pipe: Any, kwargs: dict[str, Any]) -> Any:
        sent.append(kwargs)
        return original(self, pipe, kwargs)

    monkeypatch.setattr(Engine, "_invoke", spy)
    plain = engine.run(_txt2img(tiny_models["flux"]))
    negative = engine.run(_txt2img(tiny_models["flux"], negative_prompt="blurry"))
    assert "negative_prompt" not in sent[1]
    assert np.array_equal(plain.images[0].pixels, negative.images[0].pixels)
    assert any("FLUX.1" in n and "negative prompt" in n for n in negative.notices)
    assert "Negative prompt" not in negative.images[0].parameters

    sdxl = engine.run(_txt2img(tiny_models["sdxl"], negative_prompt="blurry"))
    # SDXL gets the negative prompt as embeddings (an empty one would be zeros for this model)
    assert "negative_prompt" not in sent[2] and sdxl.notices == ()
    assert sent[2]["negative_prompt_embeds"].abs().sum() > 0


def test_importing_the_engine_does_not_import_torch() -> None:
    code = "import sys, sfumato.inference; print('torch' in sys.modules, 'diffusers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
