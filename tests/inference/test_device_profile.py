"""Device profile: dtype by GPU, memory strategy by VRAM tier, with a fake probe."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sfumato.inference import Family, MemoryStrategy, probe_device, profile_for
from sfumato.inference.device import GIB


@dataclass
class FakeProbe:
    """Pretends to be a machine with the given CUDA card (or none) and MPS."""

    cuda: tuple[str, tuple[int, int], int] | None = None
    mps: bool = False

    def cuda_device(self) -> tuple[str, tuple[int, int], int] | None:
        return self.cuda

    def mps_available(self) -> bool:
        return self.mps


@pytest.mark.parametrize(
    ("name", "capability", "dtype"),
    [
        ("NVIDIA GeForce RTX 4090", (8, 9), "bfloat16"),
        ("NVIDIA A100-SXM4-80GB", (8, 0), "bfloat16"),
        ("NVIDIA GeForce RTX 2080", (7, 5), "float16"),
        ("Tesla P100", (6, 0), "float16"),
        ("NVIDIA GeForce GTX 1660 SUPER", (7, 5), "float32"),
        ("NVIDIA GeForce GTX 1650", (7, 5), "float32"),
        ("Tesla K80", (3, 7), "float32"),
    ],
)
def test_cuda_dtype(name: str, capability: tuple[int, int], dtype: str) -> None:
    profile = probe_device(FakeProbe(cuda=(name, capability, 8 * GIB)))
    assert (profile.kind, profile.name, profile.dtype) == ("cuda", name, dtype)
    assert profile.vram_bytes == 8 * GIB and profile.capability == capability


def test_mps_and_cpu() -> None:
    assert probe_device(FakeProbe(mps=True)).dtype == "float16"
    cpu = probe_device(FakeProbe())
    assert (cpu.kind, cpu.dtype) == ("cpu", "float32")


@pytest.mark.parametrize(
    ("vram_gib", "family", "strategy"),
    [
        (24, Family.SD1, MemoryStrategy.FULL),
        (24, Family.SDXL, MemoryStrategy.FULL),
        (10, Family.SDXL, MemoryStrategy.SLICED),
        (6, Family.SDXL, MemoryStrategy.MODEL_OFFLOAD),
        (4, Family.SDXL, MemoryStrategy.SEQUENTIAL_OFFLOAD),
        (24, Family.FLUX, MemoryStrategy.MODEL_OFFLOAD),
        (80, Family.FLUX, MemoryStrategy.FULL),
        (8, Family.FLUX, MemoryStrategy.SEQUENTIAL_OFFLOAD),
    ],
)
def test_strategy_by_vram_tier(vram_gib: int, family: Family, strategy: MemoryStrategy) -> None:
    profile = profile_for("cuda", "GPU", (8, 6), vram_gib * GIB)
    assert profile.strategy_for(family) is strategy


def test_float32_cards_need_twice_the_memory() -> None:
    half = profile_for("cuda", "RTX 2070", (7, 5), 8 * GIB)
    full = profile_for("cuda", "GTX 1660", (7, 5), 8 * GIB)
    assert half.strategy_for(Family.SD1) is MemoryStrategy.FULL
    assert full.strategy_for(Family.SD1) is MemoryStrategy.SLICED


def test_lower_strategy_ladder() -> None:
    cuda = profile_for("cuda", "GPU", (8, 6), 24 * GIB)
    ladder = [MemoryStrategy.FULL]
    while (lower := cuda.lower_strategy(ladder[-1])) is not None:
        ladder.append(lower)
    assert ladder == list(MemoryStrategy)
    cpu = profile_for("cpu")
    assert cpu.strategy_for(Family.FLUX) is MemoryStrategy.FULL
    assert cpu.lower_strategy(MemoryStrategy.FULL) is MemoryStrategy.SLICED
    assert cpu.lower_strategy(MemoryStrategy.SLICED) is None
    assert profile_for("mps").strategy_for(Family.SD1) is MemoryStrategy.SLICED
