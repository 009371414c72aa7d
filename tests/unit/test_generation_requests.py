"""Request validation: every field checked, arrays frozen, canonical scheduler names."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sfumato.generation import (
    Img2ImgRequest,
    InpaintRequest,
    InvalidRequestError,
    JobState,
    Margins,
    OutpaintRequest,
    Task,
    Txt2ImgRequest,
    VariationsRequest,
)

SOURCE = np.zeros((32, 48, 3), np.uint8)


def _mask(fill: int = 255) -> np.ndarray:
    mask = np.zeros((32, 48), np.uint8)
    mask[4:10, 4:10] = fill
    return mask


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model": ""}, "No model"),
        ({"steps": 0}, "Steps"),
        ({"steps": 1001}, "Steps"),
        ({"guidance": -1.0}, "CFG"),
        ({"seed": -2}, "Seed"),
        ({"seed": 2**32}, "Seed"),
        ({"scheduler": "Heun"}, "Unknown scheduler"),
        ({"width": 64}, "both width and height"),
        ({"width": 4, "height": 4}, "at least 8"),
        ({"width": 20000, "height": 64}, "at most 16384"),
        ({"batch_size": 0}, "Batch size"),
    ],
)
def test_common_fields_are_checked(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        Txt2ImgRequest(**{"model": "m", "prompt": "p", **fields})


def test_scheduler_names_are_canonicalised_and_requests_compare_by_value() -> None:
    request = Txt2ImgRequest(model="m", prompt="p", scheduler="dpm++  2m karras")
    assert request.scheduler == "DPM++ 2M Karras"
    assert request == Txt2ImgRequest(model="m", prompt="p", scheduler="DPM++ 2M Karras")
    assert request.task is Task.TXT2IMG and request.image_count == 1
    with pytest.raises(AttributeError):
        request.prompt = "other"  # type: ignore[misc]


def test_source_arrays_are_read_only_views() -> None:
    source = SOURCE.copy()
    request = Img2ImgRequest(model="m", prompt="p", source=source)
    with pytest.raises(ValueError):
        request.source[0, 0, 0] = 1
    assert source.flags.writeable


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (np.zeros((32, 48), np.uint8), "RGB or RGBA"),
        (np.zeros((32, 48, 3), np.float32), "8-bit"),
        (np.zeros((4, 48, 3), np.uint8), "smaller than 8"),
    ],
)
def test_bad_sources_are_refused(source: np.ndarray, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        Img2ImgRequest(model="m", prompt="p", source=source)


def test_strength_bounds() -> None:
    for strength in (0.0, 1.5):
        with pytest.raises(InvalidRequestError, match="Strength"):
            Img2ImgRequest(model="m", prompt="p", source=SOURCE, strength=strength)
    assert VariationsRequest(model="m", prompt="p", source=SOURCE, count=3).image_count == 3


def test_inpaint_mask_checks() -> None:
    with pytest.raises(InvalidRequestError, match="same size"):
        InpaintRequest(model="m", prompt="p", source=SOURCE, mask=np.full((32, 40), 255, np.uint8))
    with pytest.raises(InvalidRequestError, match="empty"):
        InpaintRequest(model="m", prompt="p", source=SOURCE, mask=_mask(fill=100))
    with pytest.raises(InvalidRequestError, match="single-channel"):
        InpaintRequest(model="m", prompt="p", source=SOURCE, mask=np.zeros((32, 48, 3), np.uint8))
    request = InpaintRequest(model="m", prompt="p", source=SOURCE, mask=_mask())
    assert request.padding == 32 and request.strength == 1.0


@pytest.mark.parametrize(
    ("margins", "message"),
    [((0, 0, 0, 0), "at least one"), ((-1, 5, 0, 0), "≥ 0"), ((0, 0, 9000, 0), "at most 8192")],
)
def test_margins_are_checked(margins: tuple[int, int, int, int], message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        Margins(*margins)


def test_outpaint_refuses_a_canvas_beyond_the_limit() -> None:
    wide = np.zeros((16, 12000, 3), np.uint8)
    with pytest.raises(InvalidRequestError, match="16384"):
        OutpaintRequest(model="m", prompt="p", source=wide, margins=Margins(5000, 0, 0, 0))


def test_job_state_transitions() -> None:
    assert JobState.QUEUED.can_become(JobState.RUNNING)
    assert JobState.QUEUED.can_become(JobState.CANCELLED)
    assert not JobState.QUEUED.can_become(JobState.DONE)
    assert JobState.RUNNING.can_become(JobState.FAILED)
    assert not JobState.DONE.can_become(JobState.RUNNING)
    assert [s for s in JobState if s.is_final] == [JobState.DONE, JobState.CANCELLED, JobState.FAILED]
