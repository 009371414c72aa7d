"""GUI-thread time of Generate on a big document: the press, each result, the mode line.

Run ``QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_generate_gui.py``. The document is
8192² with 10 layers (a picture, eight paint layers with content and blend modes, one mask layer
with a painted blob) in the real window. The engine is a stand-in: it waits until it is let go
(so pressing Generate is timed with the inference thread idle), then plans the request and
pastes a flat colour as the engine would (``plan_request`` and ``CallPlan.finish``, no model).

Figures, each on the GUI thread (targets from issue 13):

* **press → queued**: ``generate`` from reading the canvas to the job in the queue (< 16 ms);
  the picture itself is composited on the inference thread when the job runs (timed too);
* **stroke while jobs wait**: a brush segment over the region while captured jobs wait in the
  queue (the first change to a layer copies its part of the region for each waiting job);
* **result arrives**: the controller taking a finished batch in (landings, overlays, strip),
  per result (< 16 ms);
* **apply**: one result becoming a layer, and the events handled right after it (repaints,
  layer panel), per result (< 16 ms). Each result's layer is built in the background when the
  batch arrives; the bench applies once it is (a person looks at a result before applying it)
  and prints how long after the arrival that was;
* **autosave snapshot**: the next autosave's copy of the document after an apply (the other
  layers are shared with the previous autosave; the new layer is copied);
* **mode line**: the Generate panel's mode line recomputed after a stroke segment, an undo and a
  mask clear while a mask is painted (< 2 ms).

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported

import numpy as np
from PySide6.QtWidgets import QApplication

from sfumato.document.autosave import take_snapshot
from sfumato.document.brush import BrushSettings, Tool
from sfumato.document.document import Document, new_document
from sfumato.document.layers import BlendMode, Layer, LayerKind
from sfumato.document.mask_ops import clear_mask
from sfumato.document.snapshot import RegionSnapshot
from sfumato.document.stroke import Stroke
from sfumato.inference.planning import plan_request
from sfumato.inference.results import GenerationResult
from sfumato.qt_bridge.inference_thread import GenerationJob
from sfumato.session.notices import Source
from sfumato.settings import Settings
from sfumato.ui.main_window import MainWindow

SIDE = 8192
NATIVE = 512


def build_document(rng: np.random.Generator) -> tuple[Document, Layer]:
    """The 8192² document: a picture, eight paint layers of 3072² patches, a painted mask."""
    doc = new_document(SIDE, SIDE)
    y, x = np.mgrid[0:SIDE:4, 0:SIDE:4]
    small = np.stack([x % 256, y % 256, (x + y) // 64 % 256, np.full_like(x, 255)], axis=2)
    doc.layers[0].pixels[...] = np.repeat(np.repeat(small.astype(np.uint8), 4, 0), 4, 1)
    blends = [BlendMode.NORMAL, BlendMode.MULTIPLY, BlendMode.SCREEN, BlendMode.NORMAL]
    for i in range(8):
        layer = doc.add_layer()
        tile = rng.integers(0, 256, (256, 256, 4), dtype=np.uint8)
        tile[..., 3] = rng.integers(64, 256, (256, 256), dtype=np.uint8)
        top, left = 512 * i, 640 * i
        layer.pixels[top : top + 3072, left : left + 3072] = np.tile(tile, (12, 12, 1))
        doc.notify_pixels(layer, doc.rect)
        doc.set_layer_props(layer, blend=blends[i % 4], opacity=0.9)
    mask = doc.add_layer(LayerKind.MASK)
    stroke = Stroke(doc, mask, Tool.MASK_BRUSH, BrushSettings(size=300, hardness=0.6))
    for t in np.linspace(0, 2 * math.pi, 40):
        stroke.add_point(4000 + 500 * math.cos(t), 3500 + 350 * math.sin(2 * t))
    stroke.finish()
    doc.history.clear()
    return doc, mask


class StandInEngine:
    """Waits until let go, then plans the request and pastes a flat grey: no model, no torch."""

    def __init__(self) -> None:
        self.go = threading.Event()

    def run(self, request: object, on_step: Callable, cancel: threading.Event,
            on_stage: Callable | None = None) -> GenerationResult:
        """What ``Engine.run`` returns, for any request."""
        self.go.wait()
        seed = max(0, request.seed)  # type: ignore[attr-defined]
        count = request.image_count  # type: ignore[attr-defined]
        if cancel.is_set():
            return GenerationResult((), tuple(range(seed, seed + count)), cancelled=True)
        plan = plan_request(request, NATIVE, 8, inpaint_only=False)  # type: ignore[arg-type]
        width, height = plan.size
        images = tuple(plan.finish(np.full((height, width, 3), 60 + 20 * i, np.uint8), seed + i, "p")
                       for i in range(count))
        return GenerationResult(images, tuple(range(seed, seed + count)))


def _now() -> np.ndarray:
    """Wall-clock and this thread's CPU time, in seconds (differences of two are durations)."""
    return np.array([time.perf_counter(), time.thread_time()])


def _ms(values: list[np.ndarray]) -> str:
    """Median and max of wall-clock durations, then of the thread's CPU time (which other
    processes on a busy machine do not inflate)."""
    wall = [float(v[0]) * 1000 for v in values]
    cpu = [float(v[1]) * 1000 for v in values]
    return (f"median {statistics.median(wall):8.2f} ms  max {max(wall):8.2f} ms  "
            f"(cpu {statistics.median(cpu):6.2f} / {max(cpu):6.2f})  (n={len(values)})")


def wait_until(app: QApplication, done: Callable[[], bool], timeout: float = 600.0) -> None:
    """Run the event loop until ``done()``."""
    deadline = time.perf_counter() + timeout
    while not done():
        if time.perf_counter() > deadline:
            raise TimeoutError("the stand-in engine did not finish")
        app.processEvents()
        time.sleep(0.001)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=3, help="jobs whose results are applied")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--segments", type=int, default=40, help="mask stroke segments timed")
    args = parser.parse_args()

    from sfumato.inference.tiny_models import build_sd15

    model = build_sd15(Path(tempfile.mkdtemp(prefix="sfumato-bench-")) / "tiny-sd15")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    started = time.perf_counter()
    doc, mask = build_document(np.random.default_rng(0))
    print(f"document {SIDE}² with {len(doc.layers)} layers built in {time.perf_counter() - started:.1f} s",
          flush=True)

    window = MainWindow(Settings())
    window.resize(1600, 1000)
    window.show()
    controller = window.generation
    engine = StandInEngine()
    controller.service.configure(lambda: engine, torch_threads=1)
    window.session.show(doc)
    panel = controller.panel
    panel.use_model_path(model)
    panel.prompt.setPlainText("a lighthouse on a cliff at dusk")
    panel.seed.setValue(1)
    panel.seed_lock.setChecked(True)
    panel.batch.setValue(args.batch)
    wait_until(app, lambda: True)
    app.processEvents()

    arrivals: list[float] = []
    finished = controller._finished

    def timed_finished(job: GenerationJob, images: tuple) -> None:
        t0 = _now()
        finished(job, images)
        arrivals.append((_now() - t0) / max(1, len(images)))

    controller._finished = timed_finished  # type: ignore[method-assign]  # the job's end, timed

    composites: list[float] = []
    composite = RegionSnapshot.composite

    def timed_composite(snapshot: RegionSnapshot) -> object:
        t0 = _now()
        out = composite(snapshot)
        composites.append(_now() - t0)
        return out

    RegionSnapshot.composite = timed_composite  # type: ignore[method-assign]

    submits: list[float] = []
    submit = controller.service.submit

    def timed_submit(*args: object, **kwargs: object) -> object:
        t0 = _now()
        job = submit(*args, **kwargs)  # type: ignore[arg-type]
        submits.append(_now() - t0)
        return job

    controller.service.submit = timed_submit  # type: ignore[method-assign]

    # 1. pressing Generate (the stand-in holds the first job, the others wait in the queue)
    presses = []
    for _ in range(args.presses):
        app.processEvents()
        t0 = _now()
        job = controller.generate()
        presses.append(_now() - t0)
        assert job is not None, window.session.notices.latest(Source.GENERATE).value
    wait_until(app, lambda: len(composites) >= 1)
    strokes = {"first": [], "later": []}
    for index in (3, 5, 7):
        stroke = Stroke(doc, doc.layers[index], Tool.BRUSH, BrushSettings(size=40))
        for i in range(6):
            t0 = _now()
            stroke.add_point(3700 + 40 * i, 3400 + 25 * i)
            strokes["first" if i == 0 else "later"].append(_now() - t0)
        stroke.finish()
        doc.undo()
    controller.service.cancel_all()
    engine.go.set()
    wait_until(app, lambda: not controller.busy)
    app.processEvents()

    # 2. results arriving and being applied, one per job, then a whole batch at once
    applies, after_apply, autosaves = [], [], []
    built_ahead: list[float] = []
    saved = take_snapshot(doc)  # what the last autosave holds
    for _ in range(args.jobs + 1):
        arrived = len(arrivals)
        controller.generate()
        wait_until(app, lambda arrived=arrived: len(arrivals) > arrived)
        arrived_at = time.perf_counter()
        results = controller.session.results.value
        wanted = [controller.strip.current] if len(applies) < args.jobs else range(len(results.images))
        wait_until(app, lambda r=results, w=wanted: all(i in r.prepared for i in w))  # a person looks first
        built_ahead.append((time.perf_counter() - arrived_at) / len(wanted))
        app.processEvents()
        t0 = _now()
        if len(applies) < args.jobs:
            layers = controller.apply(controller.strip.current)
            count = 1
        else:
            layers = controller.apply_all()
            count = len(layers)
        t1 = _now()
        app.processEvents()
        t2 = _now()
        assert layers, "nothing was applied"
        applies += [(t1 - t0) / count]
        after_apply += [(t2 - t1) / count]
        t0 = _now()
        take_snapshot(doc, previous=saved)  # the next autosave
        autosaves.append(_now() - t0)
        doc.undo()
        app.processEvents()

    # 3. the mode line while a mask is painted, after an undo and after clearing the mask
    modes = []
    stroke = Stroke(doc, mask, Tool.MASK_BRUSH, BrushSettings(size=120, hardness=0.7))
    for i in range(args.segments):
        stroke.add_point(1500 + 30 * i, 6000 + 200 * math.sin(i / 5))
        t0 = _now()
        controller.session.refresh_target()
        modes.append(_now() - t0)
    stroke.finish()
    line_painted = panel.mode_label.text()
    doc.undo()
    t0 = _now()
    controller.session.refresh_target()
    after_undo = _now() - t0
    clear_mask(doc, mask)
    t0 = _now()
    controller.session.refresh_target()
    after_clear = _now() - t0

    print(f"press → queued (inpaint)     {_ms(presses)}")
    print(f"  of which queueing the job  {_ms(submits)}  (the queue panel showing it)")
    print(f"  picture, inference thread  {_ms(composites)}")
    print(f"stroke while {args.presses - 1} jobs wait:  first segment on a layer {_ms(strokes['first'])}")
    print(f"                             later segments           {_ms(strokes['later'])}")
    print(f"result arrives, per result   {_ms(arrivals)}")
    print(f"layer built ahead, per res.  median {statistics.median(built_ahead) * 1000:8.2f} ms wall "
          "after it arrived (background)")
    print(f"apply, per result            {_ms(applies)}")
    print(f"events after apply, per res. {_ms(after_apply)}")
    print(f"autosave snapshot after it   {_ms(autosaves)}  (per apply, {len(layers)} layers the last)")
    print(f"mode line while painting     {_ms(modes)}")
    print(f"mode line after undo         {_ms([after_undo])}")
    print(f"mode line after clear        {_ms([after_clear])}  → {panel.mode_label.text()!r}")
    print(f"(while painting it read {line_painted!r})")
    doc.saved_revision = doc.revision
    controller.service.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
