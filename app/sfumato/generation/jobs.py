"""Job states: the life of one request between the prompt panel and the engine."""

from __future__ import annotations

import enum


class JobState(enum.StrEnum):
    """Where a job is. ``DONE``, ``CANCELLED`` and ``FAILED`` are final."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """Whether nothing more happens to a job in this state."""
        return self in (JobState.DONE, JobState.CANCELLED, JobState.FAILED)

    def can_become(self, other: JobState) -> bool:
        """Whether a job may move from this state to ``other``."""
        return other in _NEXT[self]


_NEXT: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.DONE, JobState.CANCELLED, JobState.FAILED}),
    JobState.DONE: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.FAILED: frozenset(),
}
