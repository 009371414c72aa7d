"""Per-user directories (platformdirs), overridable with environment variables for tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "Sfumato"


def app_root() -> Path:
    """The folder that holds the shipped ``resources/`` and ``models/``.

    Inside a PyInstaller bundle that is ``sys._MEIPASS``; in a source checkout, the repository root
    (``app/sfumato/paths.py`` → two levels above the package).
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle)
    return Path(__file__).resolve().parents[2]


def is_frozen() -> bool:
    """Whether this is the packaged app (a PyInstaller bundle) rather than a Python install."""
    return bool(getattr(sys, "frozen", False))


def _dir(env: str, default: str) -> Path:
    value = os.environ.get(env)
    path = Path(value) if value else Path(default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """Where the settings file lives (``SFUMATO_CONFIG_DIR`` overrides)."""
    return _dir("SFUMATO_CONFIG_DIR", platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Where autosaves and other per-user data live (``SFUMATO_DATA_DIR`` overrides)."""
    return _dir("SFUMATO_DATA_DIR", platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Where downloaded models are cached (``SFUMATO_CACHE_DIR`` overrides)."""
    return _dir("SFUMATO_CACHE_DIR", platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    """Where log files are written (``SFUMATO_LOG_DIR`` overrides)."""
    return _dir("SFUMATO_LOG_DIR", platformdirs.user_log_dir(APP_NAME, appauthor=False))
