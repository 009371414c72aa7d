"""The painting session without Qt: evented properties, what replacing the document resets,
when actions apply, and when the autosave waits."""

from __future__ import annotations

import numpy as np

from sfumato.document.autosave import Snapshot
from sfumato.document.document import new_document
from sfumato.document.geometry import Rect
from sfumato.document.layers import LayerKind
from sfumato.generation.requests import Task
from sfumato.session.autosave import SessionAutosave
from sfumato.session.canvas_session import CanvasSession, Overlay
from sfumato.session.enablement import Needs, conditions, enabled
from sfumato.session.properties import Property


def test_a_property_says_only_real_changes_and_bind_shows_the_value_at_once() -> None:
    prop: Property[int] = Property(1)
    seen: list[int] = []
    prop.bind(seen.append)
    assert prop.set(1) is False and prop.set(2) is True and prop.set(2) is False
    assert seen == [1, 2] and prop.value == 2


def test_overlays_compare_by_identity_not_by_pixels() -> None:
    session = CanvasSession()
    seen: list[object] = []
    session.overlay.changed.connect(seen.append)
    pixels = np.zeros((4, 4, 4), np.uint8)
    first, same_pixels = Overlay(pixels, Rect(0, 0, 4, 4)), Overlay(pixels, Rect(0, 0, 4, 4))
    session.overlay.set(first)
    session.overlay.set(first)
    session.overlay.set(same_pixels)
    assert seen == [first, same_pixels]


def test_showing_another_document_clears_the_frame_and_overlay_and_names_it() -> None:
    session = CanvasSession(history_budget=2**20)
    session.show(new_document(32, 32), "Sketch")
    session.set_outpaint_frame(Rect(-8, 0, 40, 32))
    session.overlay.set(Overlay(np.zeros((2, 2, 4), np.uint8), Rect(0, 0, 2, 2)))
    titles: list[str] = []
    session.document.changed.connect(lambda _doc: titles.append(session.title.value))
    doc = new_document(16, 16)
    session.show(doc)
    assert session.doc is doc and titles == ["Untitled"]  # the title is set before the document
    assert session.outpaint_frame.value is None and session.overlay.value is None
    assert doc.history.budget_bytes == 2**20
    session.set_outpaint_frame(Rect(0, 0, 0, 5))  # an empty frame is no frame
    assert session.outpaint_frame.value is None


def test_the_target_follows_the_document_when_refreshed() -> None:
    session = CanvasSession()
    assert session.target.value.task is Task.TXT2IMG
    doc = new_document(40, 30)
    session.show(doc)
    session.set_outpaint_frame(Rect(-10, 0, 50, 30))
    session.refresh_target()
    assert session.target.value.task is Task.OUTPAINT
    assert session.target.value.description == "Outpaint: extend the canvas to 50 × 30 px"


def test_actions_apply_only_when_their_needs_hold() -> None:
    session = CanvasSession()
    assert conditions(session) == Needs.IDLE
    doc = new_document(20, 20)
    session.show(doc)
    held = conditions(session)
    assert enabled(Needs.DOCUMENT | Needs.LAYER, held) and not enabled(Needs.MASK, held)
    assert not enabled(Needs.UNDO, held) and not enabled(Needs.RESULTS | Needs.RUNNING, held)
    doc.add_layer(LayerKind.MASK)  # becomes the active layer, one undo step
    held = conditions(session)
    assert enabled(Needs.DOCUMENT | Needs.MASK | Needs.UNDO, held)
    session.busy.set(True)  # a file is written: the document is read-only
    held = conditions(session)
    assert not enabled(Needs.IDLE, held) and not enabled(Needs.DOCUMENT, held)
    session.generating.set(True)
    assert enabled(Needs.RUNNING, conditions(session))


class _Writer:
    """Records what an AutosaveWriter would be handed."""

    def __init__(self) -> None:
        self.submitted: list[Snapshot] = []
        self.removed: list[str] = []

    def submit(self, snapshot: Snapshot) -> None:
        self.submitted.append(snapshot)

    def remove(self, doc_id: str) -> None:
        self.removed.append(doc_id)


def test_the_autosave_waits_for_file_work_and_strokes_and_forgets_a_replaced_document() -> None:
    session = CanvasSession()
    writer = _Writer()
    autosave = SessionAutosave(session, writer)  # type: ignore[arg-type]
    doc = new_document(16, 16)
    session.show(doc, "Sketch")
    autosave.save_now()
    assert writer.submitted == []  # nothing changed yet
    doc.add_layer(LayerKind.RASTER)
    session.busy.set(True)
    autosave.save_now()
    session.busy.set(False)
    session.gesture_active.set(True)
    autosave.save_now()
    assert writer.submitted == []
    session.gesture_active.set(False)
    autosave.save_now()
    autosave.save_now()  # the same revision is not written twice
    assert len(writer.submitted) == 1 and writer.submitted[0].title == "Sketch"
    session.show(new_document(8, 8))
    assert len(writer.removed) == 1  # the replaced document's autosave goes
