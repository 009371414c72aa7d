"""Per-user directories (platformdirs), overridable with environment variables for tests."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "Sfumato"


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
