"""Hardware probe (with fake tool output), tiers, and the per-GPU choice of variant and policy."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from store_helpers import write_test_catalog

from sfumato.model_store import (
    GpuInfo,
    HardwareProfile,
    describe_hardware,
    hardware_tier,
    load_catalog,
    plan_model,
    probe_hardware,
    starter_set,
)

GIB = 1024**3


def runner(outputs: dict[str, str | None]):  # type: ignore[no-untyped-def]
    """A fake tool runner: the output keyed by the first two argv items."""

    def run(argv: Sequence[str]) -> str | None:
        return outputs.get(" ".join(argv[:2]))

    return run


def test_nvidia_smi_is_parsed() -> None:
    out = "NVIDIA GeForce RTX 3060, 12288, 11000, 550.54.14, 8.6\n"
    profile = probe_hardware(
        runner({"nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version,compute_cap": out}),
        nvml=lambda: None,
    )
    (gpu,) = profile.gpus
    assert gpu == GpuInfo(
        "cuda", "NVIDIA GeForce RTX 3060", 12288 * 1024**2, 11000 * 1024**2, "8.6", "550.54.14"
    )
    assert gpu.supports_bfloat16 and hardware_tier(profile) == "gpu-12gb"
    assert profile.cpu_cores >= 1 and profile.ram_total > 0


def test_old_drivers_without_compute_cap_still_report_the_card() -> None:
    out = "Tesla T4, 15360, 15000, 470.1\n"
    profile = probe_hardware(
        runner({"nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version": out}),
        nvml=lambda: None,
    )
    assert profile.gpus[0].compute_capability is None and not profile.gpus[0].supports_bfloat16
    assert hardware_tier(profile) == "gpu-16gb"


def test_rocm_smi_json_is_parsed() -> None:
    data = {
        "card0": {"Card series": "Radeon RX 7900 XTX", "VRAM Total Memory (B)": str(24 * GIB),
                  "VRAM Total Used Memory (B)": str(GIB)},
        "system": {"Driver version": "6.3.6"},
    }  # fmt: skip
    profile = probe_hardware(runner({"rocm-smi --showproductname": json.dumps(data)}), nvml=lambda: None)
    (gpu,) = profile.gpus
    assert (gpu.backend, gpu.name, gpu.vram_free, gpu.driver) == (
        "rocm",
        "Radeon RX 7900 XTX",
        23 * GIB,
        "6.3.6",
    )
    assert hardware_tier(profile) == "gpu-24gb"


def test_no_tools_means_cpu() -> None:
    profile = probe_hardware(runner({}), nvml=lambda: None)
    assert hardware_tier(profile) == "cpu" or profile.gpus[0].backend == "mps"
    assert any(line.startswith("tier: ") for line in describe_hardware(profile))


def test_importing_the_store_and_probing_does_not_import_torch() -> None:
    code = (
        "import sys, sfumato.model_store as m, sfumato.commands.models; m.probe_hardware(); "
        "sys.exit('torch' in sys.modules or 'diffusers' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_a_profile_file_stands_in_for_the_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = HardwareProfile(
        8, 32 * GIB, None, (GpuInfo("cuda", "Fake 4090", 24 * GIB, None, "8.9", "560"),), "Linux"
    )
    path = tmp_path / "hw.json"
    path.write_text(json.dumps(profile.to_dict()))
    monkeypatch.setenv("SFUMATO_HARDWARE_PROFILE", str(path))
    assert probe_hardware() == profile


@pytest.mark.parametrize(
    ("vram_gib", "tier"),
    [
        (4.0, "gpu-6gb"),
        (6.0, "gpu-6gb"),
        (8.0, "gpu-8gb"),
        (12.0, "gpu-12gb"),
        (23.99, "gpu-24gb"),
        (80, "gpu-24gb"),
        (2.0, "cpu"),
    ],
)
def test_tiers(vram_gib: float, tier: str) -> None:
    profile = HardwareProfile(8, 32 * GIB, gpus=(GpuInfo("cuda", "x", int(vram_gib * GIB)),))
    assert hardware_tier(profile) == tier


def gpu(vram_gib: float, cap: str = "8.6", ram_gib: float = 32) -> HardwareProfile:
    return HardwareProfile(
        8, int(ram_gib * GIB), gpus=(GpuInfo("cuda", "card", int(vram_gib * GIB), None, cap),)
    )


@pytest.fixture
def tiny_sd(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The test catalog's SD 1.5-sized model (1067 M parameters)."""
    return load_catalog(write_test_catalog(tmp_path / "c")).get("tiny-sd")


def test_the_choice_per_machine(tiny_sd) -> None:  # type: ignore[no-untyped-def]
    cpu = plan_model(tiny_sd, HardwareProfile(4, 16 * GIB))
    assert (cpu.device, cpu.dtype, cpu.offload, cpu.fits, cpu.variant) == (
        "cpu",
        "float32",
        "none",
        True,
        "fp16",
    )
    assert "slow" in cpu.reason
    big = plan_model(tiny_sd, gpu(12))
    assert (big.device, big.dtype, big.offload, big.fits) == ("cuda", "float16", "none", True)
    assert big.estimate is not None and big.estimate.weights == int(1067e6 * 2)
    small = plan_model(tiny_sd, gpu(2.8))
    assert (small.offload, small.fits) == ("model", True)
    tiny = plan_model(tiny_sd, gpu(2.0))
    assert (tiny.offload, tiny.fits) == ("sequential", True)
    hopeless = plan_model(tiny_sd, gpu(1.0))
    assert hopeless.fits is False and "even offloading layer by layer" in hopeless.reason
    no_ram = plan_model(tiny_sd, gpu(1, ram_gib=3))
    assert no_ram.fits is False and "RAM" in no_ram.reason
    small_cpu = plan_model(tiny_sd, HardwareProfile(4, 4 * GIB))
    assert small_cpu.fits is False and "needs ~" in small_cpu.reason


def test_bfloat16_needs_ampere_and_mps_never_offloads() -> None:
    catalog = load_catalog()
    flux = catalog.get("flux-schnell")
    assert plan_model(flux, gpu(24, cap="8.9")).dtype == "bfloat16"
    assert plan_model(flux, gpu(16, cap="7.5")).dtype == "float16"
    mac = HardwareProfile(10, 16 * GIB, gpus=(GpuInfo("mps", "Apple M2", 12 * GIB),))
    plan = plan_model(catalog.get("sd15"), mac, download_bytes=2 * GIB)
    assert (plan.device, plan.offload, plan.fits) == ("mps", "none", True)


def test_without_parameter_counts_the_hub_size_decides(tiny_sd) -> None:  # type: ignore[no-untyped-def]
    sizeless = load_catalog().get("stable-cascade")
    unknown = plan_model(sizeless, gpu(24))
    assert unknown.fits is None and "size unknown" in unknown.reason
    known = plan_model(sizeless, gpu(24, ram_gib=64), download_bytes=40 * GIB)
    assert known.estimate is not None and known.estimate.weights == 40 * GIB
    assert (known.offload, known.fits) == ("sequential", True)


def test_starter_sets_only_offer_what_fits(tmp_path: Path) -> None:
    catalog = load_catalog(write_test_catalog(tmp_path / "c"))
    assert [p.model_id for p in starter_set(catalog, gpu(8))] == ["tiny-sd"]
    assert starter_set(catalog, HardwareProfile(2, 2 * GIB)) == []


def test_the_shipped_starter_sets_follow_the_hardware() -> None:
    catalog = load_catalog()

    def starters(profile: HardwareProfile) -> dict[str, str]:
        return {p.model_id: p.offload for p in starter_set(catalog, profile)}

    assert starters(HardwareProfile(8, 16 * GIB)) == {"sd15": "none", "sd15-inpainting": "none"}
    assert starters(gpu(6, cap="7.5")) == {
        "sd15": "none",
        "sd15-inpainting": "none",
        "sdxl-base": "sequential",
    }
    assert starters(gpu(8)) == {
        "sd15-inpainting": "none", "sdxl-base": "model", "sdxl-inpainting": "model", "sdxl-turbo": "model",
    }  # fmt: skip
    assert starters(gpu(12)) == {"sdxl-base": "none", "sdxl-inpainting": "none", "sd35-medium": "model"}
    assert set(starters(gpu(24, ram_gib=64))) == {"sdxl-inpainting", "flux-schnell", "flux-dev", "flux-fill"}
