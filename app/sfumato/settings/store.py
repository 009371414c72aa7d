"""Reading and writing ``settings.json``: versioned, migrated, never fatal when damaged.

The file is ``{"version": N, <field>: <value>, …}``. :func:`load_settings` migrates older versions
step by step through :data:`MIGRATIONS`, then checks every field on its own: an invalid value
falls back to its default and the rest is kept. A file that cannot be used as it is (not JSON,
invalid fields, a failed migration) is first copied to ``settings.json.bak`` so the user's values
are not silently lost. :func:`save_settings` replaces the file atomically.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sfumato.errors import UserFacingError
from sfumato.paths import config_dir
from sfumato.settings.model import Settings

log = logging.getLogger(__name__)

SETTINGS_VERSION = 1
#: ``MIGRATIONS[n]`` turns the data of a version-``n`` file into version ``n + 1``.
#: Version 1 is the first released format, so there is nothing to migrate from yet.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class SettingsError(UserFacingError):
    """The settings file could not be written."""


def settings_path() -> Path:
    """``settings.json`` in the per-user configuration folder."""
    return config_dir() / "settings.json"


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring ``data`` up to :data:`SETTINGS_VERSION` (a missing version counts as current).

    A file from a newer Sfumato is read as far as its fields are understood.
    """
    version = data.get("version", SETTINGS_VERSION)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"invalid settings version {version!r}")
    while version < SETTINGS_VERSION:
        data = MIGRATIONS[version](dict(data))
        version += 1
        data["version"] = version
    if version > SETTINGS_VERSION:
        log.warning("settings file is version %d, newer than %d; unknown fields are ignored",
                    version, SETTINGS_VERSION)
    return data


def from_dict(data: dict[str, Any]) -> tuple[Settings, list[str]]:
    """Settings from migrated ``data``: each invalid field takes its default; returns the problems."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for spec in dataclasses.fields(Settings):
        if spec.name not in data:
            continue
        try:
            values[spec.name] = spec.metadata["check"](data[spec.name])
        except ValueError as exc:
            problems.append(f"{spec.name}: {exc} (got {data[spec.name]!r})")
    return Settings(**values), problems


def _write_atomically(path: Path, payload: bytes) -> None:
    """Temp file in the same folder, fsync, rename (the settings cannot use document.atomic)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _keep_backup(path: Path, raw: bytes) -> None:
    try:
        _write_atomically(path.with_name(path.name + ".bak"), raw)
    except OSError:
        log.exception("could not back up the damaged settings file %s", path)


def load_settings(path: Path | None = None) -> Settings:
    """The saved settings, or defaults for whatever is missing, invalid or unreadable.

    Never raises for a damaged file: it is backed up to ``settings.json.bak`` and the valid
    parts are used.
    """
    path = path or settings_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError:
        log.exception("cannot read the settings file %s; using defaults", path)
        return Settings()
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("the settings file is not a JSON object")
        settings, problems = from_dict(migrate(data))
    except (ValueError, KeyError, TypeError) as exc:  # not JSON, or a migration failed
        log.warning("settings file %s is damaged (%s); using defaults", path, exc)
        _keep_backup(path, raw)
        return Settings()
    if problems:
        log.warning("invalid settings in %s reset to defaults: %s", path, "; ".join(problems))
        _keep_backup(path, raw)
    return settings


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write ``settings`` atomically; raises :class:`SettingsError` if that is impossible."""
    path = path or settings_path()
    payload = json.dumps({"version": SETTINGS_VERSION, **dataclasses.asdict(settings)},
                         indent=2, ensure_ascii=False, sort_keys=True).encode("utf-8")
    try:
        _write_atomically(path, payload)
    except OSError as exc:
        raise SettingsError(f"Your settings could not be saved: {exc.strerror or exc}.",
                            details=str(exc)) from exc
