"""The :class:`Settings` dataclass: every user setting with its default and its validity check."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sfumato.cpu_backend import CPU_BACKENDS, CpuBackend

Check = Callable[[Any], Any]  # returns the (normalised) value, raises ValueError if invalid


def _int_in(low: int, high: int) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"expected a whole number within {low}..{high}")
        return value

    return check


def _float_in(low: float, high: float) -> Check:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("expected a number")
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError(f"expected a number within {low:g}..{high:g}")
        return float(value)

    return check


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected text")
    return value


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError("expected text or null")
    return value


def _paths(value: Any) -> list[str]:
    """A list of path strings; non-text items and repeats are dropped, order kept."""
    if not isinstance(value, list):
        raise ValueError("expected a list")
    return list(dict.fromkeys(v for v in value if isinstance(v, str) and v))


def _one_of(choices: tuple[str, ...]) -> Check:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return str(value)

    return check


def _json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError("expected an object")
    return value


def _checked(check: Check) -> dict[str, Check]:
    """Field metadata naming the check :func:`~sfumato.settings.store.load_settings` applies."""
    return {"check": check}


@dataclass
class Settings:
    """The user's settings. Edit the attributes, then :func:`~sfumato.settings.save_settings`.

    ``window_geometry``/``window_state`` are the main window's Qt ``saveGeometry``/``saveState``
    in base64; ``model_cache_dir`` overrides where models are cached (``None``: the default);
    ``generation`` is a free JSON object the prompt panel keeps its last parameters in;
    ``first_run_done`` turns true once the first-run model wizard was finished or skipped;
    ``force_float32`` makes the engine compute in float32 throughout instead of the dtype the
    planner picks for the device (bfloat16 on a CPU that has it): slower, for exact float32 pixels;
    ``cpu_backend`` says what computes a model's UNet on the CPU (:class:`~sfumato.cpu_backend.CpuBackend`):
    ``"auto"`` (OpenVINO when installed and measured faster for the model here), ``"torch"`` or
    ``"openvino"``.
    """

    autosave_interval_s: int = field(default=60, metadata=_checked(_int_in(5, 24 * 3600)))
    history_budget_mb: int = field(default=512, metadata=_checked(_int_in(16, 1024 * 1024)))
    recent_files: list[str] = field(default_factory=list, metadata=_checked(_paths))
    brush_size: float = field(default=24.0, metadata=_checked(_float_in(1.0, 1000.0)))
    brush_hardness: float = field(default=0.8, metadata=_checked(_float_in(0.0, 1.0)))
    brush_opacity: float = field(default=1.0, metadata=_checked(_float_in(0.0, 1.0)))
    window_geometry: str = field(default="", metadata=_checked(_text))
    window_state: str = field(default="", metadata=_checked(_text))
    model_cache_dir: str | None = field(default=None, metadata=_checked(_optional_text))
    generation: dict[str, Any] = field(default_factory=dict, metadata=_checked(_json_object))
    first_run_done: bool = field(default=False, metadata=_checked(_bool))
    force_float32: bool = field(default=False, metadata=_checked(_bool))
    cpu_backend: str = field(default=CpuBackend.AUTO.value, metadata=_checked(_one_of(CPU_BACKENDS)))
