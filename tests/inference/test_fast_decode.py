"""Fast decode: the final images come from the model's tiny decoder (TAESD family) instead of its
VAE, for every family and task; without a tiny decoder the VAE decodes and a notice says what to
install."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, AutoencoderTiny

from sfumato.cli import main
from sfumato.generation import InpaintRequest, Txt2ImgRequest
from sfumato.generation.metadata import parse_parameters, read_parameters
from sfumato.inference import Engine, profile_for
from sfumato.inference.tiny_models import build_tiny_decoder
from sfumato.model_store import InstalledModel, ModelManager, SourceRecord

CHANNELS = {"sd15": 4, "sdxl": 4, "sd3": 16, "flux": 16, "flux-fill": 16}
"""Tiny model → the latent channels its tiny decoder takes."""


@pytest.fixture(scope="module")
def with_decoder(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Copies of the tiny models, each with a tiny decoder in its ``taesd/`` sub-folder."""
    root = tmp_path_factory.mktemp("fast-decode")
    models = {}
    for name, channels in CHANNELS.items():
        models[name] = shutil.copytree(tiny_models[name], root / name)
        build_tiny_decoder(models[name] / "taesd", channels)
    return models


class Decodes:
    """Counts the VAE's decodes and keeps what the tiny decoder returns."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.vae = 0
        self.tiny: list[torch.Tensor] = []
        vae_decode, tiny_decode = AutoencoderKL.decode, AutoencoderTiny.decode

        def count(vae: AutoencoderKL, *args: Any, **kwargs: Any) -> Any:
            self.vae += 1
            return vae_decode(vae, *args, **kwargs)

        def keep(decoder: AutoencoderTiny, *args: Any, **kwargs: Any) -> Any:
            result = tiny_decode(decoder, *args, **kwargs)
            self.tiny.append(result.sample)
            return result

        monkeypatch.setattr(AutoencoderKL, "decode", count)
        monkeypatch.setattr(AutoencoderTiny, "decode", keep)


def _request(model: Path, fast: bool, **changes: Any) -> Txt2ImgRequest:
    common = {"model": str(model), "prompt": "a lighthouse", "steps": 2, "seed": 4, "width": 64, "height": 48}
    return Txt2ImgRequest(**{**common, **changes}, fast_decode=fast)


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_fast_decode_gives_the_tiny_decoders_pixels_and_never_runs_the_vae_decoder(
    name: str, with_decoder: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(profile_for("cpu"))
    vae_made = engine.run(_request(with_decoder[name], fast=False)).images[0]
    decodes = Decodes(monkeypatch)

    result = engine.run(_request(with_decoder[name], fast=True, batch_size=2))

    assert decodes.vae == 0 and len(decodes.tiny) == 1 and result.notices == ()
    for image, decoded in zip(result.images, decodes.tiny[0], strict=True):
        expected = np.rint((decoded / 2 + 0.5).clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        assert np.array_equal(image.full(), expected)
        assert image.full().shape == vae_made.full().shape == (48, 64, 3)
        assert parse_parameters(image.parameters).values["Fast decode"] == "True"
    assert "Fast decode" not in parse_parameters(vae_made.parameters).values


@pytest.mark.parametrize("name", ["sd15", "flux-fill"])
def test_fast_decode_inpaints_and_keeps_the_pixels_outside_the_mask(
    name: str, with_decoder: dict[str, Path], source: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    mask = np.zeros(source.shape[:2], np.uint8)
    mask[8:40, 16:56] = 255
    decodes = Decodes(monkeypatch)
    request = InpaintRequest(model=str(with_decoder[name]), prompt="a boat", steps=2, seed=1, source=source,
                             mask=mask, fast_decode=True)  # fmt: skip
    image = Engine(profile_for("cpu")).run(request).images[0].full()
    assert decodes.vae == 0 and len(decodes.tiny) == 1
    assert np.array_equal(image[mask == 0], source[mask == 0])


def test_without_a_tiny_decoder_the_vae_decodes_and_a_notice_says_what_to_install(
    tiny_models: dict[str, Path],
) -> None:
    engine = Engine(profile_for("cpu"))
    plain = engine.run(_request(tiny_models["sd15"], fast=False))
    asked = engine.run(_request(tiny_models["sd15"], fast=True))
    assert np.array_equal(asked.images[0].full(), plain.images[0].full())
    assert asked.images[0].parameters == plain.images[0].parameters  # recorded as it ran: the VAE
    (notice,) = asked.notices
    assert "`sfumato models download taesd`" in notice and "the VAE decoded instead" in notice


def test_a_tiny_decoder_that_cannot_load_leaves_the_decoding_to_the_vae(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    folder = build_tiny_decoder(tmp_path / "taesd", 4)
    (folder / "diffusion_pytorch_model.safetensors").write_bytes(b"not safetensors")
    record = SourceRecord("main", folder, "", ())
    ModelManager().cache.write(InstalledModel("taesd", "preview-decoder", None, (record,), "taesd"))
    result = Engine(profile_for("cpu")).run(_request(tiny_models["sd15"], fast=True))
    assert result.images[0].full().std() > 0
    assert result.notices == ("Fast decode: the tiny decoder could not be loaded; the VAE decoded instead.",)


def test_the_command_line_fast_decodes_and_says_when_it_cannot(
    tiny_models: dict[str, Path],
    with_decoder: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def generate(model: Path, out: Path) -> str:
        args = ["generate", "--model", str(model), "--prompt", "a boat", "--steps", "1", "--width", "64",
                "--height", "64", "--fast-decode", "--out", str(out)]  # fmt: skip
        assert main(args) == 0
        return capsys.readouterr().err

    generate(with_decoder["sd15"], tmp_path / "fast.png")
    assert parse_parameters(read_parameters(tmp_path / "fast.png") or "").values["Fast decode"] == "True"
    err = generate(tiny_models["sd15"], tmp_path / "vae.png")
    assert "note: Fast decode needs a tiny decoder for this model" in err
    assert "Fast decode" not in parse_parameters(read_parameters(tmp_path / "vae.png") or "").values


def test_with_fast_decode_the_last_step_brings_no_preview_the_final_decode_is_that_image(
    with_decoder: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sfumato.inference import StepProgress, preview

    monkeypatch.setattr(preview, "CHEAP_PREVIEW_S", float("inf"))  # a preview every step
    decodes = Decodes(monkeypatch)
    updates: list[StepProgress] = []
    request = _request(with_decoder["sd15"], fast=True, steps=3)
    result = Engine(profile_for("cpu")).run(request, updates.append)
    assert [u.step for u in updates] == [1, 2, 3] and len(result.images) == 1
    assert [u.preview is not None for u in updates] == [True, True, False]
    assert len(decodes.tiny) == 3  # two previews and the final image
