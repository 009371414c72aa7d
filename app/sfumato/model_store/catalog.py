"""The model catalog: ``models/catalog.json``, validated against ``models/catalog.schema.json``.

The catalog names public checkpoints (hub repo, revision, which files make each variant), their
licence, recommended generation defaults and per-tier starter sets, and adapters (LoRAs) that run
on one of its checkpoints (``adapter_for``). It holds no weights and no
guessed facts: unknown sizes, hashes and memory figures are ``None``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sfumato.model_store.errors import CatalogError, UnknownModelError
from sfumato.model_store.json_schema import SchemaViolation, validate
from sfumato.paths import app_root

TIERS = ("cpu", "mps", "gpu-6gb", "gpu-8gb", "gpu-12gb", "gpu-16gb", "gpu-24gb")


def catalog_dir() -> Path:
    """The ``models/`` folder: ``SFUMATO_CATALOG_DIR`` if set, else the shipped one (:func:`app_root`)."""
    override = os.environ.get("SFUMATO_CATALOG_DIR")
    if override:
        return Path(override)
    return app_root() / "models"


@dataclass(frozen=True)
class Family:
    """An architecture family: what the engine needs to know to load and size a checkpoint."""

    id: str
    label: str
    native_resolution: int
    dtypes: tuple[str, ...]
    config_dir: Path | None
    params_millions: Mapping[str, float] | None


@dataclass(frozen=True)
class Source:
    """One hub repo a model is fetched from (``main``, or the ``prior`` of a two-stage model)."""

    role: str
    repo: str
    revision: str


@dataclass(frozen=True)
class Variant:
    """A downloadable form of a model: which weight files, their runtime dtype, known needs."""

    name: str
    layout: str
    weights_variant: str | None
    file: str | None
    sha256: str | None
    dtype: str
    download_bytes: int | None
    min_vram_gb: float | None
    min_ram_gb: float | None


@dataclass(frozen=True)
class Defaults:
    """Recommended generation parameters from the model card."""

    steps: int
    cfg: float
    scheduler: str
    width: int
    height: int
    prior_steps: int | None = None
    prior_cfg: float | None = None


@dataclass(frozen=True)
class CatalogModel:
    """One catalog entry."""

    id: str
    name: str
    family: Family
    task: str
    sources: tuple[Source, ...]
    licence_name: str
    licence_url: str
    gated: bool
    variants: tuple[Variant, ...]
    defaults: Defaults
    notes: str
    adapter_for: str | None = None
    """For an adapter (a LoRA for one model): the id of the catalog model it runs on."""

    @property
    def repo(self) -> str:
        """The hub repo of the main source."""
        return self.source("main").repo

    def source(self, role: str) -> Source:
        """The source with ``role`` (``main`` or ``prior``)."""
        for src in self.sources:
            if src.role == role:
                return src
        raise KeyError(role)

    def variant(self, name: str) -> Variant:
        """The variant called ``name``; :class:`UnknownModelError` if there is none."""
        for v in self.variants:
            if v.name == name:
                return v
        names = ", ".join(v.name for v in self.variants)
        raise UnknownModelError(f"{self.id} has no variant {name!r} (it has: {names}).")


@dataclass(frozen=True)
class PreviewDecoder:
    """A tiny autoencoder (diffusers ``AutoencoderTiny``) that decodes live previews for models of
    ``families`` (catalog family ids). Installed like a model, never generated with."""

    id: str
    name: str
    families: tuple[str, ...]
    source: Source
    licence_name: str
    licence_url: str
    notes: str

    @property
    def repo(self) -> str:
        """The hub repo it is fetched from."""
        return self.source.repo


@dataclass(frozen=True)
class Catalog:
    """The whole catalog: families, models in file order, starter sets per hardware tier, and
    the preview decoders."""

    families: Mapping[str, Family]
    models: tuple[CatalogModel, ...]
    starter_sets: Mapping[str, tuple[str, ...]]
    preview_decoders: tuple[PreviewDecoder, ...] = ()

    def get(self, model_id: str) -> CatalogModel:
        """The entry with ``model_id``; :class:`UnknownModelError` if absent."""
        for m in self.models:
            if m.id == model_id:
                return m
        raise UnknownModelError(
            f"{model_id!r} is not in the model catalog. `sfumato models list` shows the ids."
        )

    def preview_decoder(self, decoder_id: str) -> PreviewDecoder | None:
        """The preview decoder ``decoder_id``, if the catalog has one."""
        return next((d for d in self.preview_decoders if d.id == decoder_id), None)

    def find_by_repo(self, repo: str) -> CatalogModel | None:
        """The entry whose main source is hub repo ``repo`` (case-insensitive), if any."""
        for m in self.models:
            if m.repo.lower() == repo.lower():
                return m
        return None


def load_catalog(directory: Path | None = None) -> Catalog:
    """Read and validate ``catalog.json`` in ``directory`` (default :func:`catalog_dir`).

    Raises :class:`CatalogError` naming the bad entry and field.
    """
    root = directory or catalog_dir()
    path = root / "catalog.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        schema = json.loads((root / "catalog.schema.json").read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"Cannot read the model catalog: {exc}", details=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"The model catalog is not valid JSON (line {exc.lineno}, column {exc.colno}).",
            details=str(path),
        ) from exc
    try:
        validate(data, schema)
    except SchemaViolation as exc:
        raise CatalogError(
            f"The model catalog has a bad entry: {_name_entry(data, exc.path)}: {exc.message}",
            details=str(path),
        ) from exc
    return _build(data, root, path)


def _name_entry(data: Any, path: str) -> str:
    """``models[3].variants[0].dtype`` → ``models[3] "sdxl-base" .variants[0].dtype``."""
    match = re.match(r"models\[(\d+)\]", path)
    if match:
        entry = data["models"][int(match.group(1))]
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            return f'{match.group(0)} "{entry["id"]}"{path[match.end() :]}'
    return path or "<root>"


def _bad(path: Path, where: str, message: str) -> CatalogError:
    return CatalogError(f"The model catalog has a bad entry: {where}: {message}", details=str(path))


def _build(data: dict[str, Any], root: Path, path: Path) -> Catalog:
    families: dict[str, Family] = {}
    for fid, f in data["families"].items():
        config_dir = root / f["config_dir"] if f["config_dir"] else None
        if config_dir is not None and not config_dir.is_dir():
            raise _bad(path, f"families.{fid}.config_dir", f"folder {f['config_dir']} is missing")
        families[fid] = Family(
            id=fid,
            label=f["label"],
            native_resolution=f["native_resolution"],
            dtypes=tuple(f["dtypes"]),
            config_dir=config_dir,
            params_millions=f["params_millions"],
        )
    models: list[CatalogModel] = []
    seen: set[str] = set()
    for i, m in enumerate(data["models"]):
        where = f'models[{i}] "{m["id"]}"'
        if m["id"] in seen:
            raise _bad(path, where, "duplicate id")
        seen.add(m["id"])
        if m["family"] not in families:
            raise _bad(path, f"{where}.family", f"unknown family {m['family']!r}")
        roles = [s["role"] for s in m["sources"]]
        if roles.count("main") != 1 or len(set(roles)) != len(roles):
            raise _bad(path, f"{where}.sources", "needs exactly one 'main' source and unique roles")
        variants = tuple(_variant(v, path, f"{where}.variants[{j}]") for j, v in enumerate(m["variants"]))
        if len({v.name for v in variants}) != len(variants):
            raise _bad(path, f"{where}.variants", "duplicate variant name")
        models.append(
            CatalogModel(
                id=m["id"],
                name=m["name"],
                family=families[m["family"]],
                task=m["task"],
                sources=tuple(Source(s["role"], s["repo"], s["revision"]) for s in m["sources"]),
                licence_name=m["licence"]["name"],
                licence_url=m["licence"]["url"],
                gated=m["gated"],
                variants=variants,
                defaults=Defaults(**m["defaults"]),
                notes=m.get("notes", ""),
                adapter_for=m.get("adapter_for"),
            )
        )
    by_id = {m.id: m for m in models}
    for i, m in enumerate(models):
        if m.adapter_for is not None:
            _check_adapter(m, by_id, path, f'models[{i}] "{m.id}"')
    starters: dict[str, tuple[str, ...]] = {}
    for tier, ids in data["starter_sets"].items():
        for model_id in ids:
            if model_id not in seen:
                raise _bad(path, f"starter_sets.{tier}", f"unknown model id {model_id!r}")
        starters[tier] = tuple(ids)
    decoders: list[PreviewDecoder] = []
    for i, d in enumerate(data.get("preview_decoders", [])):
        where = f'preview_decoders[{i}] "{d["id"]}"'
        if d["id"] in seen:
            raise _bad(path, where, "duplicate id")
        seen.add(d["id"])
        unknown = [f for f in d["families"] if f not in families]
        if unknown:
            raise _bad(path, f"{where}.families", f"unknown family {unknown[0]!r}")
        src = d["source"]
        decoders.append(
            PreviewDecoder(
                id=d["id"],
                name=d["name"],
                families=tuple(d["families"]),
                source=Source(src["role"], src["repo"], src["revision"]),
                licence_name=d["licence"]["name"],
                licence_url=d["licence"]["url"],
                notes=d.get("notes", ""),
            )
        )
    return Catalog(
        families=families, models=tuple(models), starter_sets=starters, preview_decoders=tuple(decoders)
    )


def _check_adapter(m: CatalogModel, by_id: Mapping[str, CatalogModel], path: Path, where: str) -> None:
    """An adapter runs on a model of its own family that is not an adapter, and is one file."""
    base = by_id.get(m.adapter_for or "")
    if base is None or base.adapter_for is not None:
        raise _bad(path, f"{where}.adapter_for", f"{m.adapter_for!r} is not a model in the catalog")
    if base.family.id != m.family.id:
        raise _bad(path, f"{where}.family", f"an adapter for {base.id} must be of family {base.family.id}")
    if any(v.layout != "single_file" for v in m.variants):
        raise _bad(path, f"{where}.variants", "an adapter's variants are single files")


def _variant(v: dict[str, Any], path: Path, where: str) -> Variant:
    if (v["layout"] == "single_file") != ("file" in v):
        raise _bad(path, where, "'file' is required for layout single_file and only for it")
    if "sha256" in v and v["layout"] != "single_file":
        raise _bad(path, where, "'sha256' applies to single_file variants only")
    return Variant(
        name=v["name"],
        layout=v["layout"],
        weights_variant=v["weights_variant"],
        file=v.get("file"),
        sha256=v.get("sha256"),
        dtype=v["dtype"],
        download_bytes=v["download_bytes"],
        min_vram_gb=v["min_vram_gb"],
        min_ram_gb=v["min_ram_gb"],
    )
