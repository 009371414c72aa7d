"""Reuse Parameters in the window: a picture's parameters, where its model is here, what is missing.

:func:`reuse_file` (a PNG opened or dropped) and :func:`reuse_text` (a result layer's
``parameters``) read the fields with :mod:`sfumato.generation.reuse`, look up the model and the
LoRAs it names on this machine (:func:`~sfumato.generation.reuse.check_installed`), and give a
:class:`ReusePlan`: the fields, the installed model as the picker offers it (``None`` when it is
not installed), which model and LoRAs are missing, and the other lines the panel shows (what
could not be taken, which of the picture's keys Sfumato does not use). Looking models up reads the
model store and hashes model headers, so callers run these off the GUI thread. No Qt in here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sfumato.errors import UserFacingError
from sfumato.generation.requests import Task
from sfumato.generation.reuse import ReusedParameters, check_installed, read_reusable, reuse_parameters
from sfumato.session.model_choices import ModelChoice, choice_for

if TYPE_CHECKING:
    from sfumato.model_store import ModelManager

IGNORED_SHOWN = 6
"""How many of the keys Sfumato does not use the notice names (then "and N more")."""


@dataclass(frozen=True)
class ReusePlan:
    """What Reuse Parameters fills in, from where, and what it says about it."""

    source: str
    """What the parameters came from, as the notice names it (“apple.png”, the layer's name)."""
    reused: ReusedParameters
    model: ModelChoice | None
    """The installed model the parameters name, as the picker offers it; ``None`` when it is not
    installed (or none is named): the panel keeps its model."""
    missing: tuple[str, ...]
    """One sentence for the model, if it is not installed, and one for each missing LoRA."""
    notes: tuple[str, ...]
    """The other lines to show: values not taken, keys Sfumato does not use."""


def reuse_file(path: Path, manager: ModelManager | None = None) -> ReusePlan:
    """The plan for the PNG at ``path``. Raises
    :class:`~sfumato.generation.reuse.NoParametersError` or
    :class:`~sfumato.document.image_io.ImageLoadError` (one-line messages)."""
    return plan_reuse(f"“{path.name}”", read_reusable(path), manager)


def reuse_text(source: str, text: str, manager: ModelManager | None = None) -> ReusePlan:
    """The plan for a ``parameters`` ``text`` (a result layer's) from ``source``."""
    return plan_reuse(source, reuse_parameters(text), manager)


def plan_reuse(source: str, reused: ReusedParameters, manager: ModelManager | None = None) -> ReusePlan:
    """Look up ``reused``'s model and LoRAs on this machine and say what is missing."""
    from sfumato.inference.model_files import installed_model
    from sfumato.model_store import ModelManager

    manager = manager or ModelManager()

    def has_lora(name: str) -> bool:
        try:
            manager.lora(name)
        except UserFacingError:
            return False
        return True

    installed = check_installed(reused, installed_model, has_lora)
    choice = None
    if installed.model is not None:
        try:
            choice = choice_for(manager, manager.resolve(installed.model))
        except UserFacingError:  # removed since it was listed
            choice = None
    notes = list(reused.notes)
    if reused.task is not Task.TXT2IMG:
        notes.append(f"It was made by {reused.task.value}; Generate does what the canvas asks for.")
    shown = [f"{key}: {value}" if key else value for key, value in reused.ignored[:IGNORED_SHOWN]]
    if shown:
        more = len(reused.ignored) - len(shown)
        notes.append("Not used by Sfumato: " + "; ".join(shown) + (f" and {more} more." if more else "."))
    return ReusePlan(source, reused, choice, installed.notes, tuple(notes))
