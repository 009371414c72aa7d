"""Notices: what the application tells a person, as values, and the one place they are posted.

A :class:`Notice` is a severity, a one-line message, optional details (the technical part, shown
on demand) and the :class:`Source` it belongs to (the Generate panel, the model windows, files,
the canvas…). Errors become notices in one place (:func:`notice_from_error`, with
:func:`describe_error` for the words), so every part of the window says a failure the same way.

The session's :class:`NoticeBoard` is where notices are posted: each source's latest notice is a
:class:`~sfumato.session.properties.Property` (a panel with its own notice bar binds to it), and
``posted`` is emitted for every notice (the status-bar presenter shows the ones no panel shows).
An error is state, not an interruption: it stays on its source until the next notice there or
until it is cleared (a new job, a dismissal). Questions that need a decision (discard changes?)
are not notices. No Qt in here.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from sfumato.document.events import Event
from sfumato.errors import UserFacingError
from sfumato.session.properties import Property

log = logging.getLogger(__name__)


class Severity(enum.Enum):
    """How much a notice matters: information, a warning (something is off but works), an error
    (what was asked did not happen)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Source(enum.Enum):
    """Which part of the application a notice belongs to (and which presenter shows it)."""

    APP = "app"
    """The application as a whole: its start, its folders, unexpected errors."""
    CANVAS = "canvas"
    """The canvas: a gesture that cannot apply, a drop it refuses."""
    FILES = "files"
    """Opening, importing, saving, exporting and autosaving."""
    LAYERS = "layers"
    """Layer and mask edits."""
    GENERATE = "generate"
    """The Generate panel: a job refused or failed, what the engine noted about a job."""
    RESULTS = "results"
    """Results waiting to be applied."""
    MODELS = "models"
    """The model windows: downloads, imports, checks, removals."""
    BACKEND = "backend"
    """What Sfumato computes on: the runtime and its installation."""


@dataclass(frozen=True)
class Notice:
    """One thing to tell a person: ``message`` is one short line that says what to do;
    ``details`` (possibly empty) is the technical part, shown on demand; tracebacks are never
    in either (they go to the log). An ``ongoing`` notice says work is under way ("Opening…"):
    it stays until its source posts the next one or clears it."""

    severity: Severity
    message: str
    source: Source
    details: str = ""
    ongoing: bool = False


def describe_error(error: BaseException) -> tuple[str, str]:
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


def notice_from_error(error: BaseException, source: Source) -> Notice:
    """``error`` as an error notice of ``source`` (the one conversion; it logs the traceback of
    anything that is not a :class:`~sfumato.errors.UserFacingError`)."""
    message, details = describe_error(error)
    if isinstance(error, UserFacingError):
        log.info("user-facing error: %s (%s)", message, details)
    else:
        log.error("error shown to the user", exc_info=error)
    return Notice(Severity.ERROR, message, source, details)


class NoticeBoard:
    """Where a session's notices are posted, and each source's latest one.

    ``posted(notice)`` is emitted for every notice, also one equal to the last; ``cleared(source)``
    when a source's notice is taken back (:meth:`clear`).
    """

    def __init__(self) -> None:
        self.posted = Event()
        self.cleared = Event()
        self._latest: dict[Source, Property[Notice | None]] = {}

    def latest(self, source: Source) -> Property[Notice | None]:
        """``source``'s latest notice (``None`` when there is none or it was cleared)."""
        prop = self._latest.get(source)
        if prop is None:
            prop = self._latest[source] = Property(None)
        return prop

    def post(self, notice: Notice) -> Notice:
        """Make ``notice`` its source's latest and tell the presenters; returns it."""
        self.latest(notice.source).set(notice)
        self.posted.emit(notice)
        return notice

    def info(self, source: Source, message: str, details: str = "", *, ongoing: bool = False) -> Notice:
        """Post an information notice (``ongoing``: work under way, see :class:`Notice`)."""
        return self.post(Notice(Severity.INFO, message, source, details, ongoing))

    def warn(self, source: Source, message: str, details: str = "") -> Notice:
        """Post a warning."""
        return self.post(Notice(Severity.WARNING, message, source, details))

    def error(self, source: Source, message: str, details: str = "") -> Notice:
        """Post an error given as words (a refusal the caller phrased itself)."""
        return self.post(Notice(Severity.ERROR, message, source, details))

    def report(self, error: BaseException, source: Source) -> Notice:
        """Post ``error`` as an error notice of ``source`` (see :func:`notice_from_error`)."""
        return self.post(notice_from_error(error, source))

    def clear(self, source: Source) -> None:
        """Take ``source``'s notice back (a new job started, the person dismissed it)."""
        if self.latest(source).set(None):
            self.cleared.emit(source)
