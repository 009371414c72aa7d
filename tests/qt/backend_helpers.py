"""Fakes for the backend tests: machines, active runtimes and advice, patched into
``sfumato.torch_runtime`` and the hardware probe so nothing runs nvidia-smi or installs torch."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from sfumato import torch_runtime
from sfumato.model_store import hardware
from sfumato.model_store.hardware import GpuInfo, HardwareProfile
from sfumato.torch_runtime import ActiveRuntime, BackendAdvice

GIB = 1024**3
RTX_3060 = GpuInfo("cuda", "NVIDIA GeForce RTX 3060", 12 * GIB, 11 * GIB, "8.6", "560.35", "12.6")
NVIDIA_PC = HardwareProfile(cpu_cores=12, ram_total=32 * GIB, gpus=(RTX_3060,), system="Linux")
PLAIN_PC = HardwareProfile(cpu_cores=8, ram_total=16 * GIB, system="Linux")

CUDA_RUNTIME = ActiveRuntime("runtime", "cu128", "2.13.0+cu128")
CPU_ENVIRONMENT = ActiveRuntime("environment", None, "2.13.0+cpu")
NO_RUNTIME = ActiveRuntime("none")

FINE = BackendAdvice("Sfumato uses your GPU.", "Nothing to do.", "none", None)
CPU_WHILE_GPU = BackendAdvice("Sfumato runs on the CPU although this computer has an NVIDIA GPU.",
                              "Install the CUDA runtime to make images many times faster.",
                              "install", "cu128")
PIP_ADVICE = BackendAdvice("This Python environment has the CPU build of PyTorch.",
                           "Install the CUDA build with pip, then restart Sfumato.", "pip", "cu128")
NO_RUNTIME_ADVICE = BackendAdvice("No PyTorch runtime is installed.", "Install one to generate images.",
                                  "install", "cu128")


@dataclass
class BackendFakes:
    """What the patched probe functions answer, and what they were asked."""

    active: ActiveRuntime = CPU_ENVIRONMENT
    machine: HardwareProfile = NVIDIA_PC
    advice: BackendAdvice = CPU_WHILE_GPU
    asked: list[str | None] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> BackendFakes:
        """Patch the runtime and hardware probes to answer from this object."""
        monkeypatch.setattr(torch_runtime, "active_runtime", lambda: self.active)
        monkeypatch.setattr(hardware, "probe_hardware", lambda: self.machine)
        monkeypatch.setattr(torch_runtime, "backend_advice", self._advise)
        return self

    def _advise(self, _hardware: HardwareProfile, _active: ActiveRuntime,
                device_kind: str | None) -> BackendAdvice:
        self.asked.append(device_kind)
        return self.advice
