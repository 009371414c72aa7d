"""Read NVIDIA GPUs through NVML (the library the driver installs) with ctypes — no nvidia-smi, no torch.

NVML gives what choosing a torch build needs: the CUDA version the driver supports
(``nvmlSystemGetCudaDriverVersion_v2``) and each card's compute capability, name and memory;
and what planning a model needs: free memory, and how much of the used memory is this process's
own (``nvmlDeviceGetComputeRunningProcesses_v3``), which Sfumato frees before it loads another
model. Any failure (no driver, no library, an NVML error) gives ``None``; the caller falls back
to ``nvidia-smi``. A failure of the process list alone only leaves :attr:`NvmlDevice.memory_here`
at 0 (as under Windows' WDDM, where NVML cannot tell a process's memory, or in a container whose
process ids NVML does not see).
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass
from typing import Any

NVML_SUCCESS = 0
NVML_ERROR_INSUFFICIENT_SIZE = 7
NVML_VALUE_NOT_AVAILABLE = 2**64 - 1  # usedGpuMemory under WDDM
_PROCESS_SLOTS = 64  # first guess at the length of the process list; grown when NVML says so
_NAME_BUFFER = 96  # NVML_DEVICE_NAME_V2_BUFFER_SIZE
_VERSION_BUFFER = 80  # NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE
_WINDOWS_PATHS = ("nvml.dll", r"C:\Program Files\NVIDIA Corporation\NVSMI\nvml.dll")


class _Memory(ctypes.Structure):
    _fields_ = [
        ("total", ctypes.c_ulonglong),
        ("free", ctypes.c_ulonglong),
        ("used", ctypes.c_ulonglong),
    ]


class _Process(ctypes.Structure):
    """``nvmlProcessInfo_t`` (version 2), what ``nvmlDeviceGetComputeRunningProcesses_v3`` fills."""

    _fields_ = [
        ("pid", ctypes.c_uint),
        ("usedGpuMemory", ctypes.c_ulonglong),
        ("gpuInstanceId", ctypes.c_uint),
        ("computeInstanceId", ctypes.c_uint),
    ]


@dataclass(frozen=True)
class NvmlDevice:
    """One card as NVML reports it; sizes in bytes, capability as ``"8.6"``.

    ``memory_here``: what this process holds on the card (0 when it holds nothing or NVML cannot
    tell).
    """

    name: str
    memory_total: int
    memory_free: int
    compute_capability: str
    memory_here: int = 0


@dataclass(frozen=True)
class NvmlReport:
    """The driver (``"570.124.06"``, CUDA ``"12.8"``) and its cards."""

    driver_version: str | None
    cuda_driver_version: str
    devices: tuple[NvmlDevice, ...]


def load_library() -> Any | None:
    """The NVML shared library, or ``None`` where it cannot be loaded."""
    names = _WINDOWS_PATHS if sys.platform == "win32" else ("libnvidia-ml.so.1",)
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def cuda_version_text(value: int) -> str:
    """NVML's integer CUDA version (12080) as ``"12.8"``."""
    return f"{value // 1000}.{value % 1000 // 10}"


def read_nvml(library: Any | None = None) -> NvmlReport | None:
    """Query the driver and every card; ``None`` if NVML is missing or any call fails.

    ``library``: an object with the NVML functions (tests pass a fake); default: :func:`load_library`.
    """
    lib = library if library is not None else load_library()
    if lib is None:
        return None
    try:
        if lib.nvmlInit_v2() != NVML_SUCCESS:
            return None
    except (AttributeError, OSError):
        return None
    try:
        return _query(lib)
    except (AttributeError, OSError):
        return None
    finally:
        lib.nvmlShutdown()


def _query(lib: Any) -> NvmlReport | None:
    cuda = ctypes.c_int()
    if lib.nvmlSystemGetCudaDriverVersion_v2(ctypes.byref(cuda)) != NVML_SUCCESS:
        return None
    driver_buffer = ctypes.create_string_buffer(_VERSION_BUFFER)
    driver = None
    if lib.nvmlSystemGetDriverVersion(driver_buffer, _VERSION_BUFFER) == NVML_SUCCESS:
        driver = driver_buffer.value.decode(errors="replace")
    count = ctypes.c_uint()
    if lib.nvmlDeviceGetCount_v2(ctypes.byref(count)) != NVML_SUCCESS:
        return None
    devices = []
    for index in range(count.value):
        device = _device(lib, index)
        if device is None:
            return None
        devices.append(device)
    return NvmlReport(driver, cuda_version_text(cuda.value), tuple(devices))


def _device(lib: Any, index: int) -> NvmlDevice | None:
    handle = ctypes.c_void_p()
    if lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(handle)) != NVML_SUCCESS:
        return None
    name = ctypes.create_string_buffer(_NAME_BUFFER)
    major, minor = ctypes.c_int(), ctypes.c_int()
    memory = _Memory()
    calls = (
        lib.nvmlDeviceGetName(handle, name, _NAME_BUFFER),
        lib.nvmlDeviceGetCudaComputeCapability(handle, ctypes.byref(major), ctypes.byref(minor)),
        lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(memory)),
    )
    if any(status != NVML_SUCCESS for status in calls):
        return None
    return NvmlDevice(
        name.value.decode(errors="replace"),
        memory.total,
        memory.free,
        f"{major.value}.{minor.value}",
        _memory_here(lib, handle),
    )


def _memory_here(lib: Any, handle: ctypes.c_void_p) -> int:
    """Bytes this process holds on the card, from its compute process list; 0 if unknown."""
    pid = os.getpid()
    slots = _PROCESS_SLOTS
    for _ in range(2):  # once more if the list outgrew the first guess
        count = ctypes.c_uint(slots)
        processes = (_Process * slots)()
        try:
            status = lib.nvmlDeviceGetComputeRunningProcesses_v3(handle, ctypes.byref(count), processes)
        except AttributeError:  # drivers older than the _v3 call
            return 0
        if status == NVML_ERROR_INSUFFICIENT_SIZE:
            slots = count.value + _PROCESS_SLOTS
            continue
        if status != NVML_SUCCESS:
            return 0
        used = [p.usedGpuMemory for p in processes[: count.value] if p.pid == pid]
        return sum(u for u in used if u != NVML_VALUE_NOT_AVAILABLE)
    return 0
