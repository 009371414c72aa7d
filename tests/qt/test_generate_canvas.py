"""Generate from the canvas with tiny models: inpaint a painted mask, img2img a dropped photo,
outpaint beyond the edge, and what lands in the document (new layers, one undo step)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from generate_helpers import (  # noqa: F401  (fixtures)
    JOB_TIMEOUT_MS,
    cpu_engine_fixture,
    drag,
    gen_fixture,
    gradient,
    job_end,
    open_document,
    tiny_sd_fixture,
)
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from sfumato.document.document import Document, new_document
from sfumato.document.image_io import export_image
from sfumato.document.ora import load_ora, save_ora
from sfumato.generation.metadata import read_parameters
from sfumato.generation.requests import Task
from sfumato.session.jobs import export_metadata
from sfumato.session.tools import CanvasTool
from sfumato.ui.generate.controller import GenerationController
from sfumato.ui.main_window import MainWindow


def _picture_document() -> Document:
    doc = new_document(64, 64)
    doc.add_image_layer(gradient(64, 64), "Photo")
    doc.saved_revision = doc.revision
    return doc


def test_inpaint_a_mask_painted_with_the_mouse_lands_as_a_new_layer(
        qtbot: QtBot, window: MainWindow, gen: GenerationController) -> None:
    doc = open_document(window, _picture_document())
    window.session.tool.set(CanvasTool.MASK_BRUSH)
    window.session.update_brush(size=12)
    drag(window, [(20, 30), (30, 32), (44, 34)])
    mask = doc.combined_mask()
    assert mask.max() == 255
    gen.refresh_target()
    qtbot.waitUntil(lambda: gen.panel.mode_label.text().startswith("Inpaint"))
    before = doc.composite()
    layers_before = len(doc.layers)

    with job_end(qtbot, gen, gen.service.finished, JOB_TIMEOUT_MS) as finished:
        gen.panel.generate_button.click()
    job, _images, seeds = finished.args
    assert job.state.value == "done" and seeds == (1234,)
    assert len(doc.layers) == layers_before  # nothing lands before Apply
    assert gen.strip.count == 1 and window.results_dock.isVisible()
    assert window.session.results.value is not None
    assert window.session.overlay.value is not None  # shown in place

    steps = len(doc.history)
    gen.strip.apply_button.click()
    assert len(doc.layers) == layers_before + 1
    assert len(doc.history) == steps + 1  # one undo step
    result = doc.layers[-2]  # above the picture, below the mask layer
    assert result.name == "a red apple · 1234"
    assert "Seed: 1234" in result.metadata["parameters"]
    after = doc.composite()
    keep = mask == 0  # the brush's soft edge (1..254) blends the result by its value
    np.testing.assert_array_equal(after[keep], before[keep])  # outside the mask: untouched
    assert not np.array_equal(after[~keep], before[~keep])
    assert not window.results_dock.isVisible() and window.session.overlay.value is None

    doc.undo()
    assert len(doc.layers) == layers_before
    np.testing.assert_array_equal(doc.composite(), before)


def test_results_keep_their_parameters_in_the_ora_file_and_the_exported_png(
        qtbot: QtBot, tmp_path: Path, window: MainWindow, gen: GenerationController) -> None:
    doc = open_document(window, _picture_document())
    doc.change_selection(lambda s: s.select_rect(8, 8, 40, 40), "Select")
    gen.panel.batch.setValue(2)
    with job_end(qtbot, gen, gen.service.finished, JOB_TIMEOUT_MS):
        gen.generate()
    assert gen.strip.count == 2
    gen.strip.step(+1)
    assert gen.strip.current == 1
    gen.apply(gen.strip.current)
    top = doc.layers[-1]
    assert top.name.endswith("· 1235")  # the second result of the batch: seed + 1

    path = tmp_path / "result.ora"
    save_ora(doc, path)
    loaded = load_ora(path)
    assert loaded.layers[-1].metadata["parameters"] == top.metadata["parameters"]

    png = tmp_path / "export.png"
    export_image(doc, png, export_metadata(doc))
    assert read_parameters(png) == top.metadata["parameters"]


def test_a_dropped_photo_is_the_img2img_source(
        qtbot: QtBot, tmp_path: Path, window: MainWindow, gen: GenerationController) -> None:
    doc = open_document(window, new_document(64, 64, background=None))
    qtbot.waitUntil(lambda: gen.panel.mode_label.text().startswith("Text to image"))
    photo = tmp_path / "photo.png"
    Image.fromarray(gradient(64, 64)).save(photo)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo))])
    centre = window.canvas.rect().center()
    pos = QPoint(centre.x(), centre.y())
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window.canvas, enter)
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window.canvas, drop)
    qtbot.waitUntil(lambda: len(doc.layers) == 2, timeout=10_000)
    qtbot.waitUntil(lambda: gen.panel.mode_label.text().startswith("Image to image"))

    with job_end(qtbot, gen, gen.service.finished, JOB_TIMEOUT_MS) as finished:
        job = gen.generate()
    assert job is not None and job.context.capture.task is Task.IMG2IMG
    (image,) = finished.args[1]
    assert image.box is None
    layers = gen.apply(0)
    assert len(layers) == 1 and layers[0].pixels.shape == (64, 64, 4)
    assert layers[0].pixels[..., 3].min() == 255  # a whole new picture, over the old one
    assert doc.layers[-1] is layers[0]


def test_outpaint_frame_beyond_the_edge_extends_the_canvas_in_one_undo_step(
        qtbot: QtBot, window: MainWindow, gen: GenerationController) -> None:
    doc = open_document(window, _picture_document())
    before = doc.composite()
    window.canvas.fit_to_view()
    window.session.tool.set(CanvasTool.OUTPAINT_FRAME)
    drag(window, [(10, 10), (40, 40), (88, 60)])  # from inside to 24 px past the right edge
    frame = window.session.outpaint_frame.value
    assert frame is not None and frame.right > 64
    qtbot.waitUntil(lambda: gen.panel.mode_label.text().startswith("Outpaint"))

    with job_end(qtbot, gen, gen.service.finished, JOB_TIMEOUT_MS):
        job = gen.generate()
    assert job is not None and job.context.capture.task is Task.OUTPAINT
    assert (doc.width, doc.height) == (64, 64)  # nothing changes before Apply
    steps = len(doc.history)
    (layer,) = gen.apply(0)
    grown = 64 + (frame.right - 64)
    assert (doc.width, doc.height) == (grown, 64)
    assert window.canvas.cache is not None and window.canvas.cache.images[0].width() == grown
    assert len(doc.history) == steps + 1
    after = doc.composite()
    np.testing.assert_array_equal(after[:, :64], before)  # the original stays where it was
    assert after[:, 64:, 3].min() == 255  # the new strip is painted
    assert window.session.outpaint_frame.value is None
    doc.undo()
    assert (doc.width, doc.height) == (64, 64)
    np.testing.assert_array_equal(doc.composite(), before)
    assert layer not in doc.layers


def test_txt2img_without_a_document_starts_one(
        qtbot: QtBot, window: MainWindow, gen: GenerationController) -> None:
    assert window.session.doc is None
    with job_end(qtbot, gen, gen.service.finished, JOB_TIMEOUT_MS):
        job = gen.generate()
    assert job is not None and job.context.capture.task is Task.TXT2IMG
    doc = window.session.doc
    assert doc is not None and (doc.width, doc.height) == (64, 64)
    gen.strip.discard_button.click()
    assert len(doc.layers) == 1 and window.session.results.value is None  # discarded: nothing added


def test_variations_of_the_selected_region_land_on_it(
        qtbot: QtBot, window: MainWindow, gen: GenerationController) -> None:
    doc = open_document(window, _picture_document())
    doc.change_selection(lambda s: s.select_rect(16, 8, 48, 40), "Select")
    gen.panel.batch.setValue(2)
    before = doc.composite()
    with job_end(qtbot, gen, gen.service.finished, JOB_TIMEOUT_MS):
        window.menu_actions.by_name["variations_subtle"].trigger()  # Generate > Subtle Variations
    results = window.session.results.value
    assert results is not None and results.context.capture.task is Task.VARIATIONS
    assert gen.strip.count == 2
    window.menu_actions.by_name["next_result"].trigger()
    assert gen.strip.current == 1
    window.menu_actions.by_name["apply_result"].trigger()
    layer = doc.layers[-1]
    assert layer.content_bounds() == doc.selection.bounds()  # exactly the selected box
    outside = np.ones(before.shape[:2], bool)
    outside[8:40, 16:48] = False
    np.testing.assert_array_equal(doc.composite()[outside], before[outside])
    assert not window.menu_actions.by_name["apply_result"].isEnabled()  # the batch is done
