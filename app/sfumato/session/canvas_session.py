"""The state of one painting session, in one place, as evented properties.

Everything the window's parts share lives here: the open document and its title, the active
tool and brush, the outpaint frame, the picture shown over the canvas (a live preview or a
result not applied yet), the results waiting in the strip, whether a file is being read or
written, whether a generation runs, and what Generate would do now. Widgets bind to these
properties (:meth:`~sfumato.session.properties.Property.bind`) and change them through the
session; none reads another widget's fields. No Qt in here, so the rules can be tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Unpack

import numpy as np

from sfumato.document.brush import BrushSettings
from sfumato.document.document import Document
from sfumato.document.events import Event
from sfumato.document.geometry import Rect
from sfumato.session.generation_source import GenerationTarget, generation_target
from sfumato.session.jobs import PendingResults
from sfumato.session.notices import NoticeBoard
from sfumato.session.properties import Property
from sfumato.session.tools import BrushChanges, CanvasTool, changed_brush, stepped_size

UNTITLED = "Untitled"


@dataclass(frozen=True, eq=False)
class Overlay:
    """A picture shown over document rectangle ``rect`` (which may reach beyond the canvas),
    scaled to it; never part of the document. ``rgba`` is uint8 RGBA with straight alpha.
    Two overlays are the same only if they are the same object (pixels are not compared)."""

    rgba: np.ndarray
    rect: Rect


def document_name(doc: Document) -> str:
    """The name a document goes by: its file's name without the suffix, or "Untitled"."""
    path = doc.path
    return (path.stem or path.name) if path is not None else UNTITLED


class CanvasSession:
    """One window's painting session.

    Properties (each a :class:`Property`; ``changed`` carries the new value):

    * ``document``: the open :class:`Document`, or ``None``; ``title``: its name in the title bar;
    * ``tool``, ``brush``: the canvas tool a left drag uses and the brush the painting tools use;
    * ``gesture_active``: a stroke or a selection/frame drag is under way;
    * ``outpaint_frame``: the outpaint frame in document pixels (may reach beyond the canvas);
    * ``overlay``: the :class:`Overlay` over the canvas (a step preview or a result), if any;
    * ``results``: the :class:`PendingResults` in the strip, if any;
    * ``busy``: a file is being read or written (the document is read-only meanwhile);
    * ``generating``: a generation job is running;
    * ``target``: the :class:`GenerationTarget` (what Generate would do now); the Generate
      controller refreshes it with :meth:`refresh_target`, debounced while painting.

    ``saved`` (an :class:`~sfumato.document.events.Event`) says the document was just saved;
    ``notices`` (a :class:`~sfumato.session.notices.NoticeBoard`) is where every part posts
    what it tells the person (each source's latest notice, and an event per notice).
    """

    def __init__(self, brush: BrushSettings | None = None, history_budget: int | None = None) -> None:
        self.history_budget = history_budget
        """Bytes of undo history each opened document may keep (``None``: the document's default)."""
        self.document: Property[Document | None] = Property(None)
        self.title: Property[str] = Property(UNTITLED)
        self.tool: Property[CanvasTool] = Property(CanvasTool.BRUSH)
        self.brush: Property[BrushSettings] = Property(brush or BrushSettings())
        self.gesture_active: Property[bool] = Property(False)
        self.outpaint_frame: Property[Rect | None] = Property(None)
        self.overlay: Property[Overlay | None] = Property(None)
        self.results: Property[PendingResults | None] = Property(None)
        self.busy: Property[bool] = Property(False)
        self.generating: Property[bool] = Property(False)
        self.target: Property[GenerationTarget] = Property(generation_target(None, None))
        self.saved = Event()
        """Emitted after the document was written to its file (it is no longer modified, which
        its history events do not say)."""
        self.notices = NoticeBoard()
        """What the window's parts tell the person (:mod:`sfumato.session.notices`)."""

    # --------------------------------------------------------------- document
    @property
    def doc(self) -> Document | None:
        """The open document (``document.value``)."""
        return self.document.value

    def show(self, doc: Document | None, title: str | None = None) -> None:
        """Make ``doc`` the session's document (replacing the current one without asking).

        The frame, the overlay and results of another document go; the title is set before the
        document, so whoever hears ``document.changed`` sees the new title.
        """
        if doc is not None:
            self.title.set(title or document_name(doc))
            if self.history_budget is not None:
                doc.history.set_budget(self.history_budget)
        self.outpaint_frame.set(None)
        self.overlay.set(None)
        results = self.results.value
        if results is not None and results.context.doc is not doc:
            self.results.set(None)
        self.gesture_active.set(False)
        self.document.set(doc)

    # ------------------------------------------------------------ tools/brush
    def update_brush(self, **changes: Unpack[BrushChanges]) -> None:
        """Change some brush settings (``size=…``, ``color=…``, …); the size is clamped."""
        self.brush.set(changed_brush(self.brush.value, **changes))

    def step_brush_size(self, direction: int) -> None:
        """Make the brush one step bigger (``direction > 0``) or smaller, as ``]`` and ``[`` do."""
        self.update_brush(size=stepped_size(self.brush.value.size, direction))

    # --------------------------------------------------------------- generate
    def set_outpaint_frame(self, rect: Rect | None) -> None:
        """Draw, move or (with ``None`` or an empty rectangle) remove the outpaint frame."""
        self.outpaint_frame.set(None if rect is not None and rect.empty else rect)

    def refresh_target(self) -> None:
        """Work out again what Generate would do (after the document or the frame changed)."""
        self.target.set(generation_target(self.document.value, self.outpaint_frame.value))
