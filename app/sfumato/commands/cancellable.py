"""Running a long headless task so that Ctrl-C cancels it cleanly instead of killing it mid-write."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_cancellable(work: Callable[[threading.Event], T]) -> T:
    """Run ``work`` in a thread; Ctrl-C sets its cancel event and waits for staging to be saved."""
    cancel = threading.Event()
    results: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(work(cancel))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="sfumato-task")
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        cancel.set()
        thread.join()
    if errors:
        raise errors[0]
    return results[0]
