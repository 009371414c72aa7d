"""Offline config folders for single-file checkpoints: ``from_single_file(path, config=folder)``.

``models/configs/<family>/`` holds the JSON of each component; the CLIP vocabulary (``vocab.json``,
``merges.txt``) is stored once in ``models/configs/clip-tokenizer/``. A complete folder is
assembled in the cache on first use and rebuilt when its sources change.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from filelock import FileLock

from sfumato.model_store.catalog import Family

SHARED_TOKENIZER = "clip-tokenizer"


def _stamp(*folders: Path) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def single_file_config(family: Family, cache_root: Path) -> Path | None:
    """A complete diffusers config folder for ``family`` (no weights), or ``None`` if none ships."""
    if family.config_dir is None:
        return None
    shared = family.config_dir.parent / SHARED_TOKENIZER
    stamp = _stamp(family.config_dir, shared)
    configs = cache_root / "configs"
    target = configs / family.id
    marker = target / ".source-stamp"
    if marker.is_file() and marker.read_text() == stamp:
        return target
    configs.mkdir(parents=True, exist_ok=True)
    with FileLock(str(configs / f"{family.id}.lock")):
        if marker.is_file() and marker.read_text() == stamp:
            return target
        build = Path(tempfile.mkdtemp(dir=configs, prefix=f".{family.id}-"))
        shutil.copytree(family.config_dir, build, dirs_exist_ok=True)
        for tokenizer in build.glob("tokenizer*"):
            for name in ("vocab.json", "merges.txt"):
                shutil.copy(shared / name, tokenizer / name)
        (build / ".source-stamp").write_text(stamp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(build, target)
    return target
