"""What a user asks for: frozen requests, region geometry, PNG metadata and job states.

numpy and Pillow only; no torch, no Qt.
"""

from sfumato.generation.jobs import JobState
from sfumato.generation.requests import (
    STRONG_VARIATION,
    SUBTLE_VARIATION,
    GenerationRequest,
    Img2ImgRequest,
    InpaintRequest,
    InvalidRequestError,
    LoraUse,
    Margins,
    OutpaintRequest,
    Task,
    Txt2ImgRequest,
    VariationsRequest,
)

__all__ = [
    "STRONG_VARIATION",
    "SUBTLE_VARIATION",
    "GenerationRequest",
    "Img2ImgRequest",
    "InpaintRequest",
    "InvalidRequestError",
    "JobState",
    "LoraUse",
    "Margins",
    "OutpaintRequest",
    "Task",
    "Txt2ImgRequest",
    "VariationsRequest",
]
