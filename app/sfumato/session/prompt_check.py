"""The Generate panel's live check of what is typed: the prompt syntax, and what the model ignores.

:func:`check_prompts` parses the prompt and the negative prompt the way a job will
(:class:`~sfumato.generation.prompt_syntax.JobPrompts`, with the seed the panel shows, so the
wildcards are the ones that seed draws) and says, in one line each, what would stop the job (a
malformed prompt, with its column) or what would not do what it says: weights and ``BREAK``
that a plain-text model (SD3, FLUX.1) ignores, ``<lora:…>`` tags naming a LoRA that is not
installed. The same notices come back in a finished job's result; this says them before.
No Qt in here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sfumato.generation.prompt_syntax import JobPrompts, ignored_syntax_notice
from sfumato.generation.requests import InvalidRequestError
from sfumato.inference.families import STORE_FAMILIES, TRAITS, ArchitectureTraits


@dataclass(frozen=True)
class PromptCheck:
    """What the panel says under the prompt: the error a job would fail with, else notices."""

    error: str | None = None
    """The one-line message a Generate press would fail with (``None`` when the prompts parse)."""
    notices: tuple[str, ...] = ()
    """What the model ignores or lacks, one sentence each."""


def traits_for(family: str | None) -> ArchitectureTraits | None:
    """The architecture traits of a model of catalog ``family`` (``None`` when unknown)."""
    found = STORE_FAMILIES.get(family or "")
    return TRAITS[found[0]] if found is not None else None


def check_prompts(prompt: str, negative_prompt: str, seed: int, family: str | None,
                  has_lora: Callable[[str], bool] | None = None) -> PromptCheck:
    """Check ``prompt`` and ``negative_prompt`` for a model of ``family`` with ``seed``.

    ``has_lora(name)`` says whether a ``<lora:name>`` tag's LoRA is installed (``None``: not
    known yet, so nothing is said about them).
    """
    try:
        job = JobPrompts.resolve(prompt, negative_prompt, (seed,))
    except InvalidRequestError as exc:
        return PromptCheck(str(exc))
    notices: list[str] = []
    traits = traits_for(family)
    if traits is not None and traits.plain_text_prompts:
        ignored = ignored_syntax_notice(traits.label, job.prompts, job.negatives or ())
        if ignored is not None:
            notices.append(ignored)
    if has_lora is not None:
        missing = list(dict.fromkeys(use.name for use in job.loras if not has_lora(use.name)))
        if missing:
            names = ", ".join(missing)
            several = len(missing) > 1
            notices.append(f"The prompt's LoRA{'s' if several else ''} {names} {'are' if several else 'is'} "
                           "not installed (Models › Model Manager › Import LoRA or Embedding…).")
    return PromptCheck(None, tuple(notices))
