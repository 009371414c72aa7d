"""Scheduler (sampler) names a request may carry, grouped by the kind of model that offers them.

The names follow the A1111 convention so they round-trip through PNG metadata. Which diffusers
class each name maps to is the engine's business (:mod:`sfumato.inference.schedulers`).
"""

from __future__ import annotations

EULER_A = "Euler a"
EULER = "Euler"
DPMPP_2M = "DPM++ 2M"
DPMPP_2M_KARRAS = "DPM++ 2M Karras"
DDIM = "DDIM"
LCM = "LCM"
FLOW_MATCH_EULER = "Flow match Euler"

UNET_SCHEDULERS: tuple[str, ...] = (EULER_A, EULER, DPMPP_2M, DPMPP_2M_KARRAS, DDIM, LCM)
"""Offered for the UNet families (SD 1.x/2.x, the 9-channel inpainting models, SDXL)."""

FLOW_SCHEDULERS: tuple[str, ...] = (FLOW_MATCH_EULER,)
"""Offered for the flow-matching families (SD3/SD3.5, FLUX.1)."""

ALL_SCHEDULERS: tuple[str, ...] = UNET_SCHEDULERS + FLOW_SCHEDULERS


def canonical_scheduler_name(name: str) -> str | None:
    """The canonical spelling of ``name`` (case and spacing forgiven), or ``None`` if unknown."""
    wanted = " ".join(name.split()).casefold()
    for known in ALL_SCHEDULERS:
        if known.casefold() == wanted:
            return known
    return None


_DIFFUSERS_CLASSES = {
    "DPMSolverMultistepScheduler": DPMPP_2M,
    "EulerDiscreteScheduler": EULER,
    "EulerAncestralDiscreteScheduler": EULER_A,
    "DDIMScheduler": DDIM,
    "LCMScheduler": LCM,
    "FlowMatchEulerDiscreteScheduler": FLOW_MATCH_EULER,
}


def scheduler_for_class(class_name: str) -> str | None:
    """The name for a diffusers scheduler class as the catalog's ``defaults`` give it
    (``LCMScheduler`` → ``LCM``), or ``None`` if no name here maps to it."""
    return _DIFFUSERS_CLASSES.get(class_name)
