"""Every family × task through the same engine path (detect → from_pretrained → from_pipe → run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sfumato.generation import (
    GenerationRequest,
    Img2ImgRequest,
    InpaintRequest,
    Margins,
    OutpaintRequest,
    Txt2ImgRequest,
    VariationsRequest,
)
from sfumato.inference import Engine

MODELS = ["sd15", "sd2", "sd15-inpaint", "sdxl", "sd3", "flux", "flux-fill"]
TASKS = ["txt2img", "img2img", "inpaint", "outpaint", "variations"]


def _mask(shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[20:44, 30:70] = 255
    mask[30:36, 10:30] = 255
    return mask


def _request(task: str, model: Path, source: np.ndarray) -> GenerationRequest:
    common = {"model": str(model), "prompt": "a red fox", "steps": 2, "seed": 7, "width": 64, "height": 64}
    if task == "txt2img":
        return Txt2ImgRequest(**common)
    if task == "img2img":
        return Img2ImgRequest(**common, source=source, strength=0.9)
    if task == "inpaint":
        return InpaintRequest(**common, source=source, mask=_mask(source.shape[:2]), padding=8)
    if task == "outpaint":
        return OutpaintRequest(**common, source=source, margins=Margins(16, 0, 8, 16), padding=8)
    return VariationsRequest(**common, source=source, count=2, strength=0.9)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", MODELS)
def test_family_runs_task(
    engine: Engine, tiny_models: dict[str, Path], source: np.ndarray, name: str, task: str
) -> None:
    request = _request(task, tiny_models[name], source)
    steps: list[int] = []
    result = engine.run(request, on_step=lambda progress: steps.append(progress.step))

    assert engine.model is not None and engine.model.name == name
    assert not result.cancelled
    assert len(result.images) == len(result.seeds) == request.image_count
    assert result.seeds == tuple(range(7, 7 + request.image_count))
    assert tuple(generated.seed for generated in result.images) == result.seeds
    assert steps and steps[-1] >= 1
    for generated in result.images:
        image = generated.full()
        assert image.dtype == np.uint8
        if task == "inpaint":
            mask = _mask(source.shape[:2])
            assert image.shape == source.shape
            assert np.array_equal(image[mask == 0], source[mask == 0])
            assert not np.array_equal(image[mask == 255], source[mask == 255])
        elif task == "outpaint":
            assert image.shape == (72 + 16, 88 + 24, 3)
            assert np.array_equal(image[0:72, 16 : 16 + 88], source)
            assert image[:, :16].std() > 0
        else:
            assert image.shape == (64, 64, 3)
            assert image.std() > 0
