"""What a picture's generation parameters mean for a new run: the fields a panel or the CLI fills.

``parameters`` texts come from Sfumato and from AUTOMATIC1111's web UI (and the tools that
write its format: Forge, SD.Next, Civitai). :func:`reuse_parameters` turns one into
:class:`ReusedParameters`: the prompt, negative prompt, seed, steps, CFG, sampler, size, model,
LoRAs and variation seed it gives, each ``None`` when absent or unusable, with a note saying
why, and every key Sfumato has no use for (``Version``, ``Hires upscale``, ``Clip skip`` …) kept
in :attr:`ReusedParameters.ignored` so a person can see what will not carry over.
:func:`read_reusable` does the same from a PNG file, and :func:`check_installed` says which of
the model and LoRAs this machine has, through lookups the caller passes in (generation/ may not
ask the model store: :func:`sfumato.inference.model_files.installed_model` is the model lookup).

Qt-free and torch-free, so the window (a dropped or opened PNG, "Reuse parameters" on a result
layer) and ``sfumato generate --params-from`` share it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sfumato.errors import UserFacingError
from sfumato.generation.metadata import (
    ParsedParameters,
    colour_match,
    parse_parameters,
    read_parameters,
    scheduler_from,
)
from sfumato.generation.prompt_syntax import parse_prompt
from sfumato.generation.requests import (
    MAX_BATCH,
    MAX_SEED,
    MAX_SIDE,
    MAX_STEPS,
    InvalidRequestError,
    LoraUse,
    Margins,
    Task,
)


class NoParametersError(UserFacingError):
    """The picture carries no generation parameters to reuse."""


_USED = frozenset({
    "Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size", "Model", "Model hash",
    "Denoising strength", "Task", "Mask padding", "Outpaint margins", "Variations", "Fast decode",
    "LoRA", "Lora hashes", "Variation seed", "Variation seed strength", "Colour match",
})
"""Keys :func:`reuse_parameters` reads (the others are listed as ignored)."""

_HASH_SEPARATOR = ": "


@dataclass(frozen=True)
class ReusedParameters:
    """The fields a PNG's parameters fill, in Sfumato's terms; ``None`` where the text gives
    nothing usable (the panel keeps what it has there)."""

    prompt: str
    """The prompt as written, ``<lora:…>`` tags included (they apply the LoRAs when it runs)."""
    negative_prompt: str
    task: Task
    """What made the picture: Sfumato's ``Task``, else img2img when the text has a
    ``Denoising strength`` (A1111's img2img tab), else txt2img."""
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None
    """A Sfumato scheduler name (A1111's ``Sampler`` and ``Schedule type`` joined)."""
    size: tuple[int, int] | None = None
    """``(width, height)`` as recorded (A1111: the first pass, before any hires fix)."""
    model: str = ""
    """The ``Model`` value: a file or folder name as the writer knew it."""
    model_hash: str = ""
    adapter: str = ""
    """Sfumato's ``LoRA``: the catalog adapter (``sd15-lcm-lora``) the model ran as."""
    loras: tuple[LoraUse, ...] = ()
    """The LoRAs the prompt's ``<lora:name:weight>`` tags apply (or, when the prompt cannot be
    parsed, those ``Lora hashes`` names, at weight 1)."""
    strength: float | None = None
    """``Denoising strength``: the strength of an img2img, inpaint, outpaint or variations."""
    padding: int | None = None
    margins: Margins | None = None
    count: int | None = None
    """How many variations (Sfumato's ``Variations``)."""
    variation_seed: int | None = None
    variation_strength: float | None = None
    fast_decode: bool = False
    match_colours: bool = True
    """Inpaint and outpaint: whether the pasted-back region's colours were matched (Sfumato's
    ``Colour match``, written only when ``off``)."""
    ignored: tuple[tuple[str, str], ...] = ()
    """``(key, value)`` pairs Sfumato does not use, in the text's order (lines after the
    parameters line come with the key "")."""
    notes: tuple[str, ...] = field(default=())
    """One sentence for each value that was present but could not be taken."""


@dataclass(frozen=True)
class Installed:
    """What :func:`check_installed` found on this machine."""

    model: str | None
    """A reference the engine loads (a catalog id, an installed model's key), or ``None``."""
    missing_loras: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """One sentence for the model, if it is missing, and one for each missing LoRA."""


def read_reusable(path: Path) -> ReusedParameters:
    """The reusable parameters of the picture at ``path``.

    Raises :class:`~sfumato.document.image_io.ImageLoadError` for a file that is not a readable
    image (damaged, too large), :class:`NoParametersError` for one without parameters.
    """
    text = read_parameters(path)
    if not text or not text.strip():
        raise NoParametersError(f"“{path.name}” has no generation parameters.")
    return reuse_parameters(text)


def reuse_parameters(text: str) -> ReusedParameters:
    """What the ``parameters`` ``text`` gives for a new run (never raises for odd values: each
    becomes a note)."""
    parsed = parse_parameters(text)
    reader = _Reader(parsed.values)
    try:
        task = parsed.task
    except InvalidRequestError as exc:
        reader.notes.append(f"{exc} It was read as txt2img.")
        task = Task.TXT2IMG
    seed = reader.whole("Seed", 0, MAX_SEED)
    steps = reader.whole("Steps", 1, MAX_STEPS)
    guidance = reader.number("CFG scale", 0.0, 100.0)
    scheduler = None
    if "Sampler" in parsed.values:
        scheduler = scheduler_from(parsed.values)
        if scheduler is None:
            sampler = " ".join(filter(None, (parsed.values["Sampler"], _schedule(parsed.values))))
            reader.notes.append(f"Sfumato has no sampler {sampler!r}; the model's default is used.")
    size = reader.size()
    variation_seed = variation_strength = None
    if "Variation seed strength" in parsed.values:
        if task is Task.TXT2IMG:
            variation_strength = reader.number("Variation seed strength", 0.0, 1.0)
            variation_seed = reader.whole("Variation seed", 0, MAX_SEED)
        else:
            reader.notes.append(f"Variation seeds apply to txt2img only; this {task.value} ignores them.")
            reader.ignore("Variation seed", "Variation seed strength")
    margins = None
    written = parsed.values.get("Outpaint margins")
    if written is not None:
        try:
            margins = Margins(*(int(m) for m in written.split(",")))
        except (ValueError, InvalidRequestError) as exc:
            reader.notes.append(f"Outpaint margins {written!r} are not usable: {exc}")
            reader.ignore("Outpaint margins")
    loras = _loras(parsed, seed or 0, reader.notes)
    match_colours = True
    if "Colour match" in parsed.values:
        try:
            match_colours = colour_match(parsed.values["Colour match"])
        except ValueError as exc:
            reader.notes.append(f"{exc}; the colours will be matched.")
            reader.ignore("Colour match")
    strength = None
    if task is Task.TXT2IMG:
        reader.ignore("Denoising strength")  # A1111's hires fix pass
    else:
        strength = reader.number("Denoising strength", 0.0, 1.0, above=True)
    dropped = reader.dropped
    return ReusedParameters(
        prompt=parsed.prompt,
        negative_prompt=parsed.negative_prompt,
        task=task,
        seed=seed,
        steps=steps,
        guidance=guidance,
        scheduler=scheduler,
        size=size,
        model=parsed.values.get("Model", ""),
        model_hash=parsed.values.get("Model hash", ""),
        adapter=parsed.values.get("LoRA", ""),
        loras=loras,
        strength=strength,
        padding=reader.whole("Mask padding", 0, MAX_SIDE),
        margins=margins,
        count=reader.whole("Variations", 1, MAX_BATCH),
        variation_seed=variation_seed,
        variation_strength=variation_strength,
        fast_decode=parsed.values.get("Fast decode", "").lower() == "true",
        match_colours=match_colours,
        ignored=tuple(
            [(key, value) for key, value in parsed.values.items() if key not in _USED or key in dropped]
            + [("", line) for line in parsed.trailing]
        ),
        notes=tuple(reader.notes),
    )


def check_installed(
    reused: ReusedParameters,
    find_model: Callable[[str, str], str | None],
    has_lora: Callable[[str], bool],
) -> Installed:
    """Which of ``reused``'s model and LoRAs this machine has.

    ``find_model(name, model_hash)`` returns a reference the engine loads for the model the text
    names, or ``None`` (:func:`sfumato.inference.model_files.installed_model`); Sfumato's catalog
    adapter (``LoRA: sd15-lcm-lora``) is asked first, as the model it ran as. ``has_lora(name)``
    says whether a LoRA the prompt applies is installed.
    """
    notes: list[str] = []
    model = None
    if reused.adapter:
        model = find_model(reused.adapter, "")
    if model is None and (reused.model or reused.model_hash):
        model = find_model(reused.model, reused.model_hash)
    if model is None and (reused.model or reused.adapter or reused.model_hash):
        named = reused.adapter or reused.model
        hashed = f"hash {reused.model_hash}" if reused.model_hash else ""
        described = f"{named} ({hashed})" if named and hashed else named or f"with {hashed}"
        notes.append(f"The model {described} is not installed.")
    missing = tuple(dict.fromkeys(use.name for use in reused.loras if not has_lora(use.name)))
    notes.extend(f"The LoRA {name} is not installed." for name in missing)
    return Installed(model, missing, tuple(notes))


def _schedule(values: dict[str, str]) -> str:
    schedule = values.get("Schedule type", "")
    return "" if schedule.casefold() == "automatic" else schedule


def _loras(parsed: ParsedParameters, seed: int, notes: list[str]) -> tuple[LoraUse, ...]:
    """The LoRAs the prompt's tags apply; if the prompt does not parse, the ``Lora hashes``
    names at weight 1, with a note."""
    try:
        return parse_prompt(parsed.prompt).resolve(seed).loras
    except InvalidRequestError as exc:
        notes.append(f"{exc} Edit the prompt before generating.")
    names = [
        entry.split(_HASH_SEPARATOR, 1)[0].strip()
        for entry in parsed.values.get("Lora hashes", "").split(",")
        if entry.strip()
    ]
    uses: list[LoraUse] = []
    for name in dict.fromkeys(names):
        try:
            uses.append(LoraUse(name))
        except InvalidRequestError:
            continue
    return tuple(uses)


class _Reader:
    """Reads values in range from a parameters line, noting what it cannot take."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.notes: list[str] = []
        self.dropped: set[str] = set()

    def ignore(self, *keys: str) -> None:
        """List ``keys`` as ignored although Sfumato reads them elsewhere."""
        self.dropped.update(key for key in keys if key in self.values)

    def whole(self, key: str, low: int, high: int) -> int | None:
        """The whole number under ``key`` within ``low``…``high``, else ``None``."""
        raw = self.values.get(key)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            self._refuse(key, raw, f"a whole number from {low} to {high}")
            return None
        return value

    def number(self, key: str, low: float, high: float, *, above: bool = False) -> float | None:
        """The number under ``key`` within ``low``…``high`` (above ``low`` when ``above``)."""
        raw = self.values.get(key)
        if raw is None:
            return None
        try:
            value: float | None = float(raw)
        except ValueError:
            value = None
        if value is None or not low <= value <= high or (above and value == low):
            bound = f"above {low:g}" if above else f"from {low:g}"
            self._refuse(key, raw, f"a number {bound} to {high:g}")
            return None
        return value

    def size(self) -> tuple[int, int] | None:
        """``Size`` as ``(width, height)``, each 8…``MAX_SIDE``."""
        raw = self.values.get("Size")
        if raw is None:
            return None
        width, _, height = raw.lower().partition("x")
        try:
            size = (int(width), int(height))
        except ValueError:
            size = None
        if size is None or not all(8 <= side <= MAX_SIDE for side in size):
            self._refuse("Size", raw, f"WIDTHxHEIGHT, each 8 to {MAX_SIDE}")
            return None
        return size

    def _refuse(self, key: str, raw: str, wanted: str) -> None:
        self.notes.append(f"{key} {raw!r} is not usable (Sfumato takes {wanted}).")
        self.dropped.add(key)
