"""Model-store work (installs, verify, repair, remove, imports, hub look-ups) off the GUI thread.

Each task runs on the ``models`` lane (:mod:`sfumato.qt_bridge.work`: a thread for each task
running) under a key the caller chooses (a catalog id, an installed model's key). Progress
reports and outcomes cross to the thread that owns the :class:`ModelTasks` object and are
re-emitted there, so receivers (and ``qtbot.waitSignal``) only ever see them on the GUI thread.
A coroutine on the qasync loop awaits a running task's outcome with :meth:`ModelTasks.outcome`
(``result = await tasks.outcome(key)``: the result, or the task's error raised).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal

from sfumato.model_store import DownloadCancelled, DownloadProgress, ModelManager, ProgressCallback
from sfumato.qt_bridge.work import BackgroundWork, WorkItem, event_loop

Work = Callable[[ProgressCallback, threading.Event], Any]
"""A task body: gets a progress callback and a cancel event, returns the result."""


@dataclass
class _Task:
    cancel: threading.Event = field(default_factory=threading.Event)
    on_done: Callable[[Any], None] | None = None
    on_error: Callable[[BaseException], None] | None = None
    item: WorkItem[Any] | None = None


class ModelTasks(QObject):
    """Runs :class:`ModelManager` calls in the background and reports on the owning thread.

    Signals (all on the owning thread): ``started(key)``, ``progress(key, DownloadProgress)``,
    ``finished(key, result)``, ``failed(key, exception)``, ``cancelled(key)`` and
    ``running_changed()`` whenever a task starts or ends. One task per key at a time; a
    coroutine awaits one with :meth:`outcome`.
    """

    started = Signal(str)
    progress = Signal(str, object)
    finished = Signal(str, object)
    failed = Signal(str, object)
    cancelled = Signal(str)
    running_changed = Signal()

    def __init__(self, manager: ModelManager, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self._tasks: dict[str, _Task] = {}
        self._work = BackgroundWork(self)

    # ------------------------------------------------------------------ state
    def is_running(self, key: str) -> bool:
        """True while the task ``key`` runs (or has not reported its end yet)."""
        return key in self._tasks

    def running(self) -> list[str]:
        """Keys of the tasks not yet finished."""
        return list(self._tasks)

    def outcome(self, key: str) -> Awaitable[Any]:
        """The outcome of running task ``key``, for a coroutine on the qasync loop to await
        (ask while it runs, e.g. right after starting it or on ``started``; await it later).

        Awaiting it gives the task's result or raises its error (:class:`DownloadCancelled`
        after :meth:`cancel`), once the ``finished``/``failed``/``cancelled`` signal has been
        emitted; :class:`asyncio.CancelledError` if these tasks shut down first. Cancelling the
        awaiting coroutine leaves the task running (stop it with :meth:`cancel`). ``KeyError``
        if ``key`` is not running.
        """
        item = self._tasks[key].item
        assert item is not None  # set as the task starts, before anyone can ask
        return asyncio.shield(asyncio.ensure_future(item, loop=event_loop()))

    # ------------------------------------------------------------- starting
    def run(
        self,
        key: str,
        work: Work,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> bool:
        """Start ``work`` under ``key``; ``False`` (and nothing started) if ``key`` is busy.

        ``on_done(result)`` / ``on_error(exception)`` are called on the owning thread before
        the ``finished`` / ``failed`` signals (a cancel counts as neither).
        """
        if key in self._tasks:
            return False
        task = _Task(on_done=on_done, on_error=on_error)

        def report(progress: DownloadProgress) -> None:
            self._work.call(self._on_progress, key, progress)

        self._tasks[key] = task
        task.item = self._work.run(
            "models", work, report, task.cancel,
            on_done=lambda result: self._on_done(key, "finished", result),
            on_error=lambda exc: self._on_done(
                key, "cancelled" if isinstance(exc, DownloadCancelled) else "failed", exc))
        self.started.emit(key)
        self.running_changed.emit()
        return True

    def install(self, key: str, ref: str, variant: str | None = None) -> bool:
        """Download catalog model or hub repo ``ref`` (resuming staged bytes)."""
        return self.run(
            key, lambda report, cancel: self.manager.install(
                ref, variant=variant, on_progress=report, cancel=cancel)
        )

    def verify(self, key: str, ref: str) -> bool:
        """Re-hash installed model ``ref``; the result is a list of ``VerifyResult``."""
        return self.run(key, lambda report, _cancel: self.manager.verify(ref, on_progress=report))

    def repair(self, key: str, ref: str) -> bool:
        """Re-download the files of installed model ``ref`` that fail verification."""
        return self.run(
            key, lambda report, cancel: self.manager.repair(ref, on_progress=report, cancel=cancel)
        )

    def remove(self, key: str, ref: str) -> bool:
        """Delete installed model ``ref`` from the cache."""
        return self.run(key, lambda _report, _cancel: self.manager.remove(ref))

    # ------------------------------------------------------------- stopping
    def cancel(self, key: str) -> bool:
        """Ask task ``key`` to stop (staged bytes are kept); ``False`` if it is not running."""
        task = self._tasks.get(key)
        if task is None:
            return False
        task.cancel.set()
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel every task and wait up to ``timeout`` seconds in all for them to stop."""
        for task in self._tasks.values():
            task.cancel.set()
        self._work.shutdown(timeout)

    # ------------------------------------------------------------- relaying
    def _on_progress(self, key: str, progress: DownloadProgress) -> None:
        if key in self._tasks:
            self.progress.emit(key, progress)

    def _on_done(self, key: str, outcome: str, value: Any) -> None:
        task = self._tasks.pop(key, None)
        try:
            if outcome == "finished":
                if task is not None and task.on_done is not None:
                    task.on_done(value)
                self.finished.emit(key, value)
            elif outcome == "cancelled":
                self.cancelled.emit(key)
            else:
                if task is not None and task.on_error is not None:
                    task.on_error(value)
                self.failed.emit(key, value)
        finally:
            self.running_changed.emit()
