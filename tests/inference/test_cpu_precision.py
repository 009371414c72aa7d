"""The CPU's precision: bfloat16 where the CPU computes it (within a stated tolerance of float32 on
the tiny models), float32 when forced (engine and ``sfumato generate --float32``), and the
thread count the engine is given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sfumato.cli import main
from sfumato.generation import Txt2ImgRequest
from sfumato.inference import Engine, profile_for
from sfumato.inference.device import probe_device

AMX_CPU = profile_for("cpu", cpu_bfloat16=True)
PLAIN_CPU = profile_for("cpu")

MEAN_LEVELS = 2.0
P99_LEVELS = 8
MAX_LEVELS = 24
"""bfloat16 against float32, in 0–255 levels over all pixels of a 4-step 64² image. Measured on
the tiny models: mean 0.6–1.0, 99th percentile 3–5, largest 4–15 (SD3 and FLUX, whose
transformers carry the most bfloat16 rounding)."""


def _request(model: Path, **changes: object) -> Txt2ImgRequest:
    values: dict[str, object] = {"model": str(model), "prompt": "a red apple", "steps": 4, "guidance": 5.0,
                                 "seed": 3, "width": 64, "height": 64, **changes}
    return Txt2ImgRequest(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def float32_engine() -> Engine:
    """A CPU engine on a CPU without bfloat16."""
    return Engine(PLAIN_CPU)


@pytest.fixture(scope="module")
def bfloat16_engine() -> Engine:
    """A CPU engine on a CPU with bfloat16 (AMX, AVX512-BF16 or ARM BF16)."""
    return Engine(AMX_CPU)


@pytest.mark.parametrize("name", ["sd15", "sd15-inpaint", "sd2", "sdxl", "sd3", "flux"])
def test_bfloat16_gives_the_float32_image_within_the_tolerance(
    name: str, tiny_models: dict[str, Path], float32_engine: Engine, bfloat16_engine: Engine
) -> None:
    request = _request(tiny_models[name])
    exact = float32_engine.run(request).images[0].pixels.astype(int)
    fast = bfloat16_engine.run(request).images[0].pixels.astype(int)
    assert float32_engine.run_plan is not None and bfloat16_engine.run_plan is not None
    assert (float32_engine.run_plan.dtype, float32_engine.run_plan.vae_dtype) == ("float32", "float32")
    assert (bfloat16_engine.run_plan.dtype, bfloat16_engine.run_plan.vae_dtype) == ("bfloat16", "bfloat16")
    assert bfloat16_engine.run_plan.summary() == "bfloat16 · full"
    base = bfloat16_engine._loaded.base  # type: ignore[union-attr]
    denoiser = getattr(base, "unet", None) or base.transformer
    assert denoiser.dtype == torch.bfloat16 and base.vae.dtype == torch.bfloat16
    assert base.text_encoder.dtype == torch.bfloat16
    diff = np.abs(fast - exact)
    assert diff.any()  # it really ran in another precision
    assert diff.mean() <= MEAN_LEVELS and np.percentile(diff, 99) <= P99_LEVELS and diff.max() <= MAX_LEVELS


def test_forcing_float32_reloads_and_gives_the_float32_pixels(
    tiny_models: dict[str, Path], float32_engine: Engine
) -> None:
    request = _request(tiny_models["sd15"])
    exact = float32_engine.run(request).images[0].pixels
    engine = Engine(AMX_CPU, force_float32=True)
    assert np.array_equal(engine.run(request).images[0].pixels, exact)
    assert engine.run_plan is not None and engine.run_plan.precision == "float32"
    engine.force_float32 = False  # the setting turned off: the next job reloads in bfloat16
    fast = engine.run(request).images[0].pixels
    assert engine.run_plan.dtype == "bfloat16" and not np.array_equal(fast, exact)
    engine.force_float32 = True
    assert np.array_equal(engine.run(request).images[0].pixels, exact)


def test_the_engine_sets_the_threads_it_is_given_and_no_others(tiny_models: dict[str, Path]) -> None:
    pinned = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        Engine(PLAIN_CPU).load(str(tiny_models["sd15"]))
        assert torch.get_num_threads() == 2  # the process's own choice stays
        Engine(PLAIN_CPU, threads=1).load(str(tiny_models["sd15"]))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(pinned)


def test_generate_float32_flag(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["generate", "--model", str(tiny_models["sd15"]), "--prompt", "a boat", "--steps", "1",
            "--seed", "3", "--width", "64", "--height", "64"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "auto.png")]) == 0
    auto = capsys.readouterr().err
    assert f"on CPU, {probe_device().dtype}\n" in auto  # this machine's choice
    assert main([*args, "--float32", "--out", str(tmp_path / "exact.png")]) == 0
    assert "on CPU, float32\n" in capsys.readouterr().err
    assert torch.get_num_threads() == 1  # SFUMATO_THREADS (tests/conftest.py) kept the pinned count
