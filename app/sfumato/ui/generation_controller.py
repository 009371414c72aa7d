"""Generate from the canvas: from the panel's values and the document to a job, and back.

The controller reads the mode from the canvas, captures what it needs (the region's mask, and
a snapshot of the region's picture that the inference thread composites just before the job
runs, so a press costs the GUI thread next to nothing), builds one frozen request and queues it
on the inference thread. While it runs, the step previews are drawn in
place on the canvas and the progress bar counts steps; when it ends, the batch shows in the
results strip and the chosen result in place on the canvas. Only "Apply" changes the
document: the result becomes a new layer above the picture (the canvas grows first for an
outpaint), all in one undo step.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMenu, QMenuBar, QVBoxLayout, QWidget

from sfumato.document.document import Document, new_document
from sfumato.document.layers import Layer
from sfumato.errors import UserFacingError
from sfumato.generation.requests import (
    GenerationRequest,
    Img2ImgRequest,
    InpaintRequest,
    OutpaintRequest,
    Txt2ImgRequest,
    VariationsRequest,
)
from sfumato.inference.device import cpu_threads
from sfumato.inference.results import GeneratedImage
from sfumato.qt_bridge.images import qimage_to_rgba, wrap_rgba
from sfumato.qt_bridge.inference_thread import EngineFactory, GenerationJob, InferenceService
from sfumato.ui.generation_progress import GenerationProgress
from sfumato.ui.generation_source import (
    INPAINT_PADDING,
    OUTPAINT_PADDING,
    Capture,
    Landing,
    Mode,
    canvas_is_empty,
    capture,
    describe_mode,
    detect_mode,
    landing,
    working_size,
)
from sfumato.ui.model_choices import installed_choices
from sfumato.ui.prompt_panel import Parameters, PromptPanel
from sfumato.ui.results_strip import ResultsStrip

if TYPE_CHECKING:
    from sfumato.ui.main_window import MainWindow

log = logging.getLogger(__name__)

PREVIEW_MAX_SIDE = 768  # live previews are drawn from at most this many pixels a side
NAME_CHARS = 28
LIST_MODELS_AFTER_MS = 500


@dataclass
class JobContext:
    """What a job needs when its results come back."""

    doc: Document
    capture: Capture
    params: Parameters


@dataclass
class Batch:
    """Results waiting in the strip to be applied or discarded."""

    job: GenerationJob
    context: JobContext
    images: tuple[GeneratedImage, ...]
    landings: dict[int, Landing] = field(default_factory=dict)
    """The results shown or applied so far, as layers would take them (made on first use)."""
    overlays: dict[int, QImage] = field(default_factory=dict)
    """The results shown on the canvas so far, made when first shown."""

    def landing(self, index: int) -> Landing:
        """Where and how result ``index`` lands (made once, on first use)."""
        made = self.landings.get(index)
        if made is None:
            made = self.landings[index] = landing(self.context.capture, self.images[index])
        return made

    def overlay(self, index: int) -> QImage:
        """Result ``index`` as the canvas shows it (made once, on first use)."""
        image = self.overlays.get(index)
        if image is None:
            image = self.overlays[index] = _rgba_image(self.landing(index).rgba)
        return image


def layer_name(prompt: str, mode: Mode, seed: int) -> str:
    """A result layer's name: the prompt's start and the seed."""
    text = " ".join(prompt.split())
    if len(text) > NAME_CHARS:
        text = text[: NAME_CHARS - 1].rstrip() + "…"
    return f"{text or mode.title} · {seed}"


def build_request(mode: Mode, cap: Capture, params: Parameters, native: int) -> GenerationRequest:
    """The frozen request for ``mode`` from the capture and the panel's values.

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
    if mode is Mode.TXT2IMG:
        return Txt2ImgRequest(**common, width=whole[0], height=whole[1], batch_size=params.batch)
    region = params.size or (0, 0)
    assert cap.picture is not None
    source = np.zeros((cap.picture.rect.h, cap.picture.rect.w, 4), np.uint8)
    if mode is Mode.IMG2IMG:
        return Img2ImgRequest(**common, source=source, strength=params.strength, width=whole[0],
                              height=whole[1], batch_size=params.batch)
    if mode is Mode.VARIATIONS:
        return VariationsRequest(**common, source=source, strength=params.strength, count=params.batch,
                                 width=whole[0], height=whole[1])
    if mode is Mode.INPAINT:
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


def _rgba_image(rgba: np.ndarray) -> QImage:
    return wrap_rgba(np.ascontiguousarray(rgba), premultiplied=False).copy()


class GenerationController(QObject):
    """Joins the prompt panel, the inference thread, the canvas and the results strip."""

    _models_listed = Signal(object)

    def __init__(self, window: MainWindow, engine_factory: EngineFactory | None = None,
                 torch_threads: int | None = None) -> None:
        super().__init__(window)
        self._w = window
        threads = torch_threads or cpu_threads()  # the physical cores, unless the environment chose
        self.service = InferenceService(engine_factory, torch_threads=threads, parent=self)
        self.batch: Batch | None = None
        self._doc: Document | None = None
        self._result_actions: list[QAction] = []

        self.panel = PromptPanel(window.settings)
        self.progress = GenerationProgress()
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.panel)
        column.addWidget(self.progress)
        column.addStretch(1)
        self.dock = QDockWidget("Generate", window)
        self.dock.setObjectName("generateDock")
        self.dock.setWidget(body)
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)  # no menu brings it back
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        window.splitDockWidget(self.dock, window.layers_dock, Qt.Orientation.Vertical)
        window.resizeDocks([self.dock, window.layers_dock], [body.sizeHint().height(), 2000],
                           Qt.Orientation.Vertical)  # the panel's own height; the layers get the rest

        self.strip = ResultsStrip()
        self.results_dock = QDockWidget("Results", window)
        self.results_dock.setObjectName("resultsDock")
        self.results_dock.setWidget(self.strip)
        self.results_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)  # Discard closes it
        window.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.results_dock)  # under the canvas
        self.results_dock.hide()

        self.generate_action = self._action("Generate", "Ctrl+Return", lambda: self.generate())
        self.variations_action = self._action("Variations", "Ctrl+Shift+Return",
                                              lambda: self.generate(variations=True))
        self.cancel_action = self._action("Cancel Generation", "Esc", self.cancel_running)
        self.cancel_action.setEnabled(False)

        self.panel.generate_requested.connect(lambda: self.generate())
        self.panel.variations_requested.connect(lambda: self.generate(variations=True))
        self.progress.cancel_requested.connect(self.service.cancel)
        self.strip.current_changed.connect(self._show_result)
        self.strip.apply_requested.connect(self.apply)
        self.strip.apply_all_requested.connect(self.apply_all)
        self.strip.discard_requested.connect(self.discard)
        s = self.service
        s.started.connect(self._started)
        s.stage.connect(self.progress.job_stage)
        s.progress.connect(self._progress)
        s.finished.connect(self._finished)
        s.failed.connect(self._failed)
        s.cancelled.connect(self._cancelled)
        s.jobs_changed.connect(self._jobs_changed)
        window.canvas.frame_changed.connect(lambda _rect: self.refresh_mode())
        self._mode_timer = QTimer(self)
        self._mode_timer.setSingleShot(True)
        self._mode_timer.setInterval(120)
        self._mode_timer.timeout.connect(self._show_mode)
        self._models_listed.connect(self.panel.set_models)
        self._list_timer = QTimer(self)  # list models once the window is up, and again when it is
        self._list_timer.setSingleShot(True)  # activated (a model manager dialog may have closed)
        self._list_timer.setInterval(LIST_MODELS_AFTER_MS)
        self._list_timer.timeout.connect(self.refresh_models)
        self._list_timer.start()
        self._hooked_services: QObject | None = None
        window.installEventFilter(self)
        self._show_mode()

    def add_menu(self, bar: QMenuBar, by_name: dict[str, QAction]) -> QMenu:
        """Put a Generate menu before Help (its actions also join ``by_name``, for F1)."""
        menu = QMenu("&Generate", bar)
        apply = QAction("&Apply Result as Layer", menu)
        apply.setShortcut(QKeySequence("Ctrl+Shift+A"))
        apply.triggered.connect(lambda _=False: self.apply(self.strip.current))
        discard = QAction("&Discard Results", menu)
        discard.triggered.connect(lambda _=False: self.discard())
        previous = QAction("&Previous Result", menu)
        previous.setShortcut(QKeySequence("Alt+Left"))
        previous.triggered.connect(lambda _=False: self.strip.step(-1))
        following = QAction("&Next Result", menu)
        following.setShortcut(QKeySequence("Alt+Right"))
        following.triggered.connect(lambda _=False: self.strip.step(+1))
        for action in (self.generate_action, self.variations_action, self.cancel_action):
            menu.addAction(action)
        menu.addSeparator()
        for action in (previous, following, apply, discard):
            menu.addAction(action)
        self._result_actions = [previous, following, apply, discard]
        self._enable_result_actions()
        by_name.update({"generate": self.generate_action, "variations": self.variations_action,
                        "cancel_generation": self.cancel_action, "apply_result": apply,
                        "previous_result": previous, "next_result": following})
        help_menu = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
        if help_menu is not None:
            bar.insertMenu(help_menu, menu)
        else:
            bar.addMenu(menu)
        return menu

    def _enable_result_actions(self) -> None:
        for action in self._result_actions:
            action.setEnabled(self.batch is not None)

    def _action(self, text: str, shortcut: str, slot: object) -> QAction:
        action = QAction(text, self._w)
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _=False: slot())  # type: ignore[operator]
        self._w.addAction(action)
        return action

    # ------------------------------------------------------------- documents
    def set_document(self, doc: Document | None) -> None:
        """Follow the window's document (results of another document are dropped)."""
        if self._doc is not None:
            for event in self._watched(self._doc):
                event.disconnect(self.refresh_mode)
        self._doc = doc
        if doc is not None:
            for event in self._watched(doc):
                event.connect(self.refresh_mode)
        if self.batch is not None and self.batch.context.doc is not doc:
            self.discard()
        self.refresh_mode()

    @staticmethod
    def _watched(doc: Document) -> list:
        e = doc.events
        return [e.layers_changed, e.pixels_changed, e.selection_changed, e.size_changed]

    def refresh_mode(self, *_args: object) -> None:
        """Update the panel's mode line soon (changes come in bursts while painting)."""
        self._mode_timer.start()

    def _show_mode(self) -> None:
        self.panel.set_mode_text(describe_mode(self._w.doc, self._w.canvas.outpaint_frame))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Relist the models when the window comes back to the front."""
        if watched is self._w and event.type() == QEvent.Type.WindowActivate:
            self._list_timer.start()
        return False

    def _hook_model_services(self) -> None:
        """Relist after installs and removals, once the model manager has been opened."""
        services = self._w.findChild(QObject, "modelServices")
        signal = getattr(services, "models_changed", None)
        if services is not None and signal is not None and services is not self._hooked_services:
            signal.connect(self.refresh_models)
            self._hooked_services = services

    def refresh_models(self) -> None:
        """List the installed models again (in the background) for the model picker."""
        self._hook_model_services()
        def work() -> None:
            try:
                choices = installed_choices()
            except Exception:  # a broken cache must not stop the app: the picker stays as it is
                log.exception("could not list the installed models")
                return
            self._models_listed.emit(choices)

        threading.Thread(target=work, name="list-models", daemon=True).start()

    # -------------------------------------------------------------- generate
    def generate(self, variations: bool = False) -> GenerationJob | None:
        """Queue a generation in the mode the canvas asks for (or variations)."""
        w = self._w
        if w.busy:
            w.statusBar().showMessage("Wait until the file is read or written.", 4000)
            return None
        params = self.panel.parameters()
        if params.model is None:
            self.progress.show_error("Choose a model first: pick an installed one, or use … to open a "
                                     "model folder or .safetensors file.", "")
            return None
        if w.doc is None:
            side = self.panel.native_size()
            width, height = params.size or (side, side)
            w.set_document(new_document(width, height), "Untitled")
        doc = w.doc
        assert doc is not None
        frame = w.canvas.outpaint_frame
        mode = Mode.VARIATIONS if variations else detect_mode(doc, frame)
        if mode in (Mode.TXT2IMG, Mode.IMG2IMG):
            mode = Mode.TXT2IMG if canvas_is_empty(doc, exact=True) else Mode.IMG2IMG
        try:
            cap = capture(doc, mode, frame)
            request = build_request(mode, cap, params, self.panel.native_size())
        except UserFacingError as exc:
            self.progress.show_error(str(exc), exc.details)
            return None
        label = f"{mode.title}: {layer_name(params.prompt, mode, params.seed)}"
        self.progress.clear_error()
        return self.service.submit(request, label, JobContext(doc, cap, params),
                                   prepare=lambda stand_in: with_picture(stand_in, cap))

    def cancel_running(self) -> None:
        """Stop the running job after its current step or loading stage (Esc)."""
        job = self.service.running
        if job is not None:
            self.service.cancel(job)
            self.progress.job_stopping(job)

    # ------------------------------------------------------------ job events
    def _context(self, job: GenerationJob) -> JobContext:
        assert isinstance(job.context, JobContext)
        return job.context

    def _started(self, job: GenerationJob) -> None:
        self.progress.job_started(job)
        self.cancel_action.setEnabled(True)

    def _progress(self, job: GenerationJob, _step: int, _total: int, preview: QImage | None) -> None:
        self.progress.job_progress(job)
        context = self._context(job)
        if preview is None or context.doc is not self._w.doc:
            return
        self._w.canvas.set_overlay(self._preview_overlay(context.capture, preview), context.capture.preview)

    def _preview_overlay(self, cap: Capture, preview: QImage) -> QImage:
        """The step preview scaled to its place, showing only where the job repaints."""
        rect = cap.preview
        scale = min(1.0, PREVIEW_MAX_SIDE / max(rect.w, rect.h))
        size = (max(1, round(rect.w * scale)), max(1, round(rect.h * scale)))
        small = Image.fromarray(qimage_to_rgba(preview)[..., :3])
        rgb = np.asarray(small.resize(size, Image.Resampling.BILINEAR))
        alpha: np.ndarray | int = 255
        if cap.mode is Mode.INPAINT and cap.mask is not None:  # the mask covers the preview's box
            crop = Image.fromarray(np.ascontiguousarray(cap.mask))
            alpha = np.asarray(crop.resize(size, Image.Resampling.BILINEAR))
        rgba = np.empty((size[1], size[0], 4), np.uint8)
        rgba[..., :3] = rgb
        rgba[..., 3] = alpha
        return _rgba_image(rgba)

    def _job_over(self, job: GenerationJob) -> None:
        if self.service.running is None:
            self.cancel_action.setEnabled(False)
        context = self._context(job)
        if context.doc is not self._w.doc:
            return
        if self.batch is not None:
            self._show_result(self.strip.current)  # the step previews had covered it
        else:
            self._w.canvas.set_overlay(None)

    def _finished(self, job: GenerationJob, images: tuple[GeneratedImage, ...], _seeds: object) -> None:
        self.progress.job_ended(job, f"Done: {len(images)} result{'s' if len(images) != 1 else ''}")
        notices = self.service.notices(job)
        self.progress.show_notices(notices)
        if notices:
            self._w.statusBar().showMessage(" ".join(notices), 8000)
        context = self._context(job)
        doc = self._w.doc
        if context.doc is not doc or doc is None:
            self._job_over(job)
            self._w.statusBar().showMessage("The results belong to a document that is no longer open.", 6000)
            return
        if (doc.width, doc.height) != context.capture.doc_size:
            self._job_over(job)
            self.progress.show_error("The canvas changed size while this job ran, so its results were not "
                                     "shown. Generate again.", "")
            return
        self.batch = Batch(job, context, images)
        captions = [f"seed {image.seed}" for image in images]
        self.strip.show_batch(f"{job.label} — {len(images)} result{'s' if len(images) != 1 else ''}",
                              [image.pixels for image in images], captions)
        self._enable_result_actions()
        self.results_dock.show()
        self.progress.status.setText("The result shows on the canvas: Apply adds it as a new layer.")
        self._job_over(job)

    def _failed(self, job: GenerationJob, message: str, details: str) -> None:
        self._context(job).capture.release()
        self.progress.job_ended(job, "Failed")
        self.progress.show_error(message, details)
        self._job_over(job)

    def _cancelled(self, job: GenerationJob) -> None:
        self._context(job).capture.release()
        self.progress.job_ended(job, "Cancelled")
        self._job_over(job)

    def _jobs_changed(self) -> None:
        self.progress.set_jobs(self.service.jobs)

    # --------------------------------------------------------------- results
    def _show_result(self, index: int) -> None:
        batch = self.batch
        if batch is None or not 0 <= index < len(batch.images):
            return
        self._w.canvas.set_overlay(batch.overlay(index), batch.landing(index).overlay)

    def _check_batch(self) -> Batch | None:
        batch, doc = self.batch, self._w.doc
        if batch is None or doc is None:
            return None
        if batch.context.doc is not doc or (doc.width, doc.height) != batch.context.capture.doc_size:
            self._w.statusBar().showMessage("The canvas changed size since these results were made; "
                                            "generate again.", 6000)
            return None
        return batch

    def apply(self, index: int) -> list[Layer]:
        """Add result ``index`` as a new layer above the picture (one undo step)."""
        batch = self._check_batch()
        if batch is None or not 0 <= index < len(batch.images):
            return []
        return self._land(batch, [index])

    def apply_all(self) -> list[Layer]:
        """Add every result of the batch as its own layer (one undo step)."""
        batch = self._check_batch()
        if batch is None:
            return []
        return self._land(batch, list(range(len(batch.images))))

    def _land(self, batch: Batch, indices: list[int]) -> list[Layer]:
        doc = batch.context.doc
        cap, params = batch.context.capture, batch.context.params
        mode = cap.mode
        label = f"Generate ({mode.title.lower()})"
        opaque = mode not in (Mode.INPAINT, Mode.OUTPAINT)  # whole-image results cover their rect
        layers: list[Layer] = []
        try:
            with doc.grouped(label):
                grow = batch.landing(indices[0]).grow
                if grow is not None:
                    doc.resize_canvas(grow[0], grow[1], grow[2], label="Extend canvas")
                for i in indices:
                    image, lnd = batch.images[i], batch.landing(i)
                    rasters = [n for n, lyr in enumerate(doc.layers) if not lyr.is_mask]
                    index = rasters[-1] + 1 if rasters else len(doc.layers)
                    metadata = {"parameters": image.parameters, "sfumato:mode": mode.value,
                                "sfumato:seed": str(image.seed)}
                    layers.append(doc.add_image_layer(
                        lnd.pixels(), layer_name(params.prompt, mode, image.seed), (lnd.rect.x, lnd.rect.y),
                        label=label, metadata=metadata, index=index, opaque=opaque))
        except UserFacingError as exc:
            self._w.show_error(exc)
            return []
        if grow is not None:
            self._w.canvas.set_outpaint_frame(None)
        self.discard()
        self._w.statusBar().showMessage(f"Added {len(layers)} layer{'s' if len(layers) != 1 else ''}", 4000)
        return layers

    def discard(self) -> None:
        """Drop the batch in the strip (nothing was written to the document)."""
        self.batch = None
        self._enable_result_actions()
        self.strip.clear()
        self.results_dock.hide()
        self._w.canvas.set_overlay(None)

    # ---------------------------------------------------------------- closing
    def shutdown(self) -> None:
        """Cancel every job and stop the inference thread (the window is closing)."""
        self.service.shutdown()


def export_metadata(doc: Document) -> dict[str, str]:
    """PNG metadata for an export: the generation parameters of the topmost visible result layer."""
    for layer in reversed(doc.layers):
        if layer.visible and not layer.is_mask and layer.metadata.get("parameters"):
            return {"parameters": layer.metadata["parameters"]}
    return {}

