"""From a request to the inputs of one pipeline call, and from its output back to full images.

No torch: this is where sizes are rounded, inpaint regions planned, outpaint canvases grown,
and steps raised where a low strength would leave an image-to-image run without a step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from sfumato.generation.outpaint import grow_canvas
from sfumato.generation.region import Region, blend_region, crop_for_model, plan_region
from sfumato.generation.requests import (
    MAX_SEED,
    GenerationRequest,
    Img2ImgRequest,
    InpaintRequest,
    OutpaintRequest,
    Task,
    Txt2ImgRequest,
    VariationsRequest,
    steps_for_strength,
)
from sfumato.inference.results import GeneratedImage


@dataclass(frozen=True)
class CallPlan:
    """The inputs of one pipeline call and how to turn its output into full images.

    Not to be confused with :class:`~sfumato.model_store.fit.RunPlan`, which says how a model
    runs on this machine (device, dtype, memory strategy); a call plan says what one call of
    the loaded model's pipeline is given.
    """

    pipeline_task: Task
    """The task the pipeline call runs, which decides the diffusers pipeline: ``TXT2IMG``,
    ``IMG2IMG`` or ``INPAINT`` only (an outpaint is an inpaint of the grown canvas, variations
    are image-to-image runs, and an inpaint-only model runs every task as an inpaint)."""
    size: tuple[int, int]
    """``(width, height)`` the model runs at."""
    steps: int
    """``num_inference_steps`` for the call: the request's, raised if its strength needs more."""
    image: Image.Image | None = None
    mask: Image.Image | None = None
    strength: float | None = None
    notices: tuple[str, ...] = ()
    region: Region | None = None
    canvas: np.ndarray | None = None
    """The full image a region result is pasted into (the source, or the grown canvas)."""
    canvas_mask: np.ndarray | None = None
    target: tuple[int, int] | None = None
    """For region tasks: the ``(width, height)`` whose area the region was scaled to."""
    match_colours: bool = False
    """For region tasks: shift the result's colours to the source's before pasting."""

    @property
    def recorded_size(self) -> tuple[int, int]:
        """The ``Size`` for the image's metadata: the region target for inpaint and outpaint
        (as A1111 records its "only masked" resolution, so the region plans the same on a
        re-run), the model's working size otherwise."""
        return self.target or self.size

    def finish(self, generated: np.ndarray, seed: int, parameters: str) -> GeneratedImage:
        """The result image for one generated ``(h, w, 3)`` uint8 output."""
        if self.region is None or self.canvas is None or self.canvas_mask is None:
            return GeneratedImage(generated, seed, parameters)
        pixels = blend_region(self.canvas, self.canvas_mask, self.region, generated, self.match_colours)
        base = self.canvas.view()
        base.flags.writeable = False
        return GeneratedImage(pixels, seed, parameters, self.region.box, base)


def round_size(width: int, height: int, multiple: int) -> tuple[tuple[int, int], tuple[str, ...]]:
    """``(width, height)`` rounded to the nearest multiples of ``multiple``, and a notice if changed."""
    rounded = tuple(max(multiple, round(side / multiple) * multiple) for side in (width, height))
    size = (rounded[0], rounded[1])
    if size == (width, height):
        return size, ()
    notice = (
        f"Size {width}×{height} was rounded to {size[0]}×{size[1]} "
        f"(this model needs multiples of {multiple})."
    )
    return size, (notice,)


def image_seeds(
    request: GenerationRequest, first: int, variation_first: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The seed of each image ``request`` makes, and each one's variation seed (none without a
    variation blend).

    The seeds are ``first``, ``first`` + 1, …; with a blend (a txt2img ``variation_strength``
    above 0) every image keeps ``first`` and the variation seeds count up from
    ``variation_first``, as A1111's ``process_images_inner`` (``modules/processing.py``) numbers
    ``all_seeds`` and ``all_subseeds``: a batch of small changes of one picture. Both wrap at
    :data:`~sfumato.generation.requests.MAX_SEED`.
    """
    count = request.image_count
    if isinstance(request, Txt2ImgRequest) and request.variation_strength > 0:
        return (first,) * count, tuple((variation_first + i) % (MAX_SEED + 1) for i in range(count))
    return tuple((first + i) % (MAX_SEED + 1) for i in range(count)), ()


def fit_steps(steps: int, strength: float | None) -> tuple[int, tuple[str, ...]]:
    """``steps`` raised so that ``strength`` runs at least one step, and a notice if raised."""
    if strength is None:
        return steps, ()
    needed = steps_for_strength(steps, strength)
    if needed == steps:
        return steps, ()
    notice = f"Steps raised from {steps} to {needed} so that strength {strength:g} runs at least one step."
    return needed, (notice,)


def _rgb(image: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(image[..., :3]))


def _whole_image_mask(size: tuple[int, int]) -> Image.Image:
    return Image.new("L", size, 255)


def plan_request(request: GenerationRequest, native: int, multiple: int, inpaint_only: bool) -> CallPlan:
    """Plan ``request`` for a model that works best at ``native``² and needs sizes in ``multiple``.

    Inpaint-only models (9-channel SD inpainting, FLUX.1 Fill) run every task as an inpaint of
    the whole image, which is how they generate and re-imagine. Tasks with a strength get
    enough steps to run at least one (:func:`fit_steps`), with a notice when raised.
    """
    plan = _plan(request, native, multiple, inpaint_only)
    steps, notices = fit_steps(request.steps, plan.strength)
    if not notices:
        return plan
    return replace(plan, steps=steps, notices=plan.notices + notices)


def _plan(request: GenerationRequest, native: int, multiple: int, inpaint_only: bool) -> CallPlan:
    steps = request.steps
    if isinstance(request, InpaintRequest | OutpaintRequest):
        if isinstance(request, OutpaintRequest):
            canvas, canvas_mask = grow_canvas(np.asarray(request.source), request.margins)
        else:
            canvas, canvas_mask = np.asarray(request.source), np.asarray(request.mask)
        target = (request.width, request.height) if request.width else (native, native)
        region = plan_region(canvas_mask, request.padding, target[0] * target[1], multiple)
        image, mask = crop_for_model(canvas, canvas_mask, region)
        return CallPlan(
            Task.INPAINT,
            region.size,
            steps,
            image=image,
            mask=mask,
            strength=request.strength,
            region=region,
            canvas=canvas,
            canvas_mask=canvas_mask,
            target=target,
            match_colours=request.match_colours,
        )
    if isinstance(request, Img2ImgRequest | VariationsRequest):
        height, width = request.source.shape[:2]
        size, notices = round_size(request.width or width, request.height or height, multiple)
        image = _rgb(np.asarray(request.source))
        if image.size != size:
            image = image.resize(size, Image.Resampling.LANCZOS)
        if inpaint_only:
            return CallPlan(
                Task.INPAINT, size, steps, image, _whole_image_mask(size), request.strength, notices
            )
        return CallPlan(Task.IMG2IMG, size, steps, image, strength=request.strength, notices=notices)
    size, notices = round_size(request.width or native, request.height or native, multiple)
    if inpaint_only:
        grey = Image.new("RGB", size, (128, 128, 128))
        return CallPlan(Task.INPAINT, size, steps, grey, _whole_image_mask(size), 1.0, notices)
    return CallPlan(Task.TXT2IMG, size, steps, notices=notices)
