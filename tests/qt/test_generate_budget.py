"""What Generate leaves to other threads: the canvas is composited on the inference thread from a
snapshot of the press, results stay region-sized until applied, and the mode line follows the
mask through strokes, undo and clearing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from generate_helpers import drag, gradient, job_end, open_document, tiny_sd_fixture  # noqa: F401  (fixtures)
from pytestqt.qtbot import QtBot

from sfumato.document.brush import BrushSettings, Tool
from sfumato.document.document import Document, new_document
from sfumato.document.geometry import nonzero_bounds
from sfumato.document.layers import LayerKind
from sfumato.document.mask_ops import clear_mask
from sfumato.document.snapshot import RegionSnapshot
from sfumato.document.stroke import Stroke
from sfumato.generation.requests import GenerationRequest
from sfumato.inference.planning import plan_request
from sfumato.inference.results import GenerationResult
from sfumato.session.tools import CanvasTool
from sfumato.ui.generate.controller import GenerationController
from sfumato.ui.main_window import MainWindow

TIMEOUT_MS = 60_000


class StandIn:
    """An engine that keeps the requests it ran and pastes a colour-rotated copy of its input."""

    def __init__(self) -> None:
        self.requests: list[GenerationRequest] = []
        self.go = threading.Event()
        self.go.set()

    def run(self, request: GenerationRequest, _on_step: Any, _cancel: Any, _on_stage: Any = None) -> Any:
        """What ``Engine.run`` returns."""
        self.go.wait(TIMEOUT_MS / 1000)
        self.requests.append(request)
        plan = plan_request(request, 64, 8, inpaint_only=False)
        seed = max(0, request.seed)
        count = request.image_count
        if plan.image is None:
            made = np.full((plan.size[1], plan.size[0], 3), 90, np.uint8)
        else:
            made = np.asarray(plan.image)[..., [1, 2, 0]]
        images = tuple(plan.finish(made, seed + i, "p") for i in range(count))
        return GenerationResult(images, tuple(range(seed, seed + count)))


@pytest.fixture(name="stand_in")
def stand_in_fixture(window: MainWindow, tiny_sd: Path) -> Iterator[StandIn]:
    """The window's generation on the stand-in engine, with a model chosen and a fixed seed."""
    engine = StandIn()
    controller = window.generation
    controller.service.configure(lambda: engine, torch_threads=1)
    controller.panel.use_model_path(tiny_sd)
    controller.panel.seed.setValue(7)
    controller.panel.seed_lock.setChecked(True)
    yield engine
    engine.go.set()
    controller.service.shutdown()


def _masked_picture(window: MainWindow) -> Document:
    doc = new_document(400, 300)
    doc.add_image_layer(gradient(400, 300), "Photo")
    mask = doc.add_layer(LayerKind.MASK)
    with doc.edit_pixels(mask, None, "Mask"):
        mask.pixels[100:140, 150:230] = 255
    return open_document(window, doc)


def test_the_press_composites_nothing_and_the_job_gets_the_canvas_as_pressed(
        qtbot: QtBot, window: MainWindow, stand_in: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = _masked_picture(window)
    gen = window.generation
    threads: list[threading.Thread] = []
    composite = RegionSnapshot.composite

    def recorded(self: RegionSnapshot) -> np.ndarray:
        threads.append(threading.current_thread())
        return composite(self)

    monkeypatch.setattr(RegionSnapshot, "composite", recorded)
    before = doc.composite()
    stand_in.go.clear()  # the first job holds the engine, so the second waits in the queue
    first = gen.generate()
    job = gen.generate()
    assert first is not None and job is not None and threading.main_thread() not in threads
    stroke = Stroke(doc, doc.layers[1], Tool.BRUSH, BrushSettings(size=60, color=(255, 0, 0)))
    for x in range(120, 280, 10):
        stroke.add_point(x, 120)  # paint over the region right after the press
    stroke.finish()
    assert not np.array_equal(doc.composite(), before)
    stand_in.go.set()
    qtbot.waitUntil(lambda: not gen.busy, timeout=TIMEOUT_MS)
    assert len(threads) == 2 and threading.main_thread() not in threads
    cap = job.context.capture
    sent = stand_in.requests[-1]  # composited after the stroke, from the tiles saved before it
    np.testing.assert_array_equal(np.asarray(sent.source), before[cap.target.slices])  # type: ignore[attr-defined]


def test_results_stay_region_sized_until_applied(
        qtbot: QtBot, window: MainWindow, stand_in: StandIn) -> None:
    doc = _masked_picture(window)
    gen = window.generation
    gen.panel.batch.setValue(3)
    with job_end(qtbot, gen, gen.service.finished, TIMEOUT_MS):
        gen.generate()
    batch = window.session.results.value
    assert batch is not None
    region = batch.context.capture.target
    assert region.w * region.h < doc.width * doc.height
    assert set(batch.landings) == {0}  # only the shown result was made up
    for index, image in enumerate(batch.images):
        lnd = batch.landing(index)
        assert image.pixels.shape[:2] == (region.h, region.w)
        assert lnd.rgba.shape[:2] == (region.h, region.w) and lnd.rect == region
    mask = doc.combined_mask()
    expected = batch.landing(1).rgba
    layers = gen.apply(1)
    assert len(layers) == 1
    layer = layers[0]
    np.testing.assert_array_equal(layer.pixels[region.slices], expected)
    assert not layer.pixels[..., 3][mask == 0].any()  # nothing outside the mask shows
    assert layer.content_bounds() == nonzero_bounds(mask)


def test_whole_image_results_are_scaled_to_the_canvas_only_when_applied(
        qtbot: QtBot, window: MainWindow, stand_in: StandIn) -> None:
    doc = open_document(window, new_document(300, 200))
    doc.add_image_layer(gradient(300, 200), "Photo")
    gen = window.generation
    with job_end(qtbot, gen, gen.service.finished, TIMEOUT_MS):
        gen.generate()
    batch = window.session.results.value
    assert batch is not None and batch.context.capture.task.value == "img2img"
    lnd = batch.landing(0)
    assert lnd.rgba.shape[:2] != (200, 300) and lnd.rect == doc.rect  # the model's size, for now
    layer = gen.apply(0)[0]
    assert layer.pixels[..., 3].min() == 255
    np.testing.assert_array_equal(layer.pixels, lnd.pixels())


def _mode(gen: GenerationController) -> str:
    gen.session.refresh_target()
    return gen.panel.mode_label.text()


def test_the_mode_line_follows_mask_strokes_undo_and_clearing(
        qtbot: QtBot, window: MainWindow, stand_in: StandIn) -> None:
    doc = open_document(window, new_document(200, 160))
    doc.add_image_layer(gradient(200, 160), "Photo")
    gen = window.generation
    assert _mode(gen).startswith("Image to image")
    mask = doc.add_layer(LayerKind.MASK)
    window.session.tool.set(CanvasTool.MASK_BRUSH)
    window.session.update_brush(size=10)
    drag(window, [(30, 40), (90, 60)])

    def expected() -> str:
        box = nonzero_bounds(mask.pixels)
        assert box is not None
        return f"Inpaint: the masked area ({box.w} × {box.h} px)"

    assert _mode(gen) == expected()
    drag(window, [(90, 60), (150, 120)])
    assert _mode(gen) == expected()
    window.session.tool.set(CanvasTool.ERASER)
    window.session.update_brush(size=40)
    drag(window, [(150, 120), (100, 80)])  # erasing shrinks the box
    assert _mode(gen) == expected()
    doc.undo()
    assert _mode(gen) == expected()
    doc.undo()
    assert _mode(gen) == expected()
    doc.undo()
    assert _mode(gen).startswith("Image to image")
    doc.redo()
    assert _mode(gen) == expected()
    clear_mask(doc, mask)
    assert _mode(gen).startswith("Image to image")
    gen.refresh_target()  # as the document's events do, 120 ms later
    qtbot.waitUntil(lambda: gen.panel.mode_label.text().startswith("Image to image"))


def test_thumbnails_keep_the_aspect_and_the_colours_of_big_and_small_results(qtbot: QtBot) -> None:
    from sfumato.ui.generate.results_strip import THUMB, thumbnail

    wide = np.zeros((1000, 3000, 3), np.uint8)
    wide[..., 0] = 200
    image = thumbnail(wide)
    assert (image.width(), image.height()) == (THUMB, round(THUMB / 3))
    assert image.pixelColor(10, 10).red() == 200 and image.pixelColor(10, 10).alpha() == 255
    small = thumbnail(np.full((20, 40, 4), 90, np.uint8))
    assert (small.width(), small.height()) == (THUMB, THUMB // 2)
