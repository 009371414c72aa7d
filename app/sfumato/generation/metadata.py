"""A1111-style ``parameters`` PNG text: write it with a generation, read a request back from it.

The text looks like::

    a prompt, possibly on several lines
    Negative prompt: things to avoid
    Steps: 20, Sampler: Euler a, CFG scale: 7.0, Seed: 42, Size: 512x512, Model hash: 0123abcd89, Model: name

Sfumato adds ``Denoising strength``, ``Task``, ``Mask padding``, ``Outpaint margins``,
``Variations``, ``Fast decode`` (the tiny decoder made the final image), ``Colour match: off``
(an inpaint or outpaint pasted back without matching the region's colours to the picture around it;
left out when they were matched, the default) and ``LoRA`` (the catalog adapter the model ran with)
where they apply, and writes ``Variation seed`` and ``Variation seed
strength`` after ``Model`` as A1111 does (``create_infotext`` in AUTOMATIC1111/stable-diffusion-webui
``modules/processing.py``, which leaves both out at strength 0). Values containing a comma, colon,
quote or line break are JSON-quoted, as A1111 does (``quote`` in its ``modules/infotext_utils.py``).

A1111 1.9 and later write the sampler in two parts, ``Sampler: DPM++ 2M, Schedule type: Karras``
(its ``Schedule type`` default is ``Automatic``, ``parse_generation_parameters`` in
``modules/infotext_utils.py``); :func:`scheduler_from` joins them into one name.

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

from sfumato.document.image_io import ImageLoadError, open_checked
from sfumato.generation.prompt_syntax import with_loras
from sfumato.generation.requests import (
    REQUEST_TYPES,
    GenerationRequest,
    InvalidRequestError,
    Margins,
    Task,
    Txt2ImgRequest,
)
from sfumato.generation.schedulers import canonical_scheduler_name

PARAMETERS_KEY = "parameters"
_NEGATIVE = "Negative prompt: "
_PAIR = re.compile(r'\s*([^:,]+):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_PARAMETERS_LINE = re.compile(r"\s*Steps:")
AUTOMATIC_SCHEDULE = "Automatic"
"""A1111's ``Schedule type`` when the sampler's own schedule is used."""


def _quote(value: object) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ',:"\n') else text


def scheduler_from(values: dict[str, str]) -> str | None:
    """The scheduler name ``Sampler`` and A1111's ``Schedule type`` give together, in
    Sfumato's spelling (``DPM++ 2M`` + ``Karras`` is ``DPM++ 2M Karras``); ``None`` when there
    is no ``Sampler`` or Sfumato has no such scheduler."""
    sampler = values.get("Sampler", "").strip()
    if not sampler:
        return None
    schedule = values.get("Schedule type", AUTOMATIC_SCHEDULE).strip()
    if schedule and schedule.casefold() != AUTOMATIC_SCHEDULE.casefold():
        sampler = f"{sampler} {schedule}"
    return canonical_scheduler_name(sampler)


def format_parameters(
    request: GenerationRequest,
    *,
    seed: int,
    scheduler: str,
    size: tuple[int, int],
    model_name: str,
    model_hash: str,
    lora: str = "",
    variation_seed: int | None = None,
    prompt: str | None = None,
    negative_prompt: str | None = None,
) -> str:
    """The ``parameters`` text for one image of ``request``.

    ``seed`` is the seed that image used, ``scheduler`` the one that ran (never ""), ``size`` the
    ``(width, height)`` the model worked at, ``lora`` the adapter applied to the model ("" for
    none), ``variation_seed`` the variation seed the image's noise was blended with (recorded
    with the request's ``variation_strength`` when that is above 0). ``prompt`` and
    ``negative_prompt`` are the image's own, its wildcards chosen (default: the request's).
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
    if isinstance(request, Txt2ImgRequest) and request.variation_strength > 0 and variation_seed is not None:
        pairs.append(("Variation seed", variation_seed))
        pairs.append(("Variation seed strength", request.variation_strength))
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
    if getattr(request, "match_colours", True) is False:
        pairs.append(("Colour match", "off"))
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
    """Every ``key: value`` pair of the parameters line, unquoted."""
    trailing: tuple[str, ...] = ()
    """Lines after the parameters line (old A1111 versions wrote ``Used embeddings: …`` there)."""

    @property
    def task(self) -> Task:
        """The task; texts from other tools without ``Task`` count as img2img when they give a
        ``Denoising strength`` for no hires fix (A1111 writes one for its txt2img hires pass,
        next to ``Hires upscale``), else txt2img."""
        if "Task" in self.values:
            try:
                return Task(self.values["Task"])
            except ValueError as exc:
                raise InvalidRequestError(f"Unknown task {self.values['Task']!r}.") from exc
        hires = any(key.startswith("Hires ") for key in self.values)
        return Task.IMG2IMG if "Denoising strength" in self.values and not hires else Task.TXT2IMG

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
                kwargs["scheduler"] = scheduler_from(values) or values["Sampler"]
            if "Size" in values:
                width, height = values["Size"].lower().split("x")
                kwargs["width"], kwargs["height"] = int(width), int(height)
            if values.get("Fast decode", "").lower() == "true":
                kwargs["fast_decode"] = True
            task = self.task
            if task is Task.TXT2IMG and "Variation seed strength" in values:
                kwargs["variation_strength"] = float(values["Variation seed strength"])
                kwargs["variation_seed"] = int(values.get("Variation seed", "-1"))
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
            if task in (Task.INPAINT, Task.OUTPAINT) and "Colour match" in values:
                kwargs["match_colours"] = colour_match(values["Colour match"])
            if task is Task.OUTPAINT:
                kwargs["margins"] = Margins(*(int(m) for m in values["Outpaint margins"].split(",")))
            if task is Task.VARIATIONS and "Variations" in values:
                kwargs["count"] = int(values["Variations"])
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidRequestError(f"The image's generation parameters are malformed: {exc}") from exc
        return REQUEST_TYPES[task](**kwargs)


def colour_match(value: str) -> bool:
    """Whether a ``Colour match`` value (``on`` or ``off``) says the colours were matched."""
    word = value.strip().lower()
    if word not in ("on", "off"):
        raise ValueError(f"Colour match is {value!r}, not on or off")
    return word == "on"


def parse_parameters(text: str) -> ParsedParameters:
    """Parse a ``parameters`` text (ours or A1111's).

    The parameters line is the last line that starts with ``Steps:``; lines after it are kept
    apart as :attr:`ParsedParameters.trailing`.
    """
    lines = text.strip("\n").split("\n")
    values: dict[str, str] = {}
    trailing: list[str] = []
    at = next((i for i in range(len(lines) - 1, -1, -1) if _PARAMETERS_LINE.match(lines[i])), None)
    if at is not None:
        trailing = [line for line in lines[at + 1 :] if line.strip()]
        for key, raw in _PAIR.findall(lines[at]):
            values[key.strip()] = _unquote(raw)
        lines = lines[:at]
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    target = prompt_lines
    for line in lines:
        if target is prompt_lines and line.startswith(_NEGATIVE):
            target = negative_lines
            line = line[len(_NEGATIVE) :]
        target.append(line)
    return ParsedParameters("\n".join(prompt_lines), "\n".join(negative_lines), values, tuple(trailing))


def _unquote(raw: str) -> str:
    """A value as written: JSON-quoted ones unquoted (a broken quote is kept as it is, as A1111
    keeps it)."""
    if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
        try:
            text = json.loads(raw)
        except ValueError:
            return raw
        return text if isinstance(text, str) else raw
    return raw.strip()


def save_png(path: Path, image: np.ndarray, parameters: str) -> None:
    """Write ``image`` as a PNG that carries ``parameters``."""
    info = PngImagePlugin.PngInfo()
    info.add_text(PARAMETERS_KEY, parameters)
    Image.fromarray(image).save(path, format="PNG", pnginfo=info)


def read_parameters(path: Path) -> str | None:
    """The ``parameters`` text of a PNG, or ``None`` if it has none.

    The file is opened as the window opens images (:func:`~sfumato.document.image_io.open_checked`:
    header only, size limits, one :class:`~sfumato.document.image_io.ImageLoadError` for anything
    damaged); only the text chunks before the pixel data are read, where A1111 and Sfumato write
    them, and Pillow caps their size.
    """
    what = f"“{path.name}”"
    try:
        handle = path.open("rb")
    except OSError as exc:
        missing = isinstance(exc, FileNotFoundError)
        reason = "does not exist" if missing else f"cannot be read ({exc.strerror})"
        raise ImageLoadError(f"{what} {reason}.", details=str(exc)) from exc
    with handle, open_checked(handle, what) as image:
        text = image.info.get(PARAMETERS_KEY)
    return text if isinstance(text, str) else None
