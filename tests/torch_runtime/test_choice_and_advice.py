"""Which variant each machine gets, and what the user is told about the backend."""

from __future__ import annotations

import pytest

from sfumato.model_store import GpuInfo, HardwareProfile
from sfumato.torch_runtime import ActiveRuntime, backend_advice, choose_variant, pip_command
from sfumato.torch_runtime.variants import TORCH_VERSION

GIB = 1024**3


def machine(*gpus: GpuInfo) -> HardwareProfile:
    return HardwareProfile(cpu_cores=8, ram_total=32 * GIB, gpus=gpus)


def nvidia(name: str, capability: str | None, cuda: str | None) -> HardwareProfile:
    return machine(GpuInfo("cuda", name, 8 * GIB, None, capability, "570.0", cuda))


RTX_3060 = nvidia("NVIDIA GeForce RTX 3060", "8.6", "12.8")
AMD = machine(GpuInfo("rocm", "Radeon RX 7900 XTX", 24 * GIB))
APPLE = machine(GpuInfo("mps", "Apple M3", 16 * GIB))


@pytest.mark.parametrize(
    ("hardware", "system", "machine_name", "key", "candidates"),
    [
        (nvidia("GTX 1080", "6.1", "12.8"), "Linux", "x86_64", "cu126", ["cu126", "cpu"]),
        (nvidia("Tesla T4", "7.5", "12.2"), "Linux", "x86_64", "cu128", ["cu128", "cu126", "cpu"]),
        (RTX_3060, "Windows", "AMD64", "cu128", ["cu128", "cu126", "cpu"]),
        (nvidia("RTX 3060", "8.6", "13.0"), "Linux", "x86_64", "cu130", ["cu130", "cu128", "cu126", "cpu"]),
        (nvidia("RTX 5090", "12.0", "12.8"), "Windows", "AMD64", "cu128", ["cu128", "cpu"]),
        (nvidia("RTX 5090", "12.0", "13.0"), "Linux", "x86_64", "cu130", ["cu130", "cu128", "cpu"]),
        (nvidia("GTX 1080", "6.1", "11.8"), "Linux", "x86_64", "cpu", ["cpu"]),
        (nvidia("Tesla K80", "3.7", "12.2"), "Linux", "x86_64", "cpu", ["cpu"]),
        (nvidia("Old smi", None, None), "Linux", "x86_64", "cu130", ["cu130", "cu128", "cu126", "cpu"]),
        (AMD, "Linux", "x86_64", "rocm6.4", ["rocm6.4", "cpu"]),
        (AMD, "Windows", "AMD64", "cpu", ["cpu"]),
        (APPLE, "Darwin", "arm64", "mps", ["mps"]),
        (machine(), "Darwin", "x86_64", "macos-cpu", ["macos-cpu"]),
        (machine(), "Linux", "x86_64", "cpu", ["cpu"]),
        (machine(), "Windows", "AMD64", "cpu", ["cpu"]),
    ],
)
def test_the_variant_for_each_machine(
    hardware: HardwareProfile, system: str, machine_name: str, key: str, candidates: list[str]
) -> None:
    choice = choose_variant(hardware, system, machine_name)
    assert choice.variant.key == key
    assert [v.key for v in choice.candidates] == candidates


def test_reasons_say_what_to_do() -> None:
    old_driver = choose_variant(nvidia("GTX 1080", "6.1", "11.8"), "Linux", "x86_64")
    assert "update the NVIDIA driver to at least R525 (CUDA 12.0)" in old_driver.reason
    kepler = choose_variant(nvidia("Tesla K80", "3.7", "12.2"), "Linux", "x86_64")
    assert "no CUDA build" in kepler.reason and "3.7" in kepler.reason
    assert "Linux x86_64 only" in choose_variant(AMD, "Windows", "AMD64").reason
    pascal = choose_variant(nvidia("GTX 1080", "6.1", "12.8"), "Linux", "x86_64")
    assert "CUDA 12.6" in pascal.reason and "sm_50–sm_90" in pascal.reason


def test_a_gpu_in_use_is_reported_with_its_name() -> None:
    active = ActiveRuntime("runtime", "cu128", "2.13.0+cu128")
    advice = backend_advice(RTX_3060, active, "cuda", frozen=True, system="Linux", machine="x86_64")
    assert advice.headline == "Running on CUDA — NVIDIA GeForce RTX 3060 (torch 2.13.0+cu128)"
    assert advice.action == "none" and advice.suggested_variant is None
    mps = backend_advice(APPLE, ActiveRuntime("runtime", "mps", "2.13.0"), None, True, "Darwin", "arm64")
    assert mps.headline.startswith("Running on Apple GPU (MPS) — Apple M3") and mps.action == "none"


def test_a_cpu_runtime_next_to_a_gpu_offers_the_gpu_build() -> None:
    cpu_runtime = ActiveRuntime("runtime", "cpu", "2.13.0+cpu")
    packaged = backend_advice(RTX_3060, cpu_runtime, "cpu", frozen=True, system="Linux", machine="x86_64")
    assert packaged.action == "install" and packaged.suggested_variant == "cu128"
    assert "RTX 3060 is not used" in packaged.headline and "sfumato runtime install" in packaged.how

    env_torch = ActiveRuntime("environment", None, "2.13.0+cpu")
    dev = backend_advice(AMD, env_torch, None, frozen=False, system="Linux", machine="x86_64")
    assert dev.action == "pip" and dev.suggested_variant == "rocm6.4"
    assert f"pip install --force-reinstall torch=={TORCH_VERSION} --index-url " in dev.how
    assert dev.how.endswith("https://download.pytorch.org/whl/rocm6.4")


def test_no_torch_means_no_runtime_installed() -> None:
    advice = backend_advice(
        machine(), ActiveRuntime("none"), None, frozen=True, system="Windows", machine="AMD64"
    )
    assert advice.headline == "No PyTorch runtime installed"
    assert advice.action == "install" and advice.suggested_variant == "cpu"


def test_a_cpu_only_machine_or_an_old_driver_gets_nothing_to_install() -> None:
    active = ActiveRuntime("runtime", "cpu", "2.13.0+cpu")
    plain = backend_advice(machine(), active, "cpu", frozen=True, system="Linux", machine="x86_64")
    assert plain.action == "none" and plain.headline == "Running on the CPU (torch 2.13.0+cpu)"
    old = backend_advice(nvidia("GTX 1080", "6.1", "11.8"), active, "cpu", True, "Linux", "x86_64")
    assert old.action == "none" and "update the NVIDIA driver" in old.detail


def test_pip_commands_use_this_python_and_the_variant_index() -> None:
    assert pip_command("cu128", "/opt/py/bin/python") == (
        f"/opt/py/bin/python -m pip install --force-reinstall torch=={TORCH_VERSION} "
        "--index-url https://download.pytorch.org/whl/cu128"
    )
    assert (
        pip_command("mps", "/x/python")
        == f"/x/python -m pip install --force-reinstall torch=={TORCH_VERSION}"
    )
    assert pip_command("cpu", "/my dir/python").startswith("'/my dir/python' -m pip")
