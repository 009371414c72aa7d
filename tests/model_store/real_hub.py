"""Fake-hub repos laid out file for file like the real Hub repos, filled with tiny weights.

Each layout comes from ``tests/fixtures/hub_layouts/ORG__NAME.json``: every file the real repo
holds, as its Hub pages list them (the pages are cited in each layout's ``pages`` and per
file). A repo built here serves exactly those paths; what each file contains is taken from a
tiny random-weight model of the same architecture:

* component weights get the tiny component's tensors — cast to half precision for ``fp16``
  variants, the same tensors for ``non_ema`` — and are split into as many shards as the real
  repo has, with a ``*.safetensors.index.json`` that maps every tensor to its shard;
* configs, scheduler and tokenizer files are the tiny model's (CLIP ``vocab.json`` /
  ``merges.txt`` written from the tiny tokenizer where the real folder has no ``tokenizer.json``);
* ``model_index.json`` is the real one where its page was found;
* everything else (pickles, root single-file checkpoints, ONNX exports, SD 3.5's
  ``text_encoders/``, images, README) is a few deterministic bytes: downloads must never fetch
  them, so their content is never read.

Sizes served are the tiny files' sizes; the real sizes stay in the layout for the figures.

Where no stored page listed a folder in full (the layout says ``"complete": false``), the files a
pipeline cannot load without are added and reported by :func:`assumed_paths`: a tokenizer's
vocabulary files, a missing config, unsuffixed (and, in a repo that ships them, ``fp16``) weights
of a folder no page listed, or ``model_index.json`` itself. Tests name them, so a gap in what the
pages show stays visible instead of being filled silently.
"""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from fake_hub import Repo
from safetensors.torch import load_file, save

from sfumato.model_store.hub import pipeline_components
from sfumato.model_store.weight_files import weight_variant

LAYOUTS = Path(__file__).resolve().parents[1] / "fixtures" / "hub_layouts"
_CASTS = {"fp16": torch.float16, "bf16": torch.bfloat16}


def layout(repo: str) -> dict[str, Any]:
    """The recorded layout of hub repo ``repo`` (``org/name``)."""
    return json.loads((LAYOUTS / f"{repo.replace('/', '__')}.json").read_text(encoding="utf-8"))


def layout_paths(repo: str) -> list[str]:
    """Every file path the real ``repo`` holds."""
    return sorted(f["path"] for f in layout(repo)["files"])


_UNITS = {"Bytes": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def shown_bytes(entry: dict[str, Any]) -> int | None:
    """A layout file's size: its exact byte count, else the size its page displays (the Hub shows
    decimal units to three significant digits, e.g. ``"1.72 GB"``), else ``None``."""
    if entry.get("bytes") is not None:
        return int(entry["bytes"])
    shown = entry.get("size_shown")
    if not shown:
        return None
    number, unit = shown.split()
    return round(float(number.replace(",", "")) * _UNITS[unit])


def download_bytes(repo: str, paths: list[str]) -> int | None:
    """What downloading ``paths`` of ``repo`` costs at real size, from the layout's pages, or
    ``None`` when a page gives no size for one of the weight files (config and tokenizer files
    without a size count as nothing: each is at most a couple of MB)."""
    sizes = {f["path"]: shown_bytes(f) for f in layout(repo)["files"]}
    total = 0
    for path in paths:
        size = sizes.get(path)
        if size is None and weight_variant(PurePosixPath(path).name)[0]:
            return None
        total += size or 0
    return total


def build_repo(repo: str, tiny: Path, *, token: str | None = None) -> Repo:
    """A fake-hub :class:`Repo` with ``repo``'s real file list and ``tiny``'s contents.

    ``tiny`` is a diffusers folder (a whole pipeline, or one model such as a preview decoder)
    of the same architecture. ``token`` makes the repo gated behind that bearer token.
    """
    real = layout(repo)
    paths = sorted({f["path"] for f in real["files"]} | set(assumed_paths(repo, tiny)))
    shards = _shard_counts(paths)
    files: dict[str, bytes] = {}
    for path in paths:
        files[path] = _content(path, tiny, real, shards)
    gated = bool(real.get("gated"))
    return Repo(files=files, commit=real.get("commit") or "c0ffee" * 6 + "abcd", gated=gated, token=token)


_BPE_FILES = ("merges.txt", "special_tokens_map.json", "tokenizer_config.json", "vocab.json")
_UNIGRAM_FILES = ("special_tokens_map.json", "spiece.model", "tokenizer.json", "tokenizer_config.json")


def assumed_paths(repo: str, tiny: Path) -> list[str]:
    """Files served although no stored page lists them (only for incomplete layouts)."""
    real = layout(repo)
    if real.get("complete"):
        return []
    listed = {f["path"] for f in real["files"]}
    components = _components(real, tiny)
    if components is None:
        return []
    added = [] if "model_index.json" in listed else ["model_index.json"]
    uses_fp16 = any(weight_variant(PurePosixPath(p).name) == (True, "fp16") for p in listed)
    for folder in components:
        here = {PurePosixPath(p).name for p in listed if str(PurePosixPath(p).parent) == folder}
        for name in _needed(tiny / folder, here, uses_fp16):
            added.append(f"{folder}/{name}")
    return sorted(added)


def _needed(source: Path, here: set[str], uses_fp16: bool) -> list[str]:
    """The file names a component folder must hold to load, that ``here`` lacks."""
    wanted: list[str] = []
    for name in sorted(p.name for p in source.iterdir()):
        if name == "tokenizer.json":
            bpe = _json(source / name)["model"].get("type") == "BPE"
            wanted += _BPE_FILES if bpe else _UNIGRAM_FILES
        elif name.endswith(".json") and name != "tokenizer_config.json":
            wanted.append(name)
        elif name.endswith(".safetensors") and not any(n.endswith(".safetensors") for n in here):
            stem = name.removesuffix(".safetensors")
            wanted += [name, f"{stem}.fp16.safetensors"] if uses_fp16 else [name]
    return [name for name in dict.fromkeys(wanted) if name not in here]


def _shard_counts(paths: list[str]) -> dict[tuple[str, str | None], int]:
    """``(folder, variant) -> number of shards`` for sharded weights."""
    counts: dict[tuple[str, str | None], int] = {}
    for path in paths:
        p = PurePosixPath(path)
        is_weights, variant = weight_variant(p.name)
        if is_weights and "-of-" in p.name and p.name.endswith(".safetensors"):
            total = int(p.name.split("-of-")[1][:5])
            counts[(str(p.parent), variant)] = total
    return counts


def _content(path: str, tiny: Path, real: dict[str, Any], shards: dict[tuple[str, str | None], int]) -> bytes:
    p = PurePosixPath(path)
    folder = "" if str(p.parent) == "." else str(p.parent)
    components = _components(real, tiny)
    if path == "model_index.json" and components is not None:
        return json.dumps(real["model_index"] or _json(tiny / "model_index.json"), indent=2).encode()
    in_component = folder in (components or ()) or (components is None and folder == "")
    if not in_component:
        return _filler(path)
    source = tiny / folder
    is_weights, variant = weight_variant(p.name)
    if is_weights and variant in (None, "fp16", "bf16", "non_ema"):
        state = _tiny_state(source)
        if variant in _CASTS:
            state = {k: v.to(_CASTS[variant]) for k, v in state.items()}
        count = shards.get((folder, variant))
        if count is None:
            return save(state)
        parts = _split(state, count)
        if p.name.endswith(".json"):
            stem = p.name.split(".safetensors.index")[0]
            names = _shard_names(stem, variant, count)
            weight_map = {key: names[i] for i, part in enumerate(parts) for key in part}
            total = sum(t.numel() * t.element_size() for t in state.values())
            return json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}).encode()
        index = int(p.name.split("-of-")[0][-5:]) - 1
        return save(parts[index])
    if (source / p.name).is_file():
        return (source / p.name).read_bytes()
    made = _tokenizer_file(source, p.name)
    if made is not None:
        return made
    if p.suffix in (".json", ".txt", ".model") and not is_weights:
        raise AssertionError(f"{real['repo']}: no tiny counterpart for {path}")
    return _filler(path)


def _components(real: dict[str, Any], tiny: Path) -> list[str] | None:
    """The folders of a pipeline repo (``None`` for a single-model repo such as TAESD)."""
    index = real.get("model_index")
    if index is None and not (tiny / "model_index.json").is_file():
        return None
    index = index or _json(tiny / "model_index.json")
    return pipeline_components(index)


@functools.lru_cache(maxsize=64)
def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _tiny_state(folder: Path) -> dict[str, torch.Tensor]:
    files = sorted(folder.glob("*.safetensors"))
    assert len(files) == 1, f"{folder}: expected one tiny weights file, found {files}"
    return load_file(str(files[0]))


def _split(state: dict[str, torch.Tensor], count: int) -> list[dict[str, torch.Tensor]]:
    keys = sorted(state)
    return [{k: state[k] for k in keys[i::count]} for i in range(count)]


def _shard_names(stem: str, variant: str | None, count: int) -> list[str]:
    suffix = f".{variant}" if variant else ""
    return [f"{stem}{suffix}-{i + 1:05d}-of-{count:05d}.safetensors" for i in range(count)]


def _tokenizer_file(folder: Path, name: str) -> bytes | None:
    """Slow-tokenizer files for a tiny CLIP tokenizer saved as ``tokenizer.json`` only."""
    fast = folder / "tokenizer.json"
    if not fast.is_file():
        return None
    model = _json(fast)["model"]
    if name == "vocab.json" and model.get("type") == "BPE":
        return json.dumps(model["vocab"]).encode()
    if name == "merges.txt" and model.get("type") == "BPE":
        merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
        return ("#version: 0.2\n" + "".join(f"{m}\n" for m in merges)).encode()
    if name == "special_tokens_map.json":
        config = _json(folder / "tokenizer_config.json")
        keys = ("bos_token", "eos_token", "pad_token", "unk_token")
        return json.dumps({k: config[k] for k in keys if k in config}).encode()
    if name == "spiece.model":  # T5: tokenizer.json, which the real folders also hold, is what loads
        return _filler(str(folder / name))
    return None


def _filler(path: str) -> bytes:
    """A few bytes standing in for a file the downloads must not fetch."""
    return b"not fetched: " + random.Random(path).randbytes(32)
