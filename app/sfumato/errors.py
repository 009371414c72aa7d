"""Errors that reach a person.

Every package raises subclasses of :class:`UserFacingError` for failures a user can act on. The
message is short and says what to do; the traceback goes to the log, never to the user.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """An error whose ``str()`` is a short message fit to show a user.

    ``details`` may hold longer technical text (shown in a details view, or with ``--verbose``).
    """

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details

    @property
    def message(self) -> str:
        """The short user-facing message."""
        return str(self)


class DiskFullError(UserFacingError):
    """The disk (or the user's quota) is full: the message says what was not written and what to
    do. A save that hits it leaves the previous file untouched
    (:func:`~sfumato.document.atomic.atomic_write`); a download keeps its staged bytes for resuming
    (:mod:`sfumato.model_store.transfer`)."""
