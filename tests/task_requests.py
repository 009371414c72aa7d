"""One request per generation task, the same way in every test that runs them all."""

from __future__ import annotations

import numpy as np

from sfumato.generation import (
    GenerationRequest,
    Img2ImgRequest,
    InpaintRequest,
    Margins,
    OutpaintRequest,
    Txt2ImgRequest,
    VariationsRequest,
)

TASKS = ("txt2img", "img2img", "inpaint", "outpaint", "variations")


def task_request(
    task: str,
    model: str,
    source: np.ndarray,
    mask: np.ndarray,
    margins: Margins,
    *,
    prompt: str,
    seed: int,
    strength: float,
) -> GenerationRequest:
    """A 64² two-step request for ``task`` on ``model`` (``source`` for the tasks that take one)."""
    common = {"model": model, "prompt": prompt, "steps": 2, "seed": seed, "width": 64, "height": 64}
    if task == "txt2img":
        return Txt2ImgRequest(**common)
    if task == "img2img":
        return Img2ImgRequest(**common, source=source, strength=strength)
    if task == "inpaint":
        return InpaintRequest(**common, source=source, mask=mask, padding=8)
    if task == "outpaint":
        return OutpaintRequest(**common, source=source, margins=margins, padding=8)
    return VariationsRequest(**common, source=source, count=2, strength=strength)
