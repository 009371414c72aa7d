"""Helpers for the model manager and first-run wizard tests: the model store's fake hub on
127.0.0.1, its test catalog, faked machines, and managers wired to them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import huggingface_hub.constants
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model_store"))

from fake_hub import FakeHub, Fault, start_fake_hub
from store_helpers import FAST, TOKEN, tiny_sd_repo, write_test_catalog

from sfumato.model_store import GpuInfo, HardwareProfile, ModelManager, load_catalog
from sfumato.model_store.hub import HubClient

__all__ = [
    "CPU_16GB",
    "FAST",
    "GPU_12GB",
    "TOKEN",
    "UNET16",
    "FakeHub",
    "Fault",
    "hub_manager",
    "offline_manager",
    "running_hub",
    "write_catalog",
]

GIB = 1024**3
CPU_16GB = HardwareProfile(cpu_cores=8, ram_total=16 * GIB, system="Linux")
GPU_12GB = HardwareProfile(
    cpu_cores=12, ram_total=32 * GIB, system="Linux",
    gpus=(GpuInfo("cuda", "NVIDIA GeForce RTX 3060", 12 * GIB, 11 * GIB, "8.6", "560.35"),),
)
UNET16 = "unet/diffusion_pytorch_model.fp16.safetensors"


@contextmanager
def running_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """The fake hub serving ``fake/tiny-sd`` and a gated ``fake/gated``; offline mode off."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    fake, server = start_fake_hub()
    fake.repos["fake/tiny-sd"] = tiny_sd_repo()
    gated = tiny_sd_repo()
    gated.gated, gated.token = True, TOKEN
    fake.repos["fake/gated"] = gated
    try:
        yield fake
    finally:
        fake.closing.set()
        server.shutdown()
        server.server_close()


def write_catalog(folder: Path) -> Path:
    """The model store's test catalog (tiny-sd, tiny-gated, tiny-single) written to ``folder``."""
    return write_test_catalog(folder)


def hub_manager(
    hub: FakeHub, catalog: Path, cache: Path, profile: HardwareProfile = CPU_16GB
) -> ModelManager:
    """A manager on the fake hub, the test catalog and ``cache``, for a faked machine."""
    return ModelManager(
        cache, catalog=load_catalog(catalog), hub=HubClient(endpoint=hub.url, token=None),
        profile=profile, transfer=FAST, hf_cache_dir=cache.parent / "hf-cache",
    )


def offline_manager(cache: Path, profile: HardwareProfile) -> ModelManager:
    """A manager on the real catalog for a faked machine; the suite's offline mode stays on."""
    return ModelManager(cache, profile=profile, hf_cache_dir=cache.parent / "hf-cache")
