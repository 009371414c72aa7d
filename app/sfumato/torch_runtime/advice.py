"""What to tell the user about the torch backend: :func:`backend_advice` and :func:`pip_command`."""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass

from sfumato.model_store.hardware import HardwareProfile
from sfumato.paths import is_frozen
from sfumato.torch_runtime.activation import ActiveRuntime
from sfumato.torch_runtime.choice import choose_variant, largest_gpu
from sfumato.torch_runtime.variants import PYPI_SIMPLE, TORCH_VERSION, VARIANTS, variant

BACKEND_NAMES = {"cuda": "CUDA", "rocm": "ROCm", "mps": "Apple GPU (MPS)", "cpu": "the CPU"}


@dataclass(frozen=True)
class BackendAdvice:
    """A headline, why (``detail``) and how to fix it in words (``how``), and what to offer.

    ``action``: ``none``; ``install`` (the packaged app installs ``suggested_variant`` itself);
    ``pip`` (a Python install: show :func:`pip_command` for ``suggested_variant``). The dialog
    shows ``detail`` above its buttons; the command line prints ``how`` too.
    """

    headline: str
    detail: str
    action: str
    suggested_variant: str | None = None
    how: str = ""


def pip_command(variant_key: str, python: str | None = None) -> str:
    """The command that puts the variant's ``torch==TORCH_VERSION`` into the running Python install."""
    chosen = variant(variant_key)
    exe = python or sys.executable
    quoted = subprocess.list2cmdline([exe]) if sys.platform == "win32" else shlex.quote(exe)
    command = f"{quoted} -m pip install --force-reinstall torch=={TORCH_VERSION}"
    return command if chosen.index_url == PYPI_SIMPLE else f"{command} --index-url {chosen.index_url}"


def backend_advice(
    hardware: HardwareProfile,
    active: ActiveRuntime,
    device_kind: str | None,
    frozen: bool | None = None,
    system: str | None = None,
    machine: str | None = None,
) -> BackendAdvice:
    """Advice for ``active`` torch running on ``device_kind`` (``cuda``/``rocm``/``mps``/``cpu``).

    ``device_kind`` is what torch reported (e.g. :attr:`RuntimeCheck.device_kind`); ``None``
    when not probed yet, then the runtime's variant decides. ``frozen``: the packaged app
    (default: this process).
    """
    frozen = is_frozen() if frozen is None else frozen
    choice = choose_variant(hardware, system, machine)
    gpu_wanted = choice.variant.backend != "cpu"
    if active.source == "none":
        return _offer(
            "No PyTorch runtime installed",
            "Sfumato needs PyTorch to generate images.",
            choice.variant.key,
            choice.reason,
            frozen,
        )
    kind = device_kind or _kind_of(active)
    version = f"torch {active.torch_version}" if active.torch_version else "torch"
    if kind is None:
        return BackendAdvice(
            f"PyTorch {active.torch_version or ''}".strip(), "Device not checked yet.", "none"
        )
    if kind != "cpu":
        gpu = largest_gpu(hardware, kind)
        name = gpu.name if gpu else BACKEND_NAMES.get(kind, kind)
        return BackendAdvice(f"Running on {BACKEND_NAMES.get(kind, kind)} — {name} ({version})", "", "none")
    if gpu_wanted:
        gpu = hardware.best_gpu
        return _offer(
            f"Running on the CPU — the {gpu.name if gpu else 'GPU'} is not used",
            f"This PyTorch build ({version}) cannot use the GPU.",
            choice.variant.key,
            choice.reason,
            frozen,
        )
    return BackendAdvice(f"Running on the CPU ({version})", choice.reason, "none")


def _offer(headline: str, why: str, key: str, reason: str, frozen: bool) -> BackendAdvice:
    label = variant(key).label
    detail = f"{why} {reason}"
    if frozen:
        how = f"Install the {label} build: sfumato runtime install"
        return BackendAdvice(headline, detail, "install", key, how)
    return BackendAdvice(
        headline, detail, "pip", key, f"Install the {label} build into this Python: {pip_command(key)}"
    )


def _kind_of(active: ActiveRuntime) -> str | None:
    """The backend of the active runtime's variant, or of its torch version's local label."""
    if active.variant is not None:
        return next((v.backend for v in VARIANTS if v.key == active.variant), None)
    _, _, local = (active.torch_version or "").partition("+")
    if local == "cpu":
        return "cpu"
    if local.startswith("rocm"):
        return "rocm"
    return "cuda" if local.startswith("cu") else None
