"""Every name in the scheduler table builds the diffusers scheduler it stands for, and reads back."""

from __future__ import annotations

import pytest
from diffusers import PNDMScheduler

from sfumato.generation.schedulers import FLOW_SCHEDULERS, SCHEDULERS, UNET_SCHEDULERS, SchedulerSpec
from sfumato.inference.families import TRAITS, Architecture
from sfumato.inference.schedulers import default_scheduler_name, make_scheduler, name_of
from sfumato.inference.tiny_models import sd_scheduler


@pytest.mark.parametrize("spec", SCHEDULERS, ids=lambda spec: spec.name)
def test_each_name_builds_its_class_with_its_overrides_and_reads_back(spec: SchedulerSpec) -> None:
    traits = TRAITS[Architecture.FLUX if spec.flow else Architecture.SD1]
    scheduler = make_scheduler(spec.name, sd_scheduler().config, traits)
    assert type(scheduler).__name__ == spec.class_name
    assert all(getattr(scheduler.config, key) == value for key, value in spec.overrides.items())
    assert name_of(scheduler) == spec.name
    assert default_scheduler_name(scheduler, traits) == spec.name  # a model's own is kept


def test_a_model_whose_scheduler_is_not_offered_gets_its_architectures_first() -> None:
    # what stable-diffusion-v1-5 ships (tests/fixtures/hub_layouts/stable-diffusion-v1-5__*.json)
    own = PNDMScheduler.from_config(sd_scheduler().config)
    assert name_of(own) is None
    assert default_scheduler_name(own, TRAITS[Architecture.SDXL]) == UNET_SCHEDULERS[0]
    assert default_scheduler_name(own, TRAITS[Architecture.SD3]) == FLOW_SCHEDULERS[0]
