"""What the model windows show, read on a worker thread: hardware, catalog, fit plans, installs
(imported LoRAs and embeddings too), and download sizes from the hub. Nothing here touches
widgets."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import huggingface_hub.constants

from sfumato.model_store import (
    Catalog,
    CatalogModel,
    DownloadError,
    HardwareProfile,
    InstalledModel,
    ModelManager,
    ModelStoreError,
    RunPlan,
)
from sfumato.model_store.adapters import AdapterFile

log = logging.getLogger(__name__)

MANAGED_KINDS = ("catalog", "hub", "url", "local")
"""Installs with a manifest in Sfumato's cache: these can be verified and removed."""


@dataclass(frozen=True)
class StoreState:
    """A snapshot of the model store for display."""

    profile: HardwareProfile
    catalog: Catalog
    plans: dict[str, RunPlan]
    installed: tuple[InstalledModel, ...]
    adapters: tuple[AdapterFile, ...] = ()
    """The imported LoRAs and embeddings (the catalog's adapters are catalog models)."""
    adapter_sizes: dict[str, int] = field(default_factory=dict)
    """Each imported LoRA's and embedding's file size, by its path."""

    def installs_of(self, model: CatalogModel) -> list[InstalledModel]:
        """Installed variants of a catalog model, in the catalog's variant order."""
        order = [v.name for v in model.variants]
        found = [m for m in self.installed if m.model_id == model.id]
        return sorted(found, key=lambda m: order.index(m.variant) if m.variant in order else len(order))

    def others(self) -> list[InstalledModel]:
        """Installed models that are not catalog entries (imports, hub repos, found folders)."""
        return [m for m in self.installed if m.model_id is None]


def read_state(manager: ModelManager) -> StoreState:
    """Probe (once), load the catalog, plan every model and list installs. Slow: call off the GUI."""
    catalog = manager.catalog
    profile = manager.profile
    plans = {m.id: manager.plan(m.id) for m in catalog.models}
    adapters = tuple(manager.adapters.installed())
    sizes = {}
    for adapter in adapters:
        try:
            sizes[str(adapter.path)] = adapter.path.stat().st_size
        except OSError:  # removed meanwhile: listed without a size
            continue
    return StoreState(profile, catalog, plans, tuple(manager.installed()), adapters, sizes)


def hub_sizes(manager: ModelManager, model_ids: Iterable[str]) -> dict[str, int]:
    """Download sizes from the hub's metadata for the planned variants; models whose metadata
    cannot be read (gated without a token) are left out. Nothing is asked in offline mode, and
    the first network failure ends the look-ups so an unreachable hub is not asked again."""
    sizes: dict[str, int] = {}
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        return sizes
    for model_id in model_ids:
        try:
            sizes[model_id] = manager.download_size(model_id)
        except DownloadError as exc:
            log.info("no download sizes from the hub: %s", exc)
            break
        except ModelStoreError as exc:
            log.info("no download size for %s: %s", model_id, exc)
    return sizes
