"""Reusing a PNG's parameters with the models installed here: the model lookup and
``sfumato generate --params-from``."""

from __future__ import annotations

from pathlib import Path

from sfumato.inference.model_files import detect_model, installed_model, model_hash
from sfumato.model_store import ModelManager


def test_an_installed_model_is_found_by_the_name_or_the_hash_sfumato_records(
    tiny_models: dict[str, Path],
) -> None:
    folder = tiny_models["sd15"]
    assert installed_model("sd15") is None  # nothing installed yet
    (model,) = ModelManager().import_path(folder)
    recorded = model_hash(detect_model(folder))
    assert installed_model("sd15") == model.key  # the Model name: the folder's name
    assert installed_model("renamed", recorded) == model.key
    assert installed_model(model.key) == model.key
    assert installed_model("v1-5-pruned-emaonly", "6ce0161689") is None
