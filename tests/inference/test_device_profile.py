"""Device profile with a fake probe, and the engine's plan: the one planner's answer, the same the
Model Manager shows for the same machine, planned against the memory free when a model loads."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sfumato.inference import MemoryStrategy, probe_device, profile_for
from sfumato.inference.device import (
    GIB,
    CudaDevice,
    DeviceProfile,
    TorchProbe,
    cpu_bfloat16_from,
    cpu_threads,
    plan_family,
    plan_for,
)
from sfumato.inference.families import ModelInfo
from sfumato.model_store import GpuInfo, HardwareProfile, load_catalog, plan_model


@dataclass
class FakeProbe:
    """Pretends to be a machine with the given CUDA card (or none), MPS and a CPU with or without
    bfloat16; ``frees`` are the free memory readings after the first, one per ask."""

    cuda: CudaDevice | None = None
    mps: bool = False
    frees: list[int] = field(default_factory=list)
    asked: int = 0
    bfloat16: bool = False

    def cuda_device(self) -> CudaDevice | None:
        self.asked += 1
        if self.cuda is not None and self.asked > 1 and self.frees:
            self.cuda = self.cuda._replace(free=self.frees.pop(0))
        return self.cuda

    def mps_available(self) -> bool:
        return self.mps

    def cpu_bfloat16(self) -> bool:
        return self.bfloat16


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
    profile = probe_device(FakeProbe(cuda=CudaDevice(name, capability, 8 * GIB, 7 * GIB)))
    assert (profile.kind, profile.name, profile.dtype) == ("cuda", name, dtype)
    assert (profile.vram_bytes, profile.vram_free, profile.capability) == (8 * GIB, 7 * GIB, capability)


def test_mps_and_cpu() -> None:
    assert probe_device(FakeProbe(mps=True)).dtype == "float16"
    cpu = probe_device(FakeProbe())
    assert (cpu.kind, cpu.dtype) == ("cpu", "float32")
    assert cpu.ram_bytes is not None and cpu.ram_bytes > 0
    amx = probe_device(FakeProbe(bfloat16=True))
    assert (amx.kind, amx.dtype, amx.hardware().cpu_bfloat16) == ("cpu", "bfloat16", True)


# ------------------------------------------------------------------ one planner for UI and engine
RAM = 32 * GIB
MACHINES: dict[str, tuple[HardwareProfile, DeviceProfile]] = {}
"""Fake machines as the model store's probe sees them and as the engine's probe does."""


def _cuda(key: str, name: str, capability: tuple[int, int], total_gib: float, free_gib: float) -> None:
    total, free = int(total_gib * GIB), int(free_gib * GIB)
    cap = f"{capability[0]}.{capability[1]}"
    store = HardwareProfile(8, RAM, gpus=(GpuInfo("cuda", name, total, free, cap),))
    engine = profile_for("cuda", name, capability, total, vram_free=free, ram_bytes=RAM)
    MACHINES[key] = (store, engine)


MACHINES["cpu"] = (HardwareProfile(8, RAM), profile_for("cpu", ram_bytes=RAM))
MACHINES["cpu-bfloat16"] = (
    HardwareProfile(8, RAM, cpu_bfloat16=True),
    profile_for("cpu", ram_bytes=RAM, cpu_bfloat16=True),
)
for total in (6, 8, 12, 24):
    for capability in ((7, 5), (8, 9)):
        for share in (1.0, 0.5):
            key = f"{total}gb-{capability[0]}.{capability[1]}-{int(share * 100)}%free"
            _cuda(key, f"NVIDIA RTX {total} GB", capability, total, total * share)
_cuda("gtx1660", "NVIDIA GeForce GTX 1660 SUPER", (7, 5), 6, 5.5)
MACHINES["mps"] = (
    HardwareProfile(10, RAM, gpus=(GpuInfo("mps", "Apple GPU", int(RAM * 0.75)),)),
    profile_for("mps", "Apple GPU", ram_bytes=RAM),
)
CATALOG = load_catalog()


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_the_engine_runs_every_family_as_the_model_manager_says(machine: str) -> None:
    store, engine = MACHINES[machine]
    for model in CATALOG.models:
        shown = plan_model(model, store)
        used = plan_family(engine, model.family.id, catalog=CATALOG)
        assert (used.device, used.dtype, used.vae_dtype, used.strategy, used.fits, used.estimate) == (
            shown.device,
            shown.dtype,
            shown.vae_dtype,
            shown.strategy,
            shown.fits,
            shown.estimate,
        ), (machine, model.id)
        assert shown.summary().endswith(used.summary())  # the same words, less the variant
        if model.family.id.startswith(("flux", "sd35")):
            assert "float16" not in (used.dtype, used.vae_dtype)
        if used.dtype == "float16":
            assert used.vae_dtype == "float32"


def test_free_memory_is_read_again_when_a_model_is_planned(tmp_path: Path) -> None:
    probe = FakeProbe(cuda=CudaDevice("NVIDIA GeForce RTX 4090", (8, 9), 24 * GIB, 24 * GIB), frees=[3 * GIB])
    profile = probe_device(probe)
    assert profile.vram_free == 24 * GIB
    info = ModelInfo(tmp_path, "sdxl", single_file=False)
    plan = plan_for(profile, info)  # a game took 21 GiB since the probe
    assert plan.strategy is MemoryStrategy.SEQUENTIAL_OFFLOAD
    assert plan_family(profile, "sdxl").strategy is MemoryStrategy.FULL  # the profile as probed


def test_an_fp16_fix_vae_decodes_in_float16(tmp_path: Path) -> None:
    profile = profile_for("cuda", "NVIDIA GeForce RTX 2080", (7, 5), 8 * GIB, ram_bytes=RAM)
    info = ModelInfo(tmp_path, "sdxl", single_file=False)
    assert plan_for(profile, info).vae_dtype == "float32"  # no VAE config: diffusers' default upcasts
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "config.json").write_text(json.dumps({"force_upcast": False}))
    assert (plan_for(profile, info).dtype, plan_for(profile, info).vae_dtype) == ("float16", "float16")


def test_the_step_down_after_running_out_of_memory() -> None:
    cuda = plan_family(profile_for("cuda", "GPU", (8, 6), 24 * GIB, ram_bytes=RAM), "sd15")
    ladder = [MemoryStrategy.FULL]
    while (lower := cuda.lower_strategy(ladder[-1])) is not None:
        ladder.append(lower)
    assert ladder == list(MemoryStrategy)
    for kind in ("cpu", "mps"):
        plan = plan_family(profile_for(kind, ram_bytes=RAM), "flux-dev")
        assert plan.lower_strategy(MemoryStrategy.FULL) is MemoryStrategy.SLICED
        assert plan.lower_strategy(MemoryStrategy.SLICED) is None
    assert plan_family(profile_for("cpu", ram_bytes=RAM), "flux-dev").strategy is MemoryStrategy.FULL


def test_a_family_the_catalog_lacks_plans_by_the_rules_alone() -> None:
    plan = plan_family(profile_for("cuda", "GPU", (8, 6), 24 * GIB, ram_bytes=RAM), "future-dit")
    assert (plan.dtype, plan.strategy, plan.fits, plan.estimate) == (
        "bfloat16",
        MemoryStrategy.FULL,
        None,
        None,
    )


# ------------------------------------------------------------------------- the CPU: dtype, threads
@pytest.mark.parametrize(
    ("capabilities", "onednn", "bfloat16"),
    [
        ({"architecture": "x86_64", "avx512_f": True, "avx512_bf16": True, "amx_bf16": True}, True, True),
        ({"architecture": "x86_64", "avx512_f": True, "avx512_bf16": True, "amx_bf16": False}, True, True),
        ({"architecture": "x86_64", "avx512_f": True, "avx512_bf16": False, "amx_bf16": False}, True, False),
        ({"architecture": "aarch64", "neon": True, "bf16": True, "sve_bf16": True}, True, True),
        ({"architecture": "aarch64", "neon": True, "bf16": True}, False, False),  # no oneDNN in the build
        ({"architecture": "aarch64", "neon": True, "bf16": False}, True, False),
    ],
    ids=["amx", "avx512-bf16", "avx512", "arm-bf16", "arm-bf16-without-onednn", "arm"],
)
def test_torch_capabilities_decide_cpu_bfloat16(
    capabilities: dict[str, object], onednn: bool, bfloat16: bool
) -> None:
    assert cpu_bfloat16_from(capabilities, onednn) is bfloat16
    profile = probe_device(FakeProbe(bfloat16=cpu_bfloat16_from(capabilities, onednn)))
    assert profile.dtype == ("bfloat16" if bfloat16 else "float32")


@pytest.mark.skipif(sys.platform != "linux", reason="the model store reads the flags in /proc/cpuinfo")
def test_the_torch_probe_agrees_with_the_cpu_flags() -> None:
    from sfumato.model_store.hardware import read_cpu_bfloat16

    assert TorchProbe().cpu_bfloat16() is read_cpu_bfloat16()


def test_thread_count_follows_the_environment_or_the_physical_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from sfumato.model_store.hardware import physical_cores

    for name in ("SFUMATO_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert cpu_threads() == physical_cores()
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpu_threads() is None  # torch read it at start-up: left alone
    monkeypatch.setenv("SFUMATO_THREADS", "1")
    assert cpu_threads() == 1
    monkeypatch.setenv("SFUMATO_THREADS", "many")
    assert cpu_threads() is None
