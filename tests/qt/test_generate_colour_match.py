"""The Generate panel's "Match colours" switch: on by default, kept in the settings, and in the
inpaint and outpaint requests."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from sfumato.document.document import new_document
from sfumato.document.geometry import Rect
from sfumato.document.layers import LayerKind
from sfumato.generation.requests import InpaintRequest, OutpaintRequest, Task
from sfumato.session.generation_source import capture
from sfumato.session.jobs import build_request
from sfumato.session.model_choices import ModelChoice, family_defaults
from sfumato.settings import Settings
from sfumato.ui.generate.prompt_panel import PromptPanel


def _panel(qtbot: QtBot, settings: Settings) -> PromptPanel:
    panel = PromptPanel(settings)
    qtbot.addWidget(panel)
    panel.set_models([ModelChoice("sd15", "/models/sd15", "sd15", family_defaults("sd15", "sd15"))])
    return panel


def test_match_colours_is_on_by_default_kept_in_the_settings_and_reaches_the_requests(qtbot: QtBot) -> None:
    settings = Settings()
    panel = _panel(qtbot, settings)
    assert panel.match_colours.isChecked() and panel.parameters().match_colours

    panel.match_colours.setChecked(False)
    assert settings.generation["match_colours"] is False
    again = _panel(qtbot, settings)
    assert not again.match_colours.isChecked()
    params = again.parameters()

    doc = new_document(64, 64)
    mask = doc.add_layer(LayerKind.MASK)
    mask.pixels[20:40, 20:40] = 255
    doc.notify_pixels(mask, doc.rect)
    inpaint = build_request(Task.INPAINT, capture(doc, Task.INPAINT, None), params, 512)
    assert isinstance(inpaint, InpaintRequest) and not inpaint.match_colours
    outpaint = build_request(Task.OUTPAINT, capture(doc, Task.OUTPAINT, Rect(0, 0, 96, 64)), params, 512)
    assert isinstance(outpaint, OutpaintRequest) and not outpaint.match_colours

    again.match_colours.setChecked(True)
    assert _panel(qtbot, settings).parameters().match_colours
