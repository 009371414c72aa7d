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
