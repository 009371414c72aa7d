"""Seam benchmark: mean ΔE across the mask border with and without the colour match.

Run ``python tests/benchmarks/bench_seam.py``. The scene (``tests/unit/seam_scene.py``): a
384² smooth gradient, a disc mask of radius 96 with a 16 px soft edge, inpainted by a model
stand-in that paints the gradient itself but shifts its colours (a gain and an offset per
channel, the offset growing to the right, plus faint texture), as inpainting models drift. The
figure is the mean CIE76 ΔE between the pasted result and the untouched gradient over the band
from 8 px outside the soft edge to 8 px inside it; 0 would be no seam at all. Also printed: the
time to paste a 1600² region of a 2048² canvas with and without the match. Not a test: it
prints figures.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))  # the shared scene

from seam_scene import BAND, SOFT, delta_e76, distance_from_centre, gradient, inpaint, seam_band

from sfumato.generation.region import blend_region, plan_region


def _delta_e_figures() -> None:
    truth = gradient()
    band = seam_band()
    inside = distance_from_centre() < 96 - SOFT / 2 - BAND
    print(f"band: {BAND} px either side of a {SOFT} px soft edge ({int(band.sum())} pixels)")
    for match in (False, True):
        out, region = inpaint(match)
        seam = delta_e76(out[band], truth[band])
        deep = delta_e76(out[inside], truth[inside])
        label = "with colour match   " if match else "without colour match"
        print(f"  {label}: mean ΔE76 {seam.mean():5.2f} across the border (p95 "
              f"{np.percentile(seam, 95):5.2f}); {deep.mean():5.2f} deep inside; "
              f"model size {region.size[0]}×{region.size[1]}")


def _paste_cost(repeats: int = 5) -> None:
    rng = np.random.default_rng(0)
    side = 2048
    source = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    mask = np.zeros((side, side), np.uint8)
    mask[256:-256, 256:-256] = 255
    region = plan_region(mask, 32, 1024 * 1024, 8)
    generated = rng.integers(0, 256, (region.size[1], region.size[0], 3), dtype=np.uint8)
    for match in (False, True):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            blend_region(source, mask, region, generated, match)
            times.append(time.perf_counter() - start)
        label = "with colour match   " if match else "without colour match"
        print(f"  paste of a {region.box.width}×{region.box.height} region {label}: "
              f"median {statistics.median(times) * 1000:6.0f} ms over {repeats}")


def main() -> None:
    """Print the seam's ΔE with and without the colour match, and the paste's cost."""
    _delta_e_figures()
    _paste_cost()


if __name__ == "__main__":
    main()
