"""What one Generate press sends, and what its results become: Qt-free.

:func:`build_request` turns a :class:`~sfumato.session.generation_source.Capture` and the panel's
:class:`Parameters` into one frozen request (its picture is put in on the inference thread by
:func:`with_picture`). The results come back as :class:`PendingResults`, which the session holds
until one is applied (:func:`apply_results`: a new layer above the picture, the canvas grown
first for an outpaint, one undo step) or they are discarded.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from sfumato.document.document import Document
from sfumato.document.layers import Layer
from sfumato.errors import UserFacingError
from sfumato.generation.requests import (
    GenerationRequest,
    Img2ImgRequest,
    InpaintRequest,
    OutpaintRequest,
    Task,
    Txt2ImgRequest,
    VariationsRequest,
)
from sfumato.inference.results import GeneratedImage
from sfumato.session.generation_source import (
    INPAINT_PADDING,
    OUTPAINT_PADDING,
    Capture,
    Landing,
    landing,
    task_title,
    working_size,
)
from sfumato.session.model_choices import ModelChoice

NAME_CHARS = 28
PREVIEW_MAX_SIDE = 768  # live previews are drawn from at most this many pixels a side


@dataclass(frozen=True)
class Parameters:
    """The panel's values for one Generate press."""

    prompt: str
    negative_prompt: str
    model: ModelChoice | None
    strength: float
    steps: int
    cfg: float
    scheduler: str
    seed: int
    batch: int
    size: tuple[int, int] | None
    """``None`` when the size is automatic (follows the canvas and the model)."""
    fast_decode: bool = False
    """Decode the final images with the tiny decoder (TAESD) instead of the VAE."""


@dataclass
class JobContext:
    """What a job needs when its results come back."""

    doc: Document
    capture: Capture
    params: Parameters


@dataclass(eq=False)
class PendingResults:
    """A finished batch waiting to be applied or discarded (nothing is in the document yet)."""

    context: JobContext
    images: tuple[GeneratedImage, ...]
    landings: dict[int, Landing] = field(default_factory=dict)
    """The results shown or applied so far, as layers would take them (made on first use)."""

    def landing(self, index: int) -> Landing:
        """Where and how result ``index`` lands (made once, on first use)."""
        made = self.landings.get(index)
        if made is None:
            made = self.landings[index] = landing(self.context.capture, self.images[index])
        return made

    def fits(self, doc: Document | None) -> bool:
        """Whether these results can still land on ``doc`` (the same document, the same size)."""
        return (doc is not None and self.context.doc is doc
                and (doc.width, doc.height) == self.context.capture.doc_size)


def layer_name(prompt: str, task: Task, seed: int) -> str:
    """A result layer's name: the prompt's start and the seed."""
    text = " ".join(prompt.split())
    if len(text) > NAME_CHARS:
        text = text[: NAME_CHARS - 1].rstrip() + "…"
    return f"{text or task_title(task)} · {seed}"


def build_request(task: Task, cap: Capture, params: Parameters, native: int) -> GenerationRequest:
    """The frozen request for ``task`` from the capture and the panel's values.

    Its source is a stand-in of the captured picture's size (zeros the system hands out without
    touching memory), so the request is checked now; :func:`with_picture` puts the captured
    pixels in when the job runs.
    """
    if params.model is None:
        raise UserFacingError("Choose a model first (or use … to pick a model folder or file).")
    common = {
        "model": params.model.path,
        "prompt": params.prompt,
        "negative_prompt": params.negative_prompt,
        "steps": params.steps,
        "guidance": params.cfg,
        "seed": params.seed,
        "scheduler": params.scheduler,
        "fast_decode": params.fast_decode,
    }
    whole = params.size or working_size(cap, native)
    if task is Task.TXT2IMG:
        return Txt2ImgRequest(**common, width=whole[0], height=whole[1], batch_size=params.batch)
    region = params.size or (0, 0)
    assert cap.picture is not None
    source = np.zeros((cap.picture.rect.h, cap.picture.rect.w, 4), np.uint8)
    if task is Task.IMG2IMG:
        return Img2ImgRequest(**common, source=source, strength=params.strength, width=whole[0],
                              height=whole[1], batch_size=params.batch)
    if task is Task.VARIATIONS:
        return VariationsRequest(**common, source=source, strength=params.strength, count=params.batch,
                                 width=whole[0], height=whole[1])
    if task is Task.INPAINT:
        assert cap.mask is not None
        return InpaintRequest(**common, source=source, mask=cap.mask, padding=INPAINT_PADDING,
                              strength=params.strength, width=region[0], height=region[1],
                              batch_size=params.batch)
    assert cap.margins is not None
    return OutpaintRequest(**common, source=source, margins=cap.margins, padding=OUTPAINT_PADDING,
                           width=region[0], height=region[1], batch_size=params.batch)


def with_picture(request: GenerationRequest, cap: Capture) -> GenerationRequest:
    """``request`` with the captured picture as its source, composited now (the inference
    thread calls this just before the job runs)."""
    source = cap.source()
    return request if source is None else dataclasses.replace(request, source=source)


def preview_rgba(cap: Capture, rgb: np.ndarray) -> np.ndarray:
    """A step preview (``rgb``, any size) scaled to its place on the canvas, opaque only where
    the job repaints: RGBA over ``cap.preview``, at most :data:`PREVIEW_MAX_SIDE` a side."""
    rect = cap.preview
    scale = min(1.0, PREVIEW_MAX_SIDE / max(rect.w, rect.h))
    size = (max(1, round(rect.w * scale)), max(1, round(rect.h * scale)))
    small = Image.fromarray(np.ascontiguousarray(rgb[..., :3]))
    out = np.empty((size[1], size[0], 4), np.uint8)
    out[..., :3] = np.asarray(small.resize(size, Image.Resampling.BILINEAR))
    out[..., 3] = 255
    if cap.task is Task.INPAINT and cap.mask is not None:  # the mask covers the preview's box
        crop = Image.fromarray(np.ascontiguousarray(cap.mask))
        out[..., 3] = np.asarray(crop.resize(size, Image.Resampling.BILINEAR))
    return out


def apply_results(results: PendingResults, indices: list[int]) -> list[Layer]:
    """Add results ``indices`` as new layers above the picture, the canvas grown first for an
    outpaint, all in one undo step. Raises :class:`UserFacingError` if the document refuses."""
    doc = results.context.doc
    cap, params = results.context.capture, results.context.params
    task = cap.task
    label = f"Generate ({task_title(task).lower()})"
    opaque = task not in (Task.INPAINT, Task.OUTPAINT)  # whole-image results cover their rect
    layers: list[Layer] = []
    with doc.grouped(label):
        grow = results.landing(indices[0]).grow
        if grow is not None:
            doc.resize_canvas(grow[0], grow[1], grow[2], label="Extend canvas")
        for i in indices:
            image, lnd = results.images[i], results.landing(i)
            rasters = [n for n, lyr in enumerate(doc.layers) if not lyr.is_mask]
            index = rasters[-1] + 1 if rasters else len(doc.layers)
            metadata = {"parameters": image.parameters, "sfumato:mode": task.value,
                        "sfumato:seed": str(image.seed)}
            layers.append(doc.add_image_layer(
                lnd.pixels(), layer_name(params.prompt, task, image.seed), (lnd.rect.x, lnd.rect.y),
                label=label, metadata=metadata, index=index, opaque=opaque))
    return layers


def export_metadata(doc: Document) -> dict[str, str]:
    """PNG metadata for an export: the generation parameters of the topmost visible result layer."""
    for layer in reversed(doc.layers):
        if layer.visible and not layer.is_mask and layer.metadata.get("parameters"):
            return {"parameters": layer.metadata["parameters"]}
    return {}
