"""What one Generate press sends, and what its results become: Qt-free.

:func:`build_request` turns a :class:`~sfumato.session.generation_source.Capture` and the panel's
:class:`Parameters` into one frozen request (its picture is put in on the inference thread by
:func:`with_picture`). The results come back as :class:`PendingResults`, which the session holds
until one is applied (:func:`apply_results`: a new layer above the picture, the canvas grown
first for an outpaint, one undo step) or they are discarded.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np
from PIL import Image

from sfumato.document.document import Document
from sfumato.document.layers import Layer
from sfumato.errors import UserFacingError
from sfumato.generation.requests import (
    GenerationRequest,
    Img2ImgRequest,
    InpaintRequest,
    LoraUse,
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
PREPARED_BYTES = 1 << 30  # a batch's result layers built ahead of Apply hold at most this much


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
    match_colours: bool = True
    """Inpaint and outpaint: match the pasted-back region's colours to the picture around it."""
    loras: tuple[LoraUse, ...] = ()
    """The LoRAs of the panel's list (the prompt's ``<lora:…>`` tags apply on top of them)."""
    variation_seed: int = -1
    """Text-to-image only: the second seed each image's noise is blended towards (−1: random)."""
    variation_strength: float = 0.0
    """Text-to-image only: how far towards :attr:`variation_seed`'s noise (0 leaves it as it is)."""


@dataclass
class JobContext:
    """What a job needs when its results come back."""

    doc: Document
    capture: Capture
    params: Parameters


@dataclass(eq=False)
class PendingResults:
    """A finished batch waiting to be applied or discarded (nothing is in the document yet).

    So that Apply only inserts a layer, each result's layer can be built ahead on a background
    thread (:meth:`prepare`); :meth:`take_layer` hands it out, or builds it then if it is not
    ready. Prepared layers hold only their result's rectangle of memory, at most
    :data:`PREPARED_BYTES` of them for one batch.
    """

    context: JobContext
    images: tuple[GeneratedImage, ...]
    landings: dict[int, Landing] = field(default_factory=dict)
    """The results shown or applied so far, as layers would take them (made on first use)."""
    prepared: dict[int, Layer] = field(default_factory=dict)
    """Result layers built ahead of Apply (:meth:`prepare`), each handed out once."""
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _costs: dict[int, int] = field(default_factory=dict, init=False, repr=False)  # bytes, per layer
    _taken: set[int] = field(default_factory=set, init=False, repr=False)
    _building: dict[int, threading.Event] = field(default_factory=dict, init=False, repr=False)
    _closed: bool = field(default=False, init=False, repr=False)

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

    def build_layer(self, index: int) -> Layer:
        """Result ``index`` as the new layer Apply adds, made now: its pixels placed on a layer
        of the (grown) canvas's size and its coverage known, named, with its parameters.

        Only the result's rectangle is written or scanned (the rest of the layer is lazily
        zeroed memory). It reads the results and makes a new layer, so any thread may call it.
        """
        lnd = self.landing(index)
        image, task = self.images[index], self.context.capture.task
        width, height = self.context.capture.doc_size if lnd.grow is None else lnd.grow[:2]
        opaque = task not in (Task.INPAINT, Task.OUTPAINT)  # whole-image results cover their rect
        layer = Layer.placed(layer_name(self.context.params.prompt, task, image.seed), width, height,
                             lnd.pixels(), (lnd.rect.x, lnd.rect.y), opaque=opaque)
        layer.metadata.update({"parameters": image.parameters, "sfumato:mode": task.value,
                               "sfumato:seed": str(image.seed)})
        layer.coverage()  # scanned here (only the result's rectangle), not when the layer goes in
        return layer

    def prepare(self, index: int, evict: bool = False) -> None:
        """Build result ``index``'s layer ahead of Apply (on a background thread), unless it is
        prepared or taken already, the results were closed, or it would take the prepared layers
        over :data:`PREPARED_BYTES`; ``evict`` (the result on show) drops others to make room."""
        with self._lock:
            if self._closed or index in self._costs or index in self._taken:
                return  # prepared, being prepared, or taken
        size = self.landing(index).rect
        cost = size.w * size.h * 4
        with self._lock:
            held = sum(self._costs.values())
            if evict:
                for other in sorted(self.prepared, key=self._costs.__getitem__, reverse=True):
                    if held + cost <= PREPARED_BYTES:
                        break
                    del self.prepared[other]
                    held -= self._costs.pop(other)
            if held + cost > PREPARED_BYTES or index in self._costs or index in self._taken:
                return
            self._costs[index] = cost  # reserved while it is built
            built = self._building[index] = threading.Event()
        layer = None
        try:
            layer = self.build_layer(index)
        finally:
            with self._lock:
                del self._building[index]
                if layer is None or self._closed or index in self._taken:
                    self._costs.pop(index, None)
                else:
                    self.prepared[index] = layer
            built.set()

    def take_layer(self, index: int) -> Layer:
        """Result ``index``'s layer for the document: the prepared one the first time (waiting
        for it if it is being built), else one built now. A prepared layer is handed out once
        only, so applying the same result again (after an undo) gets a new layer of its own."""
        with self._lock:
            building = self._building.get(index)
        if building is not None:  # half built already: finishing it costs less than starting over
            building.wait()
        with self._lock:
            layer = self.prepared.pop(index, None)
            self._costs.pop(index, None)
            self._taken.add(index)
        return layer if layer is not None else self.build_layer(index)

    def close(self) -> None:
        """The results left the strip: drop the prepared layers and prepare no more."""
        with self._lock:
            self._closed = True
            self.prepared.clear()
            self._costs.clear()


def layer_name(prompt: str, task: Task, seed: int) -> str:
    """A result layer's name: the prompt's start and the seed."""
    text = " ".join(prompt.split())
    if len(text) > NAME_CHARS:
        text = text[: NAME_CHARS - 1].rstrip() + "…"
    return f"{text or task_title(task)} · {seed}"


class _SharedFields(TypedDict):
    """The request fields every task takes from the panel's values as they are."""

    model: str
    prompt: str
    negative_prompt: str
    steps: int
    guidance: float
    seed: int
    scheduler: str
    fast_decode: bool
    loras: tuple[LoraUse, ...]


def build_request(task: Task, cap: Capture, params: Parameters, native: int) -> GenerationRequest:
    """The frozen request for ``task`` from the capture and the panel's values.

    Its source is a stand-in of the captured picture's size (zeros the system hands out without
    touching memory), so the request is checked now; :func:`with_picture` puts the captured
    pixels in when the job runs.
    """
    if params.model is None:
        raise UserFacingError("Choose a model first (or use … to pick a model folder or file).")
    common: _SharedFields = {
        "model": params.model.path,
        "prompt": params.prompt,
        "negative_prompt": params.negative_prompt,
        "steps": params.steps,
        "guidance": params.cfg,
        "seed": params.seed,
        "scheduler": params.scheduler,
        "fast_decode": params.fast_decode,
        "loras": params.loras,
    }
    whole = params.size or working_size(cap, native)
    if task is Task.TXT2IMG:
        return Txt2ImgRequest(**common, width=whole[0], height=whole[1], batch_size=params.batch,
                              variation_seed=params.variation_seed,
                              variation_strength=params.variation_strength)
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
                              batch_size=params.batch, match_colours=params.match_colours)
    assert cap.margins is not None
    return OutpaintRequest(**common, source=source, margins=cap.margins, padding=OUTPAINT_PADDING,
                           width=region[0], height=region[1], batch_size=params.batch,
                           match_colours=params.match_colours)


def with_picture(request: GenerationRequest, cap: Capture) -> GenerationRequest:
    """``request`` with the captured picture as its source, composited now (the inference
    thread calls this just before the job runs)."""
    source = cap.source()
    if source is None:  # a text-to-image job takes no picture
        return request
    assert isinstance(request, Img2ImgRequest | VariationsRequest | InpaintRequest | OutpaintRequest)
    return dataclasses.replace(request, source=source)


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
    outpaint, all in one undo step (the layers prepared ahead are inserted as they are).
    Raises :class:`UserFacingError` if the document refuses."""
    doc = results.context.doc
    task = results.context.capture.task
    label = f"Generate ({task_title(task).lower()})"
    layers: list[Layer] = []
    with doc.grouped(label):
        grow = results.landing(indices[0]).grow
        if grow is not None:
            doc.resize_canvas(grow[0], grow[1], grow[2], label="Extend canvas")
        for i in indices:
            rasters = [n for n, lyr in enumerate(doc.layers) if not lyr.is_mask]
            index = rasters[-1] + 1 if rasters else len(doc.layers)
            layers.append(doc.add_layer(layer=results.take_layer(i), index=index, label=label))
    return layers


def export_metadata(doc: Document) -> dict[str, str]:
    """PNG metadata for an export: the generation parameters of the topmost visible result layer."""
    for layer in reversed(doc.layers):
        if layer.visible and not layer.is_mask and layer.metadata.get("parameters"):
            return {"parameters": layer.metadata["parameters"]}
    return {}
