"""Scheduler names → diffusers scheduler instances, built from the model's own scheduler config.

What each name is — its diffusers class and config overrides — is the one table in
:data:`sfumato.generation.schedulers.SCHEDULERS`; this module only instantiates it. Imported only
by the engine when a model is loaded (it imports diffusers).
"""

from __future__ import annotations

from typing import Any

import diffusers

from sfumato.generation.schedulers import SCHEDULERS, scheduler_for_class, scheduler_spec
from sfumato.inference.errors import UnsupportedError
from sfumato.inference.families import ArchitectureTraits


def name_of(scheduler: Any) -> str | None:
    """The Sfumato name of a scheduler instance, if it is one of ours: its class's (Karras-spaced
    or not), the one whose config values it has where one class has several (``DDIM Trailing``)."""
    karras = bool(getattr(scheduler.config, "use_karras_sigmas", False))
    same = [s for s in SCHEDULERS if s.class_name == type(scheduler).__name__ and s.karras == karras]
    exact = [s for s in same if all(getattr(scheduler.config, k, None) == v for k, v in s.overrides.items())]
    if exact:
        return max(exact, key=lambda s: len(s.overrides)).name
    return scheduler_for_class(type(scheduler).__name__, karras)


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
    spec = scheduler_spec(name)
    return getattr(diffusers, spec.class_name).from_config(base_config, **spec.overrides)
