"""Where runtimes live on disk, and the two small files that describe them.

::

    <data_dir>/runtime/
        current                    one line: the name of the active install folder
        <install-name>/site/       the unpacked wheels (goes on sys.path)
        <install-name>/runtime.json  what was installed (:class:`RuntimeRecord`)
        .staging-<random>/         an install in progress, renamed to <install-name> when complete
        .old-<random>/             a replaced install being deleted
        .lock                      held while installing or removing

``current`` is replaced atomically, and only after the new install folder is complete, so an
interrupted install never breaks the runtime in use. Stdlib only: the launcher reads this before
anything else is imported.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sfumato.paths import data_dir

RECORD_FILE = "runtime.json"
SITE_DIR = "site"
CURRENT_FILE = "current"
STAGING_PREFIX = ".staging-"
OLD_PREFIX = ".old-"
LOCK_FILE = ".lock"
FORMAT = 1


@dataclass(frozen=True)
class WheelRecord:
    """One installed wheel: its file name, distribution, version, sha256, and where it came from."""

    file: str
    name: str
    version: str
    sha256: str
    url: str | None = None


@dataclass(frozen=True)
class RuntimeRecord:
    """The contents of ``runtime.json``."""

    name: str
    variant: str
    backend: str
    torch_version: str
    python: str
    installed_at: str
    index_url: str | None = None
    wheels: tuple[WheelRecord, ...] = field(default_factory=tuple)
    format: int = FORMAT

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuntimeRecord:
        """Rebuild a record written by :meth:`to_dict` (unknown keys are ignored)."""
        wheels = tuple(WheelRecord(**w) for w in data.get("wheels", ()))
        return cls(
            name=str(data["name"]),
            variant=str(data["variant"]),
            backend=str(data["backend"]),
            torch_version=str(data["torch_version"]),
            python=str(data["python"]),
            installed_at=str(data["installed_at"]),
            index_url=data.get("index_url"),
            wheels=wheels,
            format=int(data.get("format", FORMAT)),
        )


def this_python() -> str:
    """``3.11``: a runtime only serves the interpreter minor version it was installed for."""
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def runtime_root() -> Path:
    """``<data_dir>/runtime`` (not created here)."""
    return data_dir() / "runtime"


def read_record(install_dir: Path) -> RuntimeRecord | None:
    """The install's ``runtime.json``, or ``None`` when it is missing or unreadable."""
    try:
        data = json.loads((install_dir / RECORD_FILE).read_text(encoding="utf-8"))
        return RuntimeRecord.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and one ``os.replace``."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_record(install_dir: Path, record: RuntimeRecord) -> None:
    """Write ``runtime.json`` into an install folder."""
    write_text_atomic(install_dir / RECORD_FILE, json.dumps(record.to_dict(), indent=2) + "\n")


def current_name(root: Path | None = None) -> str | None:
    """The install folder named by ``current``, or ``None``."""
    try:
        name = ((root or runtime_root()) / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name if name and "/" not in name and "\\" not in name and not name.startswith(".") else None


def set_current(name: str, root: Path | None = None) -> None:
    """Make ``name`` the active install (atomically)."""
    write_text_atomic((root or runtime_root()) / CURRENT_FILE, name + "\n")


def current_install(root: Path | None = None) -> tuple[Path, RuntimeRecord] | None:
    """The active install folder and its record, if ``current`` names a complete install for this Python."""
    root = root or runtime_root()
    name = current_name(root)
    if name is None:
        return None
    folder = root / name
    record = read_record(folder)
    if record is None or record.python != this_python() or not (folder / SITE_DIR).is_dir():
        return None
    return folder, record


def installs(root: Path | None = None) -> list[tuple[Path, RuntimeRecord]]:
    """Every complete install folder under the root, by name."""
    root = root or runtime_root()
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith("."):
            record = read_record(folder)
            if record is not None:
                found.append((folder, record))
    return found
