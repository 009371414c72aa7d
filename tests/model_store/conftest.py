"""Fixtures for model-store tests: a fake hub on 127.0.0.1, the test catalog, managers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest
from fake_hub import FakeHub, start_fake_hub
from store_helpers import CPU_16GB, FAST, TOKEN, tiny_sd_repo, write_test_catalog

from sfumato.model_store import ModelManager
from sfumato.model_store.hub import HubClient


@pytest.fixture
def test_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test catalog, also what ``load_catalog()`` reads (``SFUMATO_CATALOG_DIR``)."""
    folder = write_test_catalog(tmp_path / "catalog")
    monkeypatch.setenv("SFUMATO_CATALOG_DIR", str(folder))
    return folder


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite runs with HF_HUB_OFFLINE=1; these tests talk to the fake hub only."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def hub(online: None) -> Iterator[FakeHub]:
    """A fake hub serving ``fake/tiny-sd`` and a gated ``fake/gated``, on 127.0.0.1."""
    fake, server = start_fake_hub()
    fake.repos["fake/tiny-sd"] = tiny_sd_repo()
    gated = tiny_sd_repo()
    gated.gated, gated.token = True, TOKEN
    fake.repos["fake/gated"] = gated
    yield fake
    fake.closing.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def make_manager(hub: FakeHub, test_catalog: Path, tmp_path: Path) -> Callable[..., ModelManager]:
    """Build managers on the per-test default cache (as ``resolve_model`` sees it) and the fake hub."""

    def make(token: str | None = None, **kwargs: object) -> ModelManager:
        kwargs.setdefault("profile", CPU_16GB)
        kwargs.setdefault("transfer", FAST)
        kwargs.setdefault("hf_cache_dir", tmp_path / "hf-cache")
        return ModelManager(hub=HubClient(endpoint=hub.url, token=token or None), **kwargs)  # type: ignore[arg-type]

    return make
