"""Reuse Parameters in the window: a PNG dropped on the Generate panel, File › Reuse Parameters
From Image…, a PNG opened as a document, and Layer › Reuse Parameters on a result layer fill the
panel and name the model and LoRAs this machine lacks (issue 14)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from generate_helpers import (
    broken_sd_fixture,
    cpu_engine_fixture,
    gen_fixture,
    tiny_sd_fixture,
    wait_finished,
)
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from qt_helpers import Dialogs

from sfumato.generation.metadata import save_png
from sfumato.session.notices import Notice, Severity, Source
from sfumato.ui.generate.controller import GenerationController
from sfumato.ui.main_window import MainWindow

__all__ = ["broken_sd_fixture", "cpu_engine_fixture", "gen_fixture", "tiny_sd_fixture"]

TIMEOUT_MS = 10_000

# A parameters text in A1111's infotext layout (prompt, "Negative prompt:" line, then "key: value"
# pairs, as in the A1111 examples of tests/unit/test_generation_reuse.py); the values, the model
# name and the LoRA name are made up for this test.
A1111_WITH_LORA = (
    "a lighthouse at dusk, (oil painting:1.2) <lora:ink-wash:0.7>\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 12, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 424242, "
    "Size: 512x768, Model hash: 0123456789, Model: dreamshaper_8, Clip skip: 2, Version: v1.10.1"
)


def picture(path: Path, parameters: str | None) -> Path:
    """A small PNG at ``path``, carrying ``parameters`` when given."""
    rgb = np.full((32, 32, 3), 180, np.uint8)
    if parameters is None:
        from PIL import Image

        Image.fromarray(rgb).save(path)
    else:
        save_png(path, rgb, parameters)
    return path


def drop_on(widget: object, path: Path) -> None:
    """Drag ``path`` from another program and drop it on ``widget``."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    copy, left, none = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(10, 10), copy, mime, left, none)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(widget, QDropEvent(QPointF(10, 10), copy, mime, left, none))


def filled(dialogs: Dialogs) -> Notice:
    """The notice that says the panel was filled."""
    return next(n for n in reversed(dialogs.notices) if n.message.startswith("Filled the panel from"))


def wait_filled(qtbot: QtBot, dialogs: Dialogs) -> Notice:
    qtbot.waitUntil(lambda: any(n.message.startswith("Filled the panel") for n in dialogs.notices),
                    timeout=TIMEOUT_MS)
    return filled(dialogs)


def test_dropping_an_a1111_png_on_the_panel_fills_it_and_names_what_is_missing(
        qtbot: QtBot, window: MainWindow, gen: GenerationController, tiny_sd: Path, dialogs: Dialogs,
        tmp_path: Path) -> None:
    panel = gen.panel
    panel.seed_lock.setChecked(False)
    drop_on(panel, picture(tmp_path / "lighthouse.png", A1111_WITH_LORA))
    notice = wait_filled(qtbot, dialogs)

    assert panel.prompt.toPlainText() == "a lighthouse at dusk, (oil painting:1.2) <lora:ink-wash:0.7>"
    assert panel.negative.toPlainText() == "blurry, lowres"
    assert (panel.seed.value(), panel.seed_lock.isChecked()) == (424242, True)  # the next Generate uses it
    assert (panel.steps.value(), panel.cfg.value()) == (12, 6.5)
    assert panel.scheduler.currentText() == "DPM++ 2M Karras"
    assert not panel.auto_size.isChecked()
    assert (panel.width_box.value(), panel.height_box.value()) == (512, 768)
    assert panel.current_model is not None and panel.current_model.path == str(tiny_sd)  # kept
    assert panel.parameters().loras == ()  # the prompt's tag applies the LoRA; not a second time

    assert notice.source is Source.GENERATE and notice.severity is Severity.WARNING
    assert notice.message == ("Filled the panel from “lighthouse.png”. The model dreamshaper_8 (hash "
                              "0123456789) is not installed. The LoRA ink-wash is not installed.")
    assert "Not used by Sfumato: Clip skip: 2; Version: v1.10.1." in notice.details


def test_a_picture_made_without_colour_match_turns_the_panel_switch_off(
        qtbot: QtBot, window: MainWindow, gen: GenerationController, tiny_sd: Path, dialogs: Dialogs,
        tmp_path: Path) -> None:
    panel = gen.panel
    assert panel.match_colours.isChecked()  # on by default
    drop_on(panel, picture(tmp_path / "plain.png", A1111_WITH_LORA + ", Colour match: off"))
    wait_filled(qtbot, dialogs)
    assert not panel.match_colours.isChecked()
    drop_on(panel, picture(tmp_path / "matched.png", A1111_WITH_LORA))
    qtbot.waitUntil(panel.match_colours.isChecked, timeout=TIMEOUT_MS)


def test_the_model_a_picture_names_is_chosen_when_it_is_installed(
        qtbot: QtBot, window: MainWindow, gen: GenerationController, tiny_sd: Path, dialogs: Dialogs,
        tmp_path: Path) -> None:
    from sfumato.model_store import ModelManager

    (installed,) = ModelManager().import_path(tiny_sd)  # recorded in place, as Import Folder… does
    gen.panel.model.clear()  # the panel had it only as a folder picked by hand
    gen.panel.set_models([])
    text = A1111_WITH_LORA.replace("Model hash: 0123456789, Model: dreamshaper_8", f"Model: {tiny_sd.name}")
    dialogs.file_answers.append(str(picture(tmp_path / "again.png", text)))
    window.menu_actions.by_name["reuse_image"].trigger()  # File › Reuse Parameters From Image…
    notice = wait_filled(qtbot, dialogs)

    assert gen.panel.current_model is not None and gen.panel.current_model.path == str(installed.path)
    assert (gen.panel.steps.value(), gen.panel.cfg.value()) == (12, 6.5)  # not the model's defaults
    assert notice.message == "Filled the panel from “again.png”. The LoRA ink-wash is not installed."
    assert window.session.doc is None  # reusing parameters opens no picture


def test_a_png_without_parameters_is_refused_in_one_line(
        qtbot: QtBot, window: MainWindow, dialogs: Dialogs, tmp_path: Path) -> None:
    drop_on(window.generation.panel, picture(tmp_path / "plain.png", None))
    qtbot.waitUntil(lambda: bool(dialogs.errors), timeout=TIMEOUT_MS)
    assert dialogs.errors[-1].message == "“plain.png” has no generation parameters."


def test_opening_a_png_with_parameters_keeps_them_on_its_layer_for_reuse_parameters(
        qtbot: QtBot, window: MainWindow, dialogs: Dialogs, tmp_path: Path) -> None:
    path = picture(tmp_path / "lighthouse.png", A1111_WITH_LORA)
    window.files.open_path(path)
    qtbot.waitUntil(lambda: window.session.doc is not None, timeout=TIMEOUT_MS)
    doc = window.session.doc
    assert doc is not None and doc.layers[0].metadata["parameters"] == A1111_WITH_LORA
    qtbot.waitUntil(lambda: any("Reuse Parameters" in m for m in dialogs.notice_messages), timeout=TIMEOUT_MS)

    action = window.menu_actions.by_name["reuse_parameters"]
    assert action.isEnabled() and action in window.layers_panel.list.actions()  # its context menu too
    action.trigger()
    wait_filled(qtbot, dialogs)
    assert window.generation.panel.prompt.toPlainText().startswith("a lighthouse at dusk")


def test_reuse_parameters_on_a_result_layer_fills_the_panel_with_what_made_it(
        qtbot: QtBot, window: MainWindow, gen: GenerationController, dialogs: Dialogs) -> None:
    action = window.menu_actions.by_name["reuse_parameters"]
    gen.generate()  # "a red apple", seed 1234, 2 steps at 64×64
    wait_finished(qtbot, gen)
    (layer,) = gen.apply(0)
    doc = window.session.doc
    assert doc is not None and doc.active_layer is layer
    assert action.isEnabled()

    panel = gen.panel
    panel.prompt.setPlainText("something else")
    panel.seed.setValue(7)
    panel.steps.setValue(9)
    action.trigger()
    notice = wait_filled(qtbot, dialogs)
    assert (panel.prompt.toPlainText(), panel.seed.value(), panel.steps.value()) == ("a red apple", 1234, 2)
    assert notice.message.startswith(f"Filled the panel from the layer “{layer.name}”.")

    doc.set_active(doc.layers[0])  # the background: no parameters
    assert not action.isEnabled()
