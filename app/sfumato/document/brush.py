"""Brush tools, their settings, and the dab kernel (the coverage of one brush stamp).

A dab is a round stamp centred on a sub-pixel position. Its coverage falls from 1 in the middle to
0 at the rim; ``hardness`` sets how much of the radius stays fully opaque. Kernels are cached per
quantised ``(diameter, hardness, sub-pixel phase)`` because a stroke stamps the same one many times.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

MIN_SIZE = 1.0
MAX_SIZE = 1000.0


class Tool(StrEnum):
    """What a stroke does to the layer it is painted on."""

    BRUSH = "brush"
    ERASER = "eraser"
    MASK_BRUSH = "mask_brush"


@dataclass(frozen=True)
class BrushSettings:
    """How a brush stamps: size (diameter in document px), edge, opacity, dab spacing, colour.

    ``opacity`` is the most a single stroke can lay down: overlapping dabs of one stroke do not
    build up. ``spacing`` is the distance between dabs as a fraction of the (pressure-scaled)
    size. With ``pressure_size``/``pressure_opacity`` tablet pressure scales size/opacity.
    """

    size: float = 24.0
    hardness: float = 0.8
    opacity: float = 1.0
    spacing: float = 0.12
    color: tuple[int, int, int] = (0, 0, 0)
    pressure_size: bool = True
    pressure_opacity: bool = False

    def __post_init__(self) -> None:
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ValueError(f"brush size must be within {MIN_SIZE:g}..{MAX_SIZE:g}, got {self.size}")
        if not 0.0 <= self.hardness <= 1.0:
            raise ValueError(f"hardness must be within 0..1, got {self.hardness}")
        if not 0.0 <= self.opacity <= 1.0:
            raise ValueError(f"opacity must be within 0..1, got {self.opacity}")
        if not 0.01 <= self.spacing <= 10.0:
            raise ValueError(f"spacing must be within 0.01..10, got {self.spacing}")
        if len(self.color) != 3 or not all(0 <= c <= 255 for c in self.color):
            raise ValueError(f"color must be three values within 0..255, got {self.color}")


@dataclass(frozen=True, slots=True)
class Dab:
    """A kernel placed in the document: ``values[0, 0]`` covers pixel ``(x, y)``."""

    values: np.ndarray
    x: int
    y: int

    @property
    def right(self) -> int:
        """One past the last column."""
        return self.x + int(self.values.shape[1])

    @property
    def bottom(self) -> int:
        """One past the last row."""
        return self.y + int(self.values.shape[0])


_CACHE_BYTES = 64 * 2**20
_cache: OrderedDict[tuple[float, float, float, float], tuple[np.ndarray, int, int]] = OrderedDict()
_cache_bytes = 0


def _quantise_size(diameter: float) -> float:
    """1/8 px steps up to 32 px, then steps that grow with the size (under 1 % of it)."""
    step = 0.125 * 2.0 ** max(0, math.floor(math.log2(diameter / 16.0)))
    return max(MIN_SIZE, round(diameter / step) * step)


def _phase_steps(diameter: float) -> int:
    """Sub-pixel positions per pixel: quarters for small brushes, whole pixels for huge ones."""
    return 4 if diameter <= 128 else 1


def _kernel(diameter: float, hardness: float, fx: float, fy: float) -> tuple[np.ndarray, int, int]:
    """Coverage of a dab centred at ``(fx, fy)`` inside pixel ``(0, 0)``, trimmed to its support.

    Returns ``(values, ox, oy)``: ``values[0, 0]`` covers pixel ``(ox, oy)``. The rim is a smooth
    ramp of width ``(1 - hardness) × radius`` (at least one pixel, so hard edges are antialiased)
    that ends half a pixel outside the radius.
    """
    radius = diameter / 2.0
    outer = radius + 0.5
    width = max((1.0 - hardness) * radius, 1.0)
    pad = math.ceil(outer) + 1
    offsets = np.arange(-pad, pad + 1, dtype=np.float32) + np.float32(0.5)
    dx = offsets - np.float32(fx)
    dy = offsets - np.float32(fy)
    dist = np.sqrt(dy[:, None] ** 2 + dx[None, :] ** 2)
    t = np.clip((dist - np.float32(outer - width)) * np.float32(1.0 / width), 0.0, 1.0)
    values = (1.0 - t * t * (3.0 - 2.0 * t)).astype(np.float32)
    rows = np.flatnonzero(values.any(axis=1))
    cols = np.flatnonzero(values.any(axis=0))
    values = np.ascontiguousarray(values[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    values.flags.writeable = False
    return values, int(cols[0]) - pad, int(rows[0]) - pad


def _cached_kernel(key: tuple[float, float, float, float]) -> tuple[np.ndarray, int, int]:
    global _cache_bytes
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        return hit
    made = _kernel(*key)
    _cache[key] = made
    _cache_bytes += made[0].nbytes
    while _cache_bytes > _CACHE_BYTES and len(_cache) > 1:
        _, (old, _, _) = _cache.popitem(last=False)
        _cache_bytes -= old.nbytes
    return made


def make_dab(x: float, y: float, diameter: float, hardness: float) -> Dab:
    """The dab of a ``diameter`` brush centred at document position ``(x, y)``.

    Pixel ``(i, j)`` spans ``[i, i+1) × [j, j+1)``, so a dab at ``(10.5, 10.5)`` is centred on
    pixel ``(10, 10)``. ``diameter`` must be at least :data:`MIN_SIZE` (scale the opacity of
    thinner lines instead).
    """
    size = _quantise_size(diameter)
    steps = _phase_steps(size)
    qx, qy = round(x * steps) / steps, round(y * steps) / steps
    ix, iy = math.floor(qx), math.floor(qy)
    values, ox, oy = _cached_kernel((size, round(hardness * 64) / 64, qx - ix, qy - iy))
    return Dab(values, ix + ox, iy + oy)
