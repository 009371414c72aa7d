"""A scripted Sfumato session for the kill tests: the real start-up (``run_app``, offscreen) doing one
kind of work over and over until the test ends it.

``python session_driver.py PHASE WORKDIR SEED``. Before the work starts the document is saved to
``WORKDIR/picture.ora`` and ``READY`` is printed. Then, until the process is killed, it does
``PHASE`` in a loop and prints, flushed, one line per event, ``BEGIN|END KIND TARGET DIGEST``:
``save`` (TARGET is the file), ``autosave`` and ``drop`` (the autosave removed after a save, TARGET
``-``). A ``BEGIN`` line is printed before the work starts, its ``END`` after it is done, so a kill
between them may find either state on disk; :func:`document_digest` names a state.

Phases: ``paint`` (strokes, autosaved every few strokes while painting goes on), ``autosave``
(a stroke, then its autosave), ``save`` (a stroke, then Save), ``save_as`` (a stroke, then Save As
over the other existing file, alternating), ``apply`` (a generation by a scripted engine, its
result applied, autosaved and saved), ``idle`` (one stroke after ``READY``, printed as
``PAINTED - - DIGEST``, then nothing: for SIGTERM).
"""

from __future__ import annotations

import hashlib
import json
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog

from sfumato.document.document import Document, new_document
from sfumato.document.layers import Layer, LayerKind

PHASES = ("paint", "autosave", "save", "save_as", "apply")
WIDTH, HEIGHT = 512, 384
POLL_MS = 5


def document_digest(width: int, height: int, layers: Sequence[Layer]) -> str:
    """A name for what a document holds: size, and each layer's pixels and properties."""
    digest = hashlib.sha256(f"{width}x{height}".encode())
    for layer in layers:
        props = [layer.name, layer.kind.value, layer.visible, round(layer.opacity, 4), str(layer.blend),
                 sorted(layer.metadata.items())]
        digest.update(json.dumps(props).encode())
        digest.update(np.ascontiguousarray(layer.pixels).tobytes())
    return digest.hexdigest()[:16]


def digest_of(doc: Document) -> str:
    """:func:`document_digest` of ``doc``."""
    return document_digest(doc.width, doc.height, doc.layers)


def fake_model(folder: Path) -> Path:
    """A folder the model picker takes for SD 1.5 (the scripted engine never reads weights)."""
    (folder / "unet").mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (folder / "unet" / "config.json").write_text(json.dumps({"cross_attention_dim": 768, "in_channels": 4}))
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    return folder


class ScriptedEngine:
    """Returns one image of seeded noise at the requested size, at once."""

    def run(self, request: Any, on_step: Any, cancel: Any, on_stage: Any) -> Any:
        from sfumato.inference.results import GeneratedImage, GenerationResult

        rng = np.random.default_rng(request.seed)
        pixels = rng.integers(0, 256, (request.height or 64, request.width or 64, 3), dtype=np.uint8)
        return GenerationResult((GeneratedImage(pixels, request.seed, f"noise, Seed: {request.seed}"),),
                                (request.seed,))


def say(*words: object) -> None:
    """One event line for the test, flushed at once."""
    print(*words, flush=True)


class Session:
    """Drives the window through one phase, event by event, on the GUI thread's timers."""

    def __init__(self, phase: str, workdir: Path, seed: int) -> None:
        self.phase = phase
        self.workdir = workdir
        self.rng = np.random.default_rng(seed)
        self.answers: list[str] = []  # what the next Save As dialog answers
        QFileDialog.getSaveFileName = lambda *_a, **_k: (self.answers.pop(0), "")  # type: ignore[method-assign]
        self.targets = [workdir / "picture.ora", workdir / "other.ora"]
        self.window: Any = None
        self.strokes = 0
        self.autosaving = False  # an autosave began whose END is not printed yet

    # ------------------------------------------------------------- helpers
    @property
    def doc(self) -> Document:
        doc = self.window.session.doc
        assert doc is not None
        return doc

    def after(self, ms: int, then: Callable[[], None]) -> None:
        QTimer.singleShot(ms, then)

    def when(self, ready: Callable[[], bool], then: Callable[[], None]) -> None:
        """Run ``then`` from the event loop once ``ready()`` is true (queued work goes on meanwhile:
        the window re-enables the canvas only after a save's callback has returned)."""
        self.after(POLL_MS, lambda: then() if ready() else self.when(ready, then))

    def stroke(self) -> None:
        from qt_helpers import widget_pos

        view = self.window.canvas
        points = [(float(self.rng.uniform(10, WIDTH - 10)), float(self.rng.uniform(10, HEIGHT - 10)))
                  for _ in range(4)]
        QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         widget_pos(view, *points[0]))
        for point in points[1:]:
            QTest.mouseMove(view, widget_pos(view, *point))
        QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                           widget_pos(view, *points[-1]))
        self.strokes += 1

    def writer_idle(self) -> bool:
        writer = self.window.autosave.writer  # the session's writer, made by run_app
        return writer is None or writer.flush(0)

    def autosave(self, then: Callable[[], None]) -> None:
        digest = digest_of(self.doc)  # autosave_now snapshots right now, on this thread
        say("BEGIN autosave -", digest)
        self.window.autosave.save_now()
        self.when(self.writer_idle, lambda: (say("END autosave -", digest), then()))

    def save(self, target: Path, then: Callable[[], None]) -> None:
        digest = digest_of(self.doc)
        say("BEGIN save", target, digest)

        def saved() -> None:
            say("END save", target, digest)
            say("BEGIN drop - -")  # the saved document's autosave is removed
            self.when(self.writer_idle, lambda: (say("END drop - -"), then()))

        if self.doc.path == target:
            self.window.files.save(on_saved=saved)
        else:
            self.answers.append(str(target))
            self.window.files.save_as(on_saved=saved)

    # ------------------------------------------------------------- the session
    def begin(self) -> None:
        from qt_helpers import show_document

        self.window = next(w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow")
        doc = new_document(WIDTH, HEIGHT)
        noise = self.rng.integers(0, 256, (HEIGHT, WIDTH, 4), dtype=np.uint8)
        doc.add_image_layer(noise, "noise")
        mask = doc.add_layer(LayerKind.MASK, name="mask")
        mask.pixels[: HEIGHT // 3] = 255
        doc.notify_pixels(mask, doc.rect)
        show_document(self.window, doc)
        if self.phase == "apply":
            generation = self.window.generation
            generation.service.configure(ScriptedEngine, torch_threads=0)
            panel = generation.panel
            panel.use_model_path(fake_model(self.workdir / "fake-sd15"))
            panel.auto_size.setChecked(False)
            panel.width_box.setValue(64)
            panel.height_box.setValue(64)
            panel.prompt.setPlainText("noise")
            doc.delete_layer(mask)  # img2img, not an inpaint
        self.save(self.targets[0], lambda: (say("READY"), self.next()))

    def next(self) -> None:
        getattr(self, f"_{self.phase}")()

    def _idle(self) -> None:
        self.stroke()  # unsaved, not autosaved: only the way out can keep it
        say("PAINTED - -", digest_of(self.doc))

    def _paint(self) -> None:
        self.stroke()
        if self.strokes % 3 == 0 and not self.autosaving:
            self.autosaving = True
            self.autosave(self._autosaved)  # painting goes on while it is written
        self.after(1, self.next)

    def _autosaved(self) -> None:
        self.autosaving = False

    def _autosave(self) -> None:
        self.stroke()
        self.autosave(self.next)

    def _save(self) -> None:
        self.stroke()
        self.save(self.targets[0], self.next)

    def _save_as(self) -> None:
        self.stroke()
        self.save(self.targets[self.strokes % 2], self.next)

    def _apply(self) -> None:
        generation = self.window.generation
        self.stroke()
        generation.generate()
        results = self.window.session.results
        self.when(lambda: results.value is not None and not generation.busy, self._applied)

    def _applied(self) -> None:
        self.window.generation.apply(0)
        self.autosave(lambda: self.save(self.targets[0], self.next))


def main(argv: Sequence[str]) -> int:
    """Run the window with a session of ``PHASE`` in ``WORKDIR``."""
    phase, workdir, seed = argv[0], Path(argv[1]), int(argv[2])
    if phase == "apply":  # the inference thread imports torch first; the scripted engine needs none
        sys.modules.setdefault("torch", types.ModuleType("torch"))
    from sfumato.ui.app import run_app

    app = QApplication(sys.argv[:1])
    session = Session(phase, workdir, seed)
    QTimer.singleShot(0, session.begin)
    code = run_app([])
    del app
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
