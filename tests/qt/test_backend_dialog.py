"""Help › Processing Backend…: what it shows, its buttons for each advice, and the runtime install
(progress, cancel, failure, ready in place or restart) with a fake installer."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from backend_helpers import (
    CPU_WHILE_GPU,
    FINE,
    NO_RUNTIME,
    NO_RUNTIME_ADVICE,
    PIP_ADVICE,
    PLAIN_PC,
    BackendFakes,
)
from model_helpers import CPU_16GB, offline_manager
from PySide6.QtCore import QProcess
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot
from qt_helpers import Dialogs

from sfumato import torch_runtime
from sfumato.model_store import DownloadCancelled
from sfumato.torch_runtime import InstallResult, RuntimeProgress
from sfumato.torch_runtime.errors import PackageIndexError
from sfumato.torch_runtime.layout import RuntimeRecord
from sfumato.ui.backend import dialog as backend_dialog
from sfumato.ui.backend import runtime_install
from sfumato.ui.backend.dialog import BackendDialog
from sfumato.ui.main_window import MainWindow

TIMEOUT_MS = 5000


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> BackendFakes:
    """Probes that answer "CPU torch on a PC with an RTX 3060" (listed before ``window``)."""
    return BackendFakes().install(monkeypatch)


def _open(qtbot: QtBot, window: MainWindow) -> BackendDialog:
    window.backend.probe()
    qtbot.waitUntil(lambda: window.backend.advice is not None, timeout=TIMEOUT_MS)
    window.menu_actions.by_name["backend"].trigger()
    dialog = window.findChild(BackendDialog, "backendDialog")
    assert isinstance(dialog, BackendDialog)
    return dialog


def _result(variant: str = "cu128") -> InstallResult:
    record = RuntimeRecord(f"torch-2.13.0-{variant}", variant, "cuda", "2.13.0", "3.11",
                           "2026-11-23T13:00:00")
    return InstallResult(record.name, Path("/runtime") / record.name / "site", record, None)


class FakeInstaller:
    """Stands in for ``install_runtime``: reports progress, then waits for ``go`` or the cancel."""

    def __init__(self, outcome: InstallResult | BaseException) -> None:
        self.outcome = outcome
        self.go = threading.Event()
        self.calls: list[dict[str, Any]] = []

    def __call__(self, variant: str | None = None, **kwargs: Any) -> InstallResult:
        self.calls.append({"variant": variant, **kwargs})
        kwargs["on_progress"](RuntimeProgress("download", 512 * 2**20, 2048 * 2**20, "Downloading torch"))
        cancel = kwargs["cancel"]
        while not (self.go.is_set() or cancel.is_set()):
            cancel.wait(0.01)
        if cancel.is_set():
            raise DownloadCancelled("cancelled")
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def test_it_shows_the_gpu_what_runs_and_the_advice(fakes: BackendFakes, window: MainWindow,
                                                   qtbot: QtBot) -> None:
    dialog = _open(qtbot, window)
    gpus = dialog.gpus.text()
    for part in ("NVIDIA GeForce RTX 3060", "12.0 GiB VRAM", "compute capability 8.6",
                 "driver 560.35 (CUDA 12.6)"):
        assert part in gpus
    assert "CPU · GPU unused" in dialog.now.text() and "this Python environment" in dialog.now.text()
    assert dialog.headline.text() == CPU_WHILE_GPU.headline and dialog.headline.property("warning")
    assert dialog.advice.text() == CPU_WHILE_GPU.detail
    assert not dialog.isModal()


def test_install_advice_offers_the_runtime_and_wheel_files(fakes: BackendFakes, window: MainWindow,
                                                           qtbot: QtBot) -> None:
    dialog = _open(qtbot, window)
    installer = dialog.installer
    assert installer.isVisible() and not dialog.pip_row.isVisible()
    assert installer.install_button.text().startswith("Install CUDA") and installer.install_button.isEnabled()
    assert installer.wheel_button.isEnabled() and not installer.bar.isVisible()


def test_pip_advice_shows_a_command_to_copy(fakes: BackendFakes, window: MainWindow, qtbot: QtBot) -> None:
    fakes.advice = PIP_ADVICE
    dialog = _open(qtbot, window)
    assert dialog.pip_row.isVisible() and not dialog.installer.isVisible()
    command = dialog.pip_command.text()
    assert "pip install" in command and "torch==" in command and "cu128" in command
    assert dialog.pip_command.isReadOnly()
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == command and dialog.copy_button.text() == "Copied"
    qtbot.waitUntil(lambda: dialog.copy_button.text() == "Copy", timeout=TIMEOUT_MS)


def test_nothing_to_do_shows_no_action_except_in_the_packaged_app(
        fakes: BackendFakes, window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    fakes.machine, fakes.advice = PLAIN_PC, FINE
    dialog = _open(qtbot, window)
    assert not dialog.installer.isVisible() and not dialog.pip_row.isVisible()
    assert "No GPU found" in dialog.gpus.text()
    monkeypatch.setattr(backend_dialog, "is_frozen", lambda: True)
    dialog.refresh()
    assert dialog.installer.isVisible() and dialog.installer.install_button.text().startswith("Install CPU")


def test_install_shows_progress_and_can_be_cancelled(fakes: BackendFakes, window: MainWindow, qtbot: QtBot,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeInstaller(_result())
    monkeypatch.setattr(torch_runtime, "install_runtime", fake)
    panel = _open(qtbot, window).installer
    panel.install_button.click()
    qtbot.waitUntil(lambda: panel.bar.format() == "512 MiB of 2.0 GiB", timeout=TIMEOUT_MS)
    assert panel.step.text() == "Downloading torch" and panel.bar.value() == 250
    assert fake.calls[0]["variant"] is None and fake.calls[0]["hardware"] is fakes.machine
    assert panel.bar.isVisible() and panel.cancel_button.isVisible() and not panel.install_button.isEnabled()
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.running, timeout=TIMEOUT_MS)
    assert "cancelled" in panel.status.text() and not panel.bar.isVisible()
    assert panel.install_button.isEnabled()


def test_a_failed_install_is_shown_as_an_error(fakes: BackendFakes, window: MainWindow, qtbot: QtBot,
                                               dialogs: Dialogs, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeInstaller(PackageIndexError("The PyTorch download site could not be reached."))
    fake.go.set()
    monkeypatch.setattr(torch_runtime, "install_runtime", fake)
    panel = _open(qtbot, window).installer
    panel.install_button.click()
    qtbot.waitUntil(lambda: panel.notice_bar.notice is not None, timeout=TIMEOUT_MS)
    assert panel.notice_bar.message.text() == "The PyTorch download site could not be reached."
    assert panel.notice_bar.isVisibleTo(panel) and dialogs.messages == []  # inline, not modal
    assert "not changed" in panel.status.text() and not panel.running


def test_a_runtime_installed_before_torch_loaded_is_ready_at_once(
        fakes: BackendFakes, window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeInstaller(_result())
    fake.go.set()
    activated: list[bool] = []
    monkeypatch.setattr(torch_runtime, "install_runtime", fake)
    monkeypatch.setattr(torch_runtime, "activate", lambda: activated.append(True))
    monkeypatch.setattr(type(window.backend), "restart_needed", property(lambda _self: False))
    panel = _open(qtbot, window).installer
    panel.install_button.click()
    qtbot.waitUntil(lambda: "ready" in panel.status.text(), timeout=TIMEOUT_MS)
    assert activated == [True] and not panel.restart_button.isVisible()


def test_wheel_files_install_and_then_ask_for_a_restart(
        fakes: BackendFakes, window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    fake = FakeInstaller(_result())
    fake.go.set()
    monkeypatch.setattr(torch_runtime, "install_runtime", fake)
    monkeypatch.setattr(torch_runtime, "activate", lambda: fakes.active)
    wheel = tmp_path / "torch-2.13.0+cu128-cp311-cp311-linux_x86_64.whl"
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(wheel)], ""))
    started: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(QProcess, "startDetached",
                        lambda program, args: started.append((program, args)) or True)
    monkeypatch.setattr(type(window.backend), "restart_needed", property(lambda _self: True))
    panel = _open(qtbot, window).installer
    panel.wheel_button.click()
    qtbot.waitUntil(lambda: panel.restart_button.isVisible(), timeout=TIMEOUT_MS)
    assert fake.calls[0]["wheels"] == (wheel,) and fake.calls[0]["variant"] is None
    assert "Restart Sfumato" in panel.status.text()
    panel.restart_button.click()
    assert started == [runtime_install.relaunch_command()] and not window.isVisible()


def test_the_first_run_wizard_starts_with_pytorch_when_there_is_none(
        fakes: BackendFakes, window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    fakes.active, fakes.advice = NO_RUNTIME, NO_RUNTIME_ADVICE
    window.backend.probe()
    qtbot.waitUntil(lambda: window.backend.advice is not None, timeout=TIMEOUT_MS)
    services = window.model_services(lambda: offline_manager(tmp_path / "cache", CPU_16GB))
    services.offer_first_run()
    qtbot.waitUntil(lambda: services.wizard is not None and services.wizard.isVisible(), timeout=10_000)
    wizard = services.wizard
    assert wizard is not None and wizard.runtime_button is not None
    wizard.runtime_button.click()
    dialog = window.findChild(BackendDialog, "backendDialog")
    assert dialog is not None and dialog.isVisible() and dialog.installer.isVisible()
    wizard.skip_button.click()
