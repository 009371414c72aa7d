"""``sfumato --smoke``: prove that an installed or packaged Sfumato really works, then exit.

The window opens as usual (without the first-run wizard or the recovery dialog). As soon as it
is exposed, ``smoke: window shown`` goes to stdout; then a tiny random-weight SD 1.5 is built in
a temporary folder and a txt2img runs through the same path a click on Generate takes
(generation controller → inference thread → engine), the result is applied as a layer and its
pixels are checked. One line ``smoke: {json}`` reports the backend, torch and timings, and the
process exits 0. Any failure, or no result within :data:`TIMEOUT_S`, prints ``smoke failed: …``
on stderr and exits 1.

The packaging script runs it on the frozen bundle (``packaging/build.py``); on Windows run it
through ``sfumato-cli.exe --smoke``, since the windowed ``sfumato.exe`` has no stdout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from sfumato.qt_bridge.inference_thread import GenerationJob
    from sfumato.qt_bridge.work import BackgroundWork
    from sfumato.session.canvas_session import CanvasSession
    from sfumato.ui.generate.controller import GenerationController

log = logging.getLogger(__name__)

TIMEOUT_S = float(os.environ.get("SFUMATO_SMOKE_TIMEOUT", "300"))
"""Seconds the whole smoke run may take before it fails (``SFUMATO_SMOKE_TIMEOUT`` overrides)."""
SIZE = 64
STEPS = 2
SEED = 1234
PROMPT = "a red apple"

_imported_at = time.monotonic()


def process_age() -> tuple[float, str]:
    """Seconds since this process started, and what they were counted from.

    Linux knows the start time (``/proc/self/stat``, 10 ms ticks); elsewhere the clock starts when
    this module was imported, which leaves out the interpreter's and the GUI's imports.
    """
    try:
        stat = Path("/proc/self/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime, in ticks since boot
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started, "process start"
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic() - _imported_at, "smoke module import"


def say(text: str, stream: Any = None) -> None:
    """One line on stdout (or ``stream``), flushed at once; silent where there is no console."""
    stream = stream or sys.stdout
    if stream is None:  # a windowed executable on Windows
        return
    with contextlib.suppress(OSError, ValueError):
        print(text, file=stream, flush=True)


class SmokeRun(QObject):
    """Drives one smoke run on ``window`` (its ``session``, Generate ``controller`` and file
    ``tasks``, which build the model off the GUI thread); ``exit_code`` is 0 once it has passed."""

    _failed_elsewhere = Signal(str)

    def __init__(self, window: QWidget, session: CanvasSession, controller: GenerationController,
                 tasks: BackgroundWork, timeout_s: float = TIMEOUT_S) -> None:
        super().__init__(window)
        self._w = window
        self._session = session
        self._controller = controller
        self._tasks = tasks
        self.exit_code = 1
        self._done = False
        self._shown = False
        self._report: dict[str, Any] = {}
        self._engine: Any = None
        self._job: GenerationJob | None = None
        self._result_count: int | None = None  # the finished job's images, until the controller took them in
        self._generate_started = 0.0
        self._model_dir = Path(tempfile.mkdtemp(prefix="sfumato-smoke-"))
        self._timeout_s = timeout_s

        self._watchdog = QTimer(self)
        self._watchdog.setSingleShot(True)
        self._watchdog.timeout.connect(lambda: self.fail(f"no result after {timeout_s:.0f} s"))
        self._watchdog.start(int(timeout_s * 1000))
        # if the GUI thread itself hangs, no QTimer fires: a plain thread ends the process
        self._hard_stop = threading.Timer(timeout_s + 30, self._abandon)
        self._hard_stop.daemon = True
        self._hard_stop.start()

        self._failed_elsewhere.connect(self.fail)
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_excepthook
        service = controller.service
        service.configure(engine_factory=self._make_engine)
        service.finished.connect(self._finished)
        controller.reported.connect(self._reported)
        service.failed.connect(self._failed)
        service.cancelled.connect(lambda _job: self.fail("the generation was cancelled"))

    # ------------------------------------------------------------- the window
    def watch_window(self) -> None:
        """Call right after ``window.show()``: reports the first exposure and starts the run."""
        handle = self._w.windowHandle()
        if handle is not None and handle.isExposed():
            self._exposed()
        elif handle is not None:
            handle.installEventFilter(self)
        else:
            self.fail("the main window has no native window after show()")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Expose and not self._shown:
            handle = self._w.windowHandle()
            if handle is not None and handle.isExposed():
                handle.removeEventFilter(self)
                # the expose event is delivered before Qt paints: report once this one is handled
                QTimer.singleShot(0, self._exposed)
        return False

    def _exposed(self) -> None:
        if self._shown or self._done:
            return
        self._shown = True
        seconds, clock = process_age()
        self._report["seconds_to_window"] = round(seconds, 3)
        self._report["window_clock"] = clock
        self._report["qt_platform"] = QApplication.platformName()
        say("smoke: window shown")
        self._tasks.run("io", self._build_model, on_done=self._model_built, on_error=self.fail)

    # -------------------------------------------------------------- the model
    def _build_model(self) -> Path:  # on a background thread
        started = time.perf_counter()
        from sfumato.inference.tiny_models import build_sd15

        folder = build_sd15(self._model_dir / "tiny-sd15")
        self._report["seconds_to_build_model"] = round(time.perf_counter() - started, 3)
        return folder

    def _make_engine(self) -> Any:  # on the inference thread: the default engine, kept for the report
        from sfumato.inference import Engine

        self._engine = Engine()
        return self._engine

    def _model_built(self, folder: Path) -> None:
        if self._done:
            return
        controller = self._controller
        panel = controller.panel
        panel.use_model_path(folder)
        panel.steps.setValue(STEPS)
        panel.seed.setValue(SEED)
        panel.seed_lock.setChecked(True)
        panel.auto_size.setChecked(False)
        panel.width_box.setValue(SIZE)
        panel.height_box.setValue(SIZE)
        panel.prompt.setPlainText(PROMPT)
        self._generate_started = time.perf_counter()
        self._job = controller.generate()
        if self._job is None:
            self.fail(f"Generate did not start a job: {panel_error(controller)}")

    # ------------------------------------------------------------- the result
    def _finished(self, job: GenerationJob, images: tuple[Any, ...], _seeds: object) -> None:
        if job is not self._job or self._done:
            return
        self._report["seconds_to_generate"] = round(time.perf_counter() - self._generate_started, 3)
        self._result_count = len(images)  # applied once the controller has taken the result in

    def _reported(self, job: GenerationJob) -> None:
        if job is not self._job or self._done or self._result_count is None:
            return
        self._apply(self._result_count)

    def _apply(self, count: int) -> None:
        try:
            self._check_and_apply(count)
        except Exception as exc:
            self.fail(exc)
            return
        self.passed()

    def _check_and_apply(self, count: int) -> None:
        import numpy as np

        controller = self._controller
        doc = self._session.doc
        results = self._session.results.value
        if count != 1 or results is None or doc is None:
            raise AssertionError(f"expected one result in the strip, got {count} (results: {results})")
        layers = controller.apply(0)
        if len(layers) != 1 or layers[0] not in doc.layers:
            raise AssertionError("applying the result did not add a layer to the document")
        pixels = layers[0].pixels
        if pixels.shape[:2] != (SIZE, SIZE):
            raise AssertionError(f"the result layer is {pixels.shape[1]}×{pixels.shape[0]}, not {SIZE}²")
        if int(np.count_nonzero(pixels[..., 3])) != SIZE * SIZE:
            raise AssertionError("the result layer is not opaque everywhere")
        if int(pixels[..., :3].max()) == int(pixels[..., :3].min()):
            raise AssertionError("the result layer is one flat colour")
        self._report["layer"] = layers[0].name
        self._report["layers"] = len(doc.layers)
        self._report["mean_rgb"] = [round(float(v), 2) for v in pixels[..., :3].reshape(-1, 3).mean(axis=0)]

    def _failed(self, job: GenerationJob, message: str, details: str) -> None:
        if job is self._job:
            self.fail(f"the generation failed: {message}\n{details}")

    # ----------------------------------------------------------------- ending
    def passed(self) -> None:
        """Report and quit with status 0."""
        if self._done:
            return
        import torch

        profile = self._engine.profile if self._engine is not None else None
        from sfumato import __version__

        self._report.update({
            "ok": True,
            "version": __version__,
            "frozen": bool(getattr(sys, "frozen", False)),
            "backend": profile.kind if profile else None,
            "device": profile.name if profile else None,
            "dtype": profile.dtype if profile else None,
            "torch": torch.__version__,
            "torch_file": torch.__file__,
            "torch_threads": torch.get_num_threads(),
            "python": sys.version.split()[0],
        })
        say("smoke: " + json.dumps(self._report, sort_keys=True))
        self._end(0)

    def fail(self, reason: object) -> None:
        """Say why on stderr and quit with status 1."""
        if self._done:
            return
        if isinstance(reason, BaseException):
            text = "".join(traceback.format_exception(reason)).rstrip()
        else:
            text = str(reason)
        log.error("smoke failed: %s", text)
        say(f"smoke failed: {text}", sys.stderr)
        self._end(1)

    def _end(self, code: int) -> None:
        self._done = True
        self.exit_code = code
        self._watchdog.stop()
        doc = self._session.doc
        if doc is not None:
            doc.saved_revision = doc.revision  # no unsaved-changes question
        shutil.rmtree(self._model_dir, ignore_errors=True)
        # close the window the ordinary way (settings saved, threads stopped), then make sure
        QTimer.singleShot(0, self._w.close)
        QTimer.singleShot(100, QApplication.quit)
        self._hard_stop.cancel()
        stuck = threading.Timer(30, lambda: os._exit(code))
        stuck.daemon = True
        stuck.start()

    def _abandon(self) -> None:  # the GUI thread never came back
        say(f"smoke failed: the GUI thread did not respond within {self._timeout_s + 30:.0f} s", sys.stderr)
        os._exit(1)

    def _excepthook(self, kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        self.fail("unhandled exception:\n" + "".join(traceback.format_exception(kind, value, tb)))

    def _thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
        name = args.thread.name if args.thread else "?"
        # a signal, so that fail() runs on the GUI thread
        self._failed_elsewhere.emit(f"unhandled exception in thread {name}:\n{text}")


def panel_error(controller: Any) -> str:
    """The notice the Generate panel shows, if any (for the failure message)."""
    notice = controller.progress.notice_bar.notice
    return notice.message if notice is not None else "no message"


def start(window: QWidget, session: CanvasSession, controller: GenerationController,
          tasks: BackgroundWork, timeout_s: float = TIMEOUT_S) -> SmokeRun:
    """Begin a smoke run on a window that was just shown (see :class:`SmokeRun`)."""
    run = SmokeRun(window, session, controller, tasks, timeout_s)
    run.watch_window()
    return run
