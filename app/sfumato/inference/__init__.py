"""The inference engine: device profile, model detection and loading, generation.

Importing this package is cheap (no torch, no diffusers); they load with the first model.
"""

from sfumato.inference.device import DeviceProfile, MemoryStrategy, probe_device, profile_for
from sfumato.inference.engine import Engine
from sfumato.inference.engine_protocol import EngineProtocol
from sfumato.inference.errors import GenerationError, ModelError, OutOfMemoryError, UnsupportedError
from sfumato.inference.families import Architecture, ModelInfo
from sfumato.inference.results import GeneratedImage, GenerationResult, ProgressCallback, StepProgress

__all__ = [
    "Architecture",
    "DeviceProfile",
    "Engine",
    "EngineProtocol",
    "GeneratedImage",
    "GenerationError",
    "GenerationResult",
    "MemoryStrategy",
    "ModelError",
    "ModelInfo",
    "OutOfMemoryError",
    "ProgressCallback",
    "StepProgress",
    "UnsupportedError",
    "probe_device",
    "profile_for",
]
