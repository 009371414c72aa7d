"""A1111-style ``parameters`` PNG text: write it with a generation, read a request back from it.

The text looks like::

    a prompt, possibly on several lines
    Negative prompt: things to avoid
    Steps: 20, Sampler: Euler a, CFG scale: 7.0, Seed: 42, Size: 512x512, Model hash: 0123abcd89, Model: name

Sfumato adds ``Denoising strength``, ``Task``, ``Mask padding``, ``Outpaint margins``,
``Variations``, ``Fast decode`` (the tiny decoder made the final image) and ``LoRA`` (the catalog
adapter the model ran with) where they apply. Values containing a comma, colon or quote are
JSON-quoted, as A1111 does.

The prompt line holds the prompt as the image resolved it (its wildcards chosen,
:mod:`sfumato.generation.prompt_syntax`) with a ``<lora:name:weight>`` tag in front for each LoRA
the request applied besides the prompt's own tags, so the text alone runs the same job again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

from sfumato.generation.prompt_syntax import with_loras
from sfumato.generation.requests import (
    REQUEST_TYPES,
    GenerationRequest,
    InvalidRequestError,
    Margins,
    Task,
)

PARAMETERS_KEY = "parameters"
_NEGATIVE = "Negative prompt: "
_PAIR = re.compile(r'\s*([^:,]+):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


def _quote(value: object) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ',:"') else text


def format_parameters(
    request: GenerationRequest,
    *,
    seed: int,
    scheduler: str,
    size: tuple[int, int],
    model_name: str,
    model_hash: str,
    lora: str = "",
    prompt: str | None = None,
    negative_prompt: str | None = None,
) -> str:
    """The ``parameters`` text for one image of ``request``.

    ``seed`` is the seed that image used, ``scheduler`` the one that ran (never ""), ``size`` the
    ``(width, height)`` the model worked at, ``lora`` the adapter applied to the model ("" for
    none). ``prompt`` and ``negative_prompt`` are the image's own, its wildcards chosen
    (default: the request's).
    """
    pairs: list[tuple[str, object]] = [
        ("Steps", request.steps),
        ("Sampler", scheduler),
        ("CFG scale", request.guidance),
        ("Seed", seed),
        ("Size", f"{size[0]}x{size[1]}"),
        ("Model hash", model_hash),
        ("Model", model_name),
    ]
    strength = getattr(request, "strength", None)
    if strength is not None:
        pairs.append(("Denoising strength", strength))
    pairs.append(("Task", request.task.value))
    padding = getattr(request, "padding", None)
    if padding is not None:
        pairs.append(("Mask padding", padding))
    margins = getattr(request, "margins", None)
    if isinstance(margins, Margins):
        pairs.append(("Outpaint margins", ",".join(str(m) for m in margins.as_tuple())))
    count = getattr(request, "count", None)
    if count is not None:
        pairs.append(("Variations", count))
    if request.fast_decode:
        pairs.append(("Fast decode", True))
    if lora:
        pairs.append(("LoRA", lora))
    negative = request.negative_prompt if negative_prompt is None else negative_prompt
    lines = [with_loras(request.prompt if prompt is None else prompt, request.loras)]
    if negative:
        lines.append(_NEGATIVE + negative)
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in pairs))
    return "\n".join(lines)


@dataclass(frozen=True)
class ParsedParameters:
    """What a ``parameters`` text says, before it is turned back into a request."""

    prompt: str
    negative_prompt: str
    values: dict[str, str] = field(default_factory=dict)
    """Every ``key: value`` pair of the last line, unquoted."""

    @property
    def task(self) -> Task:
        """The task; texts from other tools without ``Task`` count as txt2img or img2img."""
        if "Task" in self.values:
            try:
                return Task(self.values["Task"])
            except ValueError as exc:
                raise InvalidRequestError(f"Unknown task {self.values['Task']!r}.") from exc
        return Task.IMG2IMG if "Denoising strength" in self.values else Task.TXT2IMG

    def to_request(
        self,
        model: str | None = None,
        source: np.ndarray | None = None,
        mask: np.ndarray | None = None,
    ) -> GenerationRequest:
        """The request these parameters describe.

        ``model`` replaces the model name (a path or catalog id the engine can load); tasks that
        start from an image need ``source`` (and inpaint its ``mask``), which PNG text cannot carry.
        """
        values = self.values
        kwargs: dict[str, Any] = {
            "model": model or values.get("Model", ""),
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
        }
        try:
            if "Steps" in values:
                kwargs["steps"] = int(values["Steps"])
            if "CFG scale" in values:
                kwargs["guidance"] = float(values["CFG scale"])
            if "Seed" in values:
                kwargs["seed"] = int(values["Seed"])
            if "Sampler" in values:
                kwargs["scheduler"] = values["Sampler"]
            if "Size" in values:
                width, height = values["Size"].lower().split("x")
                kwargs["width"], kwargs["height"] = int(width), int(height)
            if values.get("Fast decode", "").lower() == "true":
                kwargs["fast_decode"] = True
            task = self.task
            if task is not Task.TXT2IMG:
                if source is None:
                    raise InvalidRequestError(f"A {task.value} request needs its source image.")
                kwargs["source"] = source
                if "Denoising strength" in values:
                    kwargs["strength"] = float(values["Denoising strength"])
            if task is Task.INPAINT:
                if mask is None:
                    raise InvalidRequestError("An inpaint request needs its mask.")
                kwargs["mask"] = mask
            if task in (Task.INPAINT, Task.OUTPAINT) and "Mask padding" in values:
                kwargs["padding"] = int(values["Mask padding"])
            if task is Task.OUTPAINT:
                kwargs["margins"] = Margins(*(int(m) for m in values["Outpaint margins"].split(",")))
            if task is Task.VARIATIONS and "Variations" in values:
                kwargs["count"] = int(values["Variations"])
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidRequestError(f"The image's generation parameters are malformed: {exc}") from exc
        return REQUEST_TYPES[task](**kwargs)


def parse_parameters(text: str) -> ParsedParameters:
    """Parse a ``parameters`` text (ours or A1111's)."""
    lines = text.strip("\n").split("\n")
    values: dict[str, str] = {}
    if lines and re.match(r"\s*Steps:", lines[-1]):
        for key, raw in _PAIR.findall(lines.pop()):
            values[key.strip()] = json.loads(raw) if raw.startswith('"') else raw.strip()
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    target = prompt_lines
    for line in lines:
        if target is prompt_lines and line.startswith(_NEGATIVE):
            target = negative_lines
            line = line[len(_NEGATIVE) :]
        target.append(line)
    return ParsedParameters("\n".join(prompt_lines), "\n".join(negative_lines), values)


def save_png(path: Path, image: np.ndarray, parameters: str) -> None:
    """Write ``image`` as a PNG that carries ``parameters``."""
    info = PngImagePlugin.PngInfo()
    info.add_text(PARAMETERS_KEY, parameters)
    Image.fromarray(image).save(path, format="PNG", pnginfo=info)


def read_parameters(path: Path) -> str | None:
    """The ``parameters`` text of a PNG, or ``None`` if it has none."""
    with Image.open(path) as image:
        text = getattr(image, "text", {}).get(PARAMETERS_KEY)
    return text if isinstance(text, str) else None
