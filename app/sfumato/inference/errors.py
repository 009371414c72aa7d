"""Typed engine errors; each message is short and says what to do."""

from __future__ import annotations

from sfumato.errors import UserFacingError


class ModelError(UserFacingError):
    """The model cannot be used: missing, incomplete, truncated, a pickle file, or unrecognised."""


class UnsupportedError(UserFacingError):
    """The model family or the task is not supported (for this model)."""


class OutOfMemoryError(UserFacingError):
    """The device ran out of memory even with the lowest-memory strategy tried."""


class GenerationError(UserFacingError):
    """The pipeline failed for another reason; ``details`` holds the technical cause."""
