"""Which torch variant fits this machine: :func:`choose_variant`.

NVIDIA: the newest CUDA variant whose driver floor the installed driver meets and whose
compute-capability range holds the card (a Pascal card gets the older CUDA line that still
builds for it). AMD: ROCm on Linux x86_64, the CPU elsewhere. Apple silicon: the PyPI wheel
with MPS. Anything else: the CPU build. The facts behind the table are in
:mod:`sfumato.torch_runtime.variants`; the installer verifies a choice after installing it.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

from sfumato.model_store.hardware import GpuInfo, HardwareProfile
from sfumato.torch_runtime.variants import DRIVER_BRANCH, TORCH_VERSION, VARIANTS, TorchBuild, Version


@dataclass(frozen=True)
class RuntimeChoice:
    """The variant to install, why, and every variant worth trying in order (``variant`` first).

    The installer moves down ``candidates`` when an index has no wheel for a variant.
    """

    variant: TorchBuild
    reason: str
    candidates: tuple[TorchBuild, ...]


def choose_variant(
    hardware: HardwareProfile, system: str | None = None, machine: str | None = None
) -> RuntimeChoice:
    """Choose the torch variant for ``hardware`` on ``system``/``machine`` (default: this machine)."""
    system = system or platform.system()
    machine = machine or platform.machine()
    offered = [v for v in VARIANTS if v.runs_on(system, machine)]
    cpu = next((v for v in offered if v.backend == "cpu"), None) or next(
        v for v in VARIANTS if v.key == "cpu"
    )
    nvidia = largest_gpu(hardware, "cuda")
    amd = largest_gpu(hardware, "rocm")
    if system == "Darwin":
        mps = [v for v in offered if v.backend == "mps"]
        if mps:
            return RuntimeChoice(
                mps[0], "Apple silicon: the PyPI build of torch runs on the GPU (MPS).", (mps[0],)
            )
        return _cpu(cpu, "Intel Mac: the CPU build (PyTorch may publish no Intel-Mac wheel of this version).")
    if nvidia is not None:
        return _for_nvidia(nvidia, [v for v in offered if v.backend == "cuda"], cpu)
    if amd is not None:
        rocm = [v for v in offered if v.backend == "rocm"]
        if not rocm:
            return _cpu(
                cpu, f"{amd.name}: PyTorch publishes ROCm builds for Linux x86_64 only; using the CPU."
            )
        return RuntimeChoice(rocm[0], f"{amd.name}: the {rocm[0].label} build.", (*rocm, cpu))
    return _cpu(cpu, "No supported GPU found: the CPU build.")


def largest_gpu(hardware: HardwareProfile, backend: str) -> GpuInfo | None:
    """The GPU of ``backend`` with the most memory, if any."""
    return max((g for g in hardware.gpus if g.backend == backend), key=lambda g: g.vram_total, default=None)


def _cpu(cpu: TorchBuild, reason: str) -> RuntimeChoice:
    return RuntimeChoice(cpu, reason, (cpu,))


def _version(text: str | None) -> Version | None:
    """``"8.6"`` → ``(8, 6)``; ``None`` for anything else."""
    try:
        major, minor = (int(p) for p in (text or "").split(".")[:2])
    except ValueError:
        return None
    return major, minor


def _for_nvidia(gpu: GpuInfo, cuda: list[TorchBuild], cpu: TorchBuild) -> RuntimeChoice:
    capability = _version(gpu.compute_capability)
    driver = _version(gpu.cuda_driver_version)
    facts = ", ".join(
        f
        for f in (
            f"compute capability {gpu.compute_capability}" if capability else "compute capability unknown",
            f"driver CUDA {gpu.cuda_driver_version}" if driver else "driver CUDA version unknown",
        )
    )
    for_card = [v for v in cuda if capability is None or v.holds(capability)]
    if not for_card:
        return _cpu(
            cpu,
            f"{gpu.name} ({facts}): no CUDA build of torch {TORCH_VERSION} supports this GPU; using the CPU.",
        )
    usable = [v for v in for_card if driver is None or (v.min_driver_cuda or (0, 0)) <= driver]
    if not usable:
        floor = min(v.min_driver_cuda or (0, 0) for v in for_card)
        branch = DRIVER_BRANCH.get(floor, "a newer driver")
        return _cpu(
            cpu,
            f"{gpu.name} ({facts}): update the NVIDIA driver to at least {branch} "
            f"(CUDA {floor[0]}.{floor[1]}) to use the GPU; until then the CPU build.",
        )
    chosen = usable[0]
    low, high = (f"sm_{a}{b}" for a, b in chosen.compute_capability or ((0, 0), (0, 0)))
    reason = f"{gpu.name} ({facts}): the {chosen.label} build (kernels for {low}–{high})."
    return RuntimeChoice(chosen, reason, (*usable, cpu))
