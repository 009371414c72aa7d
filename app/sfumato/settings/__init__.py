"""User settings: a versioned JSON file with defaults for anything missing or invalid."""

from sfumato.settings.model import Settings
from sfumato.settings.store import (
    MIGRATIONS,
    SETTINGS_VERSION,
    SettingsError,
    load_settings,
    save_settings,
    settings_path,
)

__all__ = [
    "MIGRATIONS",
    "SETTINGS_VERSION",
    "Settings",
    "SettingsError",
    "load_settings",
    "save_settings",
    "settings_path",
]
