"""The one scheduler table: names offered per kind of model, and diffusers class names read back."""

from __future__ import annotations

import json

from sfumato.generation.schedulers import (
    ALL_SCHEDULERS,
    DPMPP_2M,
    DPMPP_2M_KARRAS,
    FLOW_SCHEDULERS,
    LCM,
    SCHEDULERS,
    UNET_SCHEDULERS,
    canonical_scheduler_name,
    scheduler_for_class,
    scheduler_spec,
)
from sfumato.model_store.catalog import catalog_dir


def test_every_name_is_one_row_offered_to_one_kind_of_model() -> None:
    names = [spec.name for spec in SCHEDULERS]
    assert len(set(names)) == len(names) and set(names) == set(ALL_SCHEDULERS)
    assert not set(UNET_SCHEDULERS) & set(FLOW_SCHEDULERS)
    assert all(scheduler_spec(name).name == name for name in names)


def test_a_class_maps_to_its_plain_name_and_karras_tells_two_rows_apart() -> None:
    assert scheduler_for_class("DPMSolverMultistepScheduler") == DPMPP_2M
    assert scheduler_for_class("DPMSolverMultistepScheduler", karras=True) == DPMPP_2M_KARRAS
    assert scheduler_for_class("LCMScheduler") == LCM
    assert scheduler_for_class("PNDMScheduler") is None  # SD 1.5's own: not one Sfumato offers
    assert canonical_scheduler_name("dpm++  2m karras") == DPMPP_2M_KARRAS
    assert scheduler_for_class("DDIMScheduler") == "DDIM"  # the class's plain row, leading spacing
    assert scheduler_for_class("DDIM Trailing") == "DDIM Trailing"  # what the class alone cannot say


def test_every_scheduler_the_catalog_recommends_has_a_name() -> None:
    data = json.loads((catalog_dir() / "catalog.json").read_text(encoding="utf-8"))
    classes = {entry["defaults"]["scheduler"] for entry in data["models"]}
    assert classes and {c for c in classes if scheduler_for_class(c) is None} == set()
