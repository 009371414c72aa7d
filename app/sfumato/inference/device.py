"""Device profile: which accelerator there is and what it reports, and how a model runs on it.

:func:`profile_for` is a pure function of what the hardware reports, and :func:`probe_device`
asks torch through a :class:`DeviceProbe`, so tests can simulate any GPU with a fake probe. How a
model runs — its dtype, its VAE's dtype, the memory strategy — is not decided here: :func:`plan_for`
hands the profile (as the model store's hardware facts, :meth:`DeviceProfile.hardware`) to the
program's one planner, :func:`sfumato.model_store.fit.plan_run`, which the Model Manager and
``sfumato models list`` use too. The model store is imported on first use, so
``import sfumato.inference`` stays cheap.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
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
        return HardwareProfile(os.cpu_count() or 1, self._ram(), gpus=(gpu,) if gpu is not None else ())

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
) -> DeviceProfile:
    """The profile for what a device reports (``kind`` ``cuda``, ``mps``; anything else is the CPU).

    Its dtype is the planner's :func:`~sfumato.model_store.fit.device_dtype`: on CUDA bfloat16
    from compute capability 8.0 (Ampere), float16 from 6.0, float32 on older cards and on cards
    known to render black images in half precision; MPS float16; CPU float32.
    """
    from sfumato.model_store.fit import device_dtype

    if kind not in ("cuda", "mps"):
        kind = "cpu"
    profile = DeviceProfile(
        kind, name or kind.upper(), "float32", capability, vram_bytes, vram_free, ram_bytes, read_free
    )
    return replace(profile, dtype=device_dtype(profile.gpu()))


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
    return profile_for("cpu", "CPU", ram_bytes=ram)


def plan_family(
    profile: DeviceProfile, family_id: str, vae_fp16_safe: bool = False, catalog: Catalog | None = None
) -> RunPlan:
    """The planner's answer for a model of catalog family ``family_id`` on ``profile`` as it is
    (no memory re-read): what the Model Manager shows for that family on the same machine, less
    the weights variant (a model on disk has its weights already)."""
    from sfumato.model_store.fit import plan_run

    return plan_run(profile.hardware(), _family(family_id, catalog), vae_fp16_safe=vae_fp16_safe)


def plan_for(profile: DeviceProfile, info: ModelInfo) -> RunPlan:
    """How the engine runs ``info`` on ``profile``'s device, planned against the memory free now."""
    return plan_family(profile.now(), info.family_id, _vae_fp16_safe(info))


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
