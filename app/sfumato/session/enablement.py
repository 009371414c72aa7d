"""When an action applies: the conditions the window's action table declares, read from the session.

Each action in the table (``sfumato.ui.actions``) says what it needs as a :class:`Needs` flag
set; :func:`conditions` says which conditions hold now, and an action is enabled when it needs
nothing more (:func:`enabled`). No Qt in here.
"""

from __future__ import annotations

import enum

from sfumato.session.canvas_session import CanvasSession


class Needs(enum.Flag):
    """Conditions an action may need."""

    NOTHING = 0
    IDLE = enum.auto()
    """No file is being read or written."""
    DOCUMENT = enum.auto()
    """A document is open and no file is being read or written (the document is editable)."""
    LAYER = enum.auto()
    """The document has an active layer."""
    MASK = enum.auto()
    """The active layer is a mask layer."""
    PARAMETERS = enum.auto()
    """The active layer carries generation parameters (a result layer, a PNG opened with them)."""
    UNDO = enum.auto()
    """There is a step to undo."""
    REDO = enum.auto()
    """There is a step to redo."""
    RESULTS = enum.auto()
    """Generated results wait in the strip."""
    RUNNING = enum.auto()
    """A generation job is running."""


def conditions(session: CanvasSession) -> Needs:
    """The conditions that hold in ``session`` now."""
    held = Needs.NOTHING
    if not session.busy.value:
        held |= Needs.IDLE
    doc = session.document.value
    if doc is not None and Needs.IDLE in held:
        held |= Needs.DOCUMENT
        active = doc.active_layer
        if active is not None:
            held |= Needs.LAYER
            if active.is_mask:
                held |= Needs.MASK
            if active.metadata.get("parameters"):
                held |= Needs.PARAMETERS
        if doc.history.undo_label is not None:
            held |= Needs.UNDO
        if doc.history.redo_label is not None:
            held |= Needs.REDO
    if session.results.value is not None:
        held |= Needs.RESULTS
    if session.generating.value:
        held |= Needs.RUNNING
    return held


def enabled(needs: Needs, held: Needs) -> bool:
    """Whether an action that needs ``needs`` applies when ``held`` holds."""
    return needs & ~held == Needs.NOTHING
