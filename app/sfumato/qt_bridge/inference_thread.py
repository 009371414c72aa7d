"""The in-process inference thread: one long-lived thread that owns the engine, and its queue.

The GUI submits frozen requests to :class:`InferenceService`; the thread runs them one at a
time and reports back through signals, which the service re-emits on the GUI thread (so
receivers, and ``qtbot.waitSignal``, only ever see main-thread emissions). torch and diffusers
are imported on the worker thread when the first job runs, never on the GUI thread; when torch
cannot be imported (the packaged app before a runtime is installed), jobs fail with
:data:`NO_RUNTIME_MESSAGE` instead of a traceback.

Job state lives on the GUI thread: the worker only reports what happened, and the service moves
each job through :class:`~sfumato.generation.jobs.JobState`, ignoring late reports about a job
that already ended (a queued job cancelled just as the worker picked it up, say).

The worker's loop runs on a private one-thread :class:`~sfumato.qt_bridge.work.Lane` (a daemon
thread rather than a QThread: a CPU step can take longer than anyone waits at exit, and Qt
aborts the process when a running QThread is destroyed, while Python simply abandons a daemon
thread). Its job signals reach the GUI thread through queued connections.

A coroutine on the qasync loop awaits a job's end with :meth:`InferenceService.outcome`
(``result = await service.outcome(job)``: its :class:`~sfumato.inference.results.GenerationResult`,
or :class:`JobFailed` or :class:`JobCancelled` raised), after the job's signal has gone out.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal
from PySide6.QtGui import QImage

from sfumato.errors import UserFacingError
from sfumato.generation.jobs import JobState
from sfumato.generation.requests import GenerationRequest
from sfumato.inference.engine_protocol import EngineProtocol, JobRunner
from sfumato.inference.results import GenerationResult, StepProgress
from sfumato.model_store.fit import RunPlan
from sfumato.qt_bridge.work import Lane, event_loop

log = logging.getLogger(__name__)

_job_ids = itertools.count(1)

NO_RUNTIME_MESSAGE = ("No PyTorch runtime is installed, so Sfumato cannot generate images yet. "
                      "Install one in Help › Processing Backend…, then generate again.")


class JobFailed(UserFacingError):
    """A generation job failed: what its ``failed`` signal says (the message and its details),
    raised by awaiting :meth:`InferenceService.outcome`."""


class JobCancelled(Exception):
    """A generation job was cancelled (before it started, or at a step or stage), raised by
    awaiting :meth:`InferenceService.outcome`."""


@dataclass(eq=False)
class GenerationJob:
    """One request on its way through the queue.

    ``context`` is whatever the submitter needs when the results arrive (where they land);
    the service never looks at it. ``total`` and ``step`` follow the progress reports, ``stage``
    the last stage report (loading the model, …) until the first step. ``prepare``, if given,
    is called on the inference thread just before the job runs and returns the request to run
    (so the submitter's picture of the canvas is composited there, not on the GUI thread).
    """

    request: GenerationRequest
    label: str
    context: Any = None
    id: int = field(default_factory=lambda: next(_job_ids))
    state: JobState = JobState.QUEUED
    step: int = 0
    total: int = 0
    stage: str = ""
    submitted_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    first_step_at: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    prepare: Callable[[GenerationRequest], GenerationRequest] | None = field(default=None, repr=False)

    def seconds_left(self, now: float | None = None) -> float | None:
        """An estimate of the time to the last step, from the pace of the steps so far."""
        if self.first_step_at is None or self.step < 2 or not self.total:
            return None
        now = time.monotonic() if now is None else now
        per_step = (now - self.first_step_at) / (self.step - 1)
        return max(0.0, per_step * (self.total - self.step))


def preview_image(pixels: np.ndarray) -> QImage:
    """A QImage copy of an ``(h, w, 3)`` uint8 preview (safe to hand to another thread)."""
    rgb = np.ascontiguousarray(pixels[..., :3])
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class _Relay(QObject):
    """Signals the worker emits; connected to the service with queued connections."""

    started = Signal(object)
    stage = Signal(object, str)
    progress = Signal(object, int, int, object)
    finished = Signal(object, object)
    failed = Signal(object, str, str)
    cancelled = Signal(object)
    device_probed = Signal(object)
    run_plan_changed = Signal(object)


EngineFactory = Callable[[], JobRunner]
"""Makes the engine on the worker thread (default: ``sfumato.inference.Engine()``, an
:class:`~sfumato.inference.engine_protocol.EngineProtocol`; a fake may have only ``run``)."""


def _default_engine() -> EngineProtocol:
    from sfumato.inference import Engine

    return Engine()


class _Worker:
    """Takes jobs off the queue and runs them on the engine, one at a time (:meth:`run`, the
    inference lane's one long call)."""

    def __init__(self, jobs: queue.Queue[GenerationJob | None], relay: _Relay,
                 engine_factory: EngineFactory, torch_threads: int | None) -> None:
        self._jobs = jobs
        self._relay = relay
        self._engine_factory = engine_factory
        self._torch_threads = torch_threads
        self._engine: JobRunner | None = None
        self.force_float32: bool | None = None
        """The user's float32 setting, handed to the engine before each job (``None``: the
        engine keeps its own); written by the GUI thread, read here."""
        self.cpu_backend: str | None = None
        """The user's CPU backend setting (:class:`~sfumato.cpu_backend.CpuBackend` value),
        handed to the engine before each job like ``force_float32``."""
        self._run_plan: RunPlan | None = None

    def run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                break
            if job.cancel_event.is_set():
                continue  # cancelled while queued: the service has already said so
            try:
                self._run(job)
            except BaseException:  # never let the thread die: report and go on with the next job
                log.exception("inference job %s crashed", job.id)
                self._relay.failed.emit(job, "Generation failed unexpectedly; the details are in the log.",
                                        traceback.format_exc())
        self._engine = None

    def _engine_for(self, job: GenerationJob) -> JobRunner:
        if self._engine is None:
            try:
                import torch
            except ModuleNotFoundError as exc:
                if exc.name != "torch":
                    raise
                self._relay.device_probed.emit(None)
                raise UserFacingError(NO_RUNTIME_MESSAGE, f"ModuleNotFoundError: {exc}") from exc
            if self._torch_threads:
                torch.set_num_threads(self._torch_threads)
            engine = self._engine_factory()
            profile = getattr(engine, "profile", None)  # the real engine probes its device here
            if profile is not None:
                self._relay.device_probed.emit(profile)
            self._engine = engine
        return self._engine

    def _run(self, job: GenerationJob) -> None:
        relay = self._relay
        relay.started.emit(job)
        try:
            engine = self._engine_for(job)
            if self.force_float32 is not None and hasattr(engine, "force_float32"):
                engine.force_float32 = self.force_float32
            if self.cpu_backend is not None and hasattr(engine, "cpu_backend"):
                engine.cpu_backend = self.cpu_backend

            def on_step(progress: StepProgress) -> None:
                image = preview_image(progress.preview) if progress.preview is not None else None
                relay.progress.emit(job, int(progress.step), int(progress.total), image)

            def on_stage(text: str) -> None:
                self._report_plan(engine)  # a stage after loading: the plan is known now
                relay.stage.emit(job, text)

            if job.prepare is not None:
                job.request, job.prepare = job.prepare(job.request), None
            try:
                result = engine.run(job.request, on_step, job.cancel_event, on_stage)
            finally:
                self._report_plan(engine)
        except UserFacingError as exc:
            log.info("job %s failed: %s", job.id, exc, exc_info=True)
            request = job.request
            details = exc.details or (f"{type(exc).__name__}: {exc}\n\nTask: {request.task}\n"
                                      f"Model: {request.model}")
            relay.failed.emit(job, str(exc), details)
            return
        except MemoryError:
            relay.failed.emit(job, "Sfumato ran out of memory. Try a smaller size or fewer images.",
                              traceback.format_exc())
            return
        if result.cancelled:
            relay.cancelled.emit(job)
        else:
            relay.finished.emit(job, result)

    def _report_plan(self, engine: JobRunner) -> None:
        """Relay how the loaded model runs when that changed (a fake engine may have no plan)."""
        plan = getattr(engine, "run_plan", None)
        if plan is not None and plan != self._run_plan:
            self._run_plan = plan
            self._relay.run_plan_changed.emit(plan)


class InferenceService(QObject):
    """The generation queue as the GUI sees it.

    Signals (always emitted on the GUI thread): ``queued(job)``, ``started(job)``,
    ``stage(job, text)`` when the engine begins work without steps ("Loading sdxl-turbo…",
    moving it to the GPU; cancelling then stops at the next stage), ``progress(job, step,
    total, preview)``
    (``preview`` a QImage or ``None``), ``finished(job, images, seeds)`` (a tuple of
    :class:`~sfumato.inference.GeneratedImage` and the seeds used), ``failed(job, message,
    details)``, ``cancelled(job)`` and ``jobs_changed()`` whenever the queue changes.
    ``device_probed(profile)`` comes once, with the engine's
    :class:`~sfumato.inference.DeviceProfile`, when the engine has been made; it comes with
    ``None`` each time a job finds no PyTorch runtime to import. ``run_plan_changed(plan)``
    comes with the loaded model's :class:`~sfumato.model_store.fit.RunPlan` (the dtype it really
    runs in) once a job has loaded it, and again whenever another model or precision is loaded.
    A coroutine awaits a job's end with :meth:`outcome`.
    """

    queued = Signal(object)
    started = Signal(object)
    stage = Signal(object, str)
    progress = Signal(object, int, int, object)
    finished = Signal(object, object, object)
    failed = Signal(object, str, str)
    cancelled = Signal(object)
    jobs_changed = Signal()
    device_probed = Signal(object)
    run_plan_changed = Signal(object)

    def __init__(self, engine_factory: EngineFactory | None = None, *, torch_threads: int | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue: queue.Queue[GenerationJob | None] = queue.Queue()
        self._jobs: list[GenerationJob] = []
        self._notices: dict[int, tuple[str, ...]] = {}
        self._outcomes: dict[int, asyncio.Future[GenerationResult]] = {}  # by job id, once asked
        self._relay = _Relay()
        queued = Qt.ConnectionType.QueuedConnection
        self._relay.started.connect(self._on_started, queued)
        self._relay.stage.connect(self._on_stage, queued)
        self._relay.progress.connect(self._on_progress, queued)
        self._relay.finished.connect(self._on_finished, queued)
        self._relay.failed.connect(self._on_failed, queued)
        self._relay.cancelled.connect(self._on_cancelled, queued)
        self._relay.device_probed.connect(self.device_probed, queued)
        self._relay.run_plan_changed.connect(self.run_plan_changed, queued)
        self._worker = _Worker(self._queue, self._relay, engine_factory or _default_engine, torch_threads)
        self._lane = Lane("inference")
        self._loop: Future[None] | None = None  # the worker's loop, once the first job came
        self._stopped = False
        app = QCoreApplication.instance()
        if app is not None:  # stop taking jobs and cancel the running one at exit
            app.aboutToQuit.connect(self.shutdown)

    def configure(self, engine_factory: EngineFactory | None = None,
                  torch_threads: int | None = None) -> None:
        """Change how the engine is made (tests, benchmarks); only before the first job runs."""
        if self._loop is not None:
            raise RuntimeError("the inference thread has already started")
        if engine_factory is not None:
            self._worker._engine_factory = engine_factory
        if torch_threads is not None:
            self._worker._torch_threads = torch_threads

    def set_force_float32(self, forced: bool) -> None:
        """Compute in float32 throughout from the next job on (the user's setting; a model loaded
        in another precision is reloaded then)."""
        self._worker.force_float32 = forced

    def set_cpu_backend(self, backend: str) -> None:
        """Compute the UNet on the CPU with ``backend`` (auto, torch or openvino) from the next
        job on (the user's setting; the engine decides again for the loaded model)."""
        self._worker.cpu_backend = backend

    # ------------------------------------------------------------------ queries
    @property
    def jobs(self) -> list[GenerationJob]:
        """Queued and running jobs, oldest first."""
        return list(self._jobs)

    @property
    def running(self) -> GenerationJob | None:
        """The job the engine works on, if any."""
        return next((job for job in self._jobs if job.state is JobState.RUNNING), None)

    @property
    def busy(self) -> bool:
        """True while any job is queued or running."""
        return bool(self._jobs)

    def notices(self, job: GenerationJob) -> tuple[str, ...]:
        """What the engine wanted the user to know about a finished job (sizes rounded, …)."""
        return self._notices.get(job.id, ())

    def outcome(self, job: GenerationJob) -> Awaitable[GenerationResult]:
        """The end of queued or running ``job``, for a coroutine on the qasync loop to await (ask
        while it is queued or running, e.g. right after :meth:`submit`; await it later).

        Awaiting it gives the job's :class:`~sfumato.inference.results.GenerationResult`, or
        raises :class:`JobFailed` or :class:`JobCancelled`, once the ``finished``/``failed``/
        ``cancelled`` signal has been emitted; :class:`asyncio.CancelledError` if the service
        shuts down first. Cancelling the awaiting coroutine leaves the job running (stop it with
        :meth:`cancel`). ``KeyError`` if ``job`` is not queued or running here.
        """
        if job.state.is_final or job not in self._jobs:
            raise KeyError(job.id)
        future = self._outcomes.get(job.id)
        if future is None:
            future = self._outcomes[job.id] = event_loop().create_future()
        return asyncio.shield(future)

    # ----------------------------------------------------------------- commands
    def submit(self, request: GenerationRequest, label: str, context: Any = None, *,
               prepare: Callable[[GenerationRequest], GenerationRequest] | None = None) -> GenerationJob:
        """Queue ``request``; it runs after the jobs before it (see :class:`GenerationJob` for
        ``prepare``). Returns its job."""
        if self._stopped:
            raise RuntimeError("the inference service has been shut down")
        job = GenerationJob(request, label, context, prepare=prepare)
        self._jobs.append(job)
        if self._loop is None:
            self._loop = self._lane.submit(self._worker.run)
        self._queue.put(job)
        self.queued.emit(job)
        self.jobs_changed.emit()
        return job

    def cancel(self, job: GenerationJob) -> None:
        """Cancel ``job``: a queued job never starts; a running one stops after its current step."""
        if job.state.is_final:
            return
        job.cancel_event.set()
        if job.state is JobState.QUEUED:
            self._end(job, JobState.CANCELLED)
            self.cancelled.emit(job)
            self.jobs_changed.emit()
            self._settle(job, JobCancelled(job.label))

    def cancel_all(self) -> None:
        """Cancel every queued and running job."""
        for job in reversed(self._jobs):
            self.cancel(job)

    def shutdown(self, wait_ms: int = 5000) -> None:
        """Cancel everything and stop the thread (waiting up to ``wait_ms`` for the current step)."""
        if self._stopped:
            return
        self._stopped = True
        outcomes, self._outcomes = self._outcomes, {}
        for future in outcomes.values():  # the awaiting coroutines stop; the window is closing
            future.cancel()
        self.cancel_all()
        self._queue.put(None)
        self._lane.shutdown(wait=self._loop is not None, timeout=wait_ms / 1000)

    # ------------------------------------------------------- worker → GUI thread
    def _settle(self, job: GenerationJob, outcome: GenerationResult | BaseException) -> None:
        """Hand ``job``'s outcome to the coroutines awaiting it (after its signal went out)."""
        future = self._outcomes.pop(job.id, None)
        if future is None or future.done():
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def _end(self, job: GenerationJob, state: JobState) -> None:
        job.state = state
        if job in self._jobs:
            self._jobs.remove(job)

    def _on_started(self, job: GenerationJob) -> None:
        if job.state is not JobState.QUEUED:
            return
        job.state = JobState.RUNNING
        job.started_at = time.monotonic()
        self.started.emit(job)
        self.jobs_changed.emit()

    def _on_stage(self, job: GenerationJob, text: str) -> None:
        if job.state is JobState.RUNNING:
            job.stage = text
            self.stage.emit(job, text)

    def _on_progress(self, job: GenerationJob, step: int, total: int, preview: QImage | None) -> None:
        if job.state is not JobState.RUNNING:
            return
        if job.first_step_at is None:
            job.first_step_at = time.monotonic()
        job.step, job.total, job.stage = step, total, ""
        self.progress.emit(job, step, total, preview)

    def _on_finished(self, job: GenerationJob, result: GenerationResult) -> None:
        if job.state is not JobState.RUNNING:
            return
        self._end(job, JobState.DONE)
        self._notices[job.id] = tuple(result.notices)
        self.finished.emit(job, tuple(result.images), tuple(result.seeds))
        self.jobs_changed.emit()
        self._settle(job, result)

    def _on_failed(self, job: GenerationJob, message: str, details: str) -> None:
        if job.state.is_final:
            return
        self._end(job, JobState.FAILED)
        self.failed.emit(job, message, details)
        self.jobs_changed.emit()
        self._settle(job, JobFailed(message, details))

    def _on_cancelled(self, job: GenerationJob) -> None:
        if job.state.is_final:
            return
        self._end(job, JobState.CANCELLED)
        self.cancelled.emit(job)
        self.jobs_changed.emit()
        self._settle(job, JobCancelled(job.label))
