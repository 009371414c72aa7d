"""The NVML reader with a fake library, and the NVIDIA probe's order: NVML, then nvidia-smi."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from sfumato.model_store import GpuInfo, HardwareProfile, probe_hardware
from sfumato.model_store.nvml import (
    NVML_ERROR_INSUFFICIENT_SIZE,
    NVML_VALUE_NOT_AVAILABLE,
    NvmlDevice,
    NvmlReport,
    cuda_version_text,
    read_nvml,
)

MIB = 1024**2


class FakeNvml:
    """Stands in for libnvidia-ml: fills the ctypes out-parameters the real functions would."""

    def __init__(self, cards: Sequence[tuple[str, int, int, int]], cuda: int = 12080, fail: str = "") -> None:
        self.cards, self.cuda, self.fail = list(cards), cuda, fail
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("nvml"):
            raise AttributeError(name)

        def call(*args: Any) -> int:
            self.calls.append(name)
            if name == self.fail:
                return 999  # NVML_ERROR_UNKNOWN
            getattr(self, f"_{name}", lambda *a: None)(*args)
            return 0

        return call

    def _nvmlSystemGetCudaDriverVersion_v2(self, out: Any) -> None:
        out._obj.value = self.cuda

    def _nvmlSystemGetDriverVersion(self, buffer: Any, size: int) -> None:
        buffer.value = b"570.124.06"

    def _nvmlDeviceGetCount_v2(self, out: Any) -> None:
        out._obj.value = len(self.cards)

    def _nvmlDeviceGetHandleByIndex_v2(self, index: Any, out: Any) -> None:
        out._obj.value = 0x1000 + index.value

    def _card(self, handle: Any) -> tuple[str, int, int, int]:
        return self.cards[handle.value - 0x1000]

    def _nvmlDeviceGetName(self, handle: Any, buffer: Any, size: int) -> None:
        buffer.value = self._card(handle)[0].encode()

    def _nvmlDeviceGetCudaComputeCapability(self, handle: Any, major: Any, minor: Any) -> None:
        capability = self._card(handle)[1]
        major._obj.value, minor._obj.value = divmod(capability, 10)

    def _nvmlDeviceGetMemoryInfo(self, handle: Any, memory: Any) -> None:
        total_mib = self._card(handle)[2]
        memory._obj.total, memory._obj.free = total_mib * MIB, self._card(handle)[3] * MIB


def test_nvml_reports_the_driver_cuda_version_and_each_card() -> None:
    lib = FakeNvml(
        [("NVIDIA GeForce RTX 3060", 86, 12288, 11000), ("NVIDIA GeForce GTX 1080", 61, 8192, 8000)]
    )
    report = read_nvml(lib)
    assert report == NvmlReport(
        "570.124.06",
        "12.8",
        (
            NvmlDevice("NVIDIA GeForce RTX 3060", 12288 * MIB, 11000 * MIB, "8.6"),
            NvmlDevice("NVIDIA GeForce GTX 1080", 8192 * MIB, 8000 * MIB, "6.1"),
        ),
    )
    assert lib.calls[0] == "nvmlInit_v2" and lib.calls[-1] == "nvmlShutdown"


class BusyNvml(FakeNvml):
    """Also lists compute processes: ``processes`` (pid, bytes) on every card."""

    def __init__(self, cards: Sequence[tuple[str, int, int, int]], processes: list[tuple[int, int]]) -> None:
        super().__init__(cards)
        self.processes = processes

    def nvmlDeviceGetComputeRunningProcesses_v3(self, handle: Any, count: Any, infos: Any) -> int:
        self.calls.append("nvmlDeviceGetComputeRunningProcesses_v3")
        if count._obj.value < len(self.processes):
            count._obj.value = len(self.processes)
            return NVML_ERROR_INSUFFICIENT_SIZE
        for slot, (pid, used) in zip(infos, self.processes, strict=False):
            slot.pid, slot.usedGpuMemory = pid, used
        count._obj.value = len(self.processes)
        return 0


def test_memory_this_process_holds_counts_as_free_for_the_next_model() -> None:
    others = [(1, 100 * MIB)] * 70  # more than the first guess at the list's length
    lib = BusyNvml([("NVIDIA GeForce RTX 4090", 89, 24564, 10000)], [*others, (os.getpid(), 6000 * MIB)])
    (device,) = read_nvml(lib).devices  # type: ignore[union-attr]
    assert (device.memory_free, device.memory_here) == (10000 * MIB, 6000 * MIB)
    assert lib.calls.count("nvmlDeviceGetComputeRunningProcesses_v3") == 2
    (gpu,) = probe_hardware(lambda argv: None, nvml=lambda: read_nvml(lib)).gpus
    assert gpu.vram_free == 16000 * MIB
    wddm = BusyNvml(
        [("NVIDIA GeForce RTX 4090", 89, 24564, 10000)], [(os.getpid(), NVML_VALUE_NOT_AVAILABLE)]
    )
    assert read_nvml(wddm).devices[0].memory_here == 0  # type: ignore[union-attr]


def test_an_nvml_error_gives_none_and_still_shuts_down() -> None:
    lib = FakeNvml([("GPU", 86, 1024, 1024)], fail="nvmlDeviceGetCudaComputeCapability")
    assert read_nvml(lib) is None and lib.calls[-1] == "nvmlShutdown"
    assert read_nvml(FakeNvml([], fail="nvmlInit_v2")) is None


def test_cuda_versions_are_major_dot_minor() -> None:
    assert [cuda_version_text(v) for v in (12080, 12020, 13000, 11080)] == ["12.8", "12.2", "13.0", "11.8"]


def test_the_probe_prefers_nvml_and_falls_back_to_nvidia_smi() -> None:
    def smi(argv: Sequence[str]) -> str | None:
        if argv == ["nvidia-smi"]:
            return "| NVIDIA-SMI 550.54.14    Driver Version: 550.54.14    CUDA Version: 12.4     |\n"
        if argv[1].startswith("--query-gpu="):
            return "NVIDIA GeForce RTX 3060, 12288, 11000, 550.54.14, 8.6\n"
        return None

    lib = FakeNvml([("NVIDIA RTX A4000", 86, 16376, 16000)], cuda=12080)
    (gpu,) = probe_hardware(smi, nvml=lambda: read_nvml(lib)).gpus
    assert (gpu.name, gpu.cuda_driver_version, gpu.driver) == ("NVIDIA RTX A4000", "12.8", "570.124.06")

    (gpu,) = probe_hardware(smi, nvml=lambda: None).gpus
    assert gpu == GpuInfo(
        "cuda",
        "NVIDIA GeForce RTX 3060",
        12288 * MIB,
        11000 * MIB,
        "8.6",
        "550.54.14",
        cuda_driver_version="12.4",
    )


def test_profiles_written_before_cuda_driver_version_still_load() -> None:
    old = {
        "cpu_cores": 8,
        "ram_total": 1,
        "gpus": [{"backend": "cuda", "name": "T4", "vram_total": 1, "driver": "470.1"}],
    }
    profile = HardwareProfile.from_dict(old)
    assert profile.gpus[0].cuda_driver_version is None
    assert HardwareProfile.from_dict(profile.to_dict()) == profile
