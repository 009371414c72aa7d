"""Device profile: which accelerator there is and what it reports, and how a model runs on it.

:func:`profile_for` is a pure function of what the hardware reports, and :func:`probe_device`
asks torch through a :class:`DeviceProbe`, so tests can simulate any GPU with a fake probe. How a
model runs — its dtype, its VAE's dtype, the memory strategy — is not decided here: :func:`plan_for`
hands the profile (as the model store's hardware facts, :meth:`DeviceProfile.hardware`) to the
program's one planner, :func:`sfumato.model_store.fit.plan_run`, which the Model Manager and
``sfumato models list`` use too. The model store is imported on first use, so
``import sfumato.inference`` stays cheap.

The CPU's bfloat16 arithmetic is asked of torch (:meth:`TorchProbe.cpu_bfloat16`):
``torch.cpu.get_capabilities()`` (https://docs.pytorch.org/docs/main/generated/torch.cpu.get_capabilities.html)
names what torch's cpuinfo found — ``amx_bf16`` and ``avx512_bf16`` on x86, ``bf16`` on ARM64.
On ARM the build must also carry oneDNN (``torch.backends.mkldnn.is_available()``): its bf16
matmul path for ARM CPUs with BF16 (pytorch PR #85546) is what makes bfloat16 fast there, and
the Linux aarch64 wheels are built with it (pytorch/builder PR #1104). A torch without
``get_capabilities`` falls back to the model store's reading of the CPU flags.

How many threads torch computes with is :func:`cpu_threads`: the physical cores this process
may run on, unless the environment chose (``SFUMATO_THREADS``, or ``OMP_NUM_THREADS`` /
``MKL_NUM_THREADS``, which torch itself follows). Whoever owns the process applies it (the
window's inference thread, ``sfumato generate`` through ``Engine(threads=…)``); the engine never
changes a thread count it was not given.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, NamedTuple, Protocol

from sfumato.memory_strategy import MemoryStrategy as MemoryStrategy  # re-exported: the one enum

if TYPE_CHECKING:
    from sfumato.inference.families import ModelInfo
    from sfumato.model_store.catalog import Catalog, Family
    from sfumato.model_store.fit import RunPlan
    from sfumato.model_store.hardware import GpuInfo, HardwareProfile

log = logging.getLogger(__name__)

GIB = 2**30
THREADS_ENV = "SFUMATO_THREADS"
"""Environment variable naming the torch thread count (tests pin 1 for reproducible pixels)."""
TORCH_THREAD_ENVS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Environment variables torch reads its thread count from at start-up."""


def cpu_threads() -> int | None:
    """The torch thread count Sfumato asks for: ``SFUMATO_THREADS`` when it is a positive whole
    number; ``None`` (leave torch as it is) when ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set,
    since torch already follows them; otherwise the physical cores this process may run on
    (``None`` where the system does not say: torch's own default, its count of physical cores,
    stays)."""
    chosen = os.environ.get(THREADS_ENV, "").strip()
    if chosen.isdigit() and int(chosen) > 0:
        return int(chosen)
    if any(os.environ.get(name) for name in TORCH_THREAD_ENVS):
        return None
    from sfumato.model_store.hardware import physical_cores

    return physical_cores()


@dataclass(frozen=True)
class DeviceProfile:
    """What the engine runs on, as the device reports it.

    ``read_free``, when the profile comes from a probe, reads the device's free memory again:
    the engine plans each model against what is free when it loads.
    """

    kind: str
    """``"cuda"``, ``"mps"`` or ``"cpu"``."""
    name: str
    dtype: str
    """The fastest dtype the device computes correctly (``"bfloat16"``, ``"float16"`` or
    ``"float32"``); each model's own dtype is its plan's (:func:`plan_for`)."""
    capability: tuple[int, int] | None = None
    vram_bytes: int | None = None
    vram_free: int | None = None
    """Free device memory when probed (``None``: not known; the total is planned with)."""
    ram_bytes: int | None = None
    """The machine's RAM (``None``: read when first planned with)."""
    read_free: Callable[[], int | None] | None = field(default=None, compare=False, repr=False)
    cpu_bfloat16: bool = False
    """The CPU computes bfloat16 natively (as torch reports it): models run in bfloat16 on it."""

    def gpu(self) -> GpuInfo | None:
        """The accelerator in the model store's terms, or ``None`` on the CPU."""
        from sfumato.model_store.hardware import MPS_MEMORY_SHARE, GpuInfo

        if self.kind == "cuda":
            capability = f"{self.capability[0]}.{self.capability[1]}" if self.capability else None
            return GpuInfo("cuda", self.name, self.vram_bytes or 0, self.vram_free, capability)
        if self.kind == "mps":  # unified memory: Metal's share of the RAM, as the store's probe says
            total = self.vram_bytes if self.vram_bytes is not None else int(self._ram() * MPS_MEMORY_SHARE)
            return GpuInfo("mps", self.name, total)
        return None

    def hardware(self) -> HardwareProfile:
        """The hardware facts the planner works from."""
        from sfumato.model_store.hardware import HardwareProfile

        gpu = self.gpu()
        return HardwareProfile(
            os.cpu_count() or 1,
            self._ram(),
            gpus=(gpu,) if gpu is not None else (),
            cpu_bfloat16=self.cpu_bfloat16,
        )

    def now(self) -> DeviceProfile:
        """This profile with the device's free memory as it is now (itself if it cannot tell)."""
        if self.read_free is None:
            return self
        return replace(self, vram_free=self.read_free())

    def _ram(self) -> int:
        if self.ram_bytes is not None:
            return self.ram_bytes
        from sfumato.model_store.hardware import read_ram

        return read_ram()[0]


def profile_for(
    kind: str,
    name: str = "",
    capability: tuple[int, int] | None = None,
    vram_bytes: int | None = None,
    *,
    vram_free: int | None = None,
    ram_bytes: int | None = None,
    read_free: Callable[[], int | None] | None = None,
    cpu_bfloat16: bool = False,
) -> DeviceProfile:
    """The profile for what a device reports (``kind`` ``cuda``, ``mps``; anything else is the CPU).

    Its dtype is the planner's :func:`~sfumato.model_store.fit.device_dtype`: on CUDA bfloat16
    from compute capability 8.0 (Ampere), float16 from 6.0, float32 on older cards and on cards
    known to render black images in half precision; MPS float16; the CPU bfloat16 where it
    computes it natively (``cpu_bfloat16``), else float32.
    """
    from sfumato.model_store.fit import device_dtype

    if kind not in ("cuda", "mps"):
        kind = "cpu"
    profile = DeviceProfile(
        kind,
        name or kind.upper(),
        "float32",
        capability,
        vram_bytes,
        vram_free,
        ram_bytes,
        read_free,
        cpu_bfloat16,
    )
    return replace(profile, dtype=device_dtype(profile.gpu(), cpu_bfloat16))


class CudaDevice(NamedTuple):
    """CUDA device 0 as torch reports it; memory in bytes."""

    name: str
    capability: tuple[int, int]
    total: int
    free: int


class DeviceProbe(Protocol):
    """What the engine asks the hardware; tests pass a fake one."""

    def cuda_device(self) -> CudaDevice | None:
        """CUDA device 0 (name, compute capability, total and free memory), or ``None``."""
        ...

    def mps_available(self) -> bool:
        """Whether Apple's Metal backend is usable."""
        ...

    def cpu_bfloat16(self) -> bool:
        """Whether the CPU computes bfloat16 natively with this torch build."""
        ...


class TorchProbe:
    """The real probe: asks torch (imported only when called)."""

    def cuda_device(self) -> CudaDevice | None:
        """See :meth:`DeviceProbe.cuda_device`; free memory from ``torch.cuda.mem_get_info``."""
        import torch

        if not torch.cuda.is_available():
            return None
        props = torch.cuda.get_device_properties(0)
        free, _total = torch.cuda.mem_get_info(0)
        return CudaDevice(props.name, (props.major, props.minor), int(props.total_memory), int(free))

    def mps_available(self) -> bool:
        """See :meth:`DeviceProbe.mps_available`."""
        import torch

        return bool(torch.backends.mps.is_available())

    def cpu_bfloat16(self) -> bool:
        """See :meth:`DeviceProbe.cpu_bfloat16` and the module docstring."""
        import torch

        get_capabilities = getattr(torch.cpu, "get_capabilities", None)
        if get_capabilities is None:
            from sfumato.model_store.hardware import read_cpu_bfloat16

            return read_cpu_bfloat16()
        return cpu_bfloat16_from(get_capabilities(), torch.backends.mkldnn.is_available())


def cpu_bfloat16_from(capabilities: Mapping[str, object], onednn: bool) -> bool:
    """Native bfloat16 from ``torch.cpu.get_capabilities()``: AMX-BF16 or AVX512-BF16 on x86, or
    ARM's BF16 extension in a build with oneDNN (``onednn``)."""
    if capabilities.get("amx_bf16") or capabilities.get("avx512_bf16"):
        return True
    return bool(capabilities.get("bf16")) and onednn


def probe_device(probe: DeviceProbe | None = None) -> DeviceProfile:
    """The profile of the best device there is: CUDA, then MPS, then CPU."""
    probe = probe or TorchProbe()
    from sfumato.model_store.hardware import read_ram

    ram = read_ram()[0]
    cuda = probe.cuda_device()
    if cuda is not None:

        def read_free() -> int | None:
            again = probe.cuda_device()
            return again.free if again is not None else None

        return profile_for(
            "cuda",
            cuda.name,
            cuda.capability,
            cuda.total,
            vram_free=cuda.free,
            ram_bytes=ram,
            read_free=read_free,
        )
    if probe.mps_available():
        return profile_for("mps", "Apple GPU", ram_bytes=ram)
    return profile_for("cpu", "CPU", ram_bytes=ram, cpu_bfloat16=probe.cpu_bfloat16())


def plan_family(
    profile: DeviceProfile,
    family_id: str,
    vae_fp16_safe: bool = False,
    catalog: Catalog | None = None,
    force_float32: bool = False,
) -> RunPlan:
    """The planner's answer for a model of catalog family ``family_id`` on ``profile`` as it is
    (no memory re-read): what the Model Manager shows for that family on the same machine, less
    the weights variant (a model on disk has its weights already). ``force_float32``: the user
    asked for float32."""
    from sfumato.model_store.fit import plan_run

    return plan_run(
        profile.hardware(),
        _family(family_id, catalog),
        vae_fp16_safe=vae_fp16_safe,
        force_float32=force_float32,
    )


def plan_for(profile: DeviceProfile, info: ModelInfo, force_float32: bool = False) -> RunPlan:
    """How the engine runs ``info`` on ``profile``'s device, planned against the memory free now
    (in float32 throughout when ``force_float32``)."""
    return plan_family(profile.now(), info.family_id, _vae_fp16_safe(info), force_float32=force_float32)


def _family(family_id: str, catalog: Catalog | None) -> Family:
    """The catalog's family ``family_id`` (sizes, native resolution, dtype order). One the
    catalog does not list plans by the dtype rules alone: with no sizes there is no estimate, so
    the resolution it is given (512) is never used."""
    from sfumato.model_store.catalog import Family, load_catalog
    from sfumato.model_store.errors import CatalogError

    try:
        found = (catalog or load_catalog()).families.get(family_id)
    except CatalogError:
        log.warning("model catalog unreadable; planning %s without its sizes", family_id, exc_info=True)
        found = None
    if found is not None:
        return found
    return Family(family_id, family_id, 512, ("bfloat16", "float16", "float32"), None, None)


def _vae_fp16_safe(info: ModelInfo) -> bool:
    """Whether the model's VAE says it decodes correctly in float16 (an fp16-fix VAE sets
    ``force_upcast`` to false; diffusers' default is true)."""
    folder = info.config_dir if info.single_file else info.path
    config = folder / "vae" / "config.json" if folder is not None else None
    if config is None or not config.is_file():
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("force_upcast", True) is False
    except (OSError, ValueError, AttributeError):
        return False
