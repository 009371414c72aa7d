"""Running slow work (decoding, saving, loading) off the GUI thread and getting the result back on it."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class BackgroundTasks(QObject):
    """A small thread pool whose completions are delivered on the GUI thread.

    ``run(work, on_done, on_error)`` calls ``work()`` on a worker thread, then ``on_done(result)``
    or ``on_error(exception)`` on the thread that owns this object. ``busy_changed(bool)`` tells
    whether anything is running.
    """

    busy_changed = Signal(bool)
    _finished = Signal(int, object)

    def __init__(self, parent: QObject | None = None, workers: int = 2) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sfumato-io")
        self._callbacks: dict[int, tuple[Callable[[Any], None], Callable[[BaseException], None]]] = {}
        self._ids = itertools.count(1)
        self._finished.connect(self._deliver)

    @property
    def busy(self) -> bool:
        """True while a task is running or waiting to report."""
        return bool(self._callbacks)

    def run(self, work: Callable[[], Any], on_done: Callable[[Any], None],
            on_error: Callable[[BaseException], None]) -> None:
        """Start ``work`` in the background."""
        task_id = next(self._ids)
        was_busy = self.busy
        self._callbacks[task_id] = (on_done, on_error)
        if not was_busy:  # before the work starts: a quick one may report (and end busy) at once
            self.busy_changed.emit(True)
        future = self._pool.submit(work)
        future.add_done_callback(lambda f: self._finished.emit(task_id, f))

    def _deliver(self, task_id: int, future: Future[Any]) -> None:
        on_done, on_error = self._callbacks.pop(task_id)
        if not self.busy:  # the callback sees what ``busy`` says: idle, unless other tasks run
            self.busy_changed.emit(False)
        error = future.exception()
        if error is None:
            on_done(future.result())
        else:
            on_error(error)

    def shutdown(self) -> None:
        """Wait for running tasks and stop the threads (results are no longer delivered)."""
        self._finished.disconnect(self._deliver)
        self._pool.shutdown(wait=True, cancel_futures=True)
