"""The prompt panel: per-family and catalog defaults, schedulers, the negative prompt per model,
the steps a low strength needs, seed dice and lock, values kept in the settings; and the window
still appears before torch is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from pytestqt.qtbot import QtBot

from sfumato.generation import schedulers
from sfumato.generation.requests import Task
from sfumato.session.generation_source import Capture
from sfumato.session.jobs import build_request
from sfumato.session.model_choices import ModelChoice, family_defaults, installed_choices, schedulers_for
from sfumato.settings import Settings
from sfumato.ui.generate.prompt_panel import (
    MODEL_DEFAULT_SCHEDULER,
    NEGATIVE_NEEDS_CFG,
    NEGATIVE_PLACEHOLDER,
    PromptPanel,
)


def _choice(label: str, family: str) -> ModelChoice:
    return ModelChoice(label, f"/models/{label}", family, family_defaults(family, label))


def test_family_defaults_suit_the_model() -> None:
    turbo = family_defaults("sdxl", "sdxl-turbo")
    assert turbo.steps <= 4 and turbo.cfg == 0.0
    assert family_defaults("flux-schnell").cfg == 0.0
    assert family_defaults("sdxl").size == 1024
    assert family_defaults("sd15-inpainting") == family_defaults("sd15")
    assert schedulers_for("flux-dev") == schedulers.FLOW_SCHEDULERS
    assert schedulers_for("sdxl") == schedulers.UNET_SCHEDULERS


def test_choosing_a_model_applies_its_defaults_and_schedulers(qtbot: QtBot) -> None:
    panel = PromptPanel(Settings())
    qtbot.addWidget(panel)
    panel.set_models([_choice("sd15", "sd15"), _choice("sdxl-turbo", "sdxl"), _choice("flux", "flux-dev")])
    panel.model.setCurrentIndex(1)
    assert panel.steps.value() == 4 and panel.cfg.value() == 0.0
    panel.model.setCurrentIndex(2)
    offered = [panel.scheduler.itemText(i) for i in range(panel.scheduler.count())]
    assert offered == [MODEL_DEFAULT_SCHEDULER, schedulers.FLOW_MATCH_EULER]
    assert panel.steps.value() == 28 and panel.cfg.value() == 3.5
    assert panel.width_box.value() == 1024


CATALOG_SCHEDULERS = {
    "LCMScheduler": schedulers.LCM,
    "EulerAncestralDiscreteScheduler": schedulers.EULER_A,
    "EulerDiscreteScheduler": schedulers.EULER,
    "DPMSolverMultistepScheduler": schedulers.DPMPP_2M,
    "FlowMatchEulerDiscreteScheduler": schedulers.FLOW_MATCH_EULER,
}


def test_catalog_defaults_reach_the_panel(qtbot: QtBot) -> None:
    from sfumato.model_store.catalog import load_catalog

    catalog = load_catalog()
    entries = [e for e in catalog.models if e.family.id != "cascade"]
    installed = [SimpleNamespace(model_id=e.id, family=e.family.id, path=Path(f"/models/{e.id}"),
                                 variant=None, key=f"catalog:{e.id}") for e in entries]
    manager = SimpleNamespace(catalog=catalog, installed=lambda: installed)
    panel = PromptPanel(Settings())
    qtbot.addWidget(panel)
    panel.set_models(installed_choices(manager))  # type: ignore[arg-type]
    for entry in entries:
        panel.model.setCurrentIndex(panel.model.findText(entry.id))
        d = entry.defaults
        assert (panel.steps.value(), panel.cfg.value()) == (d.steps, d.cfg), entry.id
        assert panel.width_box.value() == max(d.width, d.height), entry.id
        expected = CATALOG_SCHEDULERS.get(d.scheduler)
        if expected in schedulers_for(entry.family.id):
            assert panel.scheduler.currentText() == expected, entry.id
    assert any(e.defaults.cfg == 0.0 for e in entries)  # the few-step models run without CFG
    few_step = {"sd-turbo": (1, 0.0, schedulers.EULER), "sd15-lcm-lora": (4, 1.0, schedulers.LCM)}
    for model_id, wanted in few_step.items():
        panel.model.setCurrentIndex(panel.model.findText(model_id))
        assert (panel.steps.value(), panel.cfg.value(), panel.scheduler.currentText()) == wanted
        assert panel.width_box.value() == 512


def test_fast_decode_is_off_by_default_kept_in_the_settings_and_reaches_the_request(qtbot: QtBot) -> None:
    settings = Settings()
    panel = PromptPanel(settings)
    qtbot.addWidget(panel)
    panel.set_models([_choice("sd-turbo", "sd2")])
    panel.auto_size.setChecked(False)
    assert not panel.fast_decode.isChecked() and not panel.parameters().fast_decode

    panel.fast_decode.setChecked(True)
    again = PromptPanel(settings)
    qtbot.addWidget(again)
    again.set_models([_choice("sd-turbo", "sd2")])
    params = again.parameters()
    assert again.fast_decode.isChecked() and params.fast_decode
    request = build_request(Task.TXT2IMG, cast(Capture, None), params, 512)  # txt2img at a set size
    assert request.fast_decode


def test_flux_takes_no_negative_prompt_and_the_field_says_so(qtbot: QtBot) -> None:
    panel = PromptPanel(Settings())
    qtbot.addWidget(panel)
    panel.set_models([_choice("sdxl", "sdxl"), _choice("flux", "flux-dev"), _choice("fill", "flux-fill")])
    panel.negative.setPlainText("blurry")
    assert panel.negative.isEnabled() and panel.parameters().negative_prompt == "blurry"
    for index in (1, 2):
        panel.model.setCurrentIndex(index)
        assert not panel.negative.isEnabled()
        assert "FLUX.1 takes no negative prompt" in panel.negative.toolTip()
        assert not panel.negative_note.isHidden()  # said under the field, not only in a tooltip
        assert panel.parameters().negative_prompt == ""  # not sent …
        assert panel.negative.toPlainText() == "blurry"  # … but kept for the next model
    panel.model.setCurrentIndex(0)
    assert panel.negative.isEnabled() and panel.parameters().negative_prompt == "blurry"
    assert panel.negative_note.isHidden()


def test_the_negative_prompt_field_says_when_cfg_leaves_it_unused(qtbot: QtBot) -> None:
    panel = PromptPanel(Settings())
    qtbot.addWidget(panel)
    panel.set_models([_choice("sdxl-turbo", "sdxl")])
    assert panel.cfg.value() == 0.0 and panel.negative.placeholderText() == NEGATIVE_NEEDS_CFG
    panel.cfg.setValue(5.0)
    assert panel.negative.placeholderText() == NEGATIVE_PLACEHOLDER


def test_a_line_says_when_strength_needs_more_steps(qtbot: QtBot) -> None:
    panel = PromptPanel(Settings())
    qtbot.addWidget(panel)
    panel.show()
    panel.steps.setValue(1)
    panel.strength.setValue(0.5)
    assert panel.steps_hint.isVisible()
    assert panel.steps_hint.text() == ("At strength 0.5, 1 step would run none: "
                                       "img2img and inpaint will run 2 steps.")
    panel.steps.setValue(2)
    assert not panel.steps_hint.isVisible()
    panel.strength.setValue(0.3)
    assert panel.steps_hint.isVisible() and "run 4 steps" in panel.steps_hint.text()


def test_seed_dice_and_lock(qtbot: QtBot) -> None:
    panel = PromptPanel(Settings())
    qtbot.addWidget(panel)
    panel.seed.setValue(7)
    panel.seed_lock.setChecked(True)
    assert panel.parameters().seed == 7 and panel.parameters().seed == 7
    panel.seed_lock.setChecked(False)
    seeds = {panel.parameters().seed for _ in range(5)}
    assert len(seeds) > 1 and panel.seed.value() in seeds  # each Generate shows the seed it used
    before = panel.seed.value()
    panel.dice.click()
    assert panel.seed.value() != before  # (a 1 in 2³¹ chance of a false alarm)


def test_values_are_kept_in_the_settings_and_restored(qtbot: QtBot, tmp_path: Path) -> None:
    settings = Settings()
    panel = PromptPanel(settings)
    qtbot.addWidget(panel)
    panel.prompt.setPlainText("a lighthouse at dusk")
    panel.negative.setPlainText("blurry")
    panel.steps.setValue(13)
    panel.cfg.setValue(4.5)
    panel.seed.setValue(42)
    panel.seed_lock.setChecked(True)
    panel.auto_size.setChecked(False)
    panel.width_box.setValue(640)
    panel.batch.setValue(3)
    json.dumps(settings.generation)  # a plain JSON object, as the settings file needs
    assert settings.generation["prompt"] == "a lighthouse at dusk"

    again = PromptPanel(settings)
    qtbot.addWidget(again)
    assert again.prompt.toPlainText() == "a lighthouse at dusk"
    assert again.negative.toPlainText() == "blurry"
    values = again.parameters()
    assert (values.steps, values.cfg, values.seed, values.batch) == (13, 4.5, 42, 3)
    assert values.size == (640, 512)


def test_the_remembered_model_comes_back_without_reading_it(qtbot: QtBot) -> None:
    settings = Settings()
    panel = PromptPanel(settings)
    qtbot.addWidget(panel)
    panel.set_models([_choice("flux", "flux-dev")])
    panel.steps.setValue(9)
    settings.generation["model"] = str(Path(__file__))  # any existing path: it is not opened
    again = PromptPanel(settings)
    qtbot.addWidget(again)
    assert again.current_model is not None and again.current_model.label == "flux"
    assert again.current_model.schedulers == schedulers.FLOW_SCHEDULERS
    assert again.steps.value() == 9  # remembered values win over the model's defaults


DRIVER = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from sfumato.settings import Settings
from sfumato.ui.main_window import MainWindow

app = QApplication(sys.argv[:1])
window = MainWindow(Settings())
window.show()
app.processEvents()
print("DOCK", window.generate_dock.isVisible())
print("TORCH_AT_SHOW", "torch" in sys.modules)

def finish():
    print("TORCH_LATER", "torch" in sys.modules, "diffusers" in sys.modules)
    window.close()
    app.quit()

QTimer.singleShot(2000, finish)  # the model list has been read by now
app.exec()
"""


def test_the_window_and_prompt_panel_appear_without_importing_torch(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", DRIVER], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "DOCK True" in result.stdout
    assert "TORCH_AT_SHOW False" in result.stdout
    assert "TORCH_LATER False False" in result.stdout  # torch waits for the first job's thread
