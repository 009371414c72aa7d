"""Autosave snapshots, the background writer, and recovery after the process is killed."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from sfumato.document import autosave
from sfumato.document.autosave import (
    AutosaveError,
    AutosaveWriter,
    document_id,
    find_recoverable,
    take_snapshot,
)
from sfumato.document.document import Document, new_document
from sfumato.document.geometry import Rect
from sfumato.document.layers import BlendMode, Layer, LayerKind
from sfumato.document.ora import load_ora
from sfumato.errors import DiskFullError

CHILD = r"""
import json, sys, time
from pathlib import Path
import numpy as np
from sfumato.document.autosave import AutosaveWriter, take_snapshot
from sfumato.document.document import new_document
from sfumato.document.layers import BlendMode, Layer, LayerKind

directory, out, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
writer = AutosaveWriter(directory)
if mode == "empty":
    print("ready", flush=True)
    time.sleep(600)
rng = np.random.default_rng(5)
doc = new_document(96, 64)
paint = doc.add_layer(name="paint")
paint.pixels[...] = rng.integers(0, 256, paint.pixels.shape, dtype=np.uint8)
doc.notify_pixels(paint, doc.rect)
mask = doc.add_layer(LayerKind.MASK, name="where to inpaint")
mask.pixels[...] = rng.integers(0, 256, mask.pixels.shape, dtype=np.uint8)
doc.notify_pixels(mask, doc.rect)
doc.set_layer_props(paint, opacity=0.6, blend=BlendMode.SCREEN, locked=True)
paint.metadata["parameters"] = "a lighthouse\nSteps: 20"
doc.path = out / "lighthouse.ora"
writer.submit(take_snapshot(doc))
assert writer.flush(30)
np.savez(out / "expected.npz", *[layer.pixels for layer in doc.layers])
props = [{**layer.props(), "kind": layer.kind, "metadata": layer.metadata} for layer in doc.layers]
(out / "expected.json").write_text(json.dumps(props))
paint.pixels[...] = 0  # painted after the last autosave: lost with the crash
if mode == "close":
    writer.close()
    sys.exit(0)
print("ready", flush=True)
time.sleep(600)
"""


def _run_child(directory: Path, out: Path, mode: str) -> None:
    """Run the child; ``kill`` and ``empty`` kill it with SIGKILL once it reports ready."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(directory), str(out), mode],
                            stdout=subprocess.PIPE, text=True)
    try:
        if mode == "close":
            assert proc.wait(60) == 0
            return
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.kill()  # SIGKILL on POSIX: no cleanup code runs
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def doc() -> Document:
    rng = np.random.default_rng(3)
    d = new_document(48, 32)
    layer = d.add_layer(name="paint")
    layer.pixels[...] = rng.integers(0, 256, layer.pixels.shape, dtype=np.uint8)
    d.notify_pixels(layer, d.rect)
    mask = d.add_layer(LayerKind.MASK)
    mask.pixels[5:20, 5:20] = 255
    d.notify_pixels(mask, d.rect)
    d.set_layer_props(layer, opacity=0.4, blend=BlendMode.MULTIPLY)
    layer.metadata["seed"] = "7"
    return d


def _assert_same(loaded: Document, layers: Sequence[Layer], width: int, height: int) -> None:
    assert (loaded.width, loaded.height) == (width, height)
    assert len(loaded.layers) == len(layers)
    for got, want in zip(loaded.layers, layers, strict=True):
        assert np.array_equal(got.pixels, want.pixels)
        assert got.props() == want.props() and got.kind is want.kind and got.metadata == want.metadata


# ----------------------------------------------------------------------------- snapshot
def test_snapshot_is_an_independent_copy(doc: Document) -> None:
    snap = take_snapshot(doc)
    before = [layer.pixels.copy() for layer in doc.layers]
    doc.layers[1].pixels[...] = 0
    doc.set_layer_props(doc.layers[1], name="renamed")
    doc.layers[1].metadata["seed"] = "8"
    assert all(np.array_equal(s.pixels, b) for s, b in zip(snap.layers, before, strict=True))
    assert snap.layers[1].name == "paint" and snap.layers[1].metadata == {"seed": "7"}
    assert snap.revision < doc.revision and snap.title == "Untitled"
    assert snap.active_layer is not None and snap.active_layer.uid == doc.layers[-1].uid


def test_document_ids_are_stable_and_distinct(doc: Document) -> None:
    assert document_id(doc) == document_id(doc) == take_snapshot(doc).doc_id
    assert document_id(new_document(4, 4)) != document_id(doc)


# ------------------------------------------------------------------------------- writer
def test_writer_keeps_only_the_newest_autosave_per_document(doc: Document, tmp_path: Path) -> None:
    other = new_document(8, 8)
    with AutosaveWriter(tmp_path) as writer:
        writer.submit(take_snapshot(doc))
        assert writer.flush(30)
        doc.layers[1].pixels[:10] = (9, 9, 9, 9)
        doc.set_layer_props(doc.layers[1], visible=False)
        newest = take_snapshot(doc)
        writer.submit(newest)
        writer.submit(take_snapshot(other))
        assert writer.flush(30)
        saved = sorted(p.name for p in writer.session_dir.glob("*.ora"))
        assert saved == sorted(f"{document_id(d)}.ora" for d in (doc, other))
        _assert_same(load_ora(writer.path_for(newest.doc_id)), list(newest.layers), 48, 32)
        writer.remove(document_id(other))
        assert writer.flush(30)
        assert not writer.path_for(document_id(other)).exists()
        assert writer.path_for(newest.doc_id).exists()


def test_a_running_session_is_not_offered_and_a_closed_one_leaves_nothing(
    doc: Document, tmp_path: Path
) -> None:
    writer = AutosaveWriter(tmp_path)
    writer.submit(take_snapshot(doc))
    assert writer.flush(30)
    assert find_recoverable(tmp_path) == []  # our own, alive: locked
    writer.close()
    assert find_recoverable(tmp_path) == []
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        writer.submit(take_snapshot(doc))


def test_an_unusable_folder_is_a_clear_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_bytes(b"x")
    with pytest.raises(AutosaveError, match="Autosave is off"):
        AutosaveWriter(not_a_folder / "autosave")
    assert not_a_folder.read_bytes() == b"x"


def test_failed_autosave_reports_and_keeps_the_previous_one(
    doc: Document, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors: list[Exception] = []
    reported = threading.Event()

    def on_error(exc: Exception) -> None:
        errors.append(exc)
        reported.set()

    with AutosaveWriter(tmp_path, on_error=on_error) as writer:
        writer.submit(take_snapshot(doc))
        assert writer.flush(30)
        path = writer.path_for(document_id(doc))
        before = path.read_bytes()
        real = autosave.write_ora

        def full_disk(fh: object, *args: object, **kwargs: object) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(autosave, "write_ora", full_disk)
        doc.layers[1].pixels[...] = 1
        writer.submit(take_snapshot(doc))
        assert reported.wait(30) and writer.flush(30)
        assert isinstance(errors[0], DiskFullError)
        assert path.read_bytes() == before
        monkeypatch.setattr(autosave, "write_ora", real)
        writer.submit(take_snapshot(doc))  # the writer thread survived the failure
        assert writer.flush(30)
        assert load_ora(path).layers[1].pixels.max() == 1


# ----------------------------------------------------------------------------- recovery
def test_recovers_the_last_autosave_of_a_killed_process(tmp_path: Path) -> None:
    directory, out = tmp_path / "autosave", tmp_path / "out"
    out.mkdir()
    _run_child(directory, out, "kill")
    (entry,) = find_recoverable(directory)
    assert entry.title == "lighthouse.ora"
    assert entry.source_path == out / "lighthouse.ora"
    assert (entry.width, entry.height) == (96, 64)
    assert entry.session_pid is not None and entry.session_pid != os.getpid()
    recovered = entry.load()
    expected = np.load(out / "expected.npz")
    props = json.loads((out / "expected.json").read_text())
    assert len(recovered.layers) == len(props) == len(expected.files)
    for layer, key, want in zip(recovered.layers, expected.files, props, strict=True):
        assert np.array_equal(layer.pixels, expected[key])  # bit for bit
        assert layer.name == want["name"] and layer.kind == want["kind"]
        assert layer.visible == want["visible"] and layer.opacity == want["opacity"]
        assert layer.locked == want["locked"] and layer.blend == want["blend"]
        assert list(layer.tint) == want["tint"] and layer.metadata == want["metadata"]
    assert recovered.path == out / "lighthouse.ora" and recovered.modified
    entry.discard()
    assert find_recoverable(directory) == []
    assert list(directory.iterdir()) == []


def test_nothing_is_offered_after_a_clean_exit(tmp_path: Path) -> None:
    directory, out = tmp_path / "autosave", tmp_path / "out"
    out.mkdir()
    _run_child(directory, out, "close")
    assert (out / "expected.npz").exists()  # it did autosave before exiting
    assert find_recoverable(directory) == []
    assert list(directory.iterdir()) == []


def test_a_killed_session_without_autosaves_is_cleaned_up(tmp_path: Path) -> None:
    directory = tmp_path / "autosave"
    _run_child(directory, tmp_path, "empty")
    assert len(list(directory.iterdir())) == 1
    assert find_recoverable(directory) == []
    assert list(directory.iterdir()) == []


def test_snapshot_shares_unchanged_layers_with_the_previous_one() -> None:
    from sfumato.document.brush import BrushSettings, Tool
    from sfumato.document.stroke import Stroke

    doc = new_document(64, 64)
    top = doc.add_layer()
    first = take_snapshot(doc)
    stroke = Stroke(doc, top, Tool.BRUSH, BrushSettings(size=8, color=(255, 0, 0)))
    stroke.add_point(10, 10)
    stroke.add_point(40, 30)
    stroke.finish()
    second = take_snapshot(doc, previous=first)

    background_1, top_1 = first.layers
    background_2, top_2 = second.layers
    assert background_2.pixels is background_1.pixels  # unchanged: shared, not copied
    assert top_2.pixels is not top_1.pixels
    assert np.array_equal(top_2.pixels, top.pixels)
    assert not top_1.pixels.any()  # the earlier snapshot kept the earlier pixels
    assert not top_2.pixels.flags.writeable
    doc.undo()  # undo changes pixels too, so the next snapshot copies the layer again
    third = take_snapshot(doc, previous=second)
    assert third.layers[1].pixels is not top_2.pixels
    assert not third.layers[1].pixels.any()


def test_snapshot_of_a_placed_result_holds_it_and_follows_told_changes() -> None:
    rng = np.random.default_rng(11)
    doc = new_document(640, 480)
    result = rng.integers(0, 256, (90, 120, 4), dtype=np.uint8)
    result[..., 3] = rng.integers(1, 256, (90, 120), dtype=np.uint8)
    placed = doc.add_image_layer(result, "result", (500, 400))  # its right and bottom are cut off
    loaded = Layer("loaded", LayerKind.RASTER, rng.integers(0, 256, (480, 640, 4), dtype=np.uint8))
    doc.add_layer(layer=loaded)
    first = take_snapshot(doc)
    frozen = {lyr.uid: lyr.pixels for lyr in first.layers}
    assert np.array_equal(frozen[placed.uid], placed.pixels) and not frozen[placed.uid].flags.writeable
    assert np.array_equal(frozen[loaded.uid], loaded.pixels) and not frozen[loaded.uid].flags.writeable
    with doc.edit_pixels(placed, Rect(10, 20, 30, 40), "paint"):  # a change the document is told of
        placed.pixels[20:60, 10:40] = 200
    second = take_snapshot(doc, previous=first)
    assert np.array_equal(next(lyr.pixels for lyr in second.layers if lyr.uid == placed.uid), placed.pixels)
    assert not np.array_equal(frozen[placed.uid], placed.pixels)  # the first one did not change
