"""Scheduler names → diffusers scheduler instances, built from the model's own scheduler config.

Imported only by the engine when a model is loaded (it imports diffusers).
"""

from __future__ import annotations

from typing import Any

from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    LCMScheduler,
)

from sfumato.generation import schedulers as names
from sfumato.inference.errors import UnsupportedError
from sfumato.inference.families import ArchitectureTraits

_UNET: dict[str, tuple[type, dict[str, Any]]] = {
    names.EULER_A: (EulerAncestralDiscreteScheduler, {}),
    names.EULER: (EulerDiscreteScheduler, {"use_karras_sigmas": False}),
    names.DPMPP_2M: (
        DPMSolverMultistepScheduler,
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": False},
    ),
    names.DPMPP_2M_KARRAS: (
        DPMSolverMultistepScheduler,
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    names.DDIM: (DDIMScheduler, {}),
    names.LCM: (LCMScheduler, {}),
}


def name_of(scheduler: Any) -> str | None:
    """The Sfumato name of a scheduler instance, if it is one of ours."""
    if isinstance(scheduler, FlowMatchEulerDiscreteScheduler):
        return names.FLOW_MATCH_EULER
    karras = bool(getattr(scheduler.config, "use_karras_sigmas", False))
    for name, (cls, overrides) in _UNET.items():
        if type(scheduler) is cls and overrides.get("use_karras_sigmas", False) == karras:
            return name
    return None


def default_scheduler_name(base: Any, traits: ArchitectureTraits) -> str:
    """The name to use when a request leaves the scheduler to the model: the model's own if it
    is one Sfumato offers, otherwise the family's first choice."""
    own = name_of(base)
    return own if own in traits.schedulers else traits.schedulers[0]


def make_scheduler(name: str, base_config: Any, traits: ArchitectureTraits) -> Any:
    """A fresh scheduler called ``name`` configured from the model's ``base_config``."""
    if name not in traits.schedulers:
        offered = ", ".join(traits.schedulers)
        raise UnsupportedError(f"{name} is not available for {traits.label} models; use {offered}.")
    if name == names.FLOW_MATCH_EULER:
        return FlowMatchEulerDiscreteScheduler.from_config(base_config)
    cls, overrides = _UNET[name]
    return cls.from_config(base_config, **overrides)
