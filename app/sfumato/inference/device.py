"""Device profile: which accelerator there is, which dtype it wants, how to spend its memory.

:func:`profile_for` is a pure function of what the hardware reports, and :func:`probe_device`
asks torch through a :class:`DeviceProbe`, so tests can simulate any GPU with a fake probe.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from sfumato.inference.families import TRAITS, Family

GIB = 2**30

BLACK_IMAGE_GPUS = ("GTX 1650", "GTX 1660", "GTX 16")
"""Cards known to produce black (NaN) images in half precision; they run in float32."""


class MemoryStrategy(enum.IntEnum):
    """How much of the model sits on the accelerator, from fastest to leanest."""

    FULL = 0
    """Everything on the device."""
    SLICED = 1
    """Everything on the device; attention and VAE work in slices and tiles."""
    MODEL_OFFLOAD = 2
    """Each model moves to the device only while it runs."""
    SEQUENTIAL_OFFLOAD = 3
    """Each layer moves to the device only while it runs (slowest, least memory)."""

    def describe(self) -> str:
        """A short phrase for notices."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    MemoryStrategy.FULL: "the whole model on the GPU",
    MemoryStrategy.SLICED: "attention slicing and a tiled VAE",
    MemoryStrategy.MODEL_OFFLOAD: "models moved to the GPU one at a time (CPU offload)",
    MemoryStrategy.SEQUENTIAL_OFFLOAD: "layers moved to the GPU one at a time (sequential offload)",
}


@dataclass(frozen=True)
class DeviceProfile:
    """What the engine runs on and how."""

    kind: str
    """``"cuda"``, ``"mps"`` or ``"cpu"``."""
    name: str
    dtype: str
    """``"bfloat16"``, ``"float16"`` or ``"float32"``."""
    capability: tuple[int, int] | None = None
    vram_bytes: int | None = None

    def strategy_for(self, family: Family) -> MemoryStrategy:
        """The fastest strategy the device's memory allows for ``family``."""
        if self.kind == "cpu":
            return MemoryStrategy.FULL
        if self.kind == "mps":
            return MemoryStrategy.SLICED
        need = TRAITS[family].vram_gib * (2 if self.dtype == "float32" else 1)
        have = (self.vram_bytes or 0) / GIB
        if have >= need * 1.5:
            return MemoryStrategy.FULL
        if have >= need:
            return MemoryStrategy.SLICED
        if have >= need * 0.5:
            return MemoryStrategy.MODEL_OFFLOAD
        return MemoryStrategy.SEQUENTIAL_OFFLOAD

    def lower_strategy(self, strategy: MemoryStrategy) -> MemoryStrategy | None:
        """The next leaner strategy on this device, or ``None`` if ``strategy`` is the leanest.

        Offloading needs CUDA; on MPS and CPU slicing is as lean as it gets.
        """
        leanest = MemoryStrategy.SEQUENTIAL_OFFLOAD if self.kind == "cuda" else MemoryStrategy.SLICED
        return MemoryStrategy(strategy + 1) if strategy < leanest else None


def profile_for(
    kind: str,
    name: str = "",
    capability: tuple[int, int] | None = None,
    vram_bytes: int | None = None,
) -> DeviceProfile:
    """The profile for what a device reports.

    CUDA: bfloat16 from compute capability 8.0 (Ampere), float16 from 6.0, float32 on older cards
    and on cards known to render black images in half precision. MPS: float16. CPU: float32.
    """
    if kind == "cuda":
        if any(marker in name for marker in BLACK_IMAGE_GPUS) or capability is None or capability < (6, 0):
            dtype = "float32"
        elif capability >= (8, 0):
            dtype = "bfloat16"
        else:
            dtype = "float16"
    elif kind == "mps":
        dtype = "float16"
    else:
        kind, dtype = "cpu", "float32"
    return DeviceProfile(kind, name or kind.upper(), dtype, capability, vram_bytes)


class DeviceProbe(Protocol):
    """What the engine asks the hardware; tests pass a fake one."""

    def cuda_device(self) -> tuple[str, tuple[int, int], int] | None:
        """``(name, compute capability, total memory in bytes)`` of CUDA device 0, or ``None``."""
        ...

    def mps_available(self) -> bool:
        """Whether Apple's Metal backend is usable."""
        ...


class TorchProbe:
    """The real probe: asks torch (imported only when called)."""

    def cuda_device(self) -> tuple[str, tuple[int, int], int] | None:
        """See :meth:`DeviceProbe.cuda_device`."""
        import torch

        if not torch.cuda.is_available():
            return None
        props = torch.cuda.get_device_properties(0)
        return props.name, (props.major, props.minor), int(props.total_memory)

    def mps_available(self) -> bool:
        """See :meth:`DeviceProbe.mps_available`."""
        import torch

        return bool(torch.backends.mps.is_available())


def probe_device(probe: DeviceProbe | None = None) -> DeviceProfile:
    """The profile of the best device there is: CUDA, then MPS, then CPU."""
    probe = probe or TorchProbe()
    cuda = probe.cuda_device()
    if cuda is not None:
        name, capability, memory = cuda
        return profile_for("cuda", name, capability, memory)
    if probe.mps_available():
        return profile_for("mps", "Apple GPU")
    return profile_for("cpu", "CPU")
