"""atomic_write: a failed write never damages the previous file and leaves no temp file behind."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

import pytest

from sfumato.document.atomic import SaveError, atomic_write
from sfumato.errors import DiskFullError

OLD = b"the previous contents\n" * 100


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "picture.ora"
    path.write_bytes(OLD)
    return path


def _only(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_replaces_content_and_leaves_no_temp_file(target: Path) -> None:
    atomic_write(target, lambda fh: fh.write(b"new"))
    assert target.read_bytes() == b"new"
    assert _only(target) == ["picture.ora"]


def test_creates_a_new_file_with_umask_permissions(tmp_path: Path) -> None:
    path = tmp_path / "new.png"
    atomic_write(path, lambda fh: fh.write(b"x"))
    assert path.read_bytes() == b"x"
    if os.name == "posix":
        umask = os.umask(0)
        os.umask(umask)
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_keeps_the_permissions_of_the_replaced_file(target: Path) -> None:
    target.chmod(0o640)
    atomic_write(target, lambda fh: fh.write(b"new"))
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_failure_midway_keeps_previous_file(target: Path) -> None:
    def write(fh: BinaryIO) -> None:
        fh.write(b"half of the new file")
        raise RuntimeError("encoder crashed")

    with pytest.raises(RuntimeError, match="encoder crashed"):
        atomic_write(target, write)
    assert target.read_bytes() == OLD
    assert _only(target) == ["picture.ora"]


def test_full_disk_while_writing_is_a_clear_error(target: Path) -> None:
    def write(fh: BinaryIO) -> None:
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError, match="disk is full") as info:
        atomic_write(target, write)
    assert "picture.ora" in info.value.message
    assert target.read_bytes() == OLD
    assert _only(target) == ["picture.ora"]


def test_full_disk_reported_by_fsync(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(DiskFullError):
        atomic_write(target, lambda fh: fh.write(b"new"))
    assert target.read_bytes() == OLD
    assert _only(target) == ["picture.ora"]


def test_failed_rename_keeps_previous_file(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def replace(src: object, dst: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(SaveError, match="permission"):
        atomic_write(target, lambda fh: fh.write(b"new"))
    assert target.read_bytes() == OLD
    assert _only(target) == ["picture.ora"]


def test_missing_folder_is_a_save_error(tmp_path: Path) -> None:
    with pytest.raises(SaveError, match="could not be saved"):
        atomic_write(tmp_path / "gone" / "x.png", lambda fh: fh.write(b"x"))
