"""Running a long headless task so that Ctrl-C cancels it cleanly instead of killing it mid-write."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_cancellable(work: Callable[[threading.Event], T]) -> T:
    """Run ``work`` in a thread; Ctrl-C sets its cancel event and waits for staging to be saved."""
    cancel = threading.Event()
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["result"] = work(cancel)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="sfumato-task")
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        cancel.set()
        thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]
