"""Tiny random-weight models of every family, built once per session, and a CPU engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sfumato.inference import Engine, profile_for
from sfumato.inference.tiny_models import build_all

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Folder of each tiny model by name (``sd15``, ``sdxl``, ``flux-fill`` …)."""
    return build_all(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def engine() -> Engine:
    """One CPU engine shared by the tests (it switches models as requests ask)."""
    return Engine(profile_for("cpu"))


@pytest.fixture
def source() -> np.ndarray:
    """A 72×88 RGB test image with structure (not noise), so crops are recognisable."""
    y, x = np.mgrid[0:72, 0:88]
    return np.stack([x * 2, y * 3, (x + y) % 256], axis=2).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_single_file(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny SD 1.5 as one original-layout .safetensors file, with its ``.config`` folder."""
    from sfumato.inference.tiny_models import export_single_file

    file = tmp_path_factory.mktemp("single") / "tiny-sd15.safetensors"
    return export_single_file(tiny_models["sd15"], file)
