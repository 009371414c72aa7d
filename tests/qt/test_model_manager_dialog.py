"""Models › Model Manager: fit badges for a faked machine, installs with progress against the fake
hub on 127.0.0.1, cancel and resume, server errors, remove, verify/repair, gated tokens, imports."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from model_helpers import (
    CPU_16GB,
    GPU_12GB,
    TOKEN,
    UNET16,
    FakeHub,
    Fault,
    hub_manager,
    offline_manager,
    running_hub,
    write_catalog,
)
from PySide6.QtWidgets import QFileDialog, QMessageBox
from pytestqt.qtbot import QtBot
from qt_helpers import Dialogs

from sfumato.model_store import DownloadProgress, ModelManager
from sfumato.qt_bridge.model_tasks import ModelTasks
from sfumato.ui.main_window import MainWindow
from sfumato.ui.models.manager_dialog import (
    COL_FIT,
    COL_LICENCE,
    COL_RUNS,
    COL_SIZE,
    COL_STATUS,
    ModelManagerDialog,
)

TIMEOUT = 10_000


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with running_hub(monkeypatch) as fake:
        yield fake


@pytest.fixture
def manager(hub: FakeHub, tmp_path: Path) -> ModelManager:
    return hub_manager(hub, write_catalog(tmp_path / "catalog"), tmp_path / "cache")


def open_dialog(qtbot: QtBot, manager: ModelManager) -> ModelManagerDialog:
    tasks = ModelTasks(manager)
    dialog = ModelManagerDialog(tasks)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.state is not None and not tasks.running(), timeout=TIMEOUT)
    return dialog


@pytest.fixture
def dialog(qtbot: QtBot, manager: ModelManager, dialogs: Dialogs) -> Iterator[ModelManagerDialog]:
    opened = open_dialog(qtbot, manager)
    yield opened
    opened.tasks.shutdown()


def cell(dialog: ModelManagerDialog, key: str, col: int) -> str:
    i = next(i for i, r in enumerate(dialog.rows) if r.key == key)
    item = dialog.table.item(i, col)
    return item.text() if item is not None else ""


def done(qtbot: QtBot, dialog: ModelManagerDialog, signal: object, key: str) -> object:
    """Wait for ``signal`` about task ``key`` (the dialog's own reloads report too), then for the
    dialog to have posted its outcome (awaited in a coroutine on the qasync loop)."""
    def about_key(k: str, *_: object) -> bool:
        return k == key

    return qtbot.waitSignals([signal, dialog.reported], timeout=TIMEOUT, order="simple",
                             check_params_cbs=[about_key, about_key])


def install(qtbot: QtBot, dialog: ModelManagerDialog, key: str) -> list[DownloadProgress]:
    seen: list[DownloadProgress] = []
    dialog.tasks.progress.connect(lambda k, p: seen.append(p) if k == key else None)
    dialog.select(key)
    with done(qtbot, dialog, dialog.tasks.finished, key):
        dialog.buttons["install"].click()
    qtbot.waitUntil(lambda: "Installed" in cell(dialog, key, COL_STATUS), timeout=TIMEOUT)
    return seen


# ------------------------------------------------------------------- badges
@pytest.mark.parametrize(("profile", "expected", "runs"), [
    (GPU_12GB, {"sd15": "Fits", "sd35-medium": "Fits with offload", "flux-dev": "Won't fit"},
     {"sd15": "fp16 · float16, VAE float32 · full", "sd35-medium": "bf16 · bfloat16 · model offload"}),
    (CPU_16GB, {"sd15": "Fits", "sdxl-base": "Won't fit", "flux-schnell": "Won't fit"},
     {"sd15": "fp16 · float32 · full", "flux-schnell": "bf16 · float32 · full"}),
])
def test_the_catalog_is_listed_with_fit_badges_for_this_machine(
    qtbot: QtBot, dialogs: Dialogs, tmp_path: Path, profile: object, expected: dict[str, str],
    runs: dict[str, str],
) -> None:
    dialog = open_dialog(qtbot, offline_manager(tmp_path / "cache", profile))  # type: ignore[arg-type]
    assert [r.key for r in dialog.rows] == [m.id for m in dialog.state.catalog.models]  # type: ignore[union-attr]
    for model_id, badge in expected.items():
        assert cell(dialog, model_id, COL_FIT) == badge
    for model_id, text in runs.items():  # the planner's words: what the engine will run
        assert cell(dialog, model_id, COL_RUNS) == text
    for model_id, plan in dialog.state.plans.items():  # type: ignore[union-attr]
        assert cell(dialog, model_id, COL_RUNS) == plan.summary()
    i = next(i for i, r in enumerate(dialog.rows) if r.key == "flux-dev")
    tip = dialog.table.item(i, COL_FIT).toolTip()
    assert tip.startswith("Won't fit: needs ~") and ("VRAM" in tip or "RAM" in tip)
    assert cell(dialog, "flux-dev", COL_LICENCE).startswith("Gated · ")
    assert "Gated" not in cell(dialog, "sd15", COL_LICENCE)
    assert cell(dialog, "sd15", COL_SIZE).startswith("≈ ")  # from the parameter count, offline
    assert cell(dialog, "sd15", COL_STATUS) == "Not installed"
    summary = dialog.summary.text()
    if profile is GPU_12GB:
        assert "RTX 3060" in summary and "12.0 GiB VRAM" in summary and "gpu-12gb" in summary
    else:
        assert "No GPU found" in summary and "tier <b>cpu</b>" in summary
    assert dialogs.messages == []


def test_the_menu_entry_opens_the_dialog(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    services = window.model_services(lambda: offline_manager(tmp_path / "cache", CPU_16GB))
    window.menu_actions.by_name["model_manager"].trigger()
    assert services.dialog is not None and services.dialog.isVisible()
    qtbot.waitUntil(lambda: services.dialog is not None and services.dialog.state is not None)
    window.menu_actions.by_name["model_manager"].trigger()  # a second time raises the same one
    assert window.findChildren(ModelManagerDialog) == [services.dialog]
    services.dialog.close()


def test_the_window_hears_when_models_change(
    window: MainWindow, qtbot: QtBot, manager: ModelManager, dialogs: Dialogs
) -> None:
    services = window.model_services(lambda: manager)
    dialog = services.show_manager()
    qtbot.waitUntil(lambda: dialog.state is not None and not services.tasks.running(), timeout=TIMEOUT)
    changes: list[bool] = []
    services.models_changed.connect(lambda: changes.append(True))
    services.tasks.verify("nothing", "tiny-sd")  # fails: not installed, nothing changed
    qtbot.waitUntil(lambda: not services.tasks.running(), timeout=TIMEOUT)
    assert changes == []
    with qtbot.waitSignal(services.models_changed, timeout=TIMEOUT):
        install(qtbot, dialog, "tiny-sd")
    services.shutdown()
    dialog.close()


# ------------------------------------------------------------------ install
def test_install_shows_progress_until_installed(
    qtbot: QtBot, dialog: ModelManagerDialog, hub: FakeHub
) -> None:
    assert cell(dialog, "tiny-sd", COL_SIZE) == "2.2 MiB"  # the hub's size for the fp16 variant
    hub.chunk_delay, hub.chunk_size = 0.01, 32 * 1024
    shown: list[str] = []
    dialog.tasks.progress.connect(lambda k, _p: shown.append(dialog.bars[k].format()))
    seen = install(qtbot, dialog, "tiny-sd")
    assert seen and seen[-1].finished and seen[-1].bytes_done == seen[-1].bytes_total > 2_000_000
    assert any(p.rate > 0 and p.eta is not None for p in seen[:-1])
    assert any(re.fullmatch(r"[\d.]+ (KiB|MiB) of 2.2 MiB · [\d.]+ (KiB|MiB)/s · \d+:\d\d left", t)
               for t in shown), shown
    assert cell(dialog, "tiny-sd", COL_STATUS) == "Installed (fp16)"
    assert dialog.tasks.manager.resolve("tiny-sd").path.is_dir()
    assert "Installed" in dialog.status.text()
    dialog.select("tiny-sd")
    assert not dialog.buttons["install"].isEnabled() and dialog.buttons["remove"].isEnabled()


def test_cancel_mid_download_installs_nothing_and_the_next_install_resumes(
    qtbot: QtBot, dialog: ModelManagerDialog, hub: FakeHub
) -> None:
    hub.chunk_delay, hub.chunk_size = 0.03, 16 * 1024
    tasks = dialog.tasks
    dialog.select("tiny-sd")
    with qtbot.waitSignal(tasks.progress, timeout=TIMEOUT,
                          check_params_cb=lambda _k, p: p.bytes_done > 100_000):
        dialog.buttons["install"].click()
    assert dialog.buttons["cancel"].isEnabled()
    with done(qtbot, dialog, tasks.cancelled, "tiny-sd"):
        dialog.buttons["cancel"].click()
    assert "cancelled" in dialog.status.text()
    manager = tasks.manager
    assert manager.installed() == []
    assert manager.cache.staged_bytes() > 0
    qtbot.waitUntil(lambda: not tasks.running())
    assert cell(dialog, "tiny-sd", COL_STATUS) == "Not installed"

    hub.chunk_delay = 0.0
    seen = install(qtbot, dialog, "tiny-sd")
    assert max(p.bytes_resumed for p in seen) > 0
    ranges = [r for r in hub.ranges("fp16.safetensors") if r]
    assert ranges, "the second attempt asked for the missing bytes only"
    assert [m.key for m in manager.installed()] == ["tiny-sd@fp16"]


def test_a_server_error_shows_a_short_message(
    qtbot: QtBot, dialog: ModelManagerDialog, hub: FakeHub, dialogs: Dialogs
) -> None:
    hub.faults[UNET16] = Fault(status=500)
    dialog.select("tiny-sd")
    with done(qtbot, dialog, dialog.tasks.failed, "tiny-sd"):
        dialog.buttons["install"].click()
    assert dialogs.messages == [] and dialog.notice_bar.isVisibleTo(dialog)  # said inline, not modal
    message = dialog.notice_bar.message.text()
    assert "server had an error (500)" in message and "try again" in message
    assert "Traceback" not in message and len(message) < 200
    assert dialog.tasks.manager.installed() == []
    assert "failed" in dialog.status.text()
    qtbot.waitUntil(lambda: dialog.buttons["install"].isEnabled())


# ----------------------------------------------------- remove, verify, repair
def test_remove_asks_first_then_deletes(qtbot: QtBot, dialog: ModelManagerDialog, dialogs: Dialogs) -> None:
    install(qtbot, dialog, "tiny-sd")
    path = dialog.tasks.manager.resolve("tiny-sd").path
    dialogs.question_answer = QMessageBox.StandardButton.No
    dialog.buttons["remove"].click()
    assert "Delete tiny-sd" in dialogs.messages[-1]
    assert not dialog.tasks.is_running("tiny-sd") and path.is_dir()

    dialogs.question_answer = QMessageBox.StandardButton.Yes
    with done(qtbot, dialog, dialog.tasks.finished, "tiny-sd"):
        dialog.buttons["remove"].click()
    qtbot.waitUntil(lambda: cell(dialog, "tiny-sd", COL_STATUS) == "Not installed", timeout=TIMEOUT)
    assert dialog.tasks.manager.installed() == [] and not path.exists()
    assert "Removed tiny-sd" in dialog.status.text()


def test_verify_finds_a_damaged_file_and_repair_fixes_it(
    qtbot: QtBot, dialog: ModelManagerDialog, dialogs: Dialogs
) -> None:
    install(qtbot, dialog, "tiny-sd")
    with done(qtbot, dialog, dialog.tasks.finished, "tiny-sd"):
        dialog.buttons["verify"].click()
    assert "every file matches" in dialog.status.text() and dialog.notice_bar.notice is None

    damaged = dialog.tasks.manager.resolve("tiny-sd").path / UNET16
    damaged.write_bytes(b"\0" * damaged.stat().st_size)
    dialog.select("tiny-sd")
    with done(qtbot, dialog, dialog.tasks.finished, "tiny-sd"):
        dialog.buttons["verify"].click()
    notice = dialog.notice_bar.notice
    assert notice is not None and "damaged or missing" in notice.message and UNET16 in notice.details
    dialog.notice_bar.details_button.click()  # the details on demand
    assert UNET16 in dialogs.details[-1]

    dialog.select("tiny-sd")
    with done(qtbot, dialog, dialog.tasks.finished, "tiny-sd"):
        dialog.buttons["repair"].click()
    assert "Repaired tiny-sd" in dialog.status.text()
    assert dialog.tasks.manager.verify("tiny-sd@fp16")[0].ok


# -------------------------------------------------------------------- gated
def test_a_gated_model_asks_for_a_token_with_the_licence_link(
    qtbot: QtBot, dialog: ModelManagerDialog, hub: FakeHub, dialogs: Dialogs
) -> None:
    answers: list[str | None] = [None, "hf_wrong", TOKEN]
    asked: list[str] = []

    def ask(_parent: object, _model: object, page: str) -> str | None:
        asked.append(page)
        return answers.pop(0)

    dialog.ask_token = ask  # type: ignore[assignment]
    dialog.select("tiny-gated")
    dialog.buttons["install"].click()  # the person cancels the prompt: nothing starts
    assert asked == [f"{hub.url}/fake/gated"] and not dialog.tasks.running()

    with done(qtbot, dialog, dialog.tasks.failed, "tiny-gated"):
        dialog.buttons["install"].click()  # a token without access to the repo
    message = dialog.notice_bar.message.text()
    assert "no access yet" in message and f"{hub.url}/fake/gated" in message

    before = len(hub.requests)
    install(qtbot, dialog, "tiny-gated")  # asked again, now with a good token
    assert len(asked) == 3
    resolves = [r for r in hub.requests[before:] if "/fake/gated/resolve/" in r.path]
    assert resolves and all(r.authorization == f"Bearer {TOKEN}" for r in resolves)


# ------------------------------------------------------------------- import
def test_importing_a_pickle_is_refused_with_the_reason(
    qtbot: QtBot, dialog: ModelManagerDialog, dialogs: Dialogs, tmp_path: Path
) -> None:
    pickle = tmp_path / "model.ckpt"
    pickle.write_bytes(b"\x80\x04not really")
    dialogs.file_answers.append(str(pickle))
    with done(qtbot, dialog, dialog.tasks.failed, "_import"):
        dialog.buttons["import_file"].click()
    message = dialog.notice_bar.message.text()
    assert "model.ckpt" in message and "safetensors" in message
    assert dialog.tasks.manager.installed() == []


def test_importing_a_checkpoint_folder_lists_what_it_found(
    qtbot: QtBot, dialog: ModelManagerDialog, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from store_helpers import SD15_SHAPES, write_checkpoint

    folder = tmp_path / "webui"
    write_checkpoint(folder / "models" / "Stable-diffusion" / "dreamy.safetensors", SD15_SHAPES)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    with done(qtbot, dialog, dialog.tasks.finished, "_import"):
        dialog.buttons["import_folder"].click()
    assert "dreamy" in dialog.status.text() and "sd15" in dialog.status.text()
    qtbot.waitUntil(lambda: any(r.model is None for r in dialog.rows), timeout=TIMEOUT)
    row = next(r for r in dialog.rows if r.model is None)
    assert row.key == "external:models/Stable-diffusion/dreamy.safetensors"
    dialog.select(row.key)
    assert not dialog.buttons["remove"].isEnabled()  # it lives in the other app's folder
