"""Scheduler (sampler) names a request may carry, and the one table of what each name is.

The names follow the A1111 convention so they round-trip through PNG metadata. :data:`SCHEDULERS`
holds, for each name, the diffusers scheduler class (by name: this package imports no diffusers)
and the config values set over the model's own scheduler config; the engine builds instances
from it (:mod:`sfumato.inference.schedulers`), the catalog's class names are read back through
it (:func:`scheduler_for_class`), and the names offered per kind of model are its rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

EULER_A = "Euler a"
EULER = "Euler"
DPMPP_2M = "DPM++ 2M"
DPMPP_2M_KARRAS = "DPM++ 2M Karras"
DDIM = "DDIM"
DDIM_TRAILING = "DDIM Trailing"
LCM = "LCM"
FLOW_MATCH_EULER = "Flow match Euler"


@dataclass(frozen=True)
class SchedulerSpec:
    """What a scheduler name stands for: the diffusers class and the config values it sets."""

    name: str
    class_name: str
    """The diffusers scheduler class (``DPMSolverMultistepScheduler`` …)."""
    overrides: Mapping[str, bool | int | str] = field(default_factory=dict)
    """Set over the model's scheduler config (``use_karras_sigmas`` for the Karras variants)."""
    flow: bool = False
    """For the flow-matching families (SD3/SD3.5, FLUX.1); the others are for the UNet families."""

    @property
    def karras(self) -> bool:
        """Whether it spaces its steps by Karras sigmas (what tells two names of one class apart)."""
        return bool(self.overrides.get("use_karras_sigmas", False))


def _frozen(**values: bool | int | str) -> Mapping[str, bool | int | str]:
    return MappingProxyType(values)


SCHEDULERS: tuple[SchedulerSpec, ...] = (
    SchedulerSpec(EULER_A, "EulerAncestralDiscreteScheduler"),
    SchedulerSpec(EULER, "EulerDiscreteScheduler", _frozen(use_karras_sigmas=False)),
    SchedulerSpec(
        DPMPP_2M,
        "DPMSolverMultistepScheduler",
        _frozen(algorithm_type="dpmsolver++", solver_order=2, use_karras_sigmas=False),
    ),
    SchedulerSpec(
        DPMPP_2M_KARRAS,
        "DPMSolverMultistepScheduler",
        _frozen(algorithm_type="dpmsolver++", solver_order=2, use_karras_sigmas=True),
    ),
    SchedulerSpec(DDIM, "DDIMScheduler"),
    # DDIM with its steps taken from the end of the schedule: what Hyper-SD's N-step LoRAs are
    # sampled with (their model card: DDIMScheduler.from_config(..., timestep_spacing="trailing"))
    SchedulerSpec(DDIM_TRAILING, "DDIMScheduler", _frozen(timestep_spacing="trailing")),
    SchedulerSpec(LCM, "LCMScheduler"),
    SchedulerSpec(FLOW_MATCH_EULER, "FlowMatchEulerDiscreteScheduler", flow=True),
)
"""Every scheduler name, in the order the Generate panel offers them."""

UNET_SCHEDULERS: tuple[str, ...] = tuple(s.name for s in SCHEDULERS if not s.flow)
"""Offered for the UNet families (SD 1.x/2.x, the 9-channel inpainting models, SDXL)."""

FLOW_SCHEDULERS: tuple[str, ...] = tuple(s.name for s in SCHEDULERS if s.flow)
"""Offered for the flow-matching families (SD3/SD3.5, FLUX.1)."""

ALL_SCHEDULERS: tuple[str, ...] = UNET_SCHEDULERS + FLOW_SCHEDULERS


def scheduler_spec(name: str) -> SchedulerSpec:
    """The table's row for the canonical name ``name`` (:class:`KeyError` if there is none)."""
    for spec in SCHEDULERS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def canonical_scheduler_name(name: str) -> str | None:
    """The canonical spelling of ``name`` (case and spacing forgiven), or ``None`` if unknown."""
    wanted = " ".join(name.split()).casefold()
    for known in ALL_SCHEDULERS:
        if known.casefold() == wanted:
            return known
    return None


def scheduler_for_class(class_name: str, karras: bool = False) -> str | None:
    """The name for a diffusers scheduler class as the catalog's ``defaults`` give it
    (``LCMScheduler`` → ``LCM``; with ``karras``, the Karras-spaced name of that class), or
    ``None`` if no name here maps to it. Where the class alone does not say how it is set up,
    the catalog gives the name itself (``DDIM Trailing``), which is returned as it is."""
    if class_name in ALL_SCHEDULERS:
        return class_name
    return next((s.name for s in SCHEDULERS if s.class_name == class_name and s.karras == karras), None)
