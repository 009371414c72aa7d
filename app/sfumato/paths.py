"""Per-user directories (platformdirs), overridable with environment variables for tests.

The folder functions create their folder when they can and return its path either way: a folder
that cannot be created (no permission, a file in the way, a full disk) must not stop the app from
starting. :func:`folder_problem` says whether a folder can really be written; the window uses it to
say once, at start, what is off and where to fix it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import sys
from pathlib import Path

import platformdirs

APP_NAME = "Sfumato"
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS}


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
    with contextlib.suppress(OSError):  # what uses the folder reports the failure
        path.mkdir(parents=True, exist_ok=True)
    return path


def folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot hold Sfumato's files, in a few words; ``None`` when it can.

    Creates the folder if needed and writes, syncs and deletes a one-byte file in it, so a folder
    that exists but is read-only, or a full disk, is found as well as one that cannot be created.
    """
    probe = folder / f".sfumato-probe-{secrets.token_hex(4)}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"\0")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return os_error_reason(exc)
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return None


def os_error_reason(exc: OSError) -> str:
    """Why a folder or file could not be written, in a few lower-case words."""
    if exc.errno in _DISK_FULL:
        return "the disk is full"
    if isinstance(exc, PermissionError):
        return "no permission to write there"
    if isinstance(exc, NotADirectoryError | FileExistsError):
        return "a file is in the way of the folder"
    if exc.errno in _NO_LOCKS:
        return "file locks are not supported there"
    return (exc.strerror or type(exc).__name__).lower()


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
