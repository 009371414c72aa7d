"""Background work, one way: lanes of daemon threads, outcomes relayed to the GUI thread.

A :class:`Lane` is a named set of daemon threads that take callables in order (a
:class:`concurrent.futures.Executor`). The shared lanes are named in :data:`LANES` and made on
first use (:func:`lane`); an owner with a long-lived loop of its own (the inference worker, the
autosave writer) makes a private ``Lane`` so the loop holds no shared thread. Lane threads are
plain daemon threads, never QThreads: Qt aborts the process when a running QThread is destroyed,
while Python simply abandons a daemon thread still in a long step at exit.

A :class:`BackgroundWork` object belongs to an owner on the GUI thread (a child QObject, so it
goes when the owner goes). ``work.run(lane, fn, *args, …)`` runs ``fn`` on that lane and returns
a :class:`WorkItem`, which is delivered on the GUI thread: its ``on_done``/``on_error``/
``on_cancelled`` callbacks are called there, and a coroutine on the qasync loop may ``await``
it instead (``choices = await self._work.run("models", installed_choices)``; start such a
coroutine from a slot with :func:`start`). A ``fn`` that returns a generator reports progress:
each value it yields reaches ``on_progress`` on the GUI thread, and cancelling stops it at the
next yield. Reports from other callbacks cross with :meth:`BackgroundWork.call`. Nothing is
delivered after the owner is gone or has shut its work down.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, Generic, TypeVar

import qasync
from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal

log = logging.getLogger(__name__)

T = TypeVar("T")

LANES: dict[str, int | None] = {
    "io": 2,  # file work: open, save, import, recover, the smoke run's model
    "probe": 1,  # the processing backend: the active runtime and the hardware
    "models": None,  # model-store work (downloads, verify, listing): as many threads as tasks run
    "display": 1,  # the canvas's display cache, tile after tile
    "outline": 1,  # selection outlines; a trace superseded while it waited is skipped
}
"""The shared lanes and their most threads (``None``: one more whenever every thread is busy)."""


class Lane(concurrent.futures.Executor):
    """Daemon threads named ``sfumato-<name>`` that run submitted callables in order.

    At most ``threads`` run at once (``None``: no limit); threads start when work arrives and
    none is idle, then wait for more. A lane of one thread is a serial queue.
    """

    def __init__(self, name: str, threads: int | None = 1) -> None:
        self.name = name
        self._most = threads
        self._queue: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[..., Any],
                                             tuple[Any, ...], dict[str, Any]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        """Queue ``fn(*args, **kwargs)``; its future says how it went."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the {self.name} lane has been shut down")
            self._queue.put((future, fn, args, kwargs))
            if self._idle:
                self._idle -= 1  # an idle thread takes it
            elif self._most is None or len(self._threads) < self._most:
                number = len(self._threads) + 1
                suffix = f"-{number}" if self._most != 1 else ""
                thread = threading.Thread(target=self._serve, name=f"sfumato-{self.name}{suffix}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False,
                 timeout: float | None = None) -> None:
        """Take no more work; with ``cancel_futures`` drop what has not started; with ``wait``
        wait up to ``timeout`` seconds in all (``None``: until done) for the threads to end."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        for _ in threads:
            self._queue.put(None)
        if wait and not _join(threads, timeout):
            log.warning("the %s lane is still busy at shutdown; leaving it behind", self.name)

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # every failure reaches the future, none kills the lane
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            with self._lock:
                self._idle += 1


def _join(threads: list[threading.Thread], timeout: float | None) -> bool:
    """Wait up to ``timeout`` seconds in all (``None``: until done) for ``threads``; True if all ended."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for thread in threads:
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


_lanes: dict[str, Lane] = {}
_lanes_lock = threading.Lock()


def lane(name: str) -> Lane:
    """The shared lane ``name`` (one of :data:`LANES`), made on first use."""
    with _lanes_lock:
        found = _lanes.get(name)
        if found is None:
            found = _lanes[name] = Lane(name, LANES[name])
        return found


def shutdown_lanes(timeout: float = 2.0) -> None:
    """At exit: drop queued work on the shared lanes and give running work ``timeout`` seconds."""
    with _lanes_lock:
        lanes = list(_lanes.values())
        _lanes.clear()
    for each in lanes:
        each.shutdown(wait=False, cancel_futures=True)
    if not _join([thread for each in lanes for thread in each._threads], timeout):
        log.warning("background work is still running at exit; leaving it behind")


# ----------------------------------------------------------------------- the asyncio loop
_loop: asyncio.AbstractEventLoop | None = None


def event_loop() -> asyncio.AbstractEventLoop:
    """The qasync loop on the GUI thread (set as asyncio's), made on first use.

    Its callbacks run whenever Qt handles events, so a coroutine awaiting background work
    goes on under ``app.exec()``, ``loop.run_forever()`` or a test's ``qtbot.waitUntil`` alike.
    """
    global _loop
    if _loop is None or _loop.is_closed():
        app = QCoreApplication.instance()
        if app is None:
            raise RuntimeError("background work needs a QApplication")
        _loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(_loop)
    return _loop


def start(coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Run ``coroutine`` on the qasync loop (from a slot); a failure it lets out is logged."""
    task = event_loop().create_task(coroutine)
    task.add_done_callback(_log_failure)
    return task


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("background coroutine %s failed", task.get_coro(), exc_info=error)


# --------------------------------------------------------------------- the GUI-thread side
class WorkItem(Generic[T]):
    """One call running in the background, as its owner sees it on the GUI thread.

    ``cancel()`` keeps a queued call from starting, stops a generator at its next yield, and in
    any case turns the outcome into a cancel (``on_cancelled``; an awaiting coroutine gets
    :class:`asyncio.CancelledError`). Await it from a coroutine on the qasync loop for the
    result, or an error the call raised.
    """

    def __init__(self) -> None:
        self.future: concurrent.futures.Future[T] = concurrent.futures.Future()
        """The call on its lane (resolved on the worker thread)."""
        self.cancel_event = threading.Event()
        """Set by :meth:`cancel`; a call may watch it to stop early."""
        self.delivered = False
        """True once the outcome has been handed over on the GUI thread."""
        self._waiters: list[asyncio.Future[T]] = []

    def cancel(self) -> None:
        """Ask the call to stop (see the class); no effect once delivered."""
        self.cancel_event.set()
        self.future.cancel()

    def __await__(self) -> Any:
        waiter: asyncio.Future[T] = event_loop().create_future()
        if self.delivered or self.cancel_event.is_set():  # a cancel is its outcome already
            self._settle(waiter)
        else:
            self._waiters.append(waiter)
        try:
            return (yield from waiter.__await__())
        except asyncio.CancelledError:
            self.cancel()  # the awaiting coroutine was cancelled: so is the call
            raise

    def _settle(self, waiter: asyncio.Future[T]) -> None:
        if waiter.done():
            return
        if self.cancel_event.is_set() or self.future.cancelled():
            waiter.cancel()
        elif (error := self.future.exception()) is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(self.future.result())


class _Relay(QObject):
    """Calls functions on the thread that owns it (queued from any thread)."""

    call = Signal(object)

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.call.connect(self._run, Qt.ConnectionType.QueuedConnection)

    @staticmethod
    def _run(function: Callable[[], None]) -> None:
        function()


class BackgroundWork(QObject):
    """An owner's background work, delivered on the thread that owns this object.

    ``busy_changed(bool)`` tells whether any of its calls is running or waiting to report;
    :meth:`shutdown` (the owner is closing) cancels them and stops all delivery.
    """

    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._relay = _Relay(self)
        self._items: dict[int, WorkItem[Any]] = {}
        self._ids = itertools.count(1)
        self._closed = False

    @property
    def busy(self) -> bool:
        """True while a call is running or waiting to report."""
        return bool(self._items)

    def run(self, lane_of: str | Lane, fn: Callable[..., Any], *args: Any,
            on_done: Callable[[Any], None] | None = None,
            on_error: Callable[[BaseException], None] | None = None,
            on_progress: Callable[[Any], None] | None = None,
            on_cancelled: Callable[[], None] | None = None) -> WorkItem[Any]:
        """Run ``fn(*args)`` on ``lane_of`` (a shared lane's name, or a private :class:`Lane`).

        The callbacks are called on the owning thread: ``on_progress`` with each value a
        generator yields, then one of ``on_done(result)``, ``on_error(exception)`` or
        ``on_cancelled()``. An error with neither an ``on_error`` nor an awaiting coroutine to
        take it is logged. After :meth:`shutdown` nothing runs: the item is cancelled at once.
        """
        item: WorkItem[Any] = WorkItem()
        if self._closed:
            item.cancel()
            item.delivered = True
            return item
        item_id = next(self._ids)

        def call() -> Any:
            outcome = fn(*args)
            if not inspect.isgenerator(outcome):
                return outcome
            try:
                while True:
                    if item.cancel_event.is_set():
                        outcome.close()
                        return None
                    value = next(outcome)
                    if on_progress is not None:
                        self.call(self._progress, item_id, on_progress, value)
            except StopIteration as stop:
                return stop.value

        item.future = (lane(lane_of) if isinstance(lane_of, str) else lane_of).submit(call)
        was_busy = self.busy
        self._items[item_id] = item
        if not was_busy:  # the outcome comes through the event queue, so always after this
            self.busy_changed.emit(True)
        item.future.add_done_callback(
            lambda _f: self.call(self._deliver, item_id, on_done, on_error, on_cancelled))
        return item

    def call(self, function: Callable[..., None], *args: Any) -> None:
        """Call ``function(*args)`` on the owning thread (from any thread); dropped once the
        owner is gone or has shut its work down."""
        try:
            self._relay.call.emit(partial(self._guarded, function, args))
        except RuntimeError:  # the owner (and this object) were deleted meanwhile
            log.debug("background report after its owner was gone: %s", function)

    def _guarded(self, function: Callable[..., None], args: tuple[Any, ...]) -> None:
        if not self._closed:
            function(*args)

    def _progress(self, item_id: int, on_progress: Callable[[Any], None], value: Any) -> None:
        item = self._items.get(item_id)
        if item is not None and not item.cancel_event.is_set():
            on_progress(value)

    def _deliver(self, item_id: int, on_done: Callable[[Any], None] | None,
                 on_error: Callable[[BaseException], None] | None,
                 on_cancelled: Callable[[], None] | None) -> None:
        item = self._items.pop(item_id, None)
        if item is None:
            return
        item.delivered = True
        if not self.busy:  # the callbacks see what ``busy`` says: idle, unless other calls run
            self.busy_changed.emit(False)
        waiters, item._waiters = item._waiters, []
        for waiter in waiters:
            item._settle(waiter)
        future = item.future
        if item.cancel_event.is_set() or future.cancelled():
            if on_cancelled is not None:
                on_cancelled()
            return
        error = future.exception()
        if error is None:
            if on_done is not None:
                on_done(future.result())
        elif on_error is not None:
            on_error(error)
        elif not waiters:
            log.error("background work failed", exc_info=error)

    def shutdown(self, timeout: float | None = None) -> None:
        """Cancel every call, wait up to ``timeout`` seconds (``None``: until done) for those
        running, and deliver nothing more (awaiting coroutines are cancelled)."""
        if self._closed:
            return
        self._closed = True
        items = list(self._items.values())
        self._items.clear()
        for item in items:
            item.cancel()
            for waiter in item._waiters:
                waiter.cancel()
        running = [item.future for item in items if not item.future.done()]
        if running:
            concurrent.futures.wait(running, timeout)
