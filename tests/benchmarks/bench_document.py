"""Document benchmark: time per stroke segment on a 4096×4096 document with 10 layers.

Run ``python tests/benchmarks/bench_document.py``. A *segment* is one ``Stroke.add_point`` 20–40 px
after the previous point with a 40 px brush, plus the composite of the rectangle it returns
(``doc.composite(rect, show_masks=True, premultiplied=True)``, what the canvas does to repaint).
Targets on the 2-core reference machine: segment p50 < 8 ms. Also printed: composites of a
256×256 display tile, a 1920×1080 region and the whole document (what the canvas cache redoes
after a stack change). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

from sfumato.document.brush import BrushSettings, Tool
from sfumato.document.document import Document, new_document
from sfumato.document.geometry import Rect
from sfumato.document.layers import BlendMode, LayerKind
from sfumato.document.stroke import Stroke

SIDE = 4096


def build_document(rng: np.random.Generator) -> Document:
    """A 4096² document: background, 8 raster layers with content, one mask layer (10 layers)."""
    doc = new_document(SIDE, SIDE)
    blends = [BlendMode.NORMAL, BlendMode.MULTIPLY, BlendMode.SCREEN, BlendMode.NORMAL]
    for i in range(8):
        layer = doc.add_layer()
        tile = rng.integers(0, 256, (256, 256, 4), dtype=np.uint8)
        tile[..., 3] = rng.integers(64, 256, (256, 256), dtype=np.uint8)
        layer.pixels[...] = np.tile(tile, (SIDE // 256, SIDE // 256, 1))
        doc.set_layer_props(layer, blend=blends[i % 4], opacity=0.9)
    mask = doc.add_layer(LayerKind.MASK)
    mask.pixels[SIDE // 4 : 3 * SIDE // 4, SIDE // 4 : 3 * SIDE // 4] = 255
    doc.set_active(doc.layers[5])
    doc.history.clear()
    return doc


def _path(rng: np.random.Generator, segments: int) -> list[tuple[float, float, float]]:
    """A wandering pointer path with 20–40 px between events and varying pressure."""
    x, y = rng.uniform(500, SIDE - 500, 2)
    heading = rng.uniform(0, 2 * math.pi)
    points = []
    for _ in range(segments + 1):
        points.append((float(x), float(y), float(rng.uniform(0.6, 1.0))))
        heading += rng.normal(0, 0.5)
        step = rng.uniform(20, 40)
        x = min(max(x + step * math.cos(heading), 0.0), SIDE - 1.0)
        y = min(max(y + step * math.sin(heading), 0.0), SIDE - 1.0)
    return points


def _ms(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49]:6.2f} ms   p95 {q[94]:6.2f} ms   max {max(values):6.2f} ms   (n={len(values)})"


def run(strokes: int, segments: int, seed: int) -> None:
    """Paint ``strokes`` strokes of ``segments`` segments each and print the timings."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    doc = build_document(rng)
    print(f"document {SIDE}×{SIDE}, {len(doc.layers)} layers, built in {time.perf_counter() - started:.1f} s")
    total, paint, composite, finish = [], [], [], []
    tools = [(Tool.BRUSH, doc.layers[5]), (Tool.ERASER, doc.layers[5]), (Tool.MASK_BRUSH, doc.layers[9])]
    for i in range(strokes):
        tool, layer = tools[i % len(tools)]
        stroke = Stroke(doc, layer, tool, BrushSettings(size=40, hardness=0.7, color=(200, 30, 90)))
        for j, (x, y, pressure) in enumerate(_path(rng, segments)):
            t0 = time.perf_counter()
            rect = stroke.add_point(x, y, pressure)
            t1 = time.perf_counter()
            doc.composite(rect, show_masks=True, premultiplied=True)
            t2 = time.perf_counter()
            if j:  # the first event is a single dab, not a segment
                paint.append((t1 - t0) * 1e3)
                composite.append((t2 - t1) * 1e3)
                total.append((t2 - t0) * 1e3)
        t0 = time.perf_counter()
        stroke.finish()
        finish.append((time.perf_counter() - t0) * 1e3)
    print(f"segment (add_point + composite): {_ms(total)}")
    print(f"  add_point only:                {_ms(paint)}")
    print(f"  composite of the dirty rect:   {_ms(composite)}")
    print(f"stroke finish (undo step):       {_ms(finish)}")
    tiles = []
    for x, y in rng.integers(0, SIDE // 256, (40, 2)):
        t0 = time.perf_counter()
        doc.composite(Rect(int(x) * 256, int(y) * 256, 256, 256), show_masks=True, premultiplied=True)
        tiles.append((time.perf_counter() - t0) * 1e3)
    print(f"composite of a 256×256 tile:     {_ms(tiles)}")
    viewport = []
    for _ in range(10):
        t0 = time.perf_counter()
        doc.composite(Rect(1000, 1000, 1920, 1080), show_masks=True, premultiplied=True)
        viewport.append((time.perf_counter() - t0) * 1e3)
    print(f"composite of a 1920×1080 region: {_ms(viewport)}")
    t0 = time.perf_counter()
    doc.composite(show_masks=True, premultiplied=True)
    print(f"composite of the whole document: {(time.perf_counter() - t0) * 1e3:7.0f} ms (once)")
    print(f"history: {len(doc.history)} steps, {doc.history.nbytes / 2**20:.1f} MiB")


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", type=int, default=30)
    parser.add_argument("--segments", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    run(args.strokes, args.segments, args.seed)


if __name__ == "__main__":
    main()
