"""Atomic file writes: a save either replaces the old file completely or leaves it untouched.

The new content goes to a temporary file in the target's directory (same file system, so the
final ``os.replace`` is atomic), is flushed and fsynced, and only then renamed over the target.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from sfumato.errors import DiskFullError, UserFacingError

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class SaveError(UserFacingError):
    """A file could not be written; the previous file (if any) is unchanged (a full disk is
    :class:`~sfumato.errors.DiskFullError`)."""


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX only; Windows has no directory handles)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories; the data is already synced
        pass
    finally:
        os.close(fd)


def _as_save_error(exc: OSError, path: Path) -> SaveError | DiskFullError:
    if exc.errno in _DISK_FULL:
        return DiskFullError(
            f"The disk is full: “{path.name}” was not saved. Free some space or save elsewhere.",
            details=str(exc),
        )
    if isinstance(exc, PermissionError):
        return SaveError(
            f"No permission to write “{path.name}”. Choose another folder.", details=str(exc)
        )
    reason = exc.strerror or exc.__class__.__name__
    return SaveError(f"“{path.name}” could not be saved: {reason}.", details=str(exc))


def atomic_write(path: Path | str, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` by calling ``write(file)`` on a temporary file, then renaming it into place
    (what ``write`` returns is ignored).

    On any failure the temporary file is removed and an existing ``path`` keeps its old bytes.
    Operating-system errors become :class:`SaveError` (:class:`~sfumato.errors.DiskFullError` for a
    full disk);
    any other exception raised by ``write`` propagates unchanged. A replaced file keeps its
    permission bits; a new one gets the usual ``0o666 & ~umask``.
    """
    path = Path(path)
    directory = path.parent
    tmp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise _as_save_error(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _as_save_error(exc, path) from exc
        raise
    _fsync_directory(directory)
