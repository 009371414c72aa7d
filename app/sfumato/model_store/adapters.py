"""Installed LoRAs and textual-inversion embeddings: stored with the models, used by name.

Layout under the model cache root (next to ``hub/`` and ``installed/``, see
:mod:`~sfumato.model_store.cache`)::

    loras/<name>.safetensors          a LoRA, copied in when it is imported
    loras/<name>.json                 its record: kind, detected family, sha256, size, source
    embeddings/<name>.safetensors     an embedding, likewise
    embeddings/<name>.json

``name`` is the file's stem, as AUTOMATIC1111 names them: ``<lora:name:0.8>`` in a prompt (or
``--lora name:0.8``) applies that LoRA, and the word ``name`` in a prompt triggers that
embedding. A record is written last, with an atomic replace, after its file is in place, so an
import that stops half-way never shows up. Only ``.safetensors`` files are imported; pickles
(``.pt``, ``.ckpt``, ``.bin`` …) are refused as checkpoints are. No torch here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sfumato.model_store.checkpoint_family import (
    ADAPTER_LABELS,
    PICKLE_SUFFIXES,
    adapter_kind,
    embedding_width,
    file_adapter,
    refuse_pickle,
    tensor_shapes,
)
from sfumato.model_store.errors import InvalidCheckpointError, ModelStoreError, UnknownFamilyError
from sfumato.model_store.progress import ProgressCallback, ProgressMeter
from sfumato.paths import os_error_reason

log = logging.getLogger(__name__)

KINDS = ("lora", "embedding")
"""What the store holds: LoRAs and textual-inversion embeddings."""
_FOLDERS = {"lora": "loras", "embedding": "embeddings"}
_BLOCK = 4 * 1024 * 1024
_INSTALL_FOLDERS = ("models/Lora", "models/loras", "embeddings", "models/embeddings")
"""Where an AUTOMATIC1111 (``models/Lora``, ``embeddings``) or ComfyUI (``models/loras``,
``models/embeddings``) install keeps them: importing the install's folder imports these."""


@dataclass(frozen=True)
class AdapterFile:
    """A LoRA or embedding file: installed in the store, or any file a request names by path."""

    name: str
    """What prompts call it: the file's stem (or a catalog adapter's id)."""
    kind: str
    """``lora`` or ``embedding``."""
    family: str | None
    """The family it is made for (a key of
    :data:`~sfumato.model_store.checkpoint_family.ADAPTER_LABELS`); ``None`` for an embedding
    whose width no family has, which applies to a model whose text encoder is that wide."""
    path: Path
    sha256: str | None = None
    """Known for installed files; ``None`` for a file used in place."""
    source: str = ""
    """Where it was imported from, or the catalog id it was downloaded as."""

    @property
    def label(self) -> str:
        """The family as messages name it."""
        return ADAPTER_LABELS.get(self.family or "", "an unknown family")


@dataclass(frozen=True)
class AdapterImport:
    """What importing one file did: installed ``adapter``, or refused it with ``error``."""

    source: Path
    adapter: AdapterFile | None
    error: str = ""


def describe_file(path: Path) -> AdapterFile:
    """The LoRA or embedding at ``path``, used in place: its kind and family from its tensors.

    Pickles are refused, a file that is neither is :class:`UnknownFamilyError`, a missing one
    :class:`InvalidCheckpointError`."""
    refuse_pickle(path)
    if not path.is_file():
        problem = "is not a file" if path.exists() else "does not exist"
        raise InvalidCheckpointError(f"{path} {problem}.")
    if path.suffix.lower() != ".safetensors":
        raise InvalidCheckpointError(f"{path.name}: only .safetensors LoRAs and embeddings can be used.")
    kind, family = file_adapter(path)
    return AdapterFile(path.stem, kind, family, path)


class AdapterStore:
    """The installed LoRAs and embeddings under one cache root (thread-safe for reading; imports
    and removals of the same name should not race)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, kind: str) -> Path:
        """Where files of ``kind`` live."""
        return self.root / _FOLDERS[kind]

    def installed(self, kind: str | None = None) -> list[AdapterFile]:
        """Every installed file (of ``kind``), by name; unreadable records are skipped."""
        found = []
        for each in (kind,) if kind else KINDS:
            for record in sorted(self.folder(each).glob("*.json")):
                adapter = self._read(record, each)
                if adapter is not None:
                    found.append(adapter)
        return found

    def get(self, kind: str, name: str) -> AdapterFile | None:
        """The installed file of ``kind`` called ``name`` (case-insensitive when no exact match)."""
        adapters = self.installed(kind)
        exact = next((a for a in adapters if a.name == name), None)
        return exact or next((a for a in adapters if a.name.casefold() == name.casefold()), None)

    def remove(self, kind: str, name: str) -> AdapterFile:
        """Delete the installed file of ``kind`` called ``name`` and its record."""
        adapter = self.get(kind, name)
        if adapter is None:
            raise ModelStoreError(
                f"No {kind} named {name!r} is installed (`sfumato models list` shows them)."
            )
        (self.folder(kind) / f"{adapter.name}.json").unlink(missing_ok=True)
        adapter.path.unlink(missing_ok=True)
        return adapter

    def import_path(self, path: Path, on_progress: ProgressCallback | None = None) -> list[AdapterImport]:
        """Copy the LoRA or embedding ``path`` into the store, or every one in the folder
        ``path`` (an AUTOMATIC1111 or ComfyUI install: its LoRA and embedding folders).

        One :class:`AdapterImport` per file: installed, or refused with a one-line reason
        (pickles, unknown families, a name taken by another file). Files in a folder that are
        neither LoRAs nor embeddings (checkpoints, VAEs) are left out; a single such file is
        refused."""
        path = path.expanduser()
        if path.is_dir():
            files = self._candidates(path)
        elif path.exists():
            files = [path]
        else:
            raise InvalidCheckpointError(f"{path} does not exist.")
        total = sum(f.stat().st_size for f in files)
        meter = ProgressMeter(f"import:{path.name}", total, len(files), on_progress)
        results = []
        for file in files:
            try:
                results.append(AdapterImport(file, self._import_file(file, meter, single=file == path)))
            except _NotAnAdapter:
                continue
            except ModelStoreError as exc:
                results.append(AdapterImport(file, None, str(exc)))
        meter.finish()
        return results

    def _candidates(self, folder: Path) -> list[Path]:
        roots = [folder / sub for sub in _INSTALL_FOLDERS if (folder / sub).is_dir()] or [folder]
        files = {
            p
            for root in roots
            for p in root.rglob("*")
            if p.is_file() and p.suffix.lower() in (".safetensors", *PICKLE_SUFFIXES)
        }
        return sorted(files)

    def _import_file(self, file: Path, meter: ProgressMeter, *, single: bool) -> AdapterFile:
        refuse_pickle(file)
        if file.suffix.lower() != ".safetensors":
            raise InvalidCheckpointError(
                f"{file.name}: only .safetensors LoRAs and embeddings can be imported."
            )
        shapes = tensor_shapes(file)
        if adapter_kind(shapes) is None:
            if single:
                raise UnknownFamilyError(f"{file.name} is neither a LoRA nor a textual-inversion embedding.")
            raise _NotAnAdapter
        kind, family = file_adapter(file)
        if family is None:
            raise UnknownFamilyError(
                f"{file.name}: an embedding of {embedding_width(shapes)}-wide vectors, which no model "
                "family Sfumato runs has (SD 1.x: 768, SD 2.x: 1024, SDXL: clip_l + clip_g)."
            )
        name = file.stem
        existing = self.get(kind, name)
        if existing is not None:
            if existing.name == name and existing.sha256 == _sha256(file):
                meter.add(file.stat().st_size, file.name, resumed=True)
                meter.file_done(file.name)
                return existing
            raise ModelStoreError(
                f"A {kind} named {existing.name} is already installed (from {existing.source}); rename "
                f"{file.name} or remove the installed one (`sfumato models remove {kind}:{existing.name}`)."
            )
        folder = self.folder(kind)
        target = folder / f"{name}.safetensors"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            sha256 = _copy(file, target, meter)
        except OSError as exc:
            raise ModelStoreError(
                f"Could not copy {file.name} into {folder} ({os_error_reason(exc)}).", details=str(exc)
            ) from exc
        adapter = AdapterFile(name, kind, family, target, sha256, str(file.resolve()))
        _write_json(
            folder / f"{name}.json",
            {"name": name, "kind": kind, "family": family, "sha256": sha256,
             "size": target.stat().st_size, "source": adapter.source, "installed_at": time.time()},
        )  # fmt: skip
        log.info("installed the %s %s (%s) from %s", kind, name, family, file)
        return adapter

    def _read(self, record: Path, kind: str) -> AdapterFile | None:
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
            path = record.with_suffix(".safetensors")
            if not path.is_file() or data.get("kind") != kind:
                return None
            return AdapterFile(str(data["name"]), kind, data.get("family"), path, data.get("sha256"),
                               str(data.get("source", "")))  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            return None


class _NotAnAdapter(Exception):
    """A file in an imported folder that is neither a LoRA nor an embedding: left out."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _copy(source: Path, target: Path, meter: ProgressMeter) -> str:
    """Copy ``source`` to ``target`` through a temporary file beside it, replaced atomically;
    returns the sha256 of what was copied."""
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as f:
            while block := f.read(_BLOCK):
                out.write(block)
                digest.update(block)
                meter.add(len(block), source.name)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    meter.file_done(source.name)
    return digest.hexdigest()


def _write_json(path: Path, data: dict[str, object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)
