"""The Generate panel's prompt tools: the syntax hint, the live prompt check, the LoRA list,
Subtle and Strong variations, and the variation seed (issue 14 in the window)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from generate_helpers import (
    broken_sd_fixture,
    cpu_engine_fixture,
    gen_fixture,
    gradient,
    open_document,
    tiny_sd_fixture,
    wait_finished,
)
from pytestqt.qtbot import QtBot
from qt_helpers import Dialogs

from sfumato.document.document import Document
from sfumato.generation.prompt_syntax import SYNTAX_HINT
from sfumato.generation.requests import (
    STRONG_VARIATION,
    SUBTLE_VARIATION,
    GenerationRequest,
    LoraUse,
    Txt2ImgRequest,
    VariationsRequest,
)
from sfumato.model_store.adapters import AdapterFile
from sfumato.session.model_choices import ModelChoice, family_defaults
from sfumato.session.notices import Severity, Source
from sfumato.ui.generate.controller import GenerationController
from sfumato.ui.main_window import MainWindow

__all__ = ["broken_sd_fixture", "cpu_engine_fixture", "gen_fixture", "tiny_sd_fixture"]

CHECK_TIMEOUT_MS = 5000


def recorded_requests(gen: GenerationController, monkeypatch: pytest.MonkeyPatch) -> list[GenerationRequest]:
    """Every request the controller queues from now on (they still run)."""
    seen: list[GenerationRequest] = []
    submit = gen.service.submit

    def recording(request: GenerationRequest, *args: object, **kwargs: object) -> object:
        seen.append(request)
        return submit(request, *args, **kwargs)

    monkeypatch.setattr(gen.service, "submit", recording)
    return seen


def picture_document() -> Document:
    doc = Document(64, 64)
    doc.add_image_layer(gradient(64, 64), "Picture")
    doc.saved_revision = doc.revision
    return doc


# ------------------------------------------------------------ prompt check
def test_the_prompt_syntax_hint_shows_under_the_prompt(window: MainWindow) -> None:
    panel = window.generation.panel
    assert panel.syntax_hint.isVisible() and panel.syntax_hint.text() == SYNTAX_HINT
    assert SYNTAX_HINT in panel.prompt.toolTip()


def test_a_malformed_prompt_is_named_inline_and_generate_refuses_it_in_one_line(
        qtbot: QtBot, window: MainWindow, gen: GenerationController, dialogs: Dialogs) -> None:
    panel = gen.panel
    panel.prompt.setPlainText("a (castle:1.3 on a hill")
    qtbot.waitUntil(panel.prompt_check.isVisible, timeout=CHECK_TIMEOUT_MS)  # after typing stops
    shown = panel.prompt_check.text()
    assert shown.startswith("⚠ Prompt, column ") and "\n" not in shown

    assert gen.generate() is None  # no job, no traceback: the same line on the panel's notice bar
    notice = window.session.notices.latest(Source.GENERATE).value
    assert notice is not None and notice.severity is Severity.ERROR
    assert notice.message == shown.removeprefix("⚠ ") and "Traceback" not in notice.details
    assert gen.service.jobs == []

    panel.prompt.setPlainText("a (castle:1.3) on a hill")
    qtbot.waitUntil(lambda: not panel.prompt_check.isVisible(), timeout=CHECK_TIMEOUT_MS)


def test_weights_a_plain_text_model_ignores_are_named_before_generating(window: MainWindow) -> None:
    panel = window.generation.panel
    flux = ModelChoice("FLUX.1 [dev]", "/models/flux-dev", "flux-dev", family_defaults("flux-dev"))
    panel.set_models([flux])
    panel.prompt.setPlainText("a (castle:1.3) BREAK a [foggy] sky")
    panel.check_prompt()
    text = panel.prompt_check.text()
    assert text.startswith("ℹ Weights ignored by FLUX.1, which reads the prompt as plain text")
    assert "(castle:1.3)" in text and "[foggy]" in text and "BREAK" in text

    sd = ModelChoice("SD 1.5", "/models/sd15", "sd15", family_defaults("sd15"))
    panel.set_models([sd])
    panel.model.setCurrentIndex(0)
    panel.check_prompt()
    assert not panel.prompt_check.isVisibleTo(panel)  # CLIP models weigh words: nothing to say


def test_a_prompt_tag_naming_a_lora_that_is_not_installed_is_said(window: MainWindow) -> None:
    panel = window.generation.panel
    panel.prompt.setPlainText("a castle <lora:ink-style:0.7>")
    panel.set_loras([])
    assert "The prompt's LoRA ink-style is not installed" in panel.prompt_check.text()
    ink = AdapterFile("ink-style", "lora", "sd15", Path("/store/loras/ink-style.safetensors"))
    panel.set_loras([ink])
    assert not panel.prompt_check.isVisibleTo(panel)


# -------------------------------------------------------------- LoRA list
def test_a_lora_added_in_the_panel_is_in_the_request_and_runs_on_the_tiny_model(
        qtbot: QtBot, window: MainWindow, gen: GenerationController, tiny_sd: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, dialogs: Dialogs) -> None:
    from sfumato.inference.tiny_models import build_lora
    from sfumato.model_store import ModelManager

    made = build_lora(tiny_sd, tmp_path / "made")
    file = shutil.copy(made, tmp_path / "tiny-style.safetensors")
    (imported,) = ModelManager().import_adapters(Path(file))
    assert imported.adapter is not None and imported.adapter.family == "sd15"

    panel = gen.panel
    gen.refresh_models()  # lists the LoRAs in the background, as when the window comes back
    qtbot.waitUntil(lambda: [a.name for a in panel.loras.offered()] == ["tiny-style"], timeout=10_000)
    panel.loras.add_menu.aboutToShow.emit()
    (action,) = [a for a in panel.loras.add_menu.actions() if a.text() == "tiny-style"]
    action.trigger()
    panel.loras._rows[0].weight.setValue(0.5)
    assert panel.parameters().loras == (LoraUse("tiny-style", 0.5),)
    assert window.settings.generation["loras"] == [{"name": "tiny-style", "weight": 0.5}]
    assert panel.loras.offered() == []  # once in the list, no longer offered

    requests = recorded_requests(gen, monkeypatch)
    gen.generate()
    wait_finished(qtbot, gen)
    assert requests[0].loras == (LoraUse("tiny-style", 0.5),)
    assert window.session.results.value is not None and dialogs.errors == []

    panel.loras.remove("tiny-style")
    assert panel.parameters().loras == () and window.settings.generation["loras"] == []


def test_a_lora_made_for_another_family_is_marked_and_left_out(window: MainWindow) -> None:
    panel = window.generation.panel
    sd = ModelChoice("SD 1.5", "/models/sd15", "sd15", family_defaults("sd15"))
    xl = ModelChoice("SDXL", "/models/sdxl", "sdxl", family_defaults("sdxl"))
    panel.set_models([sd, xl])
    panel.model.setCurrentIndex(1)
    panel.set_loras([AdapterFile("xl-detail", "lora", "sdxl", Path("/store/loras/xl-detail.safetensors"))])
    panel.loras.add("xl-detail", 0.8)
    assert panel.parameters().loras == (LoraUse("xl-detail", 0.8),)

    panel.model.setCurrentIndex(0)  # an SD 1.5 model: the SDXL LoRA stays listed, marked
    row = panel.loras._rows[0]
    assert row.label.text() == "xl-detail — made for SDXL, left out" and not row.label.isEnabled()
    assert panel.parameters().loras == ()
    assert panel.loras.offered() == []

    panel.model.setCurrentIndex(1)
    assert panel.parameters().loras == (LoraUse("xl-detail", 0.8),)


def test_the_lora_list_comes_back_with_the_settings(qtbot: QtBot, window: MainWindow) -> None:
    from sfumato.ui.generate.prompt_panel import PromptPanel

    window.generation.panel.loras.add("ink-style", 0.6)
    again = PromptPanel(window.settings)
    qtbot.addWidget(again)
    assert again.loras.entries() == [("ink-style", 0.6)]


# ------------------------------------------------------------- variations
def test_subtle_and_strong_make_variations_at_fooocus_strengths_with_batch_seeds(
        qtbot: QtBot, window: MainWindow, gen: GenerationController,
        monkeypatch: pytest.MonkeyPatch) -> None:
    open_document(window, picture_document())
    gen.panel.batch.setValue(2)
    gen.panel.strength.setValue(0.3)  # the strength box is img2img's, not the variations'
    requests = recorded_requests(gen, monkeypatch)

    gen.panel.subtle_button.click()
    wait_finished(qtbot, gen)
    gen.panel.strong_button.click()
    wait_finished(qtbot, gen)

    subtle, strong = requests
    assert isinstance(subtle, VariationsRequest) and isinstance(strong, VariationsRequest)
    assert (subtle.strength, strong.strength) == (SUBTLE_VARIATION, STRONG_VARIATION) == (0.5, 0.85)
    assert subtle.count == strong.count == 2
    assert window.session.results.value is not None and len(window.session.results.value.images) == 2


def test_the_variation_seed_sits_under_extra_and_goes_into_a_txt2img_request(
        qtbot: QtBot, window: MainWindow, gen: GenerationController,
        monkeypatch: pytest.MonkeyPatch) -> None:
    panel = gen.panel
    assert not panel.variation_row.isVisible()  # collapsed by default
    panel.variation_seed.setValue(77)
    panel.variation_strength.setValue(0.2)
    requests = recorded_requests(gen, monkeypatch)

    gen.generate()  # no document: text-to-image
    wait_finished(qtbot, gen)
    panel.extra.setChecked(True)
    assert panel.variation_row.isVisible()
    gen.generate()
    wait_finished(qtbot, gen)

    collapsed, extra = requests
    assert isinstance(collapsed, Txt2ImgRequest) and collapsed.variation_strength == 0.0
    assert isinstance(extra, Txt2ImgRequest)
    assert (extra.variation_seed, extra.variation_strength) == (77, 0.2)
