"""Every family × task through the same engine path (detect → from_pretrained → from_pipe → run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from task_requests import TASKS, task_request

from sfumato.generation import GenerationRequest, Margins
from sfumato.inference import Engine

MODELS = ["sd15", "sd2", "sd15-inpaint", "sdxl", "sd3", "flux", "flux-fill"]


def _mask(shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[20:44, 30:70] = 255
    mask[30:36, 10:30] = 255
    return mask


def _request(task: str, model: Path, source: np.ndarray) -> GenerationRequest:
    mask, margins = _mask(source.shape[:2]), Margins(16, 0, 8, 16)
    return task_request(task, str(model), source, mask, margins, prompt="a red fox", seed=7, strength=0.9)


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
