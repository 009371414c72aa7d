"""OpenVINO as the engine's CPU backend for SD 1.x, 2.x and SDXL UNets: converted once, kept in
the per-user cache, and chosen when it is faster on this machine.

Where it sits. The engine loads a model with diffusers as always. On the CPU, unless the user's
``cpu_backend`` (:class:`~sfumato.cpu_backend.CpuBackend`) is ``torch``, :func:`prepare` makes an
:class:`~sfumato.inference.openvino_unet.OpenVINOUNet`, which the engine puts in its pipelines'
``unet`` slot. Requests, schedulers, step callbacks (previews), cancel, region handling, the text
encoders and the VAE stay diffusers' and the engine's; only the UNet's calls are computed by
OpenVINO. SD 3.x and FLUX.1 (transformers) always run in torch.

The converted model (OpenVINO IR, ``openvino.save_model``) lives in
``<cache>/openvino/<model>-<key>/unet.xml`` (and ``.bin``), ``<cache>`` being
:func:`sfumato.paths.cache_dir`. The key is a sha256 over what changes the graph or its weights:
the UNet's files (path, size, modification time), its config, the dtype it runs in, and the
OpenVINO, torch and diffusers versions (and :data:`IR_FORMAT`). A new IR for a model deletes the
older ones made for the same model path in the same dtype. Converting is a loading stage
("Converting <model> for OpenVINO (once)…"), then compiling ("Compiling <model> for
OpenVINO…"); the engine's cancel is checked between the stages (a conversion, once begun, runs
to its end).

LoRA: a job with a LoRA runs its UNet in torch. The engine applies a LoRA as a PEFT adapter and
never fuses it, so the IR, converted from the model's own weights, cannot carry it; a converted
model per LoRA and weight would cost a conversion (about a minute for SD 1.5 here) and another
IR on disk each time. The engine converts only while no LoRA is applied.

Precision: compiled for the CPU with ``INFERENCE_PRECISION_HINT`` ``bf16`` when the plan runs
the model in bfloat16 and ``f32`` otherwise: the CPU plugin picks bf16 by itself on CPUs that
have it (https://docs.openvino.ai/2024/openvino-workflow/running-inference/inference-devices-and-modes/cpu-device.html),
so float32 must be asked for. Threads: ``INFERENCE_NUM_THREADS`` is torch's thread count.

Memory: the compiled model holds its own copy of the weights, laid out for the CPU, next to the
torch UNet, which stays for LoRA jobs and the calls OpenVINO cannot take: one more UNet's worth of
RAM (SD 1.5 in bfloat16 1.7 GB, SDXL 5.1 GB). :func:`prepare` leaves the model in torch, with a
note, when the memory available is less than :data:`MEMORY_FACTOR` times the UNet's weights.

"auto" — chosen when installed and faster. ``auto`` uses OpenVINO for a model only when
``openvino`` imports and a timed comparison on this machine found it faster: at the model's
first use (per IR key and thread count) :func:`measure` times one UNet call at the model's native
size with classifier-free guidance (batch 2) in each backend, after a warm-up call each, best of
:data:`TIMED_ROUNDS`, and OpenVINO is chosen when it takes at most :data:`FASTER` of torch's
time. The figures are kept next to the IR (``choice.json``) and reused; when torch wins, the IR
is deleted and only the verdict stays, so the next load converts nothing. A UNet under
:data:`AUTO_MIN_PARAMETERS` stays in torch without a comparison: its call takes milliseconds, so
the conversion would never pay back. Why a measurement rather than a rule: on this project's
2-core AMX machine (``tests/benchmarks/bench_cpu.py``) OpenVINO's lead over bfloat16 torch with
channels-last is small and depends on the model and size (SD 1.5 512² 1.04×, SDXL 512² 1.09×,
SDXL 1024² 1.11× per step), and in float32 torch was the faster one (FIELD-NOTES: 7.08 s against
7.52 s an SD 1.5 step); a rule drawn from one CPU would be wrong on another.

``openvino`` asked for without the package, or for a model it cannot run, gives a one-line note
for the job and the model runs in torch.

Imported only by the engine, when a model is loaded (it imports torch; OpenVINO is imported
when it is used).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sfumato.cpu_backend import CpuBackend
from sfumato.inference import openvino_unet, pipelines
from sfumato.inference.families import ModelInfo
from sfumato.inference.openvino_unet import OpenVINOUNet
from sfumato.inference.results import StageCallback

log = logging.getLogger(__name__)

IR_FORMAT = 1
"""Bumped when :mod:`~sfumato.inference.openvino_unet` traces a different graph: a new key."""
IR_NAME = "unet.xml"
CHOICE_NAME = "choice.json"
SOURCE_NAME = "source.json"
FASTER = 0.97
"""``auto`` picks OpenVINO when its UNet call takes at most this share of torch's: a smaller lead
is within what another process on the machine changes between two calls, and would not pay
for the second copy of the weights."""
TIMED_ROUNDS = 2
AUTO_MIN_PARAMETERS = 100_000_000
"""``auto`` converts no UNet smaller than this (the SD UNets have 860 M to 2.6 G parameters)."""
MEMORY_FACTOR = 2.0
"""Available memory needed, in UNet weights: the compiled copy, plus the traced graph while
converting."""
INSTALL_HINT = "pip install 'sfumato[openvino]'"


@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare` decided: the OpenVINO UNet to use (``None``: torch computes) and a
    note for the user (``""``: nothing to say)."""

    unet: OpenVINOUNet | None
    note: str = ""


@dataclass(frozen=True)
class Verdict:
    """One timed comparison (seconds per UNet call) at ``threads`` torch threads."""

    torch_s: float
    openvino_s: float
    threads: int

    @property
    def openvino_faster(self) -> bool:
        """Whether ``auto`` picks OpenVINO (:data:`FASTER`)."""
        return self.openvino_s <= FASTER * self.torch_s


def prepare(
    base: Any,
    info: ModelInfo,
    dtype: str,
    wanted: CpuBackend,
    report: StageCallback,
    check: Callable[[], None],
) -> Prepared:
    """The OpenVINO UNet for ``base`` (a loaded pipeline of model ``info`` in ``dtype``), if
    ``wanted`` (``auto`` or ``openvino``) gets one here (module docstring). ``report`` hears the
    stages; ``check`` is called between them and raises to cancel."""
    unet = getattr(base, "unet", None)
    if unet is None:
        return _in_torch(wanted, f"OpenVINO runs SD 1.x, 2.x and SDXL UNets; {info.name} runs in PyTorch.")
    if wanted is CpuBackend.AUTO and sum(p.numel() for p in unet.parameters()) < AUTO_MIN_PARAMETERS:
        return Prepared(None)
    version = openvino_version()
    if version is None:
        from sfumato.paths import is_frozen

        how = "the packaged app does not include it" if is_frozen() else INSTALL_HINT
        return _in_torch(wanted, f"OpenVINO is not installed ({how}); {info.name} runs in PyTorch.")
    folder = ir_folder(info, unet, dtype, version)
    threads = torch.get_num_threads()
    verdict = read_verdict(folder)
    if wanted is CpuBackend.AUTO and isinstance(verdict, str):
        return Prepared(None)  # it failed here before: nothing new to try until the key changes
    known = verdict if isinstance(verdict, Verdict) and verdict.threads == threads else None
    if wanted is CpuBackend.AUTO and known is not None and not known.openvino_faster:
        return Prepared(None)
    side = pipelines.native_size(base) // base.vae_scale_factor
    short = _memory_short(unet)
    if short:
        return _in_torch(wanted, f"OpenVINO needs {short} for {info.name}; it runs in PyTorch.")
    if not (folder / IR_NAME).is_file():
        report(f"Converting {info.name} for OpenVINO (once)…")
        failed = _convert(unet, side, folder, {"model": str(info.path), "dtype": dtype})
        if failed:
            note = f"OpenVINO could not convert {info.name} ({failed}); it runs in PyTorch."
            return _failed(folder, note)
        check()
    report(f"Compiling {info.name} for OpenVINO…")
    try:
        compiled = compile_ir(folder, dtype, threads)
    except Exception as exc:  # OpenVINO raises RuntimeError and its own types alike
        log.warning("compiling %s for OpenVINO failed", folder, exc_info=True)
        return _failed(folder, f"OpenVINO could not compile {info.name} ({_first_line(exc)}); "
                                       "it runs in PyTorch.")
    check()
    openvino = OpenVINOUNet(unet, compiled, openvino_unet.traced_inputs(unet.config))
    if wanted is CpuBackend.AUTO and known is None:
        report(f"Timing OpenVINO against PyTorch on {info.name} (once)…")
        pipelines.use_channels_last(base)  # as the engine runs torch on the CPU
        torch_s, openvino_s = measure(unet, openvino, side)
        known = Verdict(torch_s, openvino_s, threads)
        _write_json(folder / CHOICE_NAME, {"torch_s": torch_s, "openvino_s": openvino_s, "threads": threads})
        log.info("%s: a UNet call takes %.3f s in torch, %.3f s in OpenVINO: %s", info.name, torch_s,
                 openvino_s, "OpenVINO" if known.openvino_faster else "torch")
        if not known.openvino_faster:
            _remove_ir(folder)
            return Prepared(None)
    return Prepared(openvino)


def openvino_version() -> str | None:
    """OpenVINO's version, or ``None`` when it does not import (not installed, or broken: the
    reason goes to the log)."""
    try:
        import openvino
    except (ImportError, OSError):
        log.info("OpenVINO does not import", exc_info=True)
        return None
    return str(openvino.__version__)


def ir_folder(info: ModelInfo, unet: Any, dtype: str, version: str) -> Path:
    """The cache folder of ``info``'s UNet converted in ``dtype`` by OpenVINO ``version``."""
    import diffusers

    from sfumato.model_store.cache import safe_name
    from sfumato.paths import cache_dir

    unet_files = (info.path / "unet").iterdir() if not info.single_file else iter(())
    files = [info.path] if info.single_file else sorted(p for p in unet_files if p.is_file())
    identity = {
        "files": [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files],
        "config": dict(unet.config),
        "dtype": dtype,
        "openvino": version,
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "format": IR_FORMAT,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return cache_dir() / "openvino" / f"{safe_name(info.name)}-{key}"


def read_verdict(folder: Path) -> Verdict | str | None:
    """The comparison kept in ``folder``: a :class:`Verdict`, the reason OpenVINO failed on this
    model (a ``str``), or ``None`` when there is none (or it cannot be read)."""
    try:
        data = json.loads((folder / CHOICE_NAME).read_text(encoding="utf-8"))
        if "failed" in data:
            return str(data["failed"])
        return Verdict(float(data["torch_s"]), float(data["openvino_s"]), int(data["threads"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def compile_ir(folder: Path, dtype: str, threads: int) -> Any:
    """The IR in ``folder`` compiled for the CPU in ``dtype`` with ``threads`` threads."""
    import openvino

    config = {
        "INFERENCE_PRECISION_HINT": "bf16" if dtype == "bfloat16" else "f32",
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
    }
    return openvino.Core().compile_model(str(folder / IR_NAME), "CPU", config)


def measure(unet: Any, openvino: OpenVINOUNet, latent_side: int) -> tuple[float, float]:
    """Seconds of one UNet call at ``latent_side``² (batch 2) in torch and in OpenVINO: best of
    :data:`TIMED_ROUNDS` after a warm-up call each, alternating."""
    example = openvino_unet.example_inputs(unet, latent_side)
    dtype = unet.dtype
    arguments: dict[str, Any] = {
        "sample": example["sample"].to(dtype),
        "timestep": example["timestep"][0],
        "encoder_hidden_states": example["encoder_hidden_states"].to(dtype),
        "return_dict": False,
    }
    if "text_embeds" in example:
        arguments["added_cond_kwargs"] = {k: example[k].to(dtype) for k in ("text_embeds", "time_ids")}
    if "timestep_cond" in example:
        arguments["timestep_cond"] = example["timestep_cond"].to(dtype)
    best = [math.inf, math.inf]
    with torch.inference_mode():
        for module in (unet, openvino):
            module(**arguments)
        for _ in range(TIMED_ROUNDS):
            for index, module in enumerate((unet, openvino)):
                started = time.perf_counter()
                module(**arguments)
                best[index] = min(best[index], time.perf_counter() - started)
    return best[0], best[1]


def _in_torch(wanted: CpuBackend, note: str) -> Prepared:
    """Torch computes; the note is for a user who asked for OpenVINO by name."""
    log.info("%s", note)
    return Prepared(None, note if wanted is CpuBackend.OPENVINO else "")


def _failed(folder: Path, note: str) -> Prepared:
    """OpenVINO failed on this model: remember it (``auto`` does not try again) and say so."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / CHOICE_NAME, {"failed": note})
    except OSError:
        log.warning("could not record OpenVINO's failure in %s", folder, exc_info=True)
    log.warning("%s", note)
    return Prepared(None, note)


def _memory_short(unet: Any) -> str:
    """What is missing for OpenVINO's copy of ``unet`` (``""``: enough memory is available)."""
    from sfumato.model_store.hardware import GIB, read_ram

    available = read_ram()[1]
    weights = sum(p.numel() * p.element_size() for p in unet.parameters())
    need = int(MEMORY_FACTOR * weights)
    if available is None or available >= need:
        return ""
    return f"~{need / GIB:.1f} GiB of free memory ({available / GIB:.1f} GiB free)"


def _convert(unet: Any, latent_side: int, folder: Path, source: dict[str, str]) -> str:
    """Convert ``unet`` and save it in ``folder`` (whole, or not at all) with ``source`` (the
    model's path and dtype); why not, or ``""``."""
    import openvino

    started = time.perf_counter()
    try:
        model = openvino_unet.convert(unet, latent_side)
    except Exception as exc:  # the frontend raises its own types (OpConversionFailure) and others
        log.warning("converting %s for OpenVINO failed\n%s", source["model"], traceback.format_exc())
        return _first_line(exc)
    staging = folder.with_name(f"{folder.name}.partial-{secrets.token_hex(4)}")
    try:
        staging.mkdir(parents=True)
        openvino.save_model(model, str(staging / IR_NAME), compress_to_fp16=False)
        _write_json(staging / SOURCE_NAME, source)
        folder.mkdir(exist_ok=True)
        for part in staging.iterdir():
            part.replace(folder / part.name)
    except OSError as exc:
        log.warning("saving the OpenVINO model in %s failed", folder, exc_info=True)
        return f"could not save it in {folder.parent}: {exc.strerror or exc}"
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    seconds = time.perf_counter() - started
    log.info("converted %s for OpenVINO in %.1f s: %s", source["model"], seconds, folder)
    if isinstance(read_verdict(folder), str):  # an earlier failure no longer holds
        (folder / CHOICE_NAME).unlink(missing_ok=True)
    _remove_older(folder, source)
    return ""


def _remove_older(folder: Path, source: dict[str, str]) -> None:
    """Delete the IRs converted before from the same ``source`` (model path and dtype: another
    version, another file) and conversions of this model that never finished (a process stopped
    while saving)."""
    name = folder.name.rsplit("-", 1)[0]
    for other in folder.parent.iterdir():
        stem = other.name.split(".partial-", 1)[0]
        if other == folder or not other.is_dir() or stem.rsplit("-", 1)[0] != name:
            continue
        try:
            same = json.loads((other / SOURCE_NAME).read_text(encoding="utf-8")) == source
        except (OSError, ValueError):
            same = False
        if same or ".partial-" in other.name:
            shutil.rmtree(other, ignore_errors=True)


def _remove_ir(folder: Path) -> None:
    """Delete the IR in ``folder``, keeping the verdict that says torch is faster."""
    for name in (IR_NAME, IR_NAME.replace(".xml", ".bin")):
        (folder / name).unlink(missing_ok=True)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    staging = path.with_name(f"{path.name}.{secrets.token_hex(4)}")
    staging.write_text(json.dumps(data, indent=1), encoding="utf-8")
    staging.replace(path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
