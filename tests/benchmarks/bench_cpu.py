"""CPU benchmark: bare diffusers float32, Sfumato's engine (auto dtype) and OpenVINO, side by side.

Run ``.venv/bin/python tests/benchmarks/bench_cpu.py`` (``--family sdxl`` for SDXL's shapes,
``--size 1024``, ``--steps 2``; ``--sections`` picks what runs). OpenVINO comes with the
``openvino`` (or ``bench``) extra (``pip install -e '.[openvino]'``). Not a test: it prints figures.

The model has a family's real architecture with random weights, built from the configs shipped
in ``models/configs/<family>`` and saved once under ``~/.cache/sfumato-bench``. One image,
classifier-free guidance (CFG 7.5, so every step runs the UNet on a batch of two), Euler.

Sections:

* ``unet``: one UNet step (batch 2) in float32, float32 + channels_last, bfloat16 and bfloat16 +
  channels_last;
* ``compile``: one bfloat16 + channels_last UNet step eager and through ``torch.compile``
  (inductor; ``--freeze`` sets inductor's ``freezing``, which folds the weights into the graph),
  in two fresh processes sharing one new inductor cache folder: the first compiles from nothing,
  the second shows what the cache saves (compile time = the first call, steady step = median);
* ``vae``: one decode of the same latents in float32, bfloat16 and bfloat16 + channels_last, and
  by OpenVINO (bf16 hint, converted from the bfloat16 weights): time and the pixel difference
  against float32 (0–255 levels);
* ``pipelines``: whole images, 4 steps by default, one row per process (``--rows``), each the
  best of ``--rounds`` calls after a 1-step warm-up: bare diffusers in float32 (``bare``, SDPA;
  ``flushed``: with denormals flushed to zero, which random weights produce and x86 computes
  slowly); ``engine``: Sfumato's engine (the planner's dtype for this CPU, its thread count)
  with ``cpu_backend`` torch and openvino (its UNet converted, cached and compiled by
  :mod:`sfumato.inference.openvino_backend`), one engine switching between them call by call, so
  that other work on the machine slows both alike; ``auto``: the engine as a user gets it (it
  times the two backends the first time and prints its verdict); ``ov-bare``: the same diffusers
  pipeline with the UNet and the VAE decoder replaced by OpenVINO models converted from the same
  weights (``openvino.convert_model``, ``INFERENCE_PRECISION_HINT=bf16``; the text encoder stays
  in torch). The engine rows print how long each loading stage took. Per step: the median time
  between step callbacks; whole image: the call, prompt encoding and decode included. The
  engine's per-user cache is ``~/.cache/sfumato-bench/user-cache`` (``--reconvert`` empties its
  OpenVINO folder first, to time the conversion again).

Targets (issue 11): Sfumato ≤ 0.35× bare float32 per step, and ≤ 1.1× OpenVINO per step.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import json
import multiprocessing
import os
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import torch
import transformers
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from sfumato.generation import Txt2ImgRequest
from sfumato.model_store.catalog import load_catalog
from sfumato.model_store.family_configs import single_file_config

PROMPT = "a lighthouse on a cliff at dusk, oil painting"
CFG = 7.5
CACHE = Path.home() / ".cache" / "sfumato-bench"


# ---------------------------------------------------------------------------------- the model
def build_model(family: str) -> Path:
    """A diffusers folder with ``family``'s real shapes and seeded random weights (built once)."""
    target = CACHE / f"{family}-random"
    if (target / "model_index.json").is_file():
        return target
    config = single_file_config(load_catalog().families[family], CACHE)
    assert config is not None, f"no shipped config for {family}"
    torch.manual_seed(0)
    started = time.perf_counter()
    parts: dict[str, Any] = {
        "unet": UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(config / "unet")),
        "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(config / "vae")),
        "text_encoder": CLIPTextModel(CLIPTextConfig.from_pretrained(config / "text_encoder")),
        "tokenizer": CLIPTokenizer.from_pretrained(config / "tokenizer"),
        "scheduler": EulerDiscreteScheduler.from_config(
            EulerDiscreteScheduler.load_config(config / "scheduler")
        ),
    }
    if family == "sdxl":
        parts["text_encoder_2"] = CLIPTextModelWithProjection(
            CLIPTextConfig.from_pretrained(config / "text_encoder_2")
        )
        parts["tokenizer_2"] = CLIPTokenizer.from_pretrained(config / "tokenizer_2")
        pipe: Any = StableDiffusionXLPipeline(**parts)
    else:
        pipe = StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    # float16 on disk halves the files; every run below casts to the dtype it measures
    pipe.to(torch.float16).save_pretrained(str(target), safe_serialization=True)
    print(f"built {family} with random weights in {time.perf_counter() - started:.0f} s: {target}")
    return target


def load_bare(folder: Path, dtype: torch.dtype) -> Any:
    """The diffusers pipeline as a script would load it, in ``dtype`` (SDPA attention)."""
    index = (folder / "model_index.json").read_text()
    cls = StableDiffusionXLPipeline if "StableDiffusionXLPipeline" in index else StableDiffusionPipeline
    extra = {} if cls is StableDiffusionXLPipeline else {"safety_checker": None}
    pipe = cls.from_pretrained(str(folder), dtype=dtype, local_files_only=True, **extra)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def unet_inputs(pipe: Any, size: int, dtype: torch.dtype) -> dict[str, Any]:
    """What one CFG step hands the UNet (batch 2), in ``dtype``."""
    unet = pipe.unet
    side = size // pipe.vae_scale_factor
    generator = torch.Generator("cpu").manual_seed(1)
    inputs: dict[str, Any] = {
        "sample": torch.randn(2, unet.config.in_channels, side, side, generator=generator).to(dtype),
        "timestep": torch.tensor(500.0),
        "encoder_hidden_states": torch.randn(
            2, 77, unet.config.cross_attention_dim, generator=generator
        ).to(dtype),
    }
    if unet.config.addition_embed_type == "text_time":
        pooled = unet.add_embedding.linear_1.in_features - 6 * unet.config.addition_time_embed_dim
        inputs["added_cond_kwargs"] = {
            "text_embeds": torch.randn(2, pooled, generator=generator).to(dtype),
            "time_ids": torch.tensor([[size, size, 0, 0, size, size]] * 2, dtype=dtype),
        }
    return inputs


def timed(call: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds of ``repeats`` calls after one warm-up, and the last result."""
    result = call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


# ------------------------------------------------------------------------------------ sections
def unet_section(folder: Path, size: int, repeats: int) -> dict[str, float]:
    """Seconds per UNet step for each dtype and memory format (see the module docstring)."""
    pipe = load_bare(folder, torch.float32)
    unet = pipe.unet
    figures: dict[str, float] = {}
    variants: list[tuple[str, torch.dtype, bool]] = [
        ("float32", torch.float32, False),
        ("float32 + channels_last", torch.float32, True),
        ("bfloat16", torch.bfloat16, False),
        ("bfloat16 + channels_last", torch.bfloat16, True),
    ]
    for label, dtype, channels_last in variants:
        unet.to(dtype=dtype, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        inputs = unet_inputs(pipe, size, dtype)
        with torch.inference_mode():
            seconds, _ = timed(lambda: unet(**inputs, return_dict=False), repeats)  # noqa: B023
        figures[label] = seconds
        print(f"  unet {label:32s} {seconds:7.2f} s/step", flush=True)
    base = figures["float32"]
    for label, seconds in figures.items():
        print(f"    {label:36s} {seconds / base:5.2f}× float32")
    return figures


def compiled_unet_row(folder: Path, size: int, repeats: int, cache: Path,
                      freeze: bool) -> tuple[float, float, float]:
    """In a fresh process with inductor's cache in ``cache``: the eager bfloat16 + channels_last
    step, the first compiled call (compiling) and the compiled step, in seconds."""

    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache)  # before inductor reads its config
    import torch._inductor.config as inductor_config

    inductor_config.freezing = freeze
    quiet()
    pipe = load_bare(folder, torch.bfloat16)
    unet = pipe.unet.to(memory_format=torch.channels_last)
    inputs = unet_inputs(pipe, size, torch.bfloat16)
    with torch.inference_mode():
        eager, _ = timed(lambda: unet(**inputs, return_dict=False), repeats)
        compiled = torch.compile(unet)
        started = time.perf_counter()
        compiled(**inputs, return_dict=False)
        first = time.perf_counter() - started
        seconds, _ = timed(lambda: compiled(**inputs, return_dict=False), repeats)
    return eager, first, seconds


def compile_section(folder: Path, size: int, repeats: int, freeze: bool) -> None:
    """``torch.compile`` against eager on the bfloat16 + channels_last UNet, cold and cached."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sfumato-inductor-") as cache:
        runs = [in_own_process(compiled_unet_row, folder, size, repeats, Path(cache), freeze)
                for _ in range(2)]
    how = "freezing" if freeze else "default"
    for (eager, first, step), label in zip(runs, ("cold cache", "cached    "), strict=True):
        print(f"  torch.compile ({how}), {label}: eager {eager:6.2f} s/step; compiled: first call "
              f"{first:5.0f} s, then {step:6.2f} s/step ({step / eager:4.2f}× eager)", flush=True)


def vae_section(folder: Path, size: int, repeats: int, openvino: bool) -> None:
    """Decode time and pixel difference against float32, on the same latents; with ``openvino``
    also the decoder converted from its bfloat16 weights and compiled with the bf16 hint."""
    pipe = load_bare(folder, torch.float32)
    vae = pipe.vae
    side = size // pipe.vae_scale_factor
    latents = torch.randn(1, 4, side, side, generator=torch.Generator("cpu").manual_seed(2))
    latents = latents / vae.config.scaling_factor

    def pixels(image: torch.Tensor) -> np.ndarray:
        return ((image.float() / 2 + 0.5).clamp(0, 1) * 255).round().numpy()

    def torch_decode(dtype: torch.dtype, channels_last: bool) -> Callable[[], np.ndarray]:
        vae.to(dtype=dtype, memory_format=torch.channels_last if channels_last else torch.contiguous_format)

        def decode() -> np.ndarray:
            with torch.inference_mode():
                return pixels(vae.decode(latents.to(dtype), return_dict=False)[0])

        return decode

    # each row's decode is made just before it is timed: the VAE is cast for it
    rows: list[tuple[str, Callable[[], Callable[[], np.ndarray]]]] = [
        ("float32", lambda: torch_decode(torch.float32, False)),
        ("float32 + channels_last", lambda: torch_decode(torch.float32, True)),
        ("bfloat16", lambda: torch_decode(torch.bfloat16, False)),
        ("bfloat16 + channels_last", lambda: torch_decode(torch.bfloat16, True)),
    ]
    if openvino:
        rows.append(("OpenVINO bf16", lambda: openvino_decoder(vae, latents)))
    reference: np.ndarray | None = None
    base = 0.0
    for label, make in rows:
        seconds, image = timed(make(), repeats)
        if reference is None:
            reference, base = image, seconds
            unclipped = float(((image > 0) & (image < 255)).mean())
            print(f"  vae {label:28s} {seconds:6.2f} s ({unclipped:.0%} of the pixels inside 1..254)")
            continue
        diff = np.abs(image - reference)
        print(f"  vae {label:28s} {seconds:6.2f} s ({seconds / base:4.2f}× float32): max "
              f"{diff.max():.0f} levels, mean {diff.mean():.2f}, 99th percentile "
              f"{np.percentile(diff, 99):.0f}", flush=True)


def openvino_decoder(vae: Any, latents: torch.Tensor) -> Callable[[], np.ndarray]:
    """A decode of ``latents`` by ``vae``'s decoder converted for OpenVINO from bfloat16 weights
    (float32 in and out) and compiled with the bf16 hint; prints the conversion time."""
    import openvino as ov

    vae.to(dtype=torch.bfloat16, memory_format=torch.contiguous_format)

    class Decoder(torch.nn.Module):
        """The VAE's decode as one module, float32 in and out."""

        def __init__(self) -> None:
            super().__init__()
            self.vae = vae

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.vae.decode(z.to(torch.bfloat16), return_dict=False)[0].float()

    started = time.perf_counter()
    with torch.no_grad():
        model = ov.convert_model(Decoder(), example_input=(latents,))
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})
    print(f"  vae OpenVINO: converted and compiled in {time.perf_counter() - started:.0f} s", flush=True)
    feed = latents.float().numpy()
    return lambda: ((np.clip(compiled([feed])[0] / 2 + 0.5, 0, 1)) * 255).round()


class StepClock:
    """Step-end timestamps of one call (a ``callback_on_step_end`` or an engine ``on_step``)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.ends: list[float] = []

    def diffusers(self, pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        """As diffusers' ``callback_on_step_end``."""
        self.ends.append(time.perf_counter())
        return {}

    def engine(self, progress: Any) -> None:
        """As the engine's ``on_step``."""
        self.ends.append(time.perf_counter())

    def per_step(self) -> float:
        """Median seconds between step ends (the first step also encodes the prompt)."""
        gaps = [b - a for a, b in zip(self.ends, self.ends[1:], strict=False)]
        return statistics.median(gaps) if gaps else self.ends[0] - self.start


def run_diffusers(pipe: Any, size: int, steps: int, rounds: int) -> tuple[float, float]:
    """Per-step and whole-image seconds of a diffusers call, the best of ``rounds`` calls (after
    a 1-step warm-up)."""
    call = {"prompt": PROMPT, "negative_prompt": "blurry", "guidance_scale": CFG, "width": size,
            "height": size, "output_type": "np"}
    pipe(**call, num_inference_steps=1, generator=torch.Generator("cpu").manual_seed(0))
    best = (float("inf"), float("inf"))
    for _ in range(rounds):
        clock = StepClock()
        pipe(**call, num_inference_steps=steps, generator=torch.Generator("cpu").manual_seed(0),
             callback_on_step_end=clock.diffusers)
        best = (min(best[0], clock.per_step()), min(best[1], time.perf_counter() - clock.start))
    return best


BACKEND_LABELS = {"torch": "torch", "openvino": "OpenVINO backend", "auto": "auto"}


def run_engine(folder: Path, size: int, steps: int, backends: tuple[str, ...],
               rounds: int) -> list[tuple[str, float, float]]:
    """One engine switching ``cpu_backend`` between ``backends`` (the same weights: switching
    reloads nothing) for ``rounds`` rounds of one call each, alternating, so that another
    process on the machine slows them alike; per backend the label (with the precision it ran
    in), the best seconds per step and the best seconds the image. Prints how long each loading
    stage took, and auto's verdict."""
    from sfumato.inference import Engine
    from sfumato.inference.device import cpu_threads

    engine = Engine(threads=cpu_threads(), cpu_backend=backends[0])
    request = Txt2ImgRequest(model=str(folder), prompt=PROMPT, negative_prompt="blurry", steps=steps,
                             guidance=CFG, seed=0, width=size, height=size, scheduler="Euler")
    warm_up = Txt2ImgRequest(model=str(folder), prompt=PROMPT, steps=1, guidance=CFG, seed=0,
                             width=size, height=size, scheduler="Euler")
    precisions: dict[str, str] = {}
    for backend in backends:
        engine.cpu_backend = backend
        stages: list[tuple[str, float]] = []
        engine.run(warm_up, on_stage=lambda text: stages.append((text, time.perf_counter())))  # noqa: B023
        ends = [at for _, at in stages[1:]]
        print(f"  engine ({backend}) loading: "
              + ", ".join(f"{text} {end - at:.0f} s" for (text, at), end in zip(stages, ends, strict=False)),
              flush=True)
        plan = engine.run_plan
        precisions[backend] = plan.precision if plan is not None else "?"
    if "auto" in backends:
        converted = Path(os.environ["SFUMATO_CACHE_DIR"]) / "openvino"
        for choice in converted.glob(f"{folder.name}-*/choice.json"):
            print(f"  auto's verdict: {json.loads(choice.read_text())}", flush=True)
    best = {backend: (float("inf"), float("inf")) for backend in backends}
    for _ in range(rounds):
        for backend in backends:
            engine.cpu_backend = backend
            clock = StepClock()
            engine.run(request, on_step=clock.engine)
            whole = time.perf_counter() - clock.start
            best[backend] = (min(best[backend][0], clock.per_step()), min(best[backend][1], whole))
    print(f"  engine: {torch.get_num_threads()} threads", flush=True)
    return [(f"engine, {BACKEND_LABELS[b]} ({precisions[b]})", *best[b]) for b in backends]


def openvino_pipeline(folder: Path, size: int) -> Any:
    """The bare pipeline with its UNet and VAE decoder run by OpenVINO (bf16 inference hint).

    The UNet is converted from its bfloat16 weights (float32 tensors in and out): converting the
    float32 SDXL UNet and compiling it took more than this machine's 24 GiB."""
    import openvino as ov

    pipe = load_bare(folder, torch.float32)
    unet, vae = pipe.unet, pipe.vae
    inputs = unet_inputs(pipe, size, torch.float32)
    sdxl = "added_cond_kwargs" in inputs
    unet.to(torch.bfloat16)
    gc.collect()

    class UNetArgs(torch.nn.Module):
        """The UNet with positional float32 tensors in and one out, as ``convert_model`` wants."""

        def __init__(self) -> None:
            super().__init__()
            self.unet = unet

        def forward(self, sample: torch.Tensor, timestep: torch.Tensor, states: torch.Tensor,
                    *extra: torch.Tensor) -> torch.Tensor:
            half = [t.to(torch.bfloat16) for t in (sample, states, *extra)]
            added = {"text_embeds": half[2], "time_ids": half[3]} if extra else None
            out = self.unet(half[0], timestep, half[1], added_cond_kwargs=added, return_dict=False)[0]
            return out.float()

    class Decoder(torch.nn.Module):
        """The VAE's decode as one module."""

        def __init__(self) -> None:
            super().__init__()
            self.vae = vae

        def forward(self, latents: torch.Tensor) -> torch.Tensor:
            return self.vae.decode(latents, return_dict=False)[0]

    example = [inputs["sample"], inputs["timestep"], inputs["encoder_hidden_states"]]
    if sdxl:
        example += [inputs["added_cond_kwargs"]["text_embeds"], inputs["added_cond_kwargs"]["time_ids"]]
    core = ov.Core()
    hint = {"INFERENCE_PRECISION_HINT": "bf16"}
    started = time.perf_counter()
    with torch.no_grad():
        unet_model = ov.convert_model(UNetArgs(), example_input=tuple(example))
        side = size // pipe.vae_scale_factor
        decoder_model = ov.convert_model(Decoder(), example_input=(torch.randn(1, 4, side, side),))
    converted = time.perf_counter() - started
    ov_unet = core.compile_model(unet_model, "CPU", hint)
    ov_decoder = core.compile_model(decoder_model, "CPU", hint)
    del unet_model, decoder_model
    print(f"  openvino {ov.__version__}: converted in {converted:.0f} s, compiled in "
          f"{time.perf_counter() - started - converted:.0f} s", flush=True)

    def unet_forward(sample: torch.Tensor, timestep: Any, encoder_hidden_states: torch.Tensor,
                     added_cond_kwargs: dict[str, torch.Tensor] | None = None, **_: Any) -> tuple[Any]:
        feed = [sample, torch.as_tensor(timestep, dtype=torch.float32), encoder_hidden_states]
        if added_cond_kwargs is not None:
            feed += [added_cond_kwargs["text_embeds"], added_cond_kwargs["time_ids"]]
        out = ov_unet([t.float().numpy() for t in feed])[0]
        return (torch.from_numpy(out),)

    def decode(latents: torch.Tensor, return_dict: bool = False, generator: Any = None) -> tuple[Any]:
        return (torch.from_numpy(ov_decoder([latents.float().numpy()])[0]),)

    unet.forward = unet_forward  # its bfloat16 weights stay: OpenVINO may share their memory
    vae.decode = decode
    gc.collect()
    return pipe


def quiet() -> None:
    """No progress bars or advice from diffusers and transformers (in each process)."""
    for library in (diffusers, transformers):
        library.utils.logging.set_verbosity_error()
        library.utils.logging.disable_progress_bar()


def bare_row(folder: Path, size: int, steps: int, rounds: int) -> list[tuple[str, float, float]]:
    """Bare diffusers in float32: label, seconds per step, seconds the image."""
    quiet()
    per_step, whole = run_diffusers(load_bare(folder, torch.float32), size, steps, rounds)
    return [("bare diffusers float32", per_step, whole)]


def bare_flushed_row(folder: Path, size: int, steps: int, rounds: int) -> list[tuple[str, float, float]]:
    """Bare diffusers in float32 with denormals flushed to zero (``torch.set_flush_denormal``):
    random weights make float32 denormals that real checkpoints may not, and x86 computes them
    slowly; AMX and AVX512-BF16 treat them as zero."""
    quiet()
    torch.set_flush_denormal(True)
    per_step, whole = run_diffusers(load_bare(folder, torch.float32), size, steps, rounds)
    return [("bare float32, denormals flushed", per_step, whole)]


def engine_rows(folder: Path, size: int, steps: int, rounds: int,
                backends: tuple[str, ...]) -> list[tuple[str, float, float]]:
    """Sfumato's engine with each ``cpu_backend`` of ``backends`` (see :func:`run_engine`)."""
    quiet()
    return run_engine(folder, size, steps, backends, rounds)


def openvino_row(folder: Path, size: int, steps: int, rounds: int) -> list[tuple[str, float, float]]:
    """The OpenVINO pipeline: label, seconds per step and image."""
    quiet()
    per_step, whole = run_diffusers(openvino_pipeline(folder, size), size, steps, rounds)
    return [("OpenVINO bf16 (UNet, VAE decoder)", per_step, whole)]


def in_own_process(row: Callable[..., Any], *args: Any) -> Any:
    """``row(*args)`` in a fresh process: each engine starts with the machine's whole memory (an
    SDXL-size pipeline is 14 GB in float32, and a process keeps the heap it freed)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(row, *args).result()


ROWS = ("bare", "flushed", "engine", "auto", "ov-bare")
"""The rows of the pipelines section (``--rows``): bare diffusers float32, the same with
denormals flushed, the engine with ``cpu_backend`` torch and openvino (one engine, alternating),
the engine with auto, and the bare pipeline with OpenVINO."""


def pipelines_section(folder: Path, size: int, steps: int, chosen: set[str], rounds: int,
                      openvino: bool) -> None:
    """Whole images from each chosen row, in a process each; prints per-step and whole-image
    times (the best of ``rounds``) and their ratios to bare float32 and to the bare OpenVINO
    pipeline. Without ``openvino`` the engine row runs torch only."""
    makers: dict[str, tuple[Callable[..., list[tuple[str, float, float]]], tuple[Any, ...]]] = {
        "bare": (bare_row, ()),
        "flushed": (bare_flushed_row, ()),
        "engine": (engine_rows, (("torch", "openvino") if openvino else ("torch",),)),
        "auto": (engine_rows, (("auto",),)),
        "ov-bare": (openvino_row, ()),
    }
    rows: dict[str, tuple[float, float]] = {}
    for key in (k for k in ROWS if k in chosen):
        row, extra = makers[key]
        for label, per_step, whole in in_own_process(row, folder, size, steps, rounds, *extra):
            rows[label] = (per_step, whole)
            print(f"  {label}: {per_step:.2f} s/step, {whole:.1f} s the image", flush=True)
    bare = rows.get("bare diffusers float32")
    ov = rows.get("OpenVINO bf16 (UNet, VAE decoder)")

    def ratio(value: float, base: tuple[float, float] | None, index: int) -> str:
        return f"{value / base[index]:9.2f}" if base else f"{'-':>9s}"

    print(f"\n  {'':48s} {'s/step':>7s} {'image s':>8s} {'step×bare':>9s} {'step×OV':>9s} "
          f"{'image×bare':>9s} {'image×OV':>9s}")
    for label, (step_s, whole_s) in rows.items():
        print(f"  {label:48s} {step_s:7.2f} {whole_s:8.1f} {ratio(step_s, bare, 0)} {ratio(step_s, ov, 0)} "
              f"{ratio(whole_s, bare, 1)} {ratio(whole_s, ov, 1)}")


def main() -> None:
    """Parse the options and run the chosen sections."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", default="sd15", choices=("sd15", "sdxl"))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per unet/vae variant")
    parser.add_argument("--sections", default="unet,vae,pipelines")
    parser.add_argument("--freeze", action="store_true", help="compile section: inductor freezing")
    parser.add_argument("--no-openvino", action="store_true", help="no OpenVINO rows (vae, pipelines)")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"pipelines rows: {', '.join(ROWS)}")
    parser.add_argument("--rounds", type=int, default=2, help="pipelines: calls per row (the best counts)")
    parser.add_argument("--reconvert", action="store_true",
                        help="delete the engine's converted OpenVINO models first (to time the conversion)")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    rows = set(args.rows.split(",")) - ({"auto", "ov-bare"} if args.no_openvino else set())
    # the engine's per-user cache (its OpenVINO conversions) stays with the benchmark's models
    os.environ.setdefault("SFUMATO_CACHE_DIR", str(CACHE / "user-cache"))
    if args.reconvert:
        shutil.rmtree(Path(os.environ["SFUMATO_CACHE_DIR"]) / "openvino", ignore_errors=True)
    quiet()
    folder = build_model(args.family)
    print(f"{args.family} random weights, {args.size}², CFG {CFG}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads at start", flush=True)
    if "unet" in sections:
        unet_section(folder, args.size, args.repeats)
        gc.collect()
    if "compile" in sections:
        compile_section(folder, args.size, args.repeats, args.freeze)
    if "vae" in sections:
        vae_section(folder, args.size, args.repeats, not args.no_openvino)
        gc.collect()
    if "pipelines" in sections:
        pipelines_section(folder, args.size, args.steps, rows, args.rounds, not args.no_openvino)


if __name__ == "__main__":
    main()
