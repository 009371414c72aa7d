"""Models › Compute in Float32 and Models › CPU Backend: the settings they keep, what the engine
is told before its next job, and the Model Manager's Runs column following the float32 setting."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from model_helpers import CPU_16GB, offline_manager
from pytestqt.qtbot import QtBot

from sfumato.cpu_backend import CpuBackend
from sfumato.ui.main_window import MainWindow
from sfumato.ui.models.manager_dialog import COL_RUNS

TIMEOUT = 10_000
AMX_16GB = dataclasses.replace(CPU_16GB, cpu_bfloat16=True)


def runs_cell(window: MainWindow, model_id: str) -> str:
    dialog = window.model_services().dialog
    assert dialog is not None
    row = next(i for i, r in enumerate(dialog.rows) if r.key == model_id)
    item = dialog.table.item(row, COL_RUNS)
    return item.text() if item is not None else ""


def test_the_cpu_backend_menu_is_one_choice_kept_in_the_settings_and_handed_to_the_engine(
        window: MainWindow) -> None:
    actions = window.menu_actions.by_name
    choices = {b: actions[f"cpu_backend_{b.value}"] for b in CpuBackend}
    assert [b for b, a in choices.items() if a.isChecked()] == [CpuBackend(window.settings.cpu_backend)]
    worker = window.generation.service._worker
    choices[CpuBackend.TORCH].trigger()
    assert window.settings.cpu_backend == "torch" and worker.cpu_backend == "torch"
    assert [b for b, a in choices.items() if a.isChecked()] == [CpuBackend.TORCH]  # exclusive
    choices[CpuBackend.AUTO].trigger()
    assert window.settings.cpu_backend == "auto" and worker.cpu_backend == "auto"
    assert not choices[CpuBackend.TORCH].isChecked()


def test_openvino_cannot_be_chosen_where_it_is_not_installed(
        monkeypatch: pytest.MonkeyPatch, qtbot: QtBot, tmp_path: Path) -> None:
    import sfumato.ui.main_window as main_window
    from sfumato.settings import Settings

    monkeypatch.setattr(main_window, "openvino_installed", lambda: False)
    win = MainWindow(Settings())
    qtbot.addWidget(win)
    action = win.menu_actions.by_name["cpu_backend_openvino"]
    assert not action.isEnabled() and action.text() == "&OpenVINO (not installed)"
    assert win.menu_actions.by_name["cpu_backend_torch"].isEnabled()
    win.generation.service.shutdown()


def test_the_runs_column_follows_the_float32_setting(
        window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    services = window.model_services(lambda: offline_manager(tmp_path / "cache", AMX_16GB))
    dialog = services.show_manager()
    qtbot.waitUntil(lambda: dialog.state is not None and not services.tasks.running(), timeout=TIMEOUT)
    before = runs_cell(window, "sd15")
    assert "bfloat16" in before  # an AMX CPU computes in bfloat16
    window.menu_actions.by_name["force_float32"].trigger()
    assert services.tasks.manager.force_float32 is True
    qtbot.waitUntil(lambda: "float32" in runs_cell(window, "sd15") and "bfloat16" not in runs_cell(
        window, "sd15"), timeout=TIMEOUT)
    plan = services.tasks.manager.plan("sd15")
    assert plan.dtype == "float32" and runs_cell(window, "sd15") == plan.summary()
    window.menu_actions.by_name["force_float32"].trigger()
    qtbot.waitUntil(lambda: runs_cell(window, "sd15") == before, timeout=TIMEOUT)
    dialog.close()
