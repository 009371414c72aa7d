"""Finding the files the app ships in ``resources/`` (source checkout or frozen bundle)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

from sfumato.paths import app_root


@cache
def resources_dir() -> Path:
    """The ``resources/`` folder: inside a PyInstaller bundle, or at the repository root."""
    return app_root() / "resources"


def resource_path(*parts: str) -> Path:
    """The path of a shipped file, e.g. ``resource_path("icons", "brush.svg")``."""
    return resources_dir().joinpath(*parts)


@cache
def icon(name: str) -> QIcon:
    """The tool icon ``resources/icons/<name>.svg`` (an empty icon if it is missing)."""
    path = resource_path("icons", f"{name}.svg")
    return QIcon(str(path)) if path.is_file() else QIcon()


def stylesheet() -> str:
    """The application style sheet (dark theme), or ``""`` if it is missing."""
    path = resource_path("style.qss")
    if not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8")
    # url(icons/…) in the sheet is relative to resources/
    return text.replace("url(icons/", f"url({resource_path('icons').as_posix()}/")
