"""Request → pipeline inputs (no torch), steps raised for low strengths, and the fitted latent →
RGB preview."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from sfumato.generation import (
    Img2ImgRequest,
    InpaintRequest,
    InvalidRequestError,
    Margins,
    OutpaintRequest,
    Txt2ImgRequest,
    VariationsRequest,
)
from sfumato.generation.requests import Task, steps_for_strength
from sfumato.inference.planning import plan_request, round_size
from sfumato.inference.preview import LatentPreviewer, fit_latent_to_rgb


def test_round_size_notices_only_when_changed() -> None:
    assert round_size(512, 768, 8) == ((512, 768), ())
    size, notices = round_size(500, 3, 16)
    assert size == (496, 16) and len(notices) == 1 and "500×3" in notices[0]


def test_txt2img_defaults_to_native_size_and_inpaint_models_inpaint_everything() -> None:
    request = Txt2ImgRequest(model="m", prompt="p")
    assert plan_request(request, 512, 8, inpaint_only=False).size == (512, 512)
    plan = plan_request(request, 512, 8, inpaint_only=True)
    assert plan.pipeline_task is Task.INPAINT and plan.strength == 1.0
    assert plan.mask is not None and np.asarray(plan.mask).min() == 255


def test_img2img_keeps_the_source_size_rounded() -> None:
    source = np.zeros((100, 130, 3), np.uint8)
    plan = plan_request(Img2ImgRequest(model="m", prompt="p", source=source), 512, 8, inpaint_only=False)
    assert plan.pipeline_task is Task.IMG2IMG and plan.size == (128, 96)
    assert plan.image is not None and plan.image.size == (128, 96) and plan.notices


def test_inpaint_region_scales_to_the_native_area_whatever_the_image_size() -> None:
    sizes = []
    for side in (1024, 4096):
        source = np.zeros((side, side, 3), np.uint8)
        mask = np.zeros((side, side), np.uint8)
        mask[100:356, 200:456] = 255
        plan = plan_request(
            InpaintRequest(model="m", prompt="p", source=source, mask=mask, padding=0), 512, 8, False
        )
        sizes.append((plan.size, plan.region))
    assert sizes[0] == sizes[1]
    assert sizes[0][0] == (512, 512)


def test_outpaint_plan_pastes_into_the_grown_canvas() -> None:
    source = np.full((64, 64, 3), 90, np.uint8)
    request = OutpaintRequest(model="m", prompt="p", source=source, margins=Margins(0, 0, 32, 0),
                              match_colours=False)  # the raw paste: this black "model" drifts by 90
    plan = plan_request(request, 64, 8, inpaint_only=False)
    image = plan.finish(np.zeros((plan.size[1], plan.size[0], 3), np.uint8), 5, "text")
    assert image.box is not None and image.box.x1 == 96 and image.seed == 5
    full = image.full()
    assert full.shape == (64, 96, 3)
    assert np.array_equal(full[:, :64], source)
    assert full[:, 80:].max() == 0


@pytest.mark.parametrize(
    ("steps", "strength", "needed"),
    [(1, 0.5, 2), (1, 0.3, 4), (2, 0.5, 2), (1, 1.0, 1), (3, 0.1, 10), (1, 0.05, 20), (30, 0.75, 30)],
)
def test_steps_for_strength_is_the_fewest_that_run_a_step(steps: int, strength: float, needed: int) -> None:
    assert steps_for_strength(steps, strength) == needed
    assert int(needed * strength) >= 1  # diffusers' img2img runs int(steps × strength) steps
    if needed > steps:
        assert int((needed - 1) * strength) < 1


def test_a_strength_no_step_count_can_run_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="too low"):
        Img2ImgRequest(model="m", prompt="p", source=np.zeros((8, 8, 3), np.uint8), strength=0.0005)


def test_plans_raise_the_steps_a_low_strength_needs_and_say_so() -> None:
    source = np.zeros((64, 64, 3), np.uint8)
    turbo = Img2ImgRequest(model="m", prompt="p", source=source, steps=1, strength=0.5)
    plan = plan_request(turbo, 512, 8, inpaint_only=False)
    assert plan.steps == 2
    assert plan.notices == ("Steps raised from 1 to 2 so that strength 0.5 runs at least one step.",)
    assert plan_request(replace(turbo, steps=2), 512, 8, inpaint_only=False).notices == ()
    assert plan_request(Txt2ImgRequest(model="m", prompt="p", steps=1), 512, 8, False).steps == 1
    mask = np.full((64, 64), 255, np.uint8)
    inpaint = InpaintRequest(model="m", prompt="p", source=source, mask=mask, steps=1, strength=0.3)
    assert plan_request(inpaint, 512, 8, inpaint_only=False).steps == 4
    variations = VariationsRequest(model="m", prompt="p", source=source, steps=1)
    assert plan_request(variations, 512, 8, inpaint_only=True).steps == 2  # subtle variation is 0.5


class LinearVae:
    """A VAE whose latents are a known linear function of the 8×8-averaged colour."""

    def __init__(self, weights: torch.Tensor) -> None:
        self.weights = weights
        self.dtype = torch.float32
        self.config = SimpleNamespace(scaling_factor=1.0, shift_factor=None)

    def parameters(self) -> Any:
        return iter([torch.zeros(1)])

    def encode(self, pixels: torch.Tensor) -> Any:
        colour = torch.nn.functional.avg_pool2d((pixels + 1) / 2, 8)
        mean = torch.einsum("bchw,cl->blhw", colour, self.weights) + 0.25
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=mean))


def test_preview_fit_recovers_a_linear_vae() -> None:
    weights = torch.tensor([[1.0, 0.2, -0.5, 0.1], [0.0, 1.5, 0.3, -0.2], [0.4, -0.3, 0.9, 0.7]])
    vae = LinearVae(weights)
    matrix = fit_latent_to_rgb(vae)
    assert matrix.shape == (5, 3)
    colour = torch.tensor([0.8, 0.2, 0.5])
    latent = (colour @ weights + 0.25).reshape(1, 4, 1, 1).expand(1, 4, 3, 5)
    preview = LatentPreviewer(vae)(latent)
    assert preview.shape == (3, 5, 3)
    assert np.abs(preview[1, 2].astype(int) - np.array([204, 51, 128])).max() <= 1
