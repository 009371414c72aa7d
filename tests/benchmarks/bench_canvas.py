"""Canvas benchmark: time per full-viewport repaint of a 4096×4096 document with 10 layers.

Run ``QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_canvas.py``. A 1600×1000 canvas
repaints its whole area (``widget.repaint()``: checkerboard, the display cache scaled to the
zoom, selection outline, brush cursor) at fit zoom, 100 % and 200 %, and at fit zoom while
panning. Also timed: opening (the quick preview), the full composite of the display cache (in
the app a background thread does it, tiles in view first), and one stroke segment from pointer
event to repainted pixels. Target on the 2-core
reference machine: repaint p95 < 16 ms. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported

from bench_document import SIDE  # the script's own folder
from bench_document import build_document as build_layers
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from sfumato.document.brush import BrushSettings, Tool
from sfumato.document.document import Document
from sfumato.document.stroke import Stroke
from sfumato.session.canvas_session import CanvasSession
from sfumato.ui.canvas.view import CanvasView

VIEW = (1600, 1000)


def build_document(rng: np.random.Generator) -> Document:
    """The stroke benchmark's 10-layer document, plus an elliptic selection to outline."""
    doc = build_layers(rng)
    doc.change_selection(lambda s: s.select_ellipse(1000, 1000, 3000, 2600), "Select")
    doc.history.clear()
    return doc


def timed(run: Callable[[], object], rounds: int) -> list[float]:
    """Milliseconds per call of ``run``."""
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        out.append((time.perf_counter() - start) * 1000)
    return out


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"{name:<34} p50 {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms   (n={len(ordered)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    doc = build_document(np.random.default_rng(7))
    view = CanvasView(CanvasSession())
    view.resize(*VIEW)
    view.show()
    app.processEvents()
    start = time.perf_counter()
    view.session.show(doc)
    opened = time.perf_counter()
    assert view.cache is not None
    view.cache.flush()
    print(f"{SIDE}×{SIDE}, {len(doc.layers)} layers, viewport {VIEW[0]}×{VIEW[1]}")
    print(f"{'open: preview on the GUI thread':<34} {(opened - start) * 1000:7.0f} ms")
    print(f"{'full composite (background thread)':<34} {(time.perf_counter() - opened) * 1000:7.0f} ms")
    view._pointer = QPointF(800, 500)  # draw the brush outline too
    while view._selection_path is None:  # and the marching ants (traced in the background)
        app.processEvents()

    view.fit_to_view()
    report(f"repaint, fit ({view.zoom * 100:.1f} %)", timed(view.repaint, args.rounds))
    view._pan_anchor = QPointF(800, 500)  # as during a space-drag: fast scaling
    report("repaint, fit, while panning", timed(view.repaint, args.rounds))
    view._pan_anchor = None
    for zoom in (1.0, 2.0):
        view.zoom_to(zoom)
        report(f"repaint, {zoom * 100:.0f} %", timed(view.repaint, args.rounds))

    view.zoom_to(1.0)
    layer = doc.layers[5]
    doc.set_active(layer)
    stroke = Stroke(doc, layer, Tool.BRUSH, BrushSettings(size=40))
    x0, y0 = view.viewport.to_doc(300, 500)
    step = iter(range(10_000))

    def segment() -> None:
        i = next(step)
        stroke.add_point(x0 + 25 * i, y0 + 8 * np.sin(i / 3))  # composites the dirty rect
        view.repaint()  # full viewport: an upper bound for the dirty-region repaint

    report("stroke segment → pixels on screen", timed(segment, 40))
    stroke.finish()
    view.shutdown()


if __name__ == "__main__":
    main()
