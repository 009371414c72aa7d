"""The first-run wizard: the starter set for a faked CPU machine and a faked 12 GB GPU, downloads
with progress from the fake hub, and shown once only (never over installed models)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from model_helpers import (
    CPU_16GB,
    GPU_12GB,
    FakeHub,
    hub_manager,
    offline_manager,
    running_hub,
    write_catalog,
)
from pytestqt.qtbot import QtBot
from qt_helpers import Dialogs

from sfumato.model_store import HardwareProfile, ModelManager, starter_set
from sfumato.qt_bridge.model_tasks import ModelTasks
from sfumato.session.model_state import read_state
from sfumato.settings import load_settings
from sfumato.ui.main_window import MainWindow
from sfumato.ui.models.first_run_wizard import FirstRunWizard

TIMEOUT = 10_000


def open_wizard(qtbot: QtBot, manager: ModelManager) -> FirstRunWizard:
    state = read_state(manager)
    wizard = FirstRunWizard(ModelTasks(manager), state, starter_set(state.catalog, state.profile))
    qtbot.addWidget(wizard)
    wizard.show()
    return wizard


def proposal(wizard: FirstRunWizard) -> dict[str, bool]:
    return {c.model.id: c.check.isChecked() for c in wizard.choices}


@pytest.mark.parametrize(("profile", "expected", "why"), [
    (CPU_16GB, {"sd-turbo": True, "sd15-lcm-lora": True, "sd15": True, "sd15-inpainting": True},
     "No GPU was found"),
    (GPU_12GB, {"sdxl-base": True, "sdxl-inpainting": True, "sd35-medium": False}, "SDXL"),
])
def test_the_wizard_proposes_the_starter_set_for_this_machine(
    qtbot: QtBot, dialogs: Dialogs, tmp_path: Path, profile: HardwareProfile, expected: dict[str, bool],
    why: str,
) -> None:
    wizard = open_wizard(qtbot, offline_manager(tmp_path / "cache", profile))
    assert proposal(wizard) == expected  # gated models are offered unticked
    assert why in wizard.why.text() and "Model Manager" in wizard.why.text()
    by_id = {c.model.id: c for c in wizard.choices}
    for model_id, choice in by_id.items():
        text = choice.detail.text()
        plan = wizard.tasks.manager.plan(model_id)
        assert plan.reason in text and plan.summary() in text  # why it fits and how it will run
        assert "≈ " in text and ("GiB" in text or "MiB" in text)  # sizes estimated offline (a LoRA: MiB)
    if profile is GPU_12GB:
        assert "gated" in by_id["sd35-medium"].detail.text()
        assert "model offload" in by_id["sd35-medium"].detail.text()
    assert wizard.download_button.isEnabled()
    for choice in wizard.choices:
        choice.check.setChecked(False)
    assert not wizard.download_button.isEnabled()
    wizard.tasks.shutdown()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with running_hub(monkeypatch) as fake:
        yield fake


def test_picked_models_download_with_progress(
    qtbot: QtBot, dialogs: Dialogs, hub: FakeHub, tmp_path: Path
) -> None:
    manager = hub_manager(hub, write_catalog(tmp_path / "catalog"), tmp_path / "cache", GPU_12GB)
    wizard = open_wizard(qtbot, manager)
    assert proposal(wizard) == {"tiny-sd": True}
    qtbot.waitUntil(lambda: "2.2 MiB" in wizard.choices[0].detail.text(), timeout=TIMEOUT)  # hub size
    hub.chunk_delay, hub.chunk_size = 0.01, 32 * 1024
    formats: list[str] = []
    wizard.tasks.progress.connect(lambda _k, _p: formats.append(wizard.choices[0].bar.format()))
    is_tiny = lambda k, _r: k == "tiny-sd"  # noqa: E731
    with qtbot.waitSignal(wizard.tasks.finished, timeout=TIMEOUT, check_params_cb=is_tiny):
        wizard.download_button.click()
        assert wizard.skip_button.text() == "Close" and not wizard.download_button.isEnabled()
    assert any(" of 2.2 MiB" in f and "left" in f for f in formats), formats
    assert wizard.choices[0].bar.format() == "Installed"
    assert wizard.skip_button.text() == "Start painting"
    assert "Ready: tiny-sd" in wizard.status.text()
    assert [m.key for m in manager.installed()] == ["tiny-sd@fp16"]
    assert dialogs.messages == [] and wizard.notice_bar.notice is None
    wizard.tasks.shutdown()


def test_first_run_offers_once_without_blocking_the_window(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    services = window.model_services(lambda: offline_manager(tmp_path / "cache", CPU_16GB))
    assert not window.settings.first_run_done
    services.offer_first_run()
    assert window.isVisible() and services.wizard is None  # the check runs in the background
    qtbot.waitUntil(lambda: services.wizard is not None and services.wizard.isVisible(), timeout=TIMEOUT)
    wizard = services.wizard
    assert wizard is not None and not wizard.isModal()
    wizard.skip_button.click()
    assert not wizard.isVisible()
    assert window.settings.first_run_done and load_settings().first_run_done

    services.wizard = None
    services.offer_first_run()
    qtbot.wait(100)
    assert services.wizard is None and not services.tasks.running()


def test_quitting_with_the_wizard_open_offers_it_again_next_time(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    services = window.model_services(lambda: offline_manager(tmp_path / "cache", CPU_16GB))
    services.offer_first_run()
    qtbot.waitUntil(lambda: services.wizard is not None and services.wizard.isVisible(), timeout=TIMEOUT)
    assert services.wizard is not None
    window.hide()  # the app quits: the window goes first, then Qt closes the wizard
    services.wizard.close()
    assert not window.settings.first_run_done and not load_settings().first_run_done


def test_no_wizard_when_models_are_installed(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    from store_helpers import SD15_SHAPES, write_checkpoint

    manager = offline_manager(tmp_path / "cache", CPU_16GB)
    manager.import_path(write_checkpoint(tmp_path / "mine.safetensors", SD15_SHAPES))
    services = window.model_services(lambda: manager)
    services.offer_first_run()
    qtbot.waitUntil(lambda: window.settings.first_run_done, timeout=TIMEOUT)
    assert services.wizard is None and load_settings().first_run_done
