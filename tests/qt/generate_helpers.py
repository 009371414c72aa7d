"""Fixtures and helpers for the Generate tests: tiny models, a CPU engine, a window wired to it.

Test modules import the ``*_fixture`` functions; pytest knows them by their ``name``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot, SignalBlocker
from qt_helpers import show_document, widget_pos

from sfumato.document.document import Document
from sfumato.ui.generate.controller import GenerationController
from sfumato.ui.main_window import MainWindow

JOB_TIMEOUT_MS = 60_000


@pytest.fixture(scope="session", name="tiny_sd")
def tiny_sd_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight SD 1.5 diffusers folder (64² native)."""
    from sfumato.inference.tiny_models import build_sd15

    return build_sd15(tmp_path_factory.mktemp("models") / "tiny-sd15")


@pytest.fixture(scope="session", name="broken_sd")
def broken_sd_fixture(tiny_sd: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny model whose UNet weights were cut short (an interrupted download)."""
    folder = tmp_path_factory.mktemp("broken") / "broken-sd15"
    shutil.copytree(tiny_sd, folder)
    weights = next((folder / "unet").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:200])
    return folder


@pytest.fixture(scope="session", name="cpu_engine")
def cpu_engine_fixture() -> object:
    """One CPU engine shared by every window (each test's inference thread uses it in turn)."""
    import torch

    from sfumato.inference import Engine, profile_for

    torch.set_num_threads(1)
    return Engine(profile_for("cpu"))


@pytest.fixture(name="gen")
def gen_fixture(window: MainWindow, cpu_engine: object, tiny_sd: Path) -> Iterator[GenerationController]:
    """The window's generation controller on the shared CPU engine, with the tiny model chosen,
    2 steps, a fixed seed and a 64×64 working size."""
    controller = window.generation
    controller.service.configure(lambda: cpu_engine, torch_threads=1)
    panel = controller.panel
    panel.use_model_path(tiny_sd)
    panel.steps.setValue(2)
    panel.seed.setValue(1234)
    panel.seed_lock.setChecked(True)
    panel.auto_size.setChecked(False)
    panel.width_box.setValue(64)
    panel.height_box.setValue(64)
    panel.prompt.setPlainText("a red apple")
    yield controller
    controller.service.shutdown()


def open_document(win: MainWindow, doc: Document) -> Document:
    """Show ``doc`` fitted and composited."""
    return show_document(win, doc)


def drag(win: MainWindow, points: list[tuple[float, float]]) -> None:
    """A left-button drag through document points."""
    view = win.canvas
    QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     widget_pos(view, *points[0]))
    for x, y in points[1:]:
        QTest.mouseMove(view, widget_pos(view, x, y))
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       widget_pos(view, *points[-1]))


def gradient(width: int, height: int) -> np.ndarray:
    """An opaque RGBA picture with structure (so img2img has something to keep)."""
    y, x = np.mgrid[0:height, 0:width]
    rgba = np.stack([x * 4 % 256, y * 4 % 256, (x + y) * 2 % 256, np.full_like(x, 255)], axis=2)
    return rgba.astype(np.uint8)


def wait_finished(qtbot: QtBot, controller: GenerationController) -> None:
    """Wait until the running job ends (finished, failed or cancelled) and the controller has
    handled its end."""
    qtbot.waitUntil(lambda: not controller.busy, timeout=JOB_TIMEOUT_MS)


@contextmanager
def job_end(qtbot: QtBot, controller: GenerationController, signal: SignalInstance,
            timeout: int = JOB_TIMEOUT_MS) -> Iterator[SignalBlocker]:
    """Wait for ``signal`` (the service's ``finished``, ``failed`` or ``cancelled``: its
    arguments are the blocker's ``args``), then for the controller to have handled that end
    (``reported``, from the coroutine that awaits the job)."""
    with (qtbot.waitSignal(controller.reported, timeout=timeout),
          qtbot.waitSignal(signal, timeout=timeout) as blocker):
        yield blocker
