"""Showing an error to a person: a short message, the technical part behind "Show Details…".

Tracebacks never appear here; they go to the log.
"""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QMessageBox, QWidget

from sfumato.errors import UserFacingError

log = logging.getLogger(__name__)


def describe(error: BaseException) -> tuple[str, str]:
    """The short message and the details for ``error``."""
    if isinstance(error, UserFacingError):
        return str(error), error.details
    if isinstance(error, MemoryError):
        return "Sfumato ran out of memory. Close other documents or programs and try again.", ""
    if isinstance(error, OSError) and error.strerror:
        name = f" “{error.filename}”" if error.filename else ""
        return f"The file{name} could not be used: {error.strerror}.", str(error)
    return ("Something went wrong. The details are in the log file; please report them.",
            f"{type(error).__name__}: {error}")


def show_error(parent: QWidget | None, error: BaseException | str, title: str = "Sfumato") -> None:
    """Tell the user about ``error`` in a message box (logging the traceback if there is one)."""
    if isinstance(error, str):
        message, details = error, ""
    else:
        message, details = describe(error)
        if not isinstance(error, UserFacingError):
            log.error("error shown to the user", exc_info=error)
        else:
            log.info("user-facing error: %s (%s)", message, details)
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.exec()
