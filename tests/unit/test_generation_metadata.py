"""A1111 ``parameters`` text: write, read back into the same request, and parse A1111's own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sfumato.generation import (
    GenerationRequest,
    Img2ImgRequest,
    InpaintRequest,
    InvalidRequestError,
    Margins,
    OutpaintRequest,
    Task,
    Txt2ImgRequest,
    VariationsRequest,
)
from sfumato.generation.metadata import format_parameters, parse_parameters, read_parameters, save_png

SOURCE = np.full((32, 32, 3), 100, np.uint8)
MASK = np.zeros((32, 32), np.uint8)
MASK[8:16, 8:16] = 255
COMMON = {
    "model": "/models/dreamy",
    "prompt": "a castle, at dusk: \"golden\"\nsecond line",
    "negative_prompt": "blurry, low quality",
    "steps": 28,
    "guidance": 5.5,
    "seed": 1234,
    "scheduler": "DPM++ 2M Karras",
    "width": 512,
    "height": 768,
}


@pytest.mark.parametrize(
    "request_",
    [
        Txt2ImgRequest(**COMMON),
        Img2ImgRequest(**COMMON, source=SOURCE, strength=0.4),
        InpaintRequest(**COMMON, source=SOURCE, mask=MASK, padding=12, strength=0.9),
        OutpaintRequest(**COMMON, source=SOURCE, margins=Margins(64, 0, 32, 8), padding=40),
        VariationsRequest(**COMMON, source=SOURCE, count=3, strength=0.85),
        Txt2ImgRequest(**COMMON, fast_decode=True),
    ],
    ids=lambda r: r.task.value + (" fast decode" if r.fast_decode else ""),
)
def test_round_trip_through_a_png(tmp_path: Path, request_: GenerationRequest) -> None:
    text = format_parameters(
        request_, seed=1234, scheduler="DPM++ 2M Karras", size=(512, 768), model_name="dreamy",
        model_hash="0123456789",
    )  # fmt: skip
    path = tmp_path / "out.png"
    save_png(path, np.zeros((8, 8, 3), np.uint8), text)
    read = read_parameters(path)
    assert read == text
    parsed = parse_parameters(read)
    assert parsed.values["Model hash"] == "0123456789" and parsed.task is request_.task
    assert parsed.to_request(model="/models/dreamy", source=SOURCE, mask=MASK) == request_


def test_parses_a1111_text() -> None:
    text = (
        "masterpiece, a cat\nNegative prompt: dog\n"
        'Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model hash: 6ce0161689, '
        'Model: v1-5-pruned-emaonly, Lora hashes: "a: 1, b: 2", Version: v1.6.0'
    )
    parsed = parse_parameters(text)
    assert parsed.prompt == "masterpiece, a cat" and parsed.negative_prompt == "dog"
    assert parsed.values["Lora hashes"] == "a: 1, b: 2"
    assert parsed.task is Task.TXT2IMG
    request = parsed.to_request()
    assert request == Txt2ImgRequest(
        model="v1-5-pruned-emaonly", prompt="masterpiece, a cat", negative_prompt="dog", steps=20,
        guidance=7.0, seed=42, scheduler="Euler a", width=512, height=512,
    )  # fmt: skip


def test_image_tasks_need_their_images_back() -> None:
    text = format_parameters(
        InpaintRequest(**COMMON, source=SOURCE, mask=MASK), seed=1, scheduler="Euler", size=(64, 64),
        model_name="m", model_hash="h",
    )  # fmt: skip
    with pytest.raises(InvalidRequestError, match="source image"):
        parse_parameters(text).to_request()
    with pytest.raises(InvalidRequestError, match="mask"):
        parse_parameters(text).to_request(source=SOURCE)


def test_malformed_values_are_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match="malformed"):
        parse_parameters("p\nSteps: many, Seed: 1").to_request(model="m")
    plain = tmp_path / "plain.png"
    save_png(plain, np.zeros((8, 8, 3), np.uint8), "x")
    assert parse_parameters(read_parameters(plain) or "").values == {}


def test_the_lora_a_model_ran_with_is_recorded() -> None:
    text = format_parameters(
        Txt2ImgRequest(**COMMON), seed=1, scheduler="LCM", size=(512, 512), model_name="sd15",
        model_hash="h", lora="sd15-lcm-lora",
    )  # fmt: skip
    assert parse_parameters(text).values["LoRA"] == "sd15-lcm-lora"
    assert "LoRA" not in parse_parameters(text.replace(", LoRA: sd15-lcm-lora", "")).values
