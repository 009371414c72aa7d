"""The CPU backends: which library computes the denoiser when a model runs on the CPU.

One vocabulary for the ``cpu_backend`` setting, ``sfumato generate --cpu-backend`` and the
engine. What the engine chose for the loaded model is its
:class:`~sfumato.model_store.fit.RunPlan`'s ``backend`` (``torch`` or ``openvino``; never
``auto``). How the choice is made, and when OpenVINO is faster, is explained in
:mod:`sfumato.inference.openvino_backend`. It lives outside ``inference``, ``model_store`` and
``settings`` so that each can import it without importing the others (stdlib only).
"""

from __future__ import annotations

import enum
import importlib.util


class CpuBackend(enum.StrEnum):
    """What computes a model's UNet on the CPU."""

    AUTO = "auto"
    """OpenVINO when it is installed and measured faster for the model on this machine."""
    TORCH = "torch"
    """PyTorch, always."""
    OPENVINO = "openvino"
    """OpenVINO whenever it can run the model (SD 1.x, 2.x and SDXL UNets)."""


CPU_BACKENDS: tuple[str, ...] = tuple(backend.value for backend in CpuBackend)
"""The values the setting and the command line accept, in the order a menu shows them."""

BACKEND_NAMES = {CpuBackend.TORCH: "PyTorch", CpuBackend.OPENVINO: "OpenVINO"}
"""How a person reads a chosen backend (``auto`` is never a chosen one)."""


def openvino_installed() -> bool:
    """Whether the ``openvino`` package is there to import (found, not imported: importing it
    takes seconds, and a broken install still shows up when the engine tries it)."""
    return importlib.util.find_spec("openvino") is not None
