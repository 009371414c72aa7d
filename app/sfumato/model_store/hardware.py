"""What the machine has: GPUs (CUDA, ROCm, Apple MPS), CPU cores, bfloat16 arithmetic on the CPU,
and RAM — without importing torch.

NVIDIA cards are read through NVML (:mod:`sfumato.model_store.nvml`, the driver's library), or
with ``nvidia-smi`` where NVML cannot be loaded; AMD cards with ``rocm-smi``,
Apple silicon from ``sysctl``. Whether the CPU computes bfloat16 natively comes from the
kernel's CPU flags (:func:`cpu_bfloat16_in`: ``amx_bf16`` or ``avx512_bf16`` on x86, ``bf16``
among an ARM CPU's ``Features`` in ``/proc/cpuinfo``; ``hw.optional.arm.FEAT_BF16`` from
``sysctl`` on macOS); where the system does not say (Windows), it counts as absent here and the
engine's own probe, which asks torch, decides (:mod:`sfumato.inference.device`).
``SFUMATO_HARDWARE_PROFILE`` may name a JSON file written by :meth:`HardwareProfile.to_dict` to
stand in for the probe (tests, support requests).

These are the hardware facts the planner (:func:`sfumato.model_store.fit.plan_run`) works from;
the engine builds the same :class:`HardwareProfile` from what torch reports
(:meth:`sfumato.inference.device.DeviceProfile.hardware`), so both plan alike.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sfumato.model_store.nvml import NvmlReport, read_nvml

GIB = 1024**3
MIB = 1024**2

# Metal lets one process keep about three quarters of unified memory resident (recommended
# working-set size on Apple silicon); an estimate, used as the MPS "VRAM".
MPS_MEMORY_SHARE = 0.75

X86_BFLOAT16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
"""x86 CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic: AMX tiles or AVX-512 BF16."""
ARM_BFLOAT16_FEATURE = "bf16"
"""The ``Features`` word of an ARM CPU with the BF16 extension (``/proc/cpuinfo``)."""

BLACK_IMAGE_GPUS = ("GTX 1650", "GTX 1660", "GTX 16")
"""NVIDIA cards known to produce black (NaN) images in half precision; they run in float32."""

Runner = Callable[[Sequence[str]], str | None]
NvmlReader = Callable[[], NvmlReport | None]

_SMI_CUDA = re.compile(r"CUDA Version:\s*(\d+\.\d+)")


@dataclass(frozen=True)
class GpuInfo:
    """One accelerator. ``backend`` is ``cuda``, ``rocm`` or ``mps``; sizes are bytes.

    ``vram_free``: what a model could use now — the card's free memory plus what this process
    holds (a model Sfumato has loaded is released before the next one loads); ``None`` where the
    probe cannot tell (Apple silicon). ``compute_capability``: CUDA's ``"8.6"``.
    ``cuda_driver_version``: the newest CUDA version the NVIDIA driver supports (``"12.8"``).
    """

    backend: str
    name: str
    vram_total: int
    vram_free: int | None = None
    compute_capability: str | None = None
    driver: str | None = None
    cuda_driver_version: str | None = None

    @property
    def capability(self) -> tuple[int, int] | None:
        """The compute capability as numbers (``(8, 6)``), if known."""
        if not self.compute_capability:
            return None
        major, _, minor = self.compute_capability.partition(".")
        try:
            return int(major), int(minor or 0)
        except ValueError:
            return None

    @property
    def supports_bfloat16(self) -> bool:
        """bf16 runs natively: CUDA compute capability 8.0 (Ampere) and up, or ROCm. On Apple
        silicon it depends on the macOS version, which is not probed: treated as unsupported."""
        if self.backend == "rocm":
            return True
        capability = self.capability
        return self.backend == "cuda" and capability is not None and capability >= (8, 0)

    @property
    def supports_float16(self) -> bool:
        """Half precision gives correct images: CUDA from compute capability 6.0 except the
        :data:`BLACK_IMAGE_GPUS`, ROCm, and Apple silicon."""
        if self.backend in ("rocm", "mps"):
            return True
        capability = self.capability
        if self.backend != "cuda" or capability is None or capability < (6, 0):
            return False
        return not any(marker in self.name for marker in BLACK_IMAGE_GPUS)


@dataclass(frozen=True)
class HardwareProfile:
    """A snapshot of the machine's compute resources.

    ``cpu_bfloat16``: the CPU computes bfloat16 natively (see the module docstring); the planner
    runs models in bfloat16 on such a CPU.
    """

    cpu_cores: int
    ram_total: int
    ram_available: int | None = None
    gpus: tuple[GpuInfo, ...] = field(default_factory=tuple)
    system: str = ""
    cpu_bfloat16: bool = False

    @property
    def best_gpu(self) -> GpuInfo | None:
        """The accelerator with the most memory, or ``None`` on a CPU-only machine."""
        return max(self.gpus, key=lambda g: g.vram_total, default=None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the format ``SFUMATO_HARDWARE_PROFILE`` files use)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HardwareProfile:
        """Rebuild a profile written by :meth:`to_dict`."""
        gpus = tuple(GpuInfo(**g) for g in data.get("gpus", ()))
        return cls(
            cpu_cores=int(data["cpu_cores"]),
            ram_total=int(data["ram_total"]),
            ram_available=data.get("ram_available"),
            gpus=gpus,
            system=data.get("system", ""),
            cpu_bfloat16=bool(data.get("cpu_bfloat16", False)),
        )


def hardware_tier(profile: HardwareProfile) -> str:
    """Map a profile to a starter-set tier: ``cpu``, ``mps`` or ``gpu-<N>gb``."""
    gpu = profile.best_gpu
    if gpu is None:
        return "cpu"
    if gpu.backend == "mps":
        return "mps"
    gib = gpu.vram_total / GIB
    for floor, tier in ((22.5, "gpu-24gb"), (15.0, "gpu-16gb"), (11.0, "gpu-12gb"), (7.5, "gpu-8gb")):
        if gib >= floor:
            return tier
    return "gpu-6gb" if gib >= 3.5 else "cpu"


def _run(argv: Sequence[str]) -> str | None:
    """Run a probe tool; ``None`` if it is missing or fails (a probe never raises)."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def probe_hardware(run: Runner = _run, nvml: NvmlReader = read_nvml) -> HardwareProfile:
    """Probe this machine (or read the ``SFUMATO_HARDWARE_PROFILE`` file if set)."""
    fake = os.environ.get("SFUMATO_HARDWARE_PROFILE")
    if fake:
        return HardwareProfile.from_dict(json.loads(Path(fake).read_text(encoding="utf-8")))
    system = platform.system()
    ram_total, ram_available = read_ram(run)
    gpus = _nvidia_nvml(nvml) or _nvidia(run) or _rocm(run)
    if not gpus and system == "Darwin" and platform.machine() == "arm64":
        brand = (run(["sysctl", "-n", "machdep.cpu.brand_string"]) or "Apple silicon").strip()
        gpus = [GpuInfo("mps", brand, int(ram_total * MPS_MEMORY_SHARE))]
    return HardwareProfile(
        cpu_cores=os.cpu_count() or 1,
        ram_total=ram_total,
        ram_available=ram_available,
        gpus=tuple(gpus),
        system=system,
        cpu_bfloat16=read_cpu_bfloat16(run),
    )


def cpu_bfloat16_in(cpuinfo: str) -> bool:
    """Whether ``/proc/cpuinfo`` text shows native bfloat16 arithmetic: an x86 ``flags`` line
    with ``amx_bf16`` or ``avx512_bf16``, or an ARM ``Features`` line with ``bf16``."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key, words = key.strip().lower(), set(value.split())
        if key == "flags" and words & X86_BFLOAT16_FLAGS:
            return True
        if key == "features" and ARM_BFLOAT16_FEATURE in words:
            return True
    return False


def read_cpu_bfloat16(run: Runner = _run) -> bool:
    """Whether this machine's CPU computes bfloat16 natively (``False`` where the system does
    not say)."""
    system = platform.system()
    if system == "Darwin":
        return (run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"]) or "").strip() == "1"
    cpuinfo = Path("/proc/cpuinfo")
    try:
        return cpu_bfloat16_in(cpuinfo.read_text(errors="replace")) if cpuinfo.exists() else False
    except OSError:
        return False


def physical_cores_in(cpuinfo: str, allowed: set[int] | None = None) -> int | None:
    """How many physical cores ``/proc/cpuinfo`` text lists among the logical CPUs in
    ``allowed`` (all if ``None``): distinct (``physical id``, ``core id``) pairs. ``None`` when
    the text has no core ids (ARM kernels leave them out)."""
    cores: set[tuple[str, str]] = set()
    for block in cpuinfo.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if "processor" not in fields or "core id" not in fields:
            continue
        number = fields["processor"]
        if allowed is not None and (not number.isdigit() or int(number) not in allowed):
            continue
        cores.add((fields.get("physical id", "0"), fields["core id"]))
    return len(cores) or None


def physical_cores(run: Runner = _run) -> int | None:
    """The physical cores this process may run on: on Linux the cores (``/proc/cpuinfo`` core
    ids, else the sibling sets in ``/sys/devices/system/cpu``) of the CPUs in its affinity mask,
    on macOS ``hw.physicalcpu``; ``None`` where the system does not say (Windows)."""
    system = platform.system()
    if system == "Darwin":
        out = (run(["sysctl", "-n", "hw.physicalcpu"]) or "").strip()
        return int(out) if out.isdigit() and int(out) > 0 else None
    if not hasattr(os, "sched_getaffinity"):
        return None
    allowed = os.sched_getaffinity(0)
    try:
        found = physical_cores_in(Path("/proc/cpuinfo").read_text(errors="replace"), allowed)
    except OSError:
        found = None
    if found is not None:
        return found
    siblings = set()
    for cpu in allowed:
        path = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            siblings.add(path.read_text().strip())
        except OSError:
            return None
    return len(siblings) or None


def _nvidia_nvml(nvml: NvmlReader) -> list[GpuInfo]:
    report = nvml()
    if report is None:
        return []
    return [
        GpuInfo(
            "cuda",
            d.name,
            d.memory_total,
            d.memory_free + d.memory_here,
            d.compute_capability,
            report.driver_version,
            report.cuda_driver_version,
        )
        for d in report.devices
    ]


def _nvidia(run: Runner) -> list[GpuInfo]:
    fields = "name,memory.total,memory.free,driver_version,compute_cap"
    out = run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits"])
    if out is None:  # drivers before 510 do not know compute_cap
        out = run(["nvidia-smi", f"--query-gpu={fields.rsplit(',', 1)[0]}", "--format=csv,noheader,nounits"])
    gpus = []
    for line in (out or "").splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            continue
        try:
            total, free = int(float(parts[1]) * MIB), int(float(parts[2]) * MIB)
        except ValueError:
            continue
        cap = parts[4] if len(parts) > 4 and parts[4] not in ("", "[N/A]") else None
        gpus.append(GpuInfo("cuda", parts[0], total, free, cap, parts[3] or None))
    if gpus:  # the CUDA version is only in the plain report's header
        found = _SMI_CUDA.search(run(["nvidia-smi"]) or "")
        if found:
            gpus = [replace(g, cuda_driver_version=found.group(1)) for g in gpus]
    return gpus


def _rocm(run: Runner) -> list[GpuInfo]:
    out = run(["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--showdriverversion", "--json"])
    if not out:
        return []
    try:
        data = json.loads(out)
    except json.JSONDecodeError:
        return []
    driver = data.get("system", {}).get("Driver version")
    gpus = []
    for key, card in data.items():
        if not key.startswith("card") or not isinstance(card, dict):
            continue
        total = _first_int(card, "VRAM Total Memory")
        used = _first_int(card, "VRAM Total Used Memory")
        if total is None:
            continue
        name = card.get("Card series") or card.get("Card Series") or card.get("Card model") or key
        free = total - used if used is not None else None
        gpus.append(GpuInfo("rocm", str(name), total, free, None, driver))
    return gpus


def _first_int(card: dict[str, Any], prefix: str) -> int | None:
    for key, value in card.items():
        if key.startswith(prefix):
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


def read_ram(run: Runner = _run) -> tuple[int, int | None]:
    """Total and available RAM in bytes (available: ``None`` where the system does not say)."""
    system = platform.system()
    if system == "Windows":
        return _ram_windows()
    available = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    if system == "Darwin":
        total = int((run(["sysctl", "-n", "hw.memsize"]) or "0").strip() or 0)
    else:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return total, available


def _ram_windows() -> tuple[int, int | None]:
    class MemoryStatus(ctypes.Structure):
        _fields_ = [
            ("length", ctypes.c_ulong),
            ("load", ctypes.c_ulong),
            ("total_phys", ctypes.c_ulonglong),
            ("avail_phys", ctypes.c_ulonglong),
            ("total_page", ctypes.c_ulonglong),
            ("avail_page", ctypes.c_ulonglong),
            ("total_virtual", ctypes.c_ulonglong),
            ("avail_virtual", ctypes.c_ulonglong),
            ("avail_extended", ctypes.c_ulonglong),
        ]

    status = MemoryStatus()
    status.length = ctypes.sizeof(MemoryStatus)
    ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status))  # type: ignore[attr-defined]  # windll: Windows only
    return int(status.total_phys), int(status.avail_phys)


def describe(profile: HardwareProfile) -> list[str]:
    """Human-readable lines for ``sfumato models doctor``."""
    lines = [
        f"system: {profile.system or 'unknown'}",
        f"cpu cores: {profile.cpu_cores}" + (", bfloat16 arithmetic" if profile.cpu_bfloat16 else ""),
        f"ram: {profile.ram_total / GIB:.1f} GiB"
        + (f" ({profile.ram_available / GIB:.1f} GiB available)" if profile.ram_available else ""),
    ]
    if not profile.gpus:
        lines.append("gpu: none found (NVML, nvidia-smi, rocm-smi); generation runs on the CPU")
    for gpu in profile.gpus:
        extra = []
        if gpu.vram_free is not None:
            extra.append(f"{gpu.vram_free / GIB:.1f} GiB free")
        if gpu.compute_capability:
            extra.append(f"compute capability {gpu.compute_capability}")
        if gpu.driver:
            extra.append(f"driver {gpu.driver}")
        if gpu.cuda_driver_version:
            extra.append(f"CUDA {gpu.cuda_driver_version}")
        tail = f" ({', '.join(extra)})" if extra else ""
        lines.append(f"gpu [{gpu.backend}]: {gpu.name}, {gpu.vram_total / GIB:.1f} GiB{tail}")
    lines.append(f"tier: {hardware_tier(profile)}")
    return lines
