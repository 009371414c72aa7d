"""Frozen request dataclasses: everything one generation needs, and nothing the engine must guess.

Images travel as numpy ``uint8`` arrays of shape ``(H, W, 3)`` (RGB) or ``(H, W, 4)`` (RGBA);
masks as ``(H, W)`` ``uint8`` arrays where 255 means "repaint", 0 "keep", and values between
blend the result over the source by that weight (a mask must reach 128 somewhere to count).
Arrays are stored as read-only views and are left out of equality.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from sfumato.errors import UserFacingError
from sfumato.generation.schedulers import ALL_SCHEDULERS, canonical_scheduler_name

MAX_SIDE = 16384
"""The largest width or height (of a request or of a grown canvas) the engine accepts."""

MAX_SEED = 2**32 - 1
MAX_STEPS = 1000
MAX_BATCH = 16
MAX_MARGIN = 8192

SUBTLE_VARIATION = 0.5
"""Variation strength that keeps composition and colours: Fooocus's "Vary (Subtle)" denoise
(lllyasviel/Fooocus, ``modules/async_worker.py``, ``apply_vary``, at commit 59f183a)."""
STRONG_VARIATION = 0.85
"""Variation strength that keeps only the broad layout: Fooocus's "Vary (Strong)" denoise (same
place)."""


class InvalidRequestError(UserFacingError):
    """A request field is out of range or inconsistent with another field."""


MAX_LORA_WEIGHT = 10.0
"""The largest absolute weight a LoRA is applied at (A1111 and ComfyUI stay well inside it)."""


@dataclass(frozen=True)
class LoraUse:
    """One LoRA a job applies: ``name`` is an installed LoRA's name or a path to a ``.safetensors``
    file, ``weight`` the scale of its change (0 leaves the model as it is, 1 as trained)."""

    name: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidRequestError("A LoRA needs a name or a file.")
        if not math.isfinite(self.weight) or abs(self.weight) > MAX_LORA_WEIGHT:
            raise InvalidRequestError(
                f"LoRA weight must be a number between -{MAX_LORA_WEIGHT:g} and {MAX_LORA_WEIGHT:g} "
                f"(got {self.weight} for {self.name!r})."
            )


class Task(enum.StrEnum):
    """What a request asks the engine to do."""

    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"
    OUTPAINT = "outpaint"
    VARIATIONS = "variations"


def _readonly_image(value: Any, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype != np.uint8:
        raise InvalidRequestError(f"The {what} must be an 8-bit image.")
    if value.ndim != 3 or value.shape[2] not in (3, 4):
        raise InvalidRequestError(f"The {what} must be an RGB or RGBA image.")
    if value.shape[0] < 8 or value.shape[1] < 8:
        raise InvalidRequestError(f"The {what} is smaller than 8×8 pixels.")
    view = value.view()
    view.flags.writeable = False
    return view


def steps_for_strength(steps: int, strength: float) -> int:
    """The fewest steps, at least ``steps``, with which ``strength`` runs at least one step.

    diffusers' image-to-image and inpaint pipelines run ``int(steps × strength)`` denoising
    steps (the rest of the schedule is skipped), so a 1-step model at strength 0.5 would run
    none: it needs 2. ``strength`` must be above 0.
    """
    needed = max(steps, math.ceil(1 / strength))
    while int(needed * strength) < 1:  # 1 / strength may round below the product's threshold
        needed += 1
    return needed


def _check_strength(strength: float) -> None:
    if not 0.0 < strength <= 1.0:
        raise InvalidRequestError(f"Strength must be above 0 and at most 1 (got {strength}).")
    if steps_for_strength(1, strength) > MAX_STEPS:
        raise InvalidRequestError(
            f"Strength {strength} is too low: even {MAX_STEPS} steps would not run one step at it."
        )


@dataclass(frozen=True, kw_only=True)
class GenerationRequest:
    """Fields every task shares.

    ``seed`` −1 picks a random seed (the engine reports the one it used). ``scheduler`` "" keeps
    the model's default. ``width``/``height`` 0 mean "the natural size": the model's native size
    for txt2img, the source's size for img2img and variations, the model's native area for the
    region an inpaint or outpaint works on. Sizes that are not multiples the model needs are
    rounded by the engine, which says so in the result's notices. ``fast_decode`` decodes the
    final images with the model's tiny decoder (TAESD) instead of its VAE: much faster on a CPU,
    a little softer; without an installed tiny decoder the VAE decodes and a notice says so.
    ``loras`` are applied to the model for this job only, on top of any ``<lora:name:weight>``
    tags in the prompt. Both prompts are written in the prompt syntax
    (:mod:`sfumato.generation.prompt_syntax`: weights, wildcards, ``BREAK``, tags) and a malformed
    one is refused here, with its column. ``embeddings`` are textual-inversion embeddings (files,
    or installed names) this job may use besides the installed ones: each is triggered, as the
    installed ones are, by its name as a word of the prompt or the negative prompt.
    """

    task: ClassVar[Task]

    model: str
    prompt: str
    negative_prompt: str = ""
    steps: int = 20
    guidance: float = 7.0
    seed: int = -1
    scheduler: str = ""
    width: int = 0
    height: int = 0
    batch_size: int = 1
    fast_decode: bool = False
    loras: tuple[LoraUse, ...] = ()
    embeddings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.model:
            raise InvalidRequestError("No model was given.")
        if not 1 <= self.steps <= MAX_STEPS:
            raise InvalidRequestError(f"Steps must be between 1 and {MAX_STEPS} (got {self.steps}).")
        if not 0.0 <= self.guidance <= 100.0:
            raise InvalidRequestError(f"CFG must be between 0 and 100 (got {self.guidance}).")
        if self.seed != -1 and not 0 <= self.seed <= MAX_SEED:
            raise InvalidRequestError(f"Seed must be -1 (random) or 0…{MAX_SEED} (got {self.seed}).")
        if self.scheduler:
            name = canonical_scheduler_name(self.scheduler)
            if name is None:
                known = ", ".join(ALL_SCHEDULERS)
                raise InvalidRequestError(f"Unknown scheduler {self.scheduler!r}; use one of: {known}.")
            object.__setattr__(self, "scheduler", name)
        if (self.width == 0) != (self.height == 0):
            raise InvalidRequestError("Give both width and height, or neither.")
        for side in (self.width, self.height):
            if side != 0 and not 8 <= side <= MAX_SIDE:
                raise InvalidRequestError(
                    f"Width and height must be at least 8 and at most {MAX_SIDE} pixels, or 0 for the "
                    f"natural size (got {self.width}×{self.height})."
                )
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise InvalidRequestError(f"Batch size must be between 1 and {MAX_BATCH}.")
        if any(not ref.strip() for ref in self.embeddings):
            raise InvalidRequestError("An embedding needs a name or a file.")
        from sfumato.generation.prompt_syntax import parse_prompts  # which imports this module

        parse_prompts(self.prompt, self.negative_prompt)

    @property
    def image_count(self) -> int:
        """How many images this request produces."""
        return self.batch_size


@dataclass(frozen=True, kw_only=True)
class Txt2ImgRequest(GenerationRequest):
    """Generate from the prompt alone.

    ``variation_strength`` above 0 blends each image's starting noise towards the noise of a
    second seed, ``variation_seed`` (−1 picks one at random), as A1111's "Variation seed" does
    (its ``subseed``): small strengths give small changes of the same composition. With a
    blend, every image keeps ``seed`` and the variation seeds count up (variation_seed,
    variation_seed+1, …), so a batch shows variations of one picture; 0 (the default) leaves
    the noise, and so the pixels, exactly as without it.
    """

    task: ClassVar[Task] = Task.TXT2IMG

    variation_seed: int = -1
    variation_strength: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.variation_strength <= 1.0:
            raise InvalidRequestError(
                f"Variation strength must be between 0 and 1 (got {self.variation_strength})."
            )
        if self.variation_seed != -1 and not 0 <= self.variation_seed <= MAX_SEED:
            raise InvalidRequestError(
                f"Variation seed must be -1 (random) or 0…{MAX_SEED} (got {self.variation_seed})."
            )


@dataclass(frozen=True, kw_only=True)
class Img2ImgRequest(GenerationRequest):
    """Re-imagine ``source``; ``strength`` 1.0 ignores it, small values stay close to it."""

    task: ClassVar[Task] = Task.IMG2IMG

    source: np.ndarray = field(compare=False, repr=False)
    strength: float = 0.75

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "source", _readonly_image(self.source, "image"))
        _check_strength(self.strength)


@dataclass(frozen=True, kw_only=True)
class InpaintRequest(GenerationRequest):
    """Repaint where ``mask`` is 255; pixels where it is 0 come back bit-identical, values
    between blend the result over the source by that weight.

    The engine works on the mask's bounding box grown by ``padding`` pixels of context (more
    for a long thin mask, which keeps its shape). ``match_colours`` shifts the result's colours
    to match the source where the model was told to keep it, which hides an inpainting model's
    colour drift at the seam.
    """

    task: ClassVar[Task] = Task.INPAINT

    source: np.ndarray = field(compare=False, repr=False)
    mask: np.ndarray = field(compare=False, repr=False)
    padding: int = 32
    strength: float = 1.0
    match_colours: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        source = _readonly_image(self.source, "image")
        mask = self.mask
        if not isinstance(mask, np.ndarray) or mask.dtype != np.uint8 or mask.ndim != 2:
            raise InvalidRequestError("The mask must be a single-channel 8-bit image.")
        if mask.shape != source.shape[:2]:
            raise InvalidRequestError(
                f"The mask is {mask.shape[1]}×{mask.shape[0]} but the image is "
                f"{source.shape[1]}×{source.shape[0]}; they must be the same size."
            )
        if mask.max() < 128:
            raise InvalidRequestError("The mask is empty: paint where the image should change.")
        if not 0 <= self.padding <= MAX_SIDE:
            raise InvalidRequestError(f"Padding must be between 0 and {MAX_SIDE} pixels.")
        _check_strength(self.strength)
        view = mask.view()
        view.flags.writeable = False
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "mask", view)


@dataclass(frozen=True)
class Margins:
    """How many pixels an outpaint adds on each side."""

    left: int
    top: int
    right: int
    bottom: int

    def __post_init__(self) -> None:
        sides = (self.left, self.top, self.right, self.bottom)
        if any(side < 0 for side in sides) or not any(sides):
            raise InvalidRequestError("Outpaint margins must be ≥ 0 and at least one above 0.")
        if any(side > MAX_MARGIN for side in sides):
            raise InvalidRequestError(f"Outpaint margins must be at most {MAX_MARGIN} pixels.")

    def as_tuple(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)``."""
        return (self.left, self.top, self.right, self.bottom)


@dataclass(frozen=True, kw_only=True)
class OutpaintRequest(GenerationRequest):
    """Grow ``source`` by ``margins`` and paint the new area; the original pixels stay as they are.

    ``padding`` is how much of the original the model sees as context next to the new area;
    ``match_colours`` is as for :class:`InpaintRequest`.
    """

    task: ClassVar[Task] = Task.OUTPAINT

    source: np.ndarray = field(compare=False, repr=False)
    margins: Margins
    padding: int = 64
    strength: float = 1.0
    match_colours: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        source = _readonly_image(self.source, "image")
        grown_w = source.shape[1] + self.margins.left + self.margins.right
        grown_h = source.shape[0] + self.margins.top + self.margins.bottom
        if max(grown_w, grown_h) > MAX_SIDE:
            raise InvalidRequestError(
                f"Outpainting would make a {grown_w}×{grown_h} image; the limit is {MAX_SIDE}."
            )
        if not 0 <= self.padding <= MAX_SIDE:
            raise InvalidRequestError(f"Padding must be between 0 and {MAX_SIDE} pixels.")
        _check_strength(self.strength)
        object.__setattr__(self, "source", source)


@dataclass(frozen=True, kw_only=True)
class VariationsRequest(GenerationRequest):
    """``count`` variations of ``source``, each with its own seed (seed, seed+1, …): an
    image-to-image run at ``strength``, :data:`SUBTLE_VARIATION` or :data:`STRONG_VARIATION` as
    Fooocus's "Vary (Subtle)" and "Vary (Strong)" buttons, or any strength in between."""

    task: ClassVar[Task] = Task.VARIATIONS

    source: np.ndarray = field(compare=False, repr=False)
    count: int = 4
    strength: float = SUBTLE_VARIATION

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "source", _readonly_image(self.source, "image"))
        if not 1 <= self.count <= MAX_BATCH:
            raise InvalidRequestError(f"Variations must number between 1 and {MAX_BATCH}.")
        _check_strength(self.strength)

    @property
    def image_count(self) -> int:
        """How many images this request produces."""
        return self.count


REQUEST_TYPES: dict[Task, type[GenerationRequest]] = {
    cls.task: cls
    for cls in (Txt2ImgRequest, Img2ImgRequest, InpaintRequest, OutpaintRequest, VariationsRequest)
}
"""The request class for each task."""
