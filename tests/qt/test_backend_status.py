"""The status-bar backend field: what is installed before a job, the real device after the
engine's probe, a warning when the CPU runs while a GPU is present, and no runtime at all."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from backend_helpers import (
    CPU_ENVIRONMENT,
    CPU_WHILE_GPU,
    CUDA_RUNTIME,
    FINE,
    NO_RUNTIME,
    NO_RUNTIME_ADVICE,
    PLAIN_PC,
    BackendFakes,
)
from generate_helpers import JOB_TIMEOUT_MS, job_end, tiny_sd_fixture  # noqa: F401  (a fixture)
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from sfumato.inference.device import plan_family, profile_for
from sfumato.qt_bridge.inference_thread import NO_RUNTIME_MESSAGE
from sfumato.ui.backend.dialog import BackendDialog
from sfumato.ui.backend.monitor import NO_RUNTIME_TEXT, describe_backend
from sfumato.ui.main_window import MainWindow

RTX = profile_for("cuda", "NVIDIA GeForce RTX 3060", (8, 6), 12 * 2**30)
CPU = profile_for("cpu")
AMX_CPU = profile_for("cpu", ram_bytes=16 * 2**30, cpu_bfloat16=True)


@pytest.mark.parametrize(
    ("active", "device", "advice", "text", "warning"),
    [
        (CUDA_RUNTIME, None, FINE, "CUDA runtime ready", False),
        (CPU_ENVIRONMENT, None, FINE, "CPU", False),
        (NO_RUNTIME, None, NO_RUNTIME_ADVICE, NO_RUNTIME_TEXT, True),
        (CPU_ENVIRONMENT, None, CPU_WHILE_GPU, "CPU · GPU unused", True),
        (CUDA_RUNTIME, RTX, FINE, "CUDA · NVIDIA GeForce RTX 3060 · bfloat16", False),
        (CPU_ENVIRONMENT, CPU, FINE, "CPU · float32", False),
        (CPU_ENVIRONMENT, CPU, CPU_WHILE_GPU, "CPU · float32 · GPU unused", True),
        (CPU_ENVIRONMENT, AMX_CPU, FINE, "CPU · bfloat16", False),
    ],
)
def test_labels(active: object, device: object, advice: object, text: str, warning: bool) -> None:
    label = describe_backend(active, device, advice)  # type: ignore[arg-type]
    assert (label.text, label.warning) == (text, warning)
    if advice is not None:
        assert label.tooltip.startswith(advice.headline)  # type: ignore[attr-defined]


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> BackendFakes:
    """Probes that answer "CPU torch on a PC with an RTX 3060" (listed before ``window``)."""
    return BackendFakes().install(monkeypatch)


def _probed(qtbot: QtBot, window: MainWindow) -> None:
    window.backend.probe()
    qtbot.waitUntil(lambda: window.backend.advice is not None, timeout=5000)


def test_the_field_warns_about_the_cpu_and_opens_the_dialog(fakes: BackendFakes, window: MainWindow,
                                                            qtbot: QtBot) -> None:
    field = window.backend_field
    _probed(qtbot, window)
    assert field.isVisible() and field.text() == "CPU · GPU unused" and field.warning
    assert CPU_WHILE_GPU.headline in field.toolTip()
    qtbot.mouseClick(field, Qt.MouseButton.LeftButton)
    dialog = window.findChild(BackendDialog, "backendDialog")
    assert dialog is not None and dialog.isVisible()


def test_the_engines_device_replaces_the_runtime(fakes: BackendFakes, window: MainWindow,
                                                 qtbot: QtBot) -> None:
    fakes.active, fakes.advice = CUDA_RUNTIME, FINE
    _probed(qtbot, window)
    assert window.backend_field.text() == "CUDA runtime ready" and not window.backend_field.warning
    window.generation.service.device_probed.emit(RTX)
    assert window.backend_field.text() == "CUDA · NVIDIA GeForce RTX 3060 · bfloat16"
    assert fakes.asked[-1] == "cuda"  # the advice is asked again, with the device's kind


def test_a_plain_pc_shows_the_cpu_without_warning(fakes: BackendFakes, window: MainWindow,
                                                  qtbot: QtBot) -> None:
    fakes.machine, fakes.advice = PLAIN_PC, FINE
    _probed(qtbot, window)
    assert window.backend_field.text() == "CPU" and not window.backend_field.warning


def test_generating_without_a_runtime_says_so_and_opens_the_dialog(
        fakes: BackendFakes, window: MainWindow, qtbot: QtBot, tiny_sd: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fakes.active, fakes.advice = NO_RUNTIME, NO_RUNTIME_ADVICE
    _probed(qtbot, window)
    assert window.backend_field.text() == NO_RUNTIME_TEXT and window.backend_field.warning
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch fails on the worker
    gen = window.generation
    gen.panel.use_model_path(tiny_sd)
    with job_end(qtbot, gen, gen.service.failed, 10_000):
        gen.generate()
    qtbot.waitUntil(lambda: window.findChild(BackendDialog, "backendDialog") is not None, timeout=5000)
    assert gen.progress.notice_bar.message.text() == NO_RUNTIME_MESSAGE
    assert window.findChild(BackendDialog, "backendDialog").isVisible()
    gen.service.shutdown()


def test_the_field_names_the_dtype_the_loaded_model_runs_in() -> None:
    forced = plan_family(AMX_CPU, "sd15", force_float32=True)
    label = describe_backend(CPU_ENVIRONMENT, AMX_CPU, FINE, plan=forced)
    assert label.text == "CPU · float32"  # not the device's best dtype
    assert "The loaded model runs in float32." in label.tooltip
    cuda = describe_backend(CUDA_RUNTIME, RTX, FINE, plan=plan_family(RTX, "sd15"))
    assert cuda.text == "CUDA · NVIDIA GeForce RTX 3060 · float16"
    assert "float16, VAE float32" in cuda.tooltip


def test_a_job_shows_the_models_dtype_and_the_float32_setting_changes_it(
        fakes: BackendFakes, window: MainWindow, qtbot: QtBot, tiny_sd: Path) -> None:
    from sfumato.inference import Engine

    fakes.machine, fakes.advice = PLAIN_PC, FINE
    engine = Engine(AMX_CPU)
    gen = window.generation
    gen.service.configure(lambda: engine, torch_threads=1)
    gen.panel.use_model_path(tiny_sd)
    gen.panel.steps.setValue(1)
    gen.panel.auto_size.setChecked(False)
    gen.panel.width_box.setValue(64)
    gen.panel.height_box.setValue(64)
    with qtbot.waitSignal(gen.service.run_plan_changed, timeout=JOB_TIMEOUT_MS):
        gen.generate()
    qtbot.waitUntil(lambda: not gen.busy, timeout=JOB_TIMEOUT_MS)
    assert window.backend_field.text() == "CPU · bfloat16"
    assert engine.run_plan is not None and engine.run_plan.dtype == "bfloat16"

    toggle = window.menu_actions.by_name["force_float32"]
    assert toggle.isCheckable() and not toggle.isChecked()
    toggle.trigger()
    assert window.settings.force_float32 is True
    with qtbot.waitSignal(gen.service.run_plan_changed, timeout=JOB_TIMEOUT_MS):
        gen.generate()
    qtbot.waitUntil(lambda: not gen.busy, timeout=JOB_TIMEOUT_MS)
    assert window.backend_field.text() == "CPU · float32"
    assert (engine.run_plan.dtype, engine.run_plan.vae_dtype) == ("float32", "float32")
    gen.service.shutdown()
