"""What the model picker offers: installed models with the generation defaults that suit them.

Defaults come from the catalog entry when the model is one (its model card's steps, CFG,
scheduler and size), else from the family; a distilled "turbo" model gets few steps and no CFG.
Listing reads manifests and scans the Hugging Face cache, so callers run it off the GUI thread.
The model store (and huggingface_hub behind it) is imported on first use, not with the window.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sfumato.generation import schedulers as names

if TYPE_CHECKING:
    from sfumato.model_store import InstalledModel, ModelManager
    from sfumato.model_store.adapters import AdapterFile

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Defaults:
    """Generation parameters that suit a model."""

    steps: int
    cfg: float
    scheduler: str
    """An A1111 scheduler name, or "" for the model's own."""
    size: int
    """The side of the square the model works best at."""


_FAMILY_DEFAULTS: dict[str, Defaults] = {
    "sd15": Defaults(25, 7.0, names.DPMPP_2M_KARRAS, 512),
    "sd2": Defaults(25, 7.0, names.DPMPP_2M_KARRAS, 768),
    "sdxl": Defaults(25, 6.0, names.DPMPP_2M_KARRAS, 1024),
    "sd35-medium": Defaults(40, 4.5, names.FLOW_MATCH_EULER, 1024),
    "sd35-large": Defaults(28, 3.5, names.FLOW_MATCH_EULER, 1024),
    "flux-dev": Defaults(28, 3.5, names.FLOW_MATCH_EULER, 1024),
    "flux-schnell": Defaults(4, 0.0, names.FLOW_MATCH_EULER, 1024),
    "flux-fill": Defaults(28, 30.0, names.FLOW_MATCH_EULER, 1024),
}
_TURBO = Defaults(4, 0.0, names.EULER_A, 512)
_UNKNOWN = Defaults(25, 7.0, "", 512)


def base_family(family: str | None) -> str | None:
    """The family without its ``-inpainting`` suffix (they sample alike)."""
    return family.removesuffix("-inpainting") if family else None


def schedulers_for(family: str | None) -> tuple[str, ...]:
    """The scheduler names a model of ``family`` offers (UNet or flow-matching ones)."""
    base = base_family(family) or ""
    if base.startswith(("sd3", "flux")):
        return names.FLOW_SCHEDULERS
    if base == "cascade":
        return ()
    return names.UNET_SCHEDULERS


def family_defaults(family: str | None, name: str = "") -> Defaults:
    """Defaults for a model of ``family`` called ``name`` that the catalog does not describe."""
    if "turbo" in name.lower() and (base_family(family) or "").startswith(("sdxl", "sd15", "sd2")):
        return _TURBO
    return _FAMILY_DEFAULTS.get(base_family(family) or "", _UNKNOWN)


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model picker."""

    label: str
    path: str
    """What a request's ``model`` field gets: a diffusers folder or a ``.safetensors`` file."""
    family: str | None
    defaults: Defaults

    @property
    def schedulers(self) -> tuple[str, ...]:
        """The scheduler names this model offers."""
        return schedulers_for(self.family)


def _catalog_defaults(manager: ModelManager, model: InstalledModel) -> Defaults | None:
    from sfumato.model_store import ModelStoreError

    if model.model_id is None:
        return None
    try:
        entry = manager.catalog.get(model.model_id)
    except (ModelStoreError, KeyError, AttributeError):
        return None
    d = entry.defaults
    scheduler = names.scheduler_for_class(d.scheduler) or ""
    return Defaults(d.steps, d.cfg, scheduler if scheduler in schedulers_for(model.family) else "",
                    max(d.width, d.height))


def _label(model: InstalledModel) -> str:
    if model.model_id:
        return model.model_id + (f" ({model.variant})" if model.variant else "")
    return model.key.split(":", 1)[-1].rsplit("/", 1)[-1] or model.key


def installed_choices(manager: ModelManager | None = None) -> list[ModelChoice]:
    """Every installed model the engine can be given, labelled, with its defaults."""
    from sfumato.model_store import ModelManager

    manager = manager or ModelManager()
    choices = [choice_for(manager, model) for model in manager.installed()
               if model.family != "cascade"]  # the engine does not run Stable Cascade
    return sorted(choices, key=lambda c: c.label.lower())


def choice_for(manager: ModelManager, model: InstalledModel) -> ModelChoice:
    """The picker's entry for the installed ``model``, labelled, with its defaults."""
    defaults = _catalog_defaults(manager, model) or family_defaults(model.family, _label(model))
    return ModelChoice(_label(model), str(model.path), model.family, defaults)


def installed_loras(manager: ModelManager | None = None) -> list[AdapterFile]:
    """Every installed LoRA (imported ones and the catalog's adapters), of every family."""
    from sfumato.model_store import ModelManager

    return (manager or ModelManager()).loras()


def loras_for(loras: Sequence[AdapterFile], family: str | None) -> list[AdapterFile]:
    """Those of the installed ``loras`` made for a model of catalog ``family`` (all of them when
    the family is unknown: the engine checks each against the model it loads)."""
    if not family:
        return list(loras)
    from sfumato.model_store.checkpoint_family import adapter_family

    wanted = adapter_family(family)
    return [lora for lora in loras if lora.family == wanted]


def local_choice(path: Path) -> ModelChoice:
    """A choice for a diffusers folder or ``.safetensors`` file the user picked.

    Raises a :class:`~sfumato.model_store.ModelStoreError` if it is not a model Sfumato knows.
    """
    from sfumato.model_store.checkpoint_family import file_family, folder_family

    family = folder_family(path) if path.is_dir() else file_family(path)
    name = path.name if path.is_dir() else path.stem
    return ModelChoice(name, str(path), family, family_defaults(family, name))
