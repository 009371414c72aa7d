"""The launcher sends headless commands to the CLI and everything else to the window."""

from __future__ import annotations

import types

import pytest

from sfumato import __main__ as launcher


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    seen: list[tuple[str, list[str]]] = []
    monkeypatch.setattr("sfumato.cli.main", lambda argv: seen.append(("cli", list(argv))) or 0)
    fake_ui = types.ModuleType("sfumato.ui.app")
    fake_ui.run_app = lambda argv: seen.append(("gui", list(argv))) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "sfumato.ui.app", fake_ui)
    return seen


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        ([], "gui"),
        (["picture.ora"], "gui"),
        (["--verbose"], "gui"),
        (["--verbose", "picture.ora"], "gui"),
        (["generate", "--prompt", "x"], "cli"),
        (["--verbose", "models", "list"], "cli"),
        (["--help"], "cli"),
    ],
)
def test_dispatch(calls: list[tuple[str, list[str]]], argv: list[str], target: str) -> None:
    assert launcher.main(argv) == 0
    assert calls == [(target, argv)]
