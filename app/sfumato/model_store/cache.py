"""The cache on disk and the records that say what is installed.

Layout under the cache root (by default ``<user cache>/models``)::

    hub/<org>--<name>/<commit>/…         files of hub repos, placed only after verification
    url/<sha256>/<file name>             files from plain HTTPS URLs
    staging/<key>.part                   partial downloads (kept across cancels and restarts)
    installed/<key>.json                 one manifest per installed model, written last
    external.json                        A1111 / ComfyUI / other folders registered in place

A model counts as installed only while its manifest exists, and the manifest is written (with an
atomic replace) after every file is in place, so an interrupted install never shows up.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from sfumato.model_store.errors import ModelStoreError
from sfumato.paths import os_error_reason


@dataclass(frozen=True)
class FileRecord:
    """One file of an installed model, relative to its source's root, with its expected hash."""

    path: str
    size: int
    sha256: str | None = None
    git_sha1: str | None = None


@dataclass(frozen=True)
class SourceRecord:
    """Where one source of a model lives: ``root`` (absolute) and ``entry`` inside it."""

    role: str
    root: Path
    entry: str
    files: tuple[FileRecord, ...]
    repo: str | None = None
    revision: str | None = None
    commit: str | None = None

    @property
    def path(self) -> Path:
        """The path handed to the engine: a diffusers folder or a single checkpoint file."""
        return self.root / self.entry if self.entry else self.root


@dataclass(frozen=True)
class InstalledModel:
    """A model the engine can load.

    ``kind`` is ``catalog`` (from the catalog), ``hub`` (any hub repo), ``url`` (a plain URL),
    ``local`` (an imported file or folder), ``external`` (found in a registered folder),
    ``hf-cache`` (a snapshot in the Hugging Face cache) or ``preview-decoder`` (a catalog preview
    decoder, not a model to generate with). Only ``catalog``, ``hub``, ``url``, ``local`` and
    ``preview-decoder`` have manifests.
    """

    key: str
    kind: str
    family: str | None
    sources: tuple[SourceRecord, ...]
    model_id: str | None = None
    variant: str | None = None
    dtype: str | None = None
    installed_at: float = field(default_factory=time.time)

    @property
    def path(self) -> Path:
        """The main source's path."""
        return self.main.path

    @property
    def main(self) -> SourceRecord:
        """The ``main`` source."""
        return next(s for s in self.sources if s.role == "main")

    @property
    def parts(self) -> dict[str, Path]:
        """Paths of the other sources by role (``prior`` of a two-stage model)."""
        return {s.role: s.path for s in self.sources if s.role != "main"}

    @property
    def size(self) -> int:
        """Bytes on disk (recorded sizes, or the file's size for unrecorded external files)."""
        total = 0
        for src in self.sources:
            if src.files:
                total += sum(f.size for f in src.files)
            elif src.path.is_file():
                total += src.path.stat().st_size
        return total


def safe_name(text: str) -> str:
    """A file-name-safe form of an id or repo (``org/name`` → ``org--name``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.replace("/", "--"))


class ModelCache:
    """Paths and manifests of one cache root.

    Raises :class:`~sfumato.model_store.errors.ModelStoreError` when the root's folders cannot
    be created (folders that exist already are used even where nothing can be written).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.installed_dir = root / "installed"
        self.staging_dir = root / "staging"
        self.placed_dirs = (root / "hub", root / "url")
        try:
            for d in (self.installed_dir, self.staging_dir, *self.placed_dirs):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelStoreError(
                f"The model cache folder {root} cannot be created ({os_error_reason(exc)}), so models "
                "cannot be downloaded or listed. Fix that, or set SFUMATO_CACHE_DIR (or "
                "model_cache_dir in settings.json) to another folder.",
                details=str(exc),
            ) from exc

    def snapshot_dir(self, repo: str, commit: str) -> Path:
        """Where the files of ``repo`` at ``commit`` are placed."""
        return self.root / "hub" / safe_name(repo) / commit

    def url_dir(self, sha256: str) -> Path:
        """Where a plain-URL download with this hash is placed."""
        return self.root / "url" / sha256

    # -- manifests ---------------------------------------------------------------------------

    def write(self, model: InstalledModel) -> None:
        """Record ``model`` as installed (atomically; last step of an install)."""
        data = asdict(model)
        for src in data["sources"]:
            src["root"] = self._store_path(Path(src["root"]))
        target = self.installed_dir / f"{safe_name(model.key)}.json"
        fd, tmp = tempfile.mkstemp(dir=self.installed_dir, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, target)

    def read_all(self) -> list[InstalledModel]:
        """Every model with a manifest, sorted by key; unreadable manifests are skipped."""
        models = []
        for path in sorted(self.installed_dir.glob("*.json")):
            try:
                models.append(self._load(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return models

    def get(self, key: str) -> InstalledModel | None:
        """The manifest recorded under ``key``, if any."""
        path = self.installed_dir / f"{safe_name(key)}.json"
        if not path.exists():
            return None
        return next((m for m in self.read_all() if m.key == key), None)

    def forget(self, key: str) -> None:
        """Delete the manifest (the model stops counting as installed immediately)."""
        (self.installed_dir / f"{safe_name(key)}.json").unlink(missing_ok=True)

    def delete_files(self, model: InstalledModel) -> None:
        """Delete the cached files of ``model`` that no other manifest uses; prune empty folders."""
        in_use = {
            (s.root / f.path).resolve()
            for m in self.read_all()
            if m.key != model.key
            for s in m.sources
            for f in s.files
        }
        for src in model.sources:
            root = src.root.resolve()
            placed = next((d.resolve() for d in self.placed_dirs if root.is_relative_to(d.resolve())), None)
            if placed is None:
                continue  # never delete files outside the cache (imports, registered folders)
            for f in src.files:
                target = (root / f.path).resolve()
                if target not in in_use:
                    target.unlink(missing_ok=True)
            _prune_empty(root, placed)

    def lock(self, name: str) -> FileLock:
        """An inter-process lock for an operation on this cache."""
        return FileLock(str(self.staging_dir / f"{safe_name(name)}.lock"))

    # -- registered folders ------------------------------------------------------------------

    def external_folders(self) -> list[Path]:
        """Folders registered in place (A1111, ComfyUI, any folder of checkpoints)."""
        path = self.root / "external.json"
        if not path.exists():
            return []
        return [Path(p) for p in json.loads(path.read_text(encoding="utf-8"))]

    def set_external_folders(self, folders: list[Path]) -> None:
        """Replace the list of registered folders."""
        target = self.root / "external.json"
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump([str(p) for p in folders], f, indent=1)
        os.replace(tmp, target)

    def staged_bytes(self) -> int:
        """Bytes held in partial downloads."""
        return sum(p.stat().st_size for p in self.staging_dir.glob("*.part"))

    # -- helpers -----------------------------------------------------------------------------

    def _store_path(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def _load(self, data: dict[str, Any]) -> InstalledModel:
        sources = tuple(
            SourceRecord(
                role=s["role"],
                root=self.root / s["root"],  # an absolute root stays absolute
                entry=s["entry"],
                files=tuple(FileRecord(**f) for f in s["files"]),
                repo=s.get("repo"),
                revision=s.get("revision"),
                commit=s.get("commit"),
            )
            for s in data["sources"]
        )
        return InstalledModel(
            key=data["key"],
            kind=data["kind"],
            family=data.get("family"),
            sources=sources,
            model_id=data.get("model_id"),
            variant=data.get("variant"),
            dtype=data.get("dtype"),
            installed_at=data.get("installed_at", 0.0),
        )


def _prune_empty(start: Path, stop: Path) -> None:
    for folder in sorted((p for p in start.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    node = start
    while node != stop and node.is_dir() and not any(node.iterdir()):
        node.rmdir()
        node = node.parent


def free_space(path: Path) -> int:
    """Free bytes on the file system holding ``path``."""
    return shutil.disk_usage(path).free
