"""Progress reports of a runtime install, for the CLI and the UI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RuntimeProgress:
    """One report. ``phase``: ``resolve``, ``download``, ``install``, ``check`` or ``done``.

    ``done_bytes`` / ``total_bytes`` count the current phase's bytes (0 / 0 when it has none).
    """

    phase: str
    done_bytes: int
    total_bytes: int
    message: str


ProgressCallback = Callable[[RuntimeProgress], None]
