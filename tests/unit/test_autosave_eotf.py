"""A document that blends in linear light (a MyPaint 2.0 file's ``mypaint:eotf``) keeps doing so
after an autosave is recovered: the snapshot carries the EOTF and the autosave file records it."""

from __future__ import annotations

from pathlib import Path

from sfumato.document.autosave import AutosaveWriter, take_snapshot
from sfumato.document.document import new_document
from sfumato.document.ora import load_ora


def test_the_autosave_of_a_linear_light_document_keeps_its_eotf(tmp_path: Path) -> None:
    doc = new_document(16, 16)
    doc.eotf = 2.2
    plain = new_document(16, 16)
    with AutosaveWriter(tmp_path) as writer:
        snap, plain_snap = take_snapshot(doc), take_snapshot(plain)
        writer.submit(snap)
        writer.submit(plain_snap)
        assert writer.flush(30)
        assert snap.eotf == 2.2
        assert load_ora(writer.path_for(snap.doc_id)).eotf == 2.2
        assert load_ora(writer.path_for(plain_snap.doc_id)).eotf is None
