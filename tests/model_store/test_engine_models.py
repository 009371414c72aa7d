"""The engine's tiny models, served by the fake hub, installed, then recognised by the engine."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from fake_hub import FakeHub, Repo

from sfumato.inference.families import Family
from sfumato.inference.model_files import detect_model
from sfumato.inference.tiny_models import build_sd15, export_single_file
from sfumato.model_store import ModelManager, resolve_model


def test_a_tiny_sd15_goes_from_the_hub_to_the_engine(
    make_manager: Callable[..., ModelManager], hub: FakeHub, tmp_path: Path
) -> None:
    folder = build_sd15(tmp_path / "tiny-sd15")
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    hub.repos["tiny/sd15"] = Repo(files=files)

    model = make_manager().install("tiny/sd15")
    assert (model.kind, model.family) == ("hub", "sd15")
    path = resolve_model("tiny/sd15")
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()) == sorted(files)
    assert detect_model(path).family is Family.SD1

    single = export_single_file(folder, tmp_path / "tiny.safetensors")
    hub.plain["tiny.safetensors"] = single.read_bytes()
    url_model = make_manager().install_url(
        f"{hub.url}/files/tiny.safetensors", hashlib.sha256(single.read_bytes()).hexdigest()
    )
    assert url_model.family == "sd15" and url_model.path.read_bytes() == single.read_bytes()
