"""Generate from the canvas: from the panel's values and the session to a job, and back.

The controller reads the task the session's canvas asks for, captures what it needs (the
region's mask, and a snapshot of the region's picture that the inference thread composites just
before the job runs, so a press costs the GUI thread next to nothing), builds one frozen request
(:mod:`sfumato.session.jobs`) and queues it on the inference thread. While it runs, the step
previews become the session's overlay and the progress bar counts steps (the service's signals);
its end is awaited in one coroutine on the qasync loop, and then the batch becomes the session's
pending results, shown in the results strip and in place on the canvas.
Only "Apply" changes the document: the result becomes a new layer above the picture (the canvas
grows first for an outpaint), all in one undo step. Each result's layer is built on a lane of its
own as the batch arrives (:meth:`~sfumato.session.jobs.PendingResults.prepare`), so Apply on the
GUI thread only inserts it.

It gets everything it needs passed in (the session, the settings, where to report) and builds
only its own widgets (``column``: the prompt panel over the progress; ``strip``): the window
decides where they go.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QVBoxLayout, QWidget

from sfumato.document.document import Document, new_document
from sfumato.document.layers import Layer
from sfumato.errors import UserFacingError
from sfumato.generation.requests import Task
from sfumato.inference.device import cpu_threads
from sfumato.inference.results import GeneratedImage, GenerationResult
from sfumato.qt_bridge import work
from sfumato.qt_bridge.images import qimage_to_rgba
from sfumato.qt_bridge.inference_thread import (
    EngineFactory,
    GenerationJob,
    InferenceService,
    JobCancelled,
    JobFailed,
)
from sfumato.session.canvas_session import UNTITLED, CanvasSession, Overlay
from sfumato.session.generation_source import canvas_is_empty, capture, detect_task, task_title
from sfumato.session.jobs import (
    JobContext,
    PendingResults,
    apply_results,
    build_request,
    layer_name,
    preview_rgba,
    with_picture,
)
from sfumato.session.model_choices import installed_choices, installed_loras
from sfumato.session.notices import Notice, Severity, Source
from sfumato.session.parameter_reuse import ReusePlan, reuse_file, reuse_text
from sfumato.settings import Settings
from sfumato.ui.common.scroll_column import ScrollColumn
from sfumato.ui.generate.progress import GenerationProgress
from sfumato.ui.generate.prompt_panel import PromptPanel
from sfumato.ui.generate.results_strip import ResultsStrip

log = logging.getLogger(__name__)

LIST_MODELS_AFTER_MS = 500
TARGET_DELAY_MS = 120  # the mode line follows the document this long after its last change


class GenerationController(QObject):
    """Joins the prompt panel, the inference thread, the session and the results strip.

    ``window`` is watched for activation (the model list is read again then). What it tells the
    person goes to ``session.notices``: the Generate panel's own notices (a job refused or failed,
    what the engine noted) as :attr:`Source.GENERATE`, the results' as :attr:`Source.RESULTS`.
    ``reported(job)`` is emitted once the end of ``job`` (its results, failure or cancel) has
    been handled.
    """

    reported = Signal(object)

    def __init__(self, session: CanvasSession, settings: Settings, window: QWidget,
                 engine_factory: EngineFactory | None = None, torch_threads: int | None = None) -> None:
        super().__init__(window)
        self.session = session
        self._window = window
        self._notices = session.notices
        threads = torch_threads or cpu_threads()  # the physical cores, unless the environment chose
        self.service = InferenceService(engine_factory, torch_threads=threads, parent=self)
        self._work = work.BackgroundWork(self)
        self._doc: Document | None = None
        self._following: set[GenerationJob] = set()  # jobs whose end is still to be handled

        self.panel = PromptPanel(settings)
        self.progress = GenerationProgress(session.notices)
        self.column = QWidget()
        """The prompt panel over the progress: the Generate dock's contents. The panel scrolls
        when the window is shorter than it; the progress and the job list stay in view."""
        column = QVBoxLayout(self.column)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(ScrollColumn(self.panel), 1)
        column.addWidget(self.progress)
        self.strip = ResultsStrip()
        self._layers_ahead = work.Lane("result-layers")  # result layers built before Apply
        self._results: PendingResults | None = None

        self.panel.generate_requested.connect(lambda: self.generate())
        self.panel.refused.connect(lambda exc: self._notices.report(exc, Source.GENERATE))
        self.panel.variations_requested.connect(lambda strength: self.generate(variation=strength))
        self.panel.reuse_requested.connect(self.reuse_file)
        self.progress.cancel_requested.connect(self.service.cancel)
        self.strip.current_changed.connect(self._show_result)
        self.strip.apply_requested.connect(self.apply)
        self.strip.apply_all_requested.connect(self.apply_all)
        self.strip.discard_requested.connect(self.discard)
        s = self.service
        s.started.connect(self._started)
        s.stage.connect(self.progress.job_stage)
        s.progress.connect(self._progress)
        s.jobs_changed.connect(self._jobs_changed)
        self._target_timer = QTimer(self)
        self._target_timer.setSingleShot(True)
        self._target_timer.setInterval(TARGET_DELAY_MS)
        self._target_timer.timeout.connect(self.session.refresh_target)
        self._list_timer = QTimer(self)  # list models once the window is up, and again when it is
        self._list_timer.setSingleShot(True)  # activated (a model manager dialog may have closed)
        self._list_timer.setInterval(LIST_MODELS_AFTER_MS)
        self._list_timer.timeout.connect(self.refresh_models)
        self._list_timer.start()
        window.installEventFilter(self)
        session.target.bind(lambda target: self.panel.set_mode_text(target.description))
        session.outpaint_frame.changed.connect(self.refresh_target)
        session.results.changed.connect(self._results_changed)
        session.document.bind(self._follow_document)

    # ------------------------------------------------------------- documents
    def _follow_document(self, doc: Document | None) -> None:
        """Watch the session's document for changes that alter what Generate would do."""
        if self._doc is not None:
            for event in self._watched(self._doc):
                event.disconnect(self.refresh_target)
        self._doc = doc
        if doc is not None:
            for event in self._watched(doc):
                event.connect(self.refresh_target)
        self.refresh_target()

    @staticmethod
    def _watched(doc: Document) -> list:
        e = doc.events
        return [e.layers_changed, e.pixels_changed, e.selection_changed, e.size_changed]

    def refresh_target(self, *_args: object) -> None:
        """Work out what Generate would do soon (changes come in bursts while painting)."""
        self._target_timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Relist the models when the window comes back to the front."""
        if watched is self._window and event.type() == QEvent.Type.WindowActivate:
            self._list_timer.start()
        return False

    def refresh_models(self) -> None:
        """List the installed models again (in the background) for the model picker."""
        work.start(self._list_models())

    async def _list_models(self) -> None:
        try:
            choices = await self._work.run("models", installed_choices)
        except Exception:  # a broken cache must not stop the app: the picker stays as it is
            log.exception("could not list the installed models")
            return
        self.panel.set_models(choices)
        try:
            loras = await self._work.run("models", installed_loras)
        except Exception:  # as above: "Add LoRA" offers what it had
            log.exception("could not list the installed LoRAs")
            return
        self.panel.set_loras(loras)

    # -------------------------------------------------------------- generate
    def generate(self, variation: float | None = None) -> GenerationJob | None:
        """Queue a generation of the task the canvas asks for, or with ``variation`` (a strength:
        :data:`~sfumato.generation.requests.SUBTLE_VARIATION` or ``STRONG_VARIATION``) Batch
        variations of the image or the selected region."""
        session = self.session
        if session.busy.value:
            self._notices.info(Source.GENERATE, "Wait until the file is read or written.")
            return None
        params = self.panel.parameters()
        if params.model is None:
            self._notices.error(Source.GENERATE, "Choose a model first: pick an installed one, or use … "
                                "to open a model folder or .safetensors file.")
            return None
        if session.doc is None:
            side = self.panel.native_size()
            width, height = params.size or (side, side)
            session.show(new_document(width, height), UNTITLED)
        doc = session.doc
        assert doc is not None
        frame = session.outpaint_frame.value
        task = Task.VARIATIONS if variation is not None else detect_task(doc, frame)
        if variation is not None:
            params = dataclasses.replace(params, strength=variation)
        if task in (Task.TXT2IMG, Task.IMG2IMG):
            task = Task.TXT2IMG if canvas_is_empty(doc, exact=True) else Task.IMG2IMG
        try:
            cap = capture(doc, task, frame)
            request = build_request(task, cap, params, self.panel.native_size())
        except UserFacingError as exc:
            self._notices.report(exc, Source.GENERATE)
            return None
        label = f"{task_title(task)}: {layer_name(params.prompt, task, params.seed)}"
        self._notices.clear(Source.GENERATE)
        job = self.service.submit(request, label, JobContext(doc, cap, params),
                                  prepare=lambda stand_in: with_picture(stand_in, cap))
        self._following.add(job)
        work.start(self._outcome(job, self.service.outcome(job)))
        return job

    @property
    def busy(self) -> bool:
        """True while a job is queued or running, or its end is still to be handled."""
        return self.service.busy or bool(self._following)

    # ----------------------------------------------------------------- reuse
    def reuse_file(self, path: Path) -> None:
        """Fill the panel from the generation parameters of the PNG at ``path`` (read, and its
        model and LoRAs looked up, in the background)."""
        self._notices.info(Source.GENERATE, f"Reading the parameters of “{path.name}”…")
        self._plan_reuse(lambda: reuse_file(path))

    def reuse_dialog(self) -> None:
        """File › Reuse Parameters From Image…: choose a PNG whose parameters fill the panel (the
        picture is not opened, as A1111's PNG Info sends a picture's parameters to txt2img)."""
        path, _ = QFileDialog.getOpenFileName(self._window, "Reuse the parameters of a picture", "",
                                              "PNG images (*.png)")
        if path:
            self.reuse_file(Path(path))

    def reuse_layer(self) -> None:
        """Layer › Reuse Parameters: fill the panel from the active layer's parameters (a result
        layer's, or a picture's opened with them)."""
        doc = self.session.doc
        layer = doc.active_layer if doc is not None else None
        text = layer.metadata.get("parameters", "") if layer is not None else ""
        if layer is None or not text:
            self._notices.info(Source.GENERATE, "The active layer carries no generation parameters.")
            return
        source = f"the layer “{layer.name}”"
        self._plan_reuse(lambda: reuse_text(source, text))

    def _plan_reuse(self, plan: Callable[[], ReusePlan]) -> None:
        """Make the plan in the background (it reads the model store), then fill the panel."""
        self._work.run("models", plan, on_done=self._reuse, on_error=self._reuse_failed)

    def _reuse(self, plan: ReusePlan) -> None:
        """Fill the panel; say what is missing in the notice, the rest in its details."""
        notes = (*plan.notes, *self.panel.reuse(plan))
        message = " ".join([f"Filled the panel from {plan.source}.", *plan.missing])
        severity = Severity.WARNING if plan.missing else Severity.INFO
        self._notices.post(Notice(severity, message, Source.GENERATE, "\n".join(notes)))

    def _reuse_failed(self, error: BaseException) -> None:
        self._notices.report(error, Source.GENERATE)

    def cancel_running(self) -> None:
        """Stop the running job after its current step or loading stage (Esc)."""
        job = self.service.running
        if job is not None:
            self.service.cancel(job)
            self.progress.job_stopping(job)

    # ------------------------------------------------------------ job events
    async def _outcome(self, job: GenerationJob, outcome: Awaitable[GenerationResult]) -> None:
        """Await ``job``'s ``outcome``, then show how it ended (results, failure or cancel), then
        emit ``reported(job)``."""
        try:
            result = await outcome
        except asyncio.CancelledError:
            return  # the service shut down (the window is closing): nothing is shown
        except JobCancelled:
            self._cancelled(job)
        except JobFailed as error:
            self._failed(job, error.message, error.details)
        else:
            self._finished(job, tuple(result.images))
        finally:
            self._following.discard(job)
        self.reported.emit(job)

    def _context(self, job: GenerationJob) -> JobContext:
        assert isinstance(job.context, JobContext)
        return job.context

    def _started(self, job: GenerationJob) -> None:
        self._notices.clear(Source.GENERATE)  # the last job's notes and error go with a new one
        self.progress.job_started(job)
        self.session.generating.set(True)

    def _progress(self, job: GenerationJob, _step: int, _total: int, preview: QImage | None) -> None:
        self.progress.job_progress(job)
        context = self._context(job)
        if preview is None or context.doc is not self.session.doc:
            return
        cap = context.capture
        self.session.overlay.set(Overlay(preview_rgba(cap, qimage_to_rgba(preview)), cap.preview))

    def _job_over(self, job: GenerationJob) -> None:
        if self.service.running is None:
            self.session.generating.set(False)
        context = self._context(job)
        if context.doc is not self.session.doc:
            return
        if self.session.results.value is not None:
            self._show_result(self.strip.current)  # the step previews had covered it
        else:
            self.session.overlay.set(None)

    def _finished(self, job: GenerationJob, images: tuple[GeneratedImage, ...]) -> None:
        self.progress.job_ended(job, f"Done: {len(images)} result{'s' if len(images) != 1 else ''}")
        notes = self.service.notices(job)
        if notes:
            self._notices.info(Source.GENERATE, " ".join(notes))
        context = self._context(job)
        doc = self.session.doc
        if context.doc is not doc or doc is None:
            self._job_over(job)
            self._notices.info(Source.RESULTS, "The results belong to a document that is no longer open.")
            return
        if (doc.width, doc.height) != context.capture.doc_size:
            self._job_over(job)
            self._notices.error(Source.GENERATE, "The canvas changed size while this job ran, so its "
                                "results were not shown. Generate again.")
            return
        self.session.results.set(PendingResults(context, images))
        captions = [f"seed {image.seed}" for image in images]
        self.strip.show_batch(f"{job.label} — {len(images)} result{'s' if len(images) != 1 else ''}",
                              [image.pixels for image in images], captions)
        for index in range(len(images)):  # the one on show first (it was queued as it showed)
            self._prepare(index, evict=False)
        self.progress.status.setText("The result shows on the canvas: Apply adds it as a new layer.")
        self._job_over(job)

    def _failed(self, job: GenerationJob, message: str, details: str) -> None:
        self._context(job).capture.release()
        self.progress.job_ended(job, "Failed")
        self._notices.error(Source.GENERATE, message, details)
        self._job_over(job)

    def _cancelled(self, job: GenerationJob) -> None:
        self._context(job).capture.release()
        self.progress.job_ended(job, "Cancelled")
        self._job_over(job)

    def _jobs_changed(self) -> None:
        self.progress.set_jobs(self.service.jobs)

    # --------------------------------------------------------------- results
    def _results_changed(self, results: PendingResults | None) -> None:
        if self._results is not None and self._results is not results:
            self._results.close()  # its prepared layers go; those still being built are dropped
        self._results = results
        if results is None:
            self.strip.clear()
            self.session.overlay.set(None)

    def _show_result(self, index: int) -> None:
        results = self.session.results.value
        if results is None or not 0 <= index < len(results.images):
            return
        landing = results.landing(index)
        self.session.overlay.set(Overlay(landing.rgba, landing.overlay))
        self._prepare(index, evict=True)

    def _prepare(self, index: int, evict: bool) -> None:
        """Build result ``index``'s layer in the background, so that Apply only inserts it (an
        Apply before it is ready builds the layer itself)."""
        results = self.session.results.value
        if results is None:
            return

        def failed(done: Future[None]) -> None:  # Apply builds it then, and says what went wrong
            if not done.cancelled() and done.exception() is not None:
                log.warning("could not build result %d's layer ahead of Apply", index,
                            exc_info=done.exception())

        # nothing comes back: prepare() keeps the layer in the results for Apply to take
        self._layers_ahead.submit(results.prepare, index, evict).add_done_callback(failed)

    def _check_results(self) -> PendingResults | None:
        results = self.session.results.value
        if results is None or self.session.doc is None:
            return None
        if not results.fits(self.session.doc):
            self._notices.warn(Source.RESULTS, "The canvas changed size since these results were made; "
                                            "generate again.")
            return None
        return results

    def apply(self, index: int) -> list[Layer]:
        """Add result ``index`` as a new layer above the picture (one undo step)."""
        results = self._check_results()
        if results is None or not 0 <= index < len(results.images):
            return []
        return self._land(results, [index])

    def apply_current(self) -> list[Layer]:
        """Add the result the strip shows as a new layer (Generate › Apply Result as Layer)."""
        return self.apply(self.strip.current)

    def apply_all(self) -> list[Layer]:
        """Add every result of the batch as its own layer (one undo step)."""
        results = self._check_results()
        if results is None:
            return []
        return self._land(results, list(range(len(results.images))))

    def step_result(self, direction: int) -> None:
        """Show the next (``direction > 0``) or the previous result of the strip."""
        self.strip.step(direction)

    def _land(self, results: PendingResults, indices: list[int]) -> list[Layer]:
        try:
            layers = apply_results(results, indices)
        except UserFacingError as exc:
            self._notices.report(exc, Source.RESULTS)
            return []
        if results.landing(indices[0]).grow is not None:
            self.session.set_outpaint_frame(None)
        self.discard()
        self._notices.info(Source.RESULTS, f"Added {len(layers)} layer{'s' if len(layers) != 1 else ''}")
        return layers

    def discard(self) -> None:
        """Drop the batch in the strip (nothing was written to the document)."""
        self.session.results.set(None)
        self.strip.clear()
        self.session.overlay.set(None)

    # ---------------------------------------------------------------- closing
    def shutdown(self) -> None:
        """Cancel every job and stop the inference thread (the window is closing)."""
        self._work.shutdown(timeout=0)
        self._layers_ahead.shutdown(wait=False, cancel_futures=True)
        self.service.shutdown()
