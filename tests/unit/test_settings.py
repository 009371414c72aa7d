"""Settings: defaults, round trip, per-field fallback, backups of damaged files, migrations."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from sfumato.settings import (
    SETTINGS_VERSION,
    Settings,
    SettingsError,
    load_settings,
    save_settings,
    settings_path,
    store,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "settings.json"


def _write(path: Path, data: object) -> bytes:
    raw = json.dumps(data).encode()
    path.write_bytes(raw)
    return raw


def test_defaults_without_a_file(path: Path) -> None:
    settings = load_settings(path)
    assert settings == Settings()
    assert settings.autosave_interval_s == 60 and settings.history_budget_mb == 512
    assert settings.recent_files == [] and settings.model_cache_dir is None
    assert settings.generation == {}
    assert not path.exists()


def test_round_trip_keeps_every_field(path: Path) -> None:
    settings = Settings(
        autosave_interval_s=30, history_budget_mb=2048, recent_files=["/tmp/é.ora", "/x/b.png"],
        brush_size=3.5, brush_hardness=0.25, brush_opacity=0.5, window_geometry="AdnQywAD",
        window_state="AAAA/wAA", model_cache_dir="/mnt/models",
        generation={"prompt": "猫", "steps": 30, "cfg": 7.5, "loras": [{"name": "x", "weight": 0.6}]},
    )
    save_settings(settings, path)
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == SETTINGS_VERSION
    assert load_settings(path) == settings
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temp, no backup


def test_default_location_is_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFUMATO_CONFIG_DIR", str(tmp_path / "cfg"))
    assert settings_path() == tmp_path / "cfg" / "settings.json"
    save_settings(Settings(brush_size=99.0))
    assert load_settings().brush_size == 99.0


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b"null",
                                 b'{"version": "one"}'])
def test_damaged_file_gives_defaults_and_a_backup(path: Path, raw: bytes) -> None:
    path.write_bytes(raw)
    assert load_settings(path) == Settings()
    assert path.with_name("settings.json.bak").read_bytes() == raw
    assert path.read_bytes() == raw  # left alone until the next save


def test_each_invalid_field_falls_back_alone(path: Path) -> None:
    raw = _write(path, {
        "version": SETTINGS_VERSION,
        "autosave_interval_s": "soon",
        "history_budget_mb": 1024,
        "brush_size": -3,
        "brush_hardness": 0.3,
        "brush_opacity": True,
        "recent_files": ["a.ora", 3, "a.ora", "b.png", ""],
        "window_geometry": 12,
        "model_cache_dir": "",
        "generation": [1, 2],
        "from_the_future": {"x": 1},
    })
    settings = load_settings(path)
    assert settings.autosave_interval_s == 60
    assert settings.history_budget_mb == 1024
    assert settings.brush_size == Settings().brush_size
    assert settings.brush_hardness == 0.3
    assert settings.brush_opacity == 1.0
    assert settings.recent_files == ["a.ora", "b.png"]
    assert settings.window_geometry == "" and settings.model_cache_dir is None
    assert settings.generation == {}
    assert path.with_name("settings.json.bak").read_bytes() == raw


def test_first_run_done_is_remembered_and_only_a_boolean_counts(path: Path) -> None:
    assert Settings().first_run_done is False
    save_settings(Settings(first_run_done=True), path)
    assert load_settings(path).first_run_done is True
    _write(path, {"version": SETTINGS_VERSION, "first_run_done": 1})
    assert load_settings(path).first_run_done is False


def test_a_valid_file_is_not_backed_up(path: Path) -> None:
    _write(path, {"version": SETTINGS_VERSION, "brush_size": 12, "unknown": 1})
    assert load_settings(path).brush_size == 12.0
    assert not path.with_name("settings.json.bak").exists()


def test_every_field_has_a_check_that_accepts_its_default() -> None:
    defaults = Settings()
    for spec in dataclasses.fields(Settings):
        assert spec.metadata["check"](getattr(defaults, spec.name)) == getattr(defaults, spec.name)


def test_migrations_run_in_order_up_to_the_current_version(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:  # minutes became seconds
        data["autosave_interval_s"] = data.pop("autosave_minutes") * 60
        return data

    def v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:  # a renamed key
        data["brush_size"] = data.pop("brush_diameter")
        return data

    monkeypatch.setattr(store, "SETTINGS_VERSION", 3)
    monkeypatch.setattr(store, "MIGRATIONS", {1: v1_to_v2, 2: v2_to_v3})
    _write(path, {"version": 1, "autosave_minutes": 2, "brush_diameter": 40})
    settings = load_settings(path)
    assert (settings.autosave_interval_s, settings.brush_size) == (120, 40.0)
    _write(path, {"version": 2, "autosave_interval_s": 15, "brush_diameter": 7})
    assert (load_settings(path).autosave_interval_s, load_settings(path).brush_size) == (15, 7.0)
    save_settings(settings, path)
    assert json.loads(path.read_text())["version"] == 3


def test_a_failing_migration_gives_defaults_and_a_backup(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "SETTINGS_VERSION", 2)
    monkeypatch.setattr(store, "MIGRATIONS", {1: lambda data: data["missing_key"]})
    raw = _write(path, {"version": 1, "brush_size": 5})
    assert load_settings(path) == Settings()
    assert path.with_name("settings.json.bak").read_bytes() == raw


def test_failed_save_keeps_the_previous_file(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_settings(Settings(brush_size=5.0), path)
    before = path.read_bytes()

    def replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(SettingsError, match="could not be saved"):
        save_settings(Settings(brush_size=50.0), path)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]
