"""Fixtures for torch runtime tests: a folder of fake wheels, and a clean activation state."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sfumato.torch_runtime import activation


@pytest.fixture
def wheel_dir(tmp_path: Path) -> Path:
    """Where a test writes its fake wheels."""
    return tmp_path / "wheels"


@pytest.fixture(autouse=True)
def fresh_activation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no activation done, its own ``sys.path``, and the runtime env unset."""
    monkeypatch.setattr(activation, "_last", None)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("SFUMATO_USE_RUNTIME", "SFUMATO_RUNTIME_SITE", "FAKE_TORCH_CUDA"):
        monkeypatch.delenv(name, raising=False)
    yield
