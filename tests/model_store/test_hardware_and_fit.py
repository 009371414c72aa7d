"""Hardware probe (with fake tool output), tiers, and the one planner: dtype, VAE dtype, variant,
memory strategy and fit per machine."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from store_helpers import write_test_catalog

from sfumato.memory_strategy import MemoryStrategy
from sfumato.model_store import (
    Family,
    GpuInfo,
    HardwareProfile,
    describe_hardware,
    hardware_tier,
    load_catalog,
    plan_model,
    plan_run,
    probe_hardware,
    starter_set,
)
from sfumato.model_store.hardware import (
    cpu_bfloat16_in,
    physical_cores,
    physical_cores_in,
    read_cpu_bfloat16,
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


def gpu(
    vram_gib: float, cap: str = "8.6", ram_gib: float = 32, free_gib: float | None = None, name: str = "card"
) -> HardwareProfile:
    free = None if free_gib is None else int(free_gib * GIB)
    return HardwareProfile(
        8, int(ram_gib * GIB), gpus=(GpuInfo("cuda", name, int(vram_gib * GIB), free, cap),)
    )


@pytest.fixture
def tiny_sd(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The test catalog's SD 1.5-sized model (1067 M parameters, 84 M of them the VAE's)."""
    return load_catalog(write_test_catalog(tmp_path / "c")).get("tiny-sd")


def test_the_choice_per_machine(tiny_sd) -> None:  # type: ignore[no-untyped-def]
    cpu = plan_model(tiny_sd, HardwareProfile(4, 16 * GIB))
    assert (cpu.device, cpu.dtype, cpu.vae_dtype, cpu.strategy, cpu.fits, cpu.variant) == (
        "cpu",
        "float32",
        "float32",
        MemoryStrategy.FULL,
        True,
        "fp16",  # float16 weights widen to float32 exactly: the smaller download
    )
    assert "slow" in cpu.reason and cpu.summary() == "fp16 · float32 · full"
    big = plan_model(tiny_sd, gpu(12))
    assert (big.device, big.dtype, big.vae_dtype, big.strategy, big.fits) == (
        "cuda",
        "float16",
        "float32",
        MemoryStrategy.FULL,
        True,
    )
    assert big.estimate is not None and big.estimate.weights == int(983e6 * 2) + int(84e6 * 4)
    assert big.summary() == "fp16 · float16, VAE float32 · full"
    assert plan_model(tiny_sd, gpu(3.5)).strategy is MemoryStrategy.MODEL_OFFLOAD
    tiny = plan_model(tiny_sd, gpu(3.3))
    assert (tiny.strategy, tiny.fits) == (MemoryStrategy.SEQUENTIAL_OFFLOAD, True)
    hopeless = plan_model(tiny_sd, gpu(2.0))
    assert hopeless.fits is False and "even offloading layer by layer" in hopeless.reason
    no_ram = plan_model(tiny_sd, gpu(1, ram_gib=3))
    assert no_ram.fits is False and "RAM" in no_ram.reason
    small_cpu = plan_model(tiny_sd, HardwareProfile(4, 4 * GIB))
    assert small_cpu.fits is False and "needs ~" in small_cpu.reason
    assert plan_model(tiny_sd, gpu(12), "fp32").variant == "fp32"  # a variant asked for is kept


def test_forcing_float32_changes_how_a_model_computes_not_what_it_downloads(tiny_sd) -> None:  # type: ignore[no-untyped-def]
    amx = HardwareProfile(4, 16 * GIB, cpu_bfloat16=True)
    own = plan_model(tiny_sd, amx)
    forced = plan_model(tiny_sd, amx, force_float32=True)
    assert (own.dtype, forced.dtype, forced.vae_dtype) == ("bfloat16", "float32", "float32")
    assert forced.variant == own.variant  # the same files; only the compute dtype differs
    on_gpu = plan_model(tiny_sd, gpu(12), force_float32=True)
    assert (on_gpu.dtype, on_gpu.variant) == ("float32", plan_model(tiny_sd, gpu(12)).variant)


def test_free_vram_not_total_decides_the_strategy(tiny_sd) -> None:  # type: ignore[no-untyped-def]
    idle = plan_model(tiny_sd, gpu(12, free_gib=11.5))
    busy = plan_model(tiny_sd, gpu(12, free_gib=3.5))
    assert (idle.strategy, busy.strategy) == (MemoryStrategy.FULL, MemoryStrategy.MODEL_OFFLOAD)
    assert "3.5 GiB free" in busy.reason
    assert plan_model(tiny_sd, gpu(12, free_gib=1)).fits is False


def test_flux_and_sd3_never_run_in_float16() -> None:
    catalog = load_catalog()
    assert "float16" not in catalog.families["flux-dev"].dtypes
    claims_half = dataclasses.replace(catalog.families["flux-dev"], dtypes=("float16", "bfloat16"))
    assert plan_run(gpu(24, cap="7.5"), claims_half).dtype == "float32"  # whatever a catalog claims
    machines = [
        gpu(v, cap, free_gib=f) for v in (6, 8, 12, 24, 80) for cap in ("7.5", "8.9") for f in (None, v / 3)
    ]
    for model in (m for m in catalog.models if m.family.id.startswith(("flux", "sd35"))):
        for machine in machines:
            plan = plan_model(model, machine)
            assert plan.dtype == ("bfloat16" if machine.gpus[0].supports_bfloat16 else "float32"), model.id
            assert plan.vae_dtype == plan.dtype
    flux = catalog.get("flux-schnell")
    assert plan_model(flux, gpu(24, cap="8.9")).dtype == "bfloat16"
    old = plan_model(flux, gpu(16, cap="7.5", ram_gib=96))
    assert (old.dtype, old.strategy, old.fits) == ("float32", MemoryStrategy.SEQUENTIAL_OFFLOAD, True)
    assert old.variant == "bf16"  # bfloat16 weights, widened to float32 when loaded


def test_sd_vaes_never_decode_in_float16_unless_fixed() -> None:
    catalog = load_catalog()
    for model in (m for m in catalog.models if m.family.id.startswith(("sd15", "sd2", "sdxl"))):
        for machine in (gpu(8, cap="7.5"), gpu(24, cap="8.9"), HardwareProfile(8, 32 * GIB)):
            plan = plan_model(model, machine)
            assert plan.vae_dtype == "float32", (model.id, plan.dtype)
    sdxl = catalog.families["sdxl"]
    fixed = plan_run(gpu(12, cap="7.5"), sdxl, vae_fp16_safe=True)
    assert (fixed.dtype, fixed.vae_dtype) == ("float16", "float16")


def test_cards_that_render_black_in_half_precision_run_in_float32(tiny_sd) -> None:  # type: ignore[no-untyped-def]
    plan = plan_model(tiny_sd, gpu(6, cap="7.5", name="NVIDIA GeForce GTX 1660 SUPER"))
    assert (plan.dtype, plan.vae_dtype, plan.variant) == ("float32", "float32", "fp16")
    assert plan_model(tiny_sd, gpu(6, cap="5.2")).dtype == "float32"  # Maxwell: no float16


def test_apple_silicon_never_offloads_and_slices_below_64_gib() -> None:
    catalog = load_catalog()
    mac = HardwareProfile(10, 16 * GIB, gpus=(GpuInfo("mps", "Apple M2", 12 * GIB),))
    plan = plan_model(catalog.get("sd15"), mac)
    assert (plan.device, plan.dtype, plan.vae_dtype, plan.strategy, plan.fits) == (
        "mps",
        "float16",
        "float32",
        MemoryStrategy.SLICED,
        True,
    )
    studio = HardwareProfile(24, 128 * GIB, gpus=(GpuInfo("mps", "Apple M2 Ultra", 96 * GIB),))
    assert plan_model(catalog.get("sd15"), studio).strategy is MemoryStrategy.FULL
    flux = plan_model(catalog.get("flux-dev"), mac)
    assert (flux.dtype, flux.strategy, flux.fits) == ("float32", MemoryStrategy.SLICED, False)


def test_without_parameter_counts_the_hub_size_decides(tiny_sd) -> None:  # type: ignore[no-untyped-def]
    sizeless = Family("sizeless", "No counts", 1024, ("bfloat16", "float32"), None, None)
    variant = tiny_sd.variant("fp16")
    unknown = plan_run(gpu(24), sizeless, variants=(variant,))
    assert unknown.fits is None and "size unknown" in unknown.reason
    assert unknown.dtype == "bfloat16"  # not a float16 family: the catalog's list, less float16
    known = plan_run(gpu(24, ram_gib=64), sizeless, variants=(variant,), download_bytes=40 * GIB)
    assert known.estimate is not None and known.estimate.weights == 40 * GIB
    assert (known.strategy, known.fits) == (MemoryStrategy.SEQUENTIAL_OFFLOAD, True)


def test_starter_sets_only_offer_what_fits(tmp_path: Path) -> None:
    catalog = load_catalog(write_test_catalog(tmp_path / "c"))
    assert [p.model_id for p in starter_set(catalog, gpu(8))] == ["tiny-sd"]
    assert starter_set(catalog, HardwareProfile(2, 2 * GIB)) == []


def test_the_shipped_starter_sets_follow_the_hardware() -> None:
    catalog = load_catalog()

    def starters(profile: HardwareProfile) -> dict[str, str]:
        return {p.model_id: p.strategy.label for p in starter_set(catalog, profile)}

    cpu = starters(HardwareProfile(8, 16 * GIB))  # few-step models first; SDXL Turbo needs more RAM
    assert list(cpu) == ["sd-turbo", "sd15-lcm-lora", "sd15", "sd15-inpainting"]
    assert set(cpu.values()) == {"full"}
    assert starters(gpu(6, cap="7.5")) == {
        "sd15": "full",
        "sd15-inpainting": "full",
        "sdxl-base": "sequential offload",
    }
    offload = "model offload"
    assert starters(gpu(8)) == {
        "sd15-inpainting": "full", "sdxl-base": offload, "sdxl-inpainting": offload, "sdxl-turbo": offload,
    }  # fmt: skip
    assert starters(gpu(12)) == {"sdxl-base": "sliced", "sdxl-inpainting": "sliced", "sd35-medium": offload}
    assert set(starters(gpu(24, ram_gib=64))) == {"sdxl-inpainting", "flux-schnell", "flux-dev", "flux-fill"}


# ------------------------------------------------------------------------- bfloat16 on the CPU
XEON_AMX = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8

processor\t: 1
vendor_id\t: GenuineIntel
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8

processor\t: 2
vendor_id\t: GenuineIntel
physical id\t: 0
core id\t\t: 1
flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8

processor\t: 3
vendor_id\t: GenuineIntel
physical id\t: 0
core id\t\t: 1
flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8
"""
AVX512_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n"
ICE_LAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\n"
GRAVITON3 = "processor\t: 0\nBogoMIPS\t: 2100.00\nFeatures\t: fp asimd sve asimddp sve2 bf16 svebf16 i8mm\n"
GRAVITON2 = "processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes pmull sha1 asimddp\n"


@pytest.mark.parametrize(
    ("cpuinfo", "bfloat16"),
    [
        (XEON_AMX, True),
        (AVX512_BF16, True),
        (ICE_LAKE, False),
        (GRAVITON3, True),
        (GRAVITON2, False),
        ("", False),
    ],
    ids=["amx", "avx512-bf16", "avx512-without-bf16", "arm-bf16", "arm-without-bf16", "unreadable"],
)
def test_the_cpu_runs_bfloat16_where_it_computes_it(cpuinfo: str, bfloat16: bool) -> None:
    assert cpu_bfloat16_in(cpuinfo) is bfloat16
    machine = HardwareProfile(8, 32 * GIB, cpu_bfloat16=cpu_bfloat16_in(cpuinfo))
    expected = "bfloat16" if bfloat16 else "float32"
    for family in ("sd15", "sdxl", "sd35-medium", "flux-schnell"):
        plan = plan_run(machine, load_catalog().families[family])
        assert (plan.device, plan.dtype, plan.vae_dtype) == ("cpu", expected, expected), family
        assert plan.summary() == f"{expected} · full"


def test_a_cpu_with_bfloat16_fetches_the_smaller_weights(tiny_sd) -> None:  # type: ignore[no-untyped-def]
    plan = plan_model(tiny_sd, HardwareProfile(4, 16 * GIB, cpu_bfloat16=True))
    assert (plan.dtype, plan.variant, plan.fits) == ("bfloat16", "fp16", True)
    assert plan.estimate is not None and plan.estimate.weights == int(983e6 * 2) + int(84e6 * 2)
    assert plan.summary() == "fp16 · bfloat16 · full"


def test_float32_can_be_forced_on_any_device() -> None:
    sd15, flux = load_catalog().families["sd15"], load_catalog().families["flux-dev"]
    for machine in (HardwareProfile(8, 64 * GIB, cpu_bfloat16=True), gpu(24, cap="8.9", ram_gib=96)):
        for family in (sd15, flux):
            assert plan_run(machine, family).dtype != "float32"
            forced = plan_run(machine, family, force_float32=True)
            assert (forced.dtype, forced.vae_dtype) == ("float32", "float32"), (machine, family.id)


def test_the_probe_reads_bfloat16_and_keeps_it_in_a_profile_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = probe_hardware(runner({}), nvml=lambda: None)
    assert found.cpu_bfloat16 is read_cpu_bfloat16()
    file = tmp_path / "machine.json"
    file.write_text(json.dumps(HardwareProfile(4, 8 * GIB, cpu_bfloat16=True, system="Linux").to_dict()))
    monkeypatch.setenv("SFUMATO_HARDWARE_PROFILE", str(file))
    assert probe_hardware().cpu_bfloat16 is True
    assert "cpu cores: 4, bfloat16 arithmetic" in describe_hardware(probe_hardware())


def test_physical_cores_count_core_ids_of_the_cpus_this_process_may_use() -> None:
    assert physical_cores_in(XEON_AMX) == 2  # four logical CPUs, two cores with two threads each
    assert physical_cores_in(XEON_AMX, allowed={0, 1}) == 1
    assert physical_cores_in(XEON_AMX, allowed={1, 2, 3}) == 2
    assert physical_cores_in(GRAVITON3) is None  # no core ids: ask the kernel's topology instead
    assert physical_cores() is None or 1 <= physical_cores() <= len(os.sched_getaffinity(0))
