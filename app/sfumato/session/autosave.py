"""Keeping the open document's autosave current (Qt-free; a timer in the window calls it).

:class:`SessionAutosave` follows the session's document: it hands a snapshot of a changed
document to the :class:`~sfumato.document.autosave.AutosaveWriter` (cheap on the calling
thread: unchanged layers share the previous snapshot's copies), forgets a document's autosave
once it is saved, closed or replaced, and writes everything out when the system ends the session.
"""

from __future__ import annotations

import logging

from sfumato.document.autosave import AutosaveWriter, Snapshot, document_id, take_snapshot
from sfumato.document.document import Document
from sfumato.session.canvas_session import CanvasSession

log = logging.getLogger(__name__)

SESSION_END_WAIT_S = 20  # how long ending the session waits for the last autosave to be written


class SessionAutosave:
    """The autosave of ``session``'s document through ``writer`` (``None``: autosave is off)."""

    def __init__(self, session: CanvasSession, writer: AutosaveWriter | None) -> None:
        self.session = session
        self.writer = writer
        """The writer snapshots go to (``None`` while autosave is off)."""
        self._doc: Document | None = None
        self._autosaved_revision: int | None = None
        self._last_snapshot: Snapshot | None = None
        session.document.changed.connect(self._document_changed)

    @property
    def enabled(self) -> bool:
        """Whether there is a writer (autosave may be off: see the start-up notice)."""
        return self.writer is not None

    def _document_changed(self, doc: Document | None) -> None:
        if self._doc is not None:
            self.drop()
        self._doc = doc
        # a document that arrives modified (recovered) is on no disk yet: autosave it soon
        self._autosaved_revision = doc.revision if doc is not None and not doc.modified else None

    def save_now(self, urgent: bool = False) -> None:
        """Hand a snapshot of a changed document to the writer.

        It waits while a file is read or written or a stroke is under way, unless ``urgent``
        (the session is ending: what is there now is all there will be).
        """
        doc = self._doc
        if doc is None or self.writer is None:
            return
        if not urgent and (self.session.busy.value or self.session.gesture_active.value):
            return
        if not doc.modified or doc.revision == self._autosaved_revision:
            return
        self._autosaved_revision = doc.revision
        previous = self._last_snapshot
        if previous is not None and previous.doc_id != document_id(doc):
            previous = None
        self._last_snapshot = take_snapshot(doc, self.session.title.value, previous)
        self.writer.submit(self._last_snapshot)

    def drop(self) -> None:
        """Forget the current document's autosave (it was saved, closed or replaced)."""
        if self._doc is not None and self.writer is not None:
            self.writer.remove(document_id(self._doc))
            self._autosaved_revision = self._doc.revision

    def commit(self) -> None:
        """Autosave now and wait until it is on disk (logout, SIGTERM), so the next start offers it."""
        self.save_now(urgent=True)
        if self.writer is not None and not self.writer.flush(SESSION_END_WAIT_S):
            log.error("the last autosave was not written within %d s", SESSION_END_WAIT_S)
