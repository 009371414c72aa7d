"""Variations as users expect them: A1111's variation-seed blend for txt2img, and Fooocus's Subtle
and Strong variations of a picture."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

from sfumato.generation import STRONG_VARIATION, SUBTLE_VARIATION, Txt2ImgRequest, VariationsRequest
from sfumato.generation.metadata import parse_parameters
from sfumato.inference import Engine
from sfumato.inference.noise import slerp


def _txt2img(model: Path, **overrides: Any) -> Txt2ImgRequest:
    fields = {"model": str(model), "prompt": "a lighthouse", "steps": 3, "seed": 11}
    fields |= {"width": 64, "height": 64}
    return Txt2ImgRequest(**{**fields, **overrides})


def _pixels(result: Any, index: int = 0) -> np.ndarray:
    return result.images[index].pixels.astype(np.int16)


@pytest.mark.parametrize("name", ["sd15", "sdxl", "sd3", "flux"])
def test_variation_strength_zero_makes_todays_pixels_and_a_tiny_one_nearly_them(
    engine: Engine, tiny_models: dict[str, Path], name: str
) -> None:
    """Strength 0 leaves the noise alone; a tiny strength moves a pixel by a level at most, which
    it could not if the seed's noise or the generator's state differed from the pipeline's own."""
    today = engine.run(_txt2img(tiny_models[name]))
    zero = engine.run(_txt2img(tiny_models[name], variation_seed=99, variation_strength=0.0))
    tiny = engine.run(_txt2img(tiny_models[name], variation_seed=99, variation_strength=1e-3))
    other = engine.run(_txt2img(tiny_models[name], seed=99))
    assert np.array_equal(_pixels(today), _pixels(zero)) and zero.variation_seeds == ()
    assert np.abs(_pixels(tiny) - _pixels(today)).max() <= 1
    assert np.abs(_pixels(other) - _pixels(today)).mean() > 10  # another seed is another picture
    assert "Variation seed" not in zero.images[0].parameters


def test_ancestral_sampling_keeps_the_seeds_generator_for_its_step_noise(
    engine: Engine, tiny_models: dict[str, Path]
) -> None:
    today = engine.run(_txt2img(tiny_models["sd15"], scheduler="Euler a"))
    blend = {"variation_seed": 99, "variation_strength": 1e-3}
    tiny = engine.run(_txt2img(tiny_models["sd15"], scheduler="Euler a", **blend))
    assert np.abs(_pixels(tiny) - _pixels(today)).max() <= 1


@pytest.mark.parametrize("name", ["sd15", "flux"])
def test_full_strength_starts_from_the_variation_seeds_noise(
    engine: Engine, tiny_models: dict[str, Path], name: str
) -> None:
    """At strength 1 the noise is the variation seed's: with a sampler that draws no more noise,
    the picture is that seed's."""
    blended = engine.run(_txt2img(tiny_models[name], scheduler="", variation_seed=99, variation_strength=1.0))
    seed_99 = engine.run(_txt2img(tiny_models[name], seed=99))
    assert np.abs(_pixels(blended) - _pixels(seed_99)).max() <= 1


def test_a_blended_batch_keeps_the_seed_and_counts_the_variation_seeds_up(
    engine: Engine, tiny_models: dict[str, Path]
) -> None:
    request = _txt2img(tiny_models["sd15"], seed=5, batch_size=3, variation_seed=100, variation_strength=0.3)
    result = engine.run(request)
    assert result.seeds == (5, 5, 5) and result.variation_seeds == (100, 101, 102)
    first, second, third = (_pixels(result, i) for i in range(3))
    assert not np.array_equal(first, second) and not np.array_equal(second, third)
    plain = _pixels(engine.run(_txt2img(tiny_models["sd15"], seed=5)))
    next_seed = _pixels(engine.run(_txt2img(tiny_models["sd15"], seed=6)))
    assert np.abs(first - plain).mean() < np.abs(next_seed - plain).mean()  # a change of the same picture
    parsed = parse_parameters(result.images[1].parameters)
    keys = ("Seed", "Variation seed", "Variation seed strength")
    assert tuple(parsed.values[key] for key in keys) == ("5", "101", "0.3")
    again = engine.run(parsed.to_request(model=str(tiny_models["sd15"])))
    assert np.array_equal(_pixels(again), second)


def test_a_random_variation_seed_is_reported_and_reproduces(
    engine: Engine, tiny_models: dict[str, Path]
) -> None:
    result = engine.run(_txt2img(tiny_models["sd15"], variation_strength=0.5))
    (chosen,) = result.variation_seeds
    again = engine.run(_txt2img(tiny_models["sd15"], variation_seed=chosen, variation_strength=0.5))
    assert np.array_equal(_pixels(result), _pixels(again))


def test_an_inpainting_model_leaves_the_blend_out_and_says_so(
    engine: Engine, tiny_models: dict[str, Path]
) -> None:
    plain = engine.run(_txt2img(tiny_models["sd15-inpaint"]))
    blended = engine.run(_txt2img(tiny_models["sd15-inpaint"], variation_seed=3, variation_strength=0.5))
    assert np.array_equal(_pixels(plain), _pixels(blended)) and blended.variation_seeds == ()
    assert any("variation seed applies to text-to-image models only" in n for n in blended.notices)
    assert "Variation seed" not in blended.images[0].parameters


def test_slerp_keeps_the_spread_of_one_draw() -> None:
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 32, 32, generator=generator), torch.randn(4, 32, 32, generator=generator)
    assert torch.equal(slerp(a, b, 0.0), a)
    assert torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    halfway = slerp(a, b, 0.5)
    assert abs(float(halfway.std()) - 1.0) < 0.05  # a straight mix would be about 0.71
    assert abs(float(((a + b) / 2).std()) - 0.71) < 0.05


@pytest.fixture(scope="module")
def neutral_model(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny SD 1.5 with a denoiser that removes nothing (its UNet's last layer zeroed) and a
    VAE that encodes without a random spread, latents scaled to unit spread as SD's own
    ``scaling_factor`` was chosen: a variation of it is the source's latents with the noise its
    strength adds, decoded. The random-weight model's own predictions swamp that noise: its
    Subtle and Strong variations are equally far from the source (mean distance 72–78 vs 67–73
    levels on 72×88, measured), so the difference the strengths make is tested here."""
    folder = tmp_path_factory.mktemp("neutral") / "sd15-neutral"
    shutil.copytree(tiny_models["sd15"], folder)
    unet = UNet2DConditionModel.from_pretrained(folder / "unet")
    vae = AutoencoderKL.from_pretrained(folder / "vae")
    channels = vae.config.latent_channels
    with torch.no_grad():
        unet.conv_out.weight.zero_()
        unet.conv_out.bias.zero_()
        vae.quant_conv.weight[channels:] = 0
        vae.quant_conv.bias[channels:] = -30.0  # log-variance: no spread
        latents = vae.encode(_as_tensor(_source())).latent_dist.mode()
    vae.register_to_config(scaling_factor=float(1 / latents.std()))
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    return folder


def _source() -> np.ndarray:
    y, x = np.mgrid[0:72, 0:88]
    return np.stack([x * 2, y * 3, (x + y) % 256], axis=2).astype(np.uint8)


def _as_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1


def _as_seen_by(model: Path, image: np.ndarray) -> np.ndarray:
    """``image`` through ``model``'s VAE and back: the source as that model draws it."""
    vae = AutoencoderKL.from_pretrained(model / "vae")
    with torch.no_grad():
        decoded = vae.decode(vae.encode(_as_tensor(image)).latent_dist.mode()).sample
    return ((decoded[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().numpy().astype(np.int16)


@pytest.mark.parametrize("scheduler", ["", "Euler a", "DPM++ 2M Karras"])
def test_subtle_variations_stay_closer_to_the_source_than_strong_ones(
    engine: Engine, neutral_model: Path, scheduler: str
) -> None:
    source = _source()
    seen = _as_seen_by(neutral_model, source)

    def distances(strength: float) -> np.ndarray:
        request = VariationsRequest(
            model=str(neutral_model), prompt="a lighthouse", steps=4, seed=3, source=source, count=4,
            strength=strength, scheduler=scheduler,
        )  # fmt: skip
        result = engine.run(request)
        assert result.seeds == (3, 4, 5, 6)
        return np.array([np.abs(image.pixels.astype(np.int16) - seen).mean() for image in result.images])

    subtle, strong = distances(SUBTLE_VARIATION), distances(STRONG_VARIATION)
    assert (subtle < strong).all(), (subtle, strong)  # seed by seed
    assert subtle.mean() + 5 < strong.mean()


@pytest.mark.parametrize("strength", [SUBTLE_VARIATION, STRONG_VARIATION])
def test_variations_differ_by_seed_and_repeat_with_the_same_seed(
    engine: Engine, tiny_models: dict[str, Path], strength: float
) -> None:
    request = VariationsRequest(
        model=str(tiny_models["sd15"]), prompt="a lighthouse", steps=4, seed=3, source=_source(), count=3,
        strength=strength,
    )  # fmt: skip
    first, again = engine.run(request), engine.run(request)
    images = [image.pixels for image in first.images]
    assert all(not np.array_equal(a, b) for i, a in enumerate(images) for b in images[i + 1 :])
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(first.images, again.images, strict=True))
    assert parse_parameters(first.images[0].parameters).values["Denoising strength"] == f"{strength}"
