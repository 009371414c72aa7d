"""Activation: which torch the process will import, decided before anything imports it."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from fake_wheels import fake_dep, fake_torch

from sfumato.torch_runtime import activate, activation, active_runtime, install_runtime
from sfumato.torch_runtime.layout import current_install, runtime_root


@pytest.fixture
def installed(wheel_dir: Path) -> Path:
    """A fake torch 2.13.0+cu128 runtime, current; returns its site folder."""
    torch = fake_torch(wheel_dir, "2.13.0+cu128", ["nvidia-foo==1.0"])
    result = install_runtime(wheels=[torch, fake_dep(wheel_dir, "nvidia-foo", "1.0")], verify=False)
    return result.site_dir


@pytest.fixture
def no_torch_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide an imported torch from activate() for this test (restored afterwards)."""
    monkeypatch.delitem(sys.modules, "torch", raising=False)


def test_a_python_install_uses_the_environment_torch_unless_asked(
    installed: Path, no_torch_loaded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = list(sys.path)
    active = activate()
    assert active.source == "environment" and active.site_dir is None and sys.path == before
    assert active.torch_version is not None and active_runtime() is active

    monkeypatch.setenv("SFUMATO_USE_RUNTIME", "1")
    active = activate()
    assert active.source == "runtime" and active.variant == "cu128" and active.torch_version == "2.13.0+cu128"
    assert sys.path[0] == str(installed) == str(active.site_dir)
    assert activate() == active and sys.path.count(str(installed)) == 1  # idempotent


def test_the_frozen_app_uses_the_runtime(
    installed: Path, no_torch_loaded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert activate().source == "runtime" and sys.path[0] == str(installed)


def test_without_any_torch_the_source_is_none(no_torch_loaded: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(activation.importlib.util, "find_spec", lambda name: None)
    assert activate() == activation.ActiveRuntime("none")


def test_a_runtime_for_another_python_is_ignored(
    installed: Path, no_torch_loaded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = installed.parent / "runtime.json"
    record.write_text(record.read_text().replace('"python": "3.', '"python": "2.'))
    monkeypatch.setenv("SFUMATO_USE_RUNTIME", "1")
    assert current_install() is None and activate().source == "environment"


def test_an_already_imported_torch_leaves_sys_path_alone(
    installed: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_torch = types.ModuleType("torch")
    env_torch.__file__ = str(tmp_path / "env-site" / "torch" / "__init__.py")
    monkeypatch.setitem(sys.modules, "torch", env_torch)
    monkeypatch.setenv("SFUMATO_USE_RUNTIME", "1")
    before = list(sys.path)
    active = activate()
    assert sys.path == before
    assert active.source == "environment" and active.torch_preloaded and active.restart_needed

    runtime_torch = types.ModuleType("torch")
    runtime_torch.__file__ = str(installed / "torch" / "__init__.py")
    monkeypatch.setitem(sys.modules, "torch", runtime_torch)
    active = activate()
    assert active.source == "runtime" and active.site_dir == installed and not active.restart_needed


def test_a_new_install_swaps_the_site_while_torch_is_not_imported(
    installed: Path, wheel_dir: Path, no_torch_loaded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SFUMATO_USE_RUNTIME", "1")
    assert activate().site_dir == installed
    newer = install_runtime(wheels=[fake_torch(wheel_dir / "new", "2.13.0+cpu")], verify=False)
    active = activate()
    assert active.variant == "cpu" and sys.path[0] == str(newer.site_dir) and str(installed) not in sys.path


class _FakeDllDirectory:
    """What os.add_dll_directory returns: closing it removes the folder from the search."""

    def __init__(self, path: str, added: list[str]) -> None:
        self.path, self.added = path, added
        added.append(path)

    def close(self) -> None:
        self.added.remove(self.path)


def test_windows_gets_the_dll_folders_once_and_loses_them_with_the_runtime(
    installed: Path, wheel_dir: Path, no_torch_loaded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for folder in ("torch/lib", "nvidia/cublas/bin", "nvidia/cudnn/bin", "nvidia/cudnn/include"):
        (installed / folder).mkdir(parents=True, exist_ok=True)
    added: list[str] = []
    monkeypatch.setattr(activation, "_add_dll_directory", lambda path: _FakeDllDirectory(path, added))
    monkeypatch.setattr(activation, "_dll_handles", {})
    monkeypatch.setenv("SFUMATO_USE_RUNTIME", "1")
    activate()
    activate()
    assert added == [
        str(installed / "torch/lib"),
        str(installed / "nvidia/cublas/bin"),
        str(installed / "nvidia/cudnn/bin"),
    ]
    newer = install_runtime(wheels=[fake_torch(wheel_dir / "new", "2.13.0+cpu")], verify=False)
    (newer.site_dir / "torch" / "lib").mkdir()
    activate()
    assert added == [str(newer.site_dir / "torch" / "lib")]


def test_the_launcher_puts_the_runtime_before_the_environment(installed: Path) -> None:
    """A fresh process: ``import torch`` after activate() loads the runtime's torch, not the venv's."""
    code = (
        "import sys; from sfumato.torch_runtime import activate; a = activate(); "
        "assert 'torch' not in sys.modules, 'activation imported torch'; "
        "import torch; print(a.source, torch.__version__, torch.__file__)"
    )
    env = {**os.environ, "SFUMATO_USE_RUNTIME": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    source, version, path = out.split()
    assert (source, version) == ("runtime", "2.13.0+cu128") and Path(path).is_relative_to(installed)


def test_importing_the_package_and_activating_imports_neither_torch_nor_the_hub() -> None:
    code = (
        "import sys; import sfumato.torch_runtime as r; r.activate(); "
        "print(sorted(m for m in ('torch', 'huggingface_hub', 'transformers', 'diffusers', 'httpx2') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert runtime_root().name == "runtime"


def test_an_installed_runtime_comes_with_its_bytecode(installed: Path) -> None:
    """Compiled at install time (no child process ran here), so the first start imports, not compiles."""
    cached = list((installed / "torch" / "__pycache__").glob("__init__.cpython-*.pyc"))
    assert len(cached) == 1
