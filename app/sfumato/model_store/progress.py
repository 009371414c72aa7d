"""Download progress: what a callback receives, and the thread-safe meter that produces it."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class DownloadProgress:
    """One progress report for a whole install (all files of a model together).

    ``bytes_done`` includes bytes resumed from staging (``bytes_resumed`` of them); ``rate`` is
    bytes per second over the last few seconds of fresh transfer; ``eta`` is seconds left, or
    ``None`` while the rate is unknown.
    """

    model: str
    file: str
    bytes_done: int
    bytes_total: int
    bytes_resumed: int
    files_done: int
    files_total: int
    rate: float
    eta: float | None
    finished: bool = False


ProgressCallback = Callable[[DownloadProgress], None]
"""Called from download worker threads; a GUI must hand the report to its own thread."""


class ProgressMeter:
    """Accumulates bytes from several worker threads and reports at most every ``interval`` s."""

    WINDOW_S = 5.0

    def __init__(
        self,
        model: str,
        bytes_total: int,
        files_total: int,
        callback: ProgressCallback | None,
        interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._model = model
        self._total = bytes_total
        self._files_total = files_total
        self._callback = callback
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._done = 0
        self._resumed = 0
        self._files_done = 0
        self._file = ""
        self._fresh = 0
        self._samples: deque[tuple[float, int]] = deque([(clock(), 0)])
        self._last_emit = float("-inf")

    def add(self, n: int, file: str, resumed: bool = False) -> None:
        """Count ``n`` bytes of ``file``: freshly received, or found already staged."""
        with self._lock:
            self._done += n
            self._file = file
            if resumed:
                self._resumed += n
            else:
                self._fresh += n
                now = self._clock()
                self._samples.append((now, self._fresh))
                while len(self._samples) > 2 and now - self._samples[0][0] > self.WINDOW_S:
                    self._samples.popleft()
        self._emit(False)

    def file_done(self, file: str) -> None:
        """Mark one file complete."""
        with self._lock:
            self._files_done += 1
            self._file = file
        self._emit(True)

    def finish(self) -> None:
        """Send the final report."""
        self._emit(True, finished=True)

    def snapshot(self, finished: bool = False) -> DownloadProgress:
        """The current state as a report."""
        with self._lock:
            (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
            rate = (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
            left = max(self._total - self._done, 0)
            eta = left / rate if rate > 0 else (0.0 if left == 0 else None)
            return DownloadProgress(
                self._model,
                self._file,
                self._done,
                self._total,
                self._resumed,
                self._files_done,
                self._files_total,
                rate,
                eta,
                finished,
            )

    def _emit(self, force: bool, finished: bool = False) -> None:
        if self._callback is None:
            return
        now = self._clock()
        with self._lock:
            if not force and now - self._last_emit < self._interval:
                return
            self._last_emit = now
        self._callback(self.snapshot(finished))
