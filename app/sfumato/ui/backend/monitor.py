"""What the app computes on: the PyTorch runtime found at start-up, the machine's GPUs, and — once
the engine has probed it — the device a job really runs on; with the advice for this state.

The runtime is known at once (``activate()`` ran at launch); it is read again, with the hardware,
on the ``probe`` lane, awaited by a coroutine (``nvidia-smi`` and friends are
subprocesses); the device comes from the inference thread's ``device_probed`` signal, and the
dtype the loaded model really runs in from its ``run_plan_changed`` signal (until a model is
loaded, the field shows the device's best dtype). The wording of the status-bar field is
:func:`describe_backend`, a pure function of that state.
"""

from __future__ import annotations

import logging
import platform
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from sfumato import torch_runtime
from sfumato.qt_bridge import work
from sfumato.qt_bridge.inference_thread import InferenceService
from sfumato.torch_runtime.variants import VARIANTS, variant_for_local_label

if TYPE_CHECKING:
    from sfumato.inference.device import DeviceProfile
    from sfumato.model_store.fit import RunPlan
    from sfumato.model_store.hardware import HardwareProfile
    from sfumato.torch_runtime import ActiveRuntime, BackendAdvice

log = logging.getLogger(__name__)

READY_TEXT = {"cuda": "CUDA runtime ready", "rocm": "ROCm runtime ready", "mps": "MPS runtime ready"}
NO_RUNTIME_TEXT = "No PyTorch runtime — install one"
IMPORTED_WITH_TORCH = ("torch", "diffusers", "transformers")


@dataclass(frozen=True)
class BackendLabel:
    """The status-bar field: its text, whether it warns, and its tooltip."""

    text: str
    warning: bool
    tooltip: str


def device_text(device: DeviceProfile, dtype: str | None = None) -> str:
    """``CUDA · NVIDIA GeForce RTX 3060 · bfloat16``, ``MPS · Apple GPU · float16`` or
    ``CPU · bfloat16``: the device, and ``dtype`` (the loaded model's) or else the device's best."""
    dtype = dtype or device.dtype
    if device.kind == "cpu":
        return f"CPU · {dtype}"
    return f"{device.kind.upper()} · {device.name} · {dtype}"


def runtime_backend(active: ActiveRuntime) -> str | None:
    """``cuda``, ``rocm``, ``mps`` or ``cpu`` for the active runtime, from its variant or from the
    local label of its torch version (``2.13.0+cpu``); ``None`` when neither tells."""
    key = active.variant
    if key is None and active.torch_version and "+" in active.torch_version:
        found = variant_for_local_label(active.torch_version.split("+", 1)[1], platform.system(),
                                        platform.machine())
        key = found.key if found is not None else None
    return next((v.backend for v in VARIANTS if v.key == key), None)


def runtime_text(active: ActiveRuntime) -> str:
    """What is installed before any job ran: ``CUDA runtime ready``, ``CPU`` or no runtime."""
    if active.source == "none":
        return NO_RUNTIME_TEXT
    backend = runtime_backend(active)
    if backend is None:
        return f"PyTorch {active.torch_version or ''}".strip()
    return READY_TEXT.get(backend, "CPU")


def describe_backend(active: ActiveRuntime, device: DeviceProfile | None,
                     advice: BackendAdvice | None, runtime_missing: bool = False,
                     plan: RunPlan | None = None) -> BackendLabel:
    """The field for this state.

    The device, once probed, wins over the installed runtime; a job that found no runtime wins
    over both. With ``plan`` (how the loaded model runs) the field names its dtype (with the
    library when it is not torch: ``CPU · OpenVINO bfloat16``), and the tooltip its whole
    precision. The field warns whenever the advice has something to do (``action`` other than
    ``"none"``): no runtime, or the CPU running while a GPU is present.
    """
    if runtime_missing:
        text = NO_RUNTIME_TEXT
    elif device is not None:
        text = device_text(device, plan.compute if plan is not None else None)
    else:
        text = runtime_text(active)
    missing = text == NO_RUNTIME_TEXT
    warning = missing or (advice is not None and advice.action != "none")
    if warning and not missing:
        text += " · GPU unused"
    tip = f"{advice.headline}\n\n" if advice is not None else ""
    if plan is not None and device is not None and not missing:
        tip += f"The loaded model runs in {plan.precision}.\n\n"
    return BackendLabel(text, warning, f"{tip}Click for the processing backend.")


def _read_backend() -> tuple[ActiveRuntime, HardwareProfile]:
    """The active runtime and the hardware, read afresh (slow: subprocesses)."""
    from sfumato.model_store.hardware import probe_hardware

    return torch_runtime.active_runtime(), probe_hardware()


class BackendMonitor(QObject):
    """Holds the backend state of one window and says when it changes.

    Signals: ``changed()`` after any change of :attr:`label` or :attr:`advice`, and
    ``runtime_missing()`` each time a job found no PyTorch runtime.
    """

    changed = Signal()
    runtime_missing = Signal()

    def __init__(self, service: InferenceService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.active: ActiveRuntime = torch_runtime.active_runtime()  # cheap: activate() ran at launch
        self.hardware: HardwareProfile | None = None
        self.device: DeviceProfile | None = None
        self.run_plan: RunPlan | None = None
        """How the loaded model runs, once a job has loaded one."""
        self.advice: BackendAdvice | None = None
        self.missing = False
        self._probing = False
        self._work = work.BackgroundWork(self)
        service.device_probed.connect(self._on_device)
        service.run_plan_changed.connect(self._on_run_plan)

    @property
    def label(self) -> BackendLabel:
        """The status-bar field for the current state."""
        return describe_backend(self.active, self.device, self.advice, self.missing, self.run_plan)

    @property
    def restart_needed(self) -> bool:
        """Whether a newly installed runtime needs a restart: torch, or a library that noted at
        import time that torch was missing, is already loaded in this process."""
        return any(name in sys.modules for name in IMPORTED_WITH_TORCH)

    def probe(self) -> None:
        """Read the active runtime and the hardware in the background, then update."""
        if self._probing:
            return
        self._probing = True
        work.start(self._probe())

    async def _probe(self) -> None:
        try:
            active, hardware = await self._work.run("probe", _read_backend)
        except Exception:  # a failing probe must not stop the app: the field stays as it is
            log.exception("could not probe the processing backend")
            active, hardware = None, None
        self._probing = False
        if active is not None:
            self.active = active
            self.missing = self.missing and active.source == "none"
        if hardware is not None:
            self.hardware = hardware
        self._update()

    def _on_device(self, device: DeviceProfile | None) -> None:
        if device is None:
            self.missing = True
            self._update()
            self.runtime_missing.emit()
            return
        self.device, self.missing = device, False
        self._update()

    def _on_run_plan(self, plan: RunPlan) -> None:
        self.run_plan = plan
        self._update()

    def _update(self) -> None:
        if self.hardware is not None:
            kind = self.device.kind if self.device is not None else None
            self.advice = torch_runtime.backend_advice(self.hardware, self.active, kind)
        self.changed.emit()
