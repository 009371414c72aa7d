"""Live previews from a tiny decoder (TAESD family) when one is installed, else the linear map."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import AutoencoderTiny

from sfumato.generation import Txt2ImgRequest
from sfumato.inference import Engine, StepProgress, preview, profile_for
from sfumato.inference.preview import (
    MAX_TINY_LATENT_SIDE,
    LatentPreviewer,
    StepPreviews,
    TinyDecoder,
    TinyDecoderPreviewer,
)
from sfumato.inference.tiny_models import build_tiny_decoder
from sfumato.model_store import InstalledModel, ModelManager, SourceRecord

STEPS = 3


@pytest.fixture(autouse=True)
def _every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count every preview as cheap: a busy test machine must not make the pacing skip decodes
    (the pacing has its own tests below)."""
    monkeypatch.setattr(preview, "CHEAP_PREVIEW_S", float("inf"))


@pytest.fixture(scope="session")
def tiny_decoders(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """A tiny random-weight AutoencoderTiny folder per latent channel count (4 and 16)."""
    root = tmp_path_factory.mktemp("tiny-decoders")
    return {channels: build_tiny_decoder(root / f"taesd-{channels}", channels) for channels in (4, 16)}


def _install(decoder_id: str, folder: Path) -> None:
    """Record ``folder`` as the store's installed preview decoder ``decoder_id``."""
    record = SourceRecord("main", folder, "", ())
    ModelManager().cache.write(InstalledModel(decoder_id, "preview-decoder", None, (record,), decoder_id))


class DecodeSpy:
    """Wraps ``AutoencoderTiny.decode``, keeping every output it returns."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.outputs: list[torch.Tensor] = []
        original = AutoencoderTiny.decode

        def decode(decoder: AutoencoderTiny, latents: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            result = original(decoder, latents, *args, **kwargs)
            self.outputs.append(result.sample)
            return result

        monkeypatch.setattr(AutoencoderTiny, "decode", decode)


def _previews(model: Path) -> list[np.ndarray]:
    """The previews of a 64×64 txt2img run on a fresh CPU engine (which looks for decoders anew)."""
    updates: list[StepProgress] = []
    request = Txt2ImgRequest(
        model=str(model), prompt="a lighthouse", steps=STEPS, seed=5, width=64, height=64
    )
    result = Engine(profile_for("cpu")).run(request, on_step=updates.append)
    assert len(result.images) == 1 and [u.step for u in updates] == list(range(1, STEPS + 1))
    previews = [u.preview for u in updates]
    assert all(p is not None and p.dtype == np.uint8 for p in previews)
    return previews  # type: ignore[return-value]


@pytest.mark.parametrize(("model", "decoder_id", "channels"), [("sd15", "taesd", 4), ("flux", "taef1", 16)])
def test_previews_come_from_the_installed_tiny_decoder(
    tiny_models: dict[str, Path],
    tiny_decoders: dict[int, Path],
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    decoder_id: str,
    channels: int,
) -> None:
    linear = _previews(tiny_models[model])
    assert {p.shape for p in linear} == {(8, 8, 3)}

    _install(decoder_id, tiny_decoders[channels])
    spy = DecodeSpy(monkeypatch)
    previews = _previews(tiny_models[model])

    assert len(spy.outputs) == STEPS
    assert {p.shape for p in previews} == {(64, 64, 3)}  # the decoder's 8× upsampling
    for shown, output in zip(previews, spy.outputs, strict=True):
        expected = np.rint((output[0] / 2 + 0.5).clamp(0, 1).permute(1, 2, 0).numpy() * 255)
        assert np.array_equal(shown, expected.astype(np.uint8))


def test_a_decoder_for_another_family_is_not_used(
    tiny_models: dict[str, Path], tiny_decoders: dict[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _install("taef1", tiny_decoders[16])
    spy = DecodeSpy(monkeypatch)
    assert {p.shape for p in _previews(tiny_models["sd15"])} == {(8, 8, 3)}
    assert spy.outputs == []


def test_a_taesd_subfolder_of_the_model_is_used(
    tiny_models: dict[str, Path], tiny_decoders: dict[int, Path], tmp_path: Path
) -> None:
    model = shutil.copytree(tiny_models["sd15"], tmp_path / "sd15")
    shutil.copytree(tiny_decoders[4], model / "taesd")
    assert {p.shape for p in _previews(model)} == {(64, 64, 3)}


def test_a_broken_tiny_decoder_falls_back_to_the_linear_map_and_says_so_once(
    tiny_models: dict[str, Path],
    tiny_decoders: dict[int, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    linear = _previews(tiny_models["sd15"])
    model = shutil.copytree(tiny_models["sd15"], tmp_path / "sd15")
    shutil.copytree(tiny_decoders[16], model / "taesd")  # 16 channels cannot decode SD's 4

    with caplog.at_level(logging.WARNING, logger="sfumato.inference.preview"):
        previews = _previews(model)

    assert all(np.array_equal(a, b) for a, b in zip(previews, linear, strict=True))
    failures = [r for r in caplog.records if "tiny preview decoder" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None


def test_unreadable_tiny_decoder_weights_fall_back_too(
    tiny_models: dict[str, Path], tiny_decoders: dict[int, Path], tmp_path: Path
) -> None:
    folder = shutil.copytree(tiny_decoders[4], tmp_path / "taesd")
    (folder / "diffusion_pytorch_model.safetensors").write_bytes(b"not safetensors")
    _install("taesd", folder)
    assert {p.shape for p in _previews(tiny_models["sd15"])} == {(8, 8, 3)}


def test_large_latents_are_scaled_down_before_the_tiny_decoder(tiny_decoders: dict[int, Path]) -> None:
    linear = LatentPreviewer(None)  # never asked: the tiny decoder works
    previewer = TinyDecoderPreviewer(TinyDecoder(tiny_decoders[4], "cpu", torch.float32), linear)
    preview = previewer(torch.randn(2, 4, 96, 128))
    assert preview.shape == (8 * 48, 8 * MAX_TINY_LATENT_SIDE, 3)
    assert previewer(torch.randn(1, 4, 8, 16)).shape == (64, 128, 3)


class SlowPreviewer:
    """A previewer that takes ``cost`` seconds of a fake clock and returns a new array each call."""

    def __init__(self, clock: list[float], cost: float) -> None:
        self.clock, self.cost, self.calls = clock, cost, 0

    def __call__(self, latents: torch.Tensor) -> np.ndarray:
        self.clock[0] += self.cost
        self.calls += 1
        return np.full((1, 1, 3), self.calls, np.uint8)


@pytest.mark.parametrize(
    ("cost", "made"), [(0.01, list(range(1, 11))), (1.0, [1, 2, 2, 2, 2, 3, 3, 3, 3, 4])]
)
def test_slow_previews_are_paced_to_a_share_of_the_run(
    monkeypatch: pytest.MonkeyPatch, cost: float, made: list[int]
) -> None:
    monkeypatch.setattr(preview, "CHEAP_PREVIEW_S", 0.05)
    monkeypatch.setattr(preview, "PREVIEW_SHARE", 0.25)
    clock = [0.0]
    previews = StepPreviews(SlowPreviewer(clock, cost), clock=lambda: clock[0])
    shown = []
    for _ in range(10):
        shown.append(int(previews(torch.zeros(1))[0, 0, 0]))
        clock[0] += 1.0  # a denoising step
    assert shown == made
