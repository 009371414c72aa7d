"""Preview decoders in the catalog: validation, installing from the hub, finding one by family."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_hub import FakeHub, Repo
from store_helpers import blob

from sfumato.model_store import (
    CatalogError,
    HubAccessError,
    ModelManager,
    load_catalog,
    preview_decoder_path,
)

Make = Callable[..., ModelManager]
SHIPPED = {
    "taesd": ("madebyollin/taesd", {"sd15", "sd15-inpainting", "sd2", "sd2-inpainting"}),
    "taesdxl": ("madebyollin/taesdxl", {"sdxl", "sdxl-inpainting"}),
    "taesd3": ("madebyollin/taesd3", {"sd35-medium", "sd35-large"}),
    "taef1": ("madebyollin/taef1", {"flux-dev", "flux-schnell", "flux-fill"}),
}


def _add_decoder(catalog: Path, families: list[str]) -> None:
    """Give the test catalog a preview decoder ``tiny-taesd`` served as ``fake/taesd``."""
    data = json.loads((catalog / "catalog.json").read_text())
    data["preview_decoders"] = [
        {
            "id": "tiny-taesd",
            "name": "tiny TAESD",
            "families": families,
            "source": {"role": "main", "repo": "fake/taesd", "revision": "main"},
            "licence": {"name": "MIT", "url": "https://example.org/taesd"},
        }
    ]
    (catalog / "catalog.json").write_text(json.dumps(data))


def test_the_shipped_catalog_names_a_tiny_decoder_for_every_latent_space() -> None:
    catalog = load_catalog()
    found = {d.id: (d.repo, set(d.families)) for d in catalog.preview_decoders}
    assert found == SHIPPED
    assert not {d.id for d in catalog.preview_decoders} & {m.id for m in catalog.models}
    covered = set().union(*(families for _, families in SHIPPED.values()))
    assert covered == set(catalog.families) - {"cascade"}


def test_a_decoder_for_an_unknown_family_is_named(test_catalog: Path) -> None:
    _add_decoder(test_catalog, ["sd15", "sd9"])
    with pytest.raises(CatalogError, match=r'preview_decoders\[0\] "tiny-taesd".families: unknown family'):
        load_catalog(test_catalog)


def test_a_decoder_installs_its_config_and_safetensors_and_is_found_by_family(
    make_manager: Make, hub: FakeHub, test_catalog: Path
) -> None:
    _add_decoder(test_catalog, ["sd15"])
    hub.repos["fake/taesd"] = Repo(
        files={
            "config.json": b'{"_class_name": "AutoencoderTiny", "latent_channels": 4}',
            "diffusion_pytorch_model.safetensors": blob(20_000, 7),
            "diffusion_pytorch_model.bin": b"pickle" * 10,
            "taesd_decoder.pth": b"pickle" * 10,
            "README.md": b"# TAESD",
        }
    )
    manager = make_manager()
    assert manager.preview_decoder_for(["sd15"]) is None

    model = manager.install("tiny-taesd")

    files = sorted(p.name for p in model.path.iterdir())
    assert files == ["config.json", "diffusion_pytorch_model.safetensors"]
    assert model.kind == "preview-decoder" and model.model_id == "tiny-taesd"
    assert manager.installed() == [] and manager.preview_decoders() == [model]
    assert preview_decoder_path(["sdxl", "sd15"]) == model.path
    assert preview_decoder_path(["sdxl"]) is None
    assert manager.verify("tiny-taesd")[0].ok
    (model.path / "config.json").write_bytes(b"{}")
    assert not manager.verify("tiny-taesd")[0].ok
    assert manager.repair("tiny-taesd").kind == "preview-decoder"
    assert manager.verify("tiny-taesd")[0].ok


def test_a_repo_without_safetensors_weights_is_refused(
    make_manager: Make, hub: FakeHub, test_catalog: Path
) -> None:
    _add_decoder(test_catalog, ["sd15"])
    hub.repos["fake/taesd"] = Repo(files={"config.json": b"{}", "taesd_decoder.pth": b"pickle"})
    with pytest.raises(HubAccessError, match=r"has no diffusion_pytorch_model\.safetensors"):
        make_manager().install("tiny-taesd")
    assert make_manager().preview_decoders() == []
