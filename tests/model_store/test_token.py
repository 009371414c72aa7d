"""A token given to a running manager (the dialog's gated-model prompt) is used from then on."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fake_hub import FakeHub
from store_helpers import TOKEN

from sfumato.model_store import GatedModelError, ModelManager


def test_use_token_unlocks_a_gated_model_on_the_same_endpoint(
    make_manager: Callable[..., ModelManager], hub: FakeHub
) -> None:
    manager = make_manager()
    with pytest.raises(GatedModelError):
        manager.install("tiny-gated")
    manager.use_token(TOKEN)
    assert manager.hub.endpoint == hub.url
    model = manager.install("tiny-gated")
    assert model.path.is_dir()
    resolves = [r for r in hub.requests if "/resolve/" in r.path]
    assert resolves and all(r.authorization == f"Bearer {TOKEN}" for r in resolves)
