"""``sfumato runtime …``: exit codes, one-line errors, and what status/install/remove print."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from fake_index import serve_index
from fake_wheels import fake_dep, fake_torch

from sfumato.__main__ import main
from sfumato.torch_runtime.layout import current_name, runtime_root


@pytest.fixture(autouse=True)
def _no_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hardware probe reads a CPU-only profile."""
    profile = tmp_path / "hardware.json"
    profile.write_text(json.dumps({"cpu_cores": 2, "ram_total": 8 * 1024**3, "system": "Linux"}))
    monkeypatch.setenv("SFUMATO_HARDWARE_PROFILE", str(profile))


def test_install_from_wheel_files_then_status_check_and_remove(
    wheel_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = fake_torch(wheel_dir, "2.13.0+cu128", ["nvidia-foo==1.0"])
    dep = fake_dep(wheel_dir, "nvidia-foo", "1.0")
    assert main(["runtime", "install", "--wheel", str(torch), "--wheel", str(dep)]) == 0
    out = capsys.readouterr().out
    assert "torch-2.13.0-cu128: torch 2.13.0+cu128 installed" in out and "device: cpu" in out

    assert main(["runtime", "status"]) == 0
    out = capsys.readouterr().out
    assert "torch-2.13.0-cu128: torch 2.13.0+cu128, cuda (current)" in out

    monkeypatch.setenv("SFUMATO_USE_RUNTIME", "1")
    assert main(["runtime", "check"]) == 0
    assert f"torch 2.13.0+cu128 from {runtime_root()}" in capsys.readouterr().out

    assert main(["runtime", "remove", "torch-2.13.0-cu128"]) == 0
    assert current_name() is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["runtime", "install", "--wheel", "missing-1.0-py3-none-any.whl"], "cannot be read"),
        (["runtime", "remove", "nothing-here"], "No runtime called 'nothing-here'"),
        (["runtime", "install", "--variant", "cu999", "--wheel", "x.whl"], "not a wheel"),
    ],
)
def test_errors_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_a_missing_dependency_is_one_line_too(wheel_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch = fake_torch(wheel_dir, "2.13.0+cu128", ["nvidia-foo==1.0", "nvidia-bar==2.0"])
    assert main(["runtime", "install", "--wheel", str(torch)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nvidia-bar==2.0" in err and "nvidia-foo==1.0" in err


def test_status_names_the_variant_and_the_advice(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runtime", "status"]) == 0
    out = capsys.readouterr().out
    assert "variant for this machine: cpu — No supported GPU found" in out
    assert "advice: " in out


def test_a_download_needs_yes_when_nobody_can_answer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["runtime", "install", "--variant", "cpu"]) == 2
    captured = capsys.readouterr()
    assert "CPU build, from https://download.pytorch.org/whl/cpu" in captured.out
    assert captured.err == "error: Downloading PyTorch (up to a few GB) needs confirmation: pass --yes.\n"


def test_install_downloads_from_an_index_with_yes(
    wheel_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_index() as index:
        index.add("cpu", fake_torch(wheel_dir, "2.13.0+cpu"))
        assert (
            main(["runtime", "install", "--variant", "cpu", "--index", index.index_url("cpu"), "--yes"]) == 0
        )
    out = capsys.readouterr().out
    assert "torch-2.13.0-cpu: torch 2.13.0+cpu installed" in out and "device: cpu" in out
