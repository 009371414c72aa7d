"""The engine as its callers see it: what the inference thread and ``sfumato generate`` use.

:class:`EngineProtocol` is a typing protocol, so any object with these members is an engine:
:class:`sfumato.inference.Engine` (the diffusers engine; mypy checks that it satisfies the
protocol where ``sfumato generate`` makes one and where the inference thread's default factory
does). :class:`JobRunner`, its ``run`` alone, is what the inference thread takes: the fakes tests
use where the real engine on a tiny model would be too slow or could not be steered (a job held
until a test lets it go, a crash on purpose) are that. Importing this module is cheap: no torch,
no diffusers.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sfumato.generation.requests import GenerationRequest
    from sfumato.inference.device import DeviceProfile
    from sfumato.inference.families import ModelInfo
    from sfumato.inference.results import GenerationResult, ProgressCallback, StageCallback
    from sfumato.model_store.fit import RunPlan


class JobRunner(Protocol):
    """What the inference thread needs of an engine: :meth:`EngineProtocol.run`, called with all
    four arguments. Its worker uses the rest of :class:`EngineProtocol` (``profile``,
    ``run_plan``, ``force_float32``) where the engine has them, so a test's fake may have only this."""

    def run(
        self,
        request: GenerationRequest,
        on_step: ProgressCallback,
        cancel: threading.Event,
        on_stage: StageCallback,
        /,
    ) -> GenerationResult:
        """Generate what ``request`` asks for (see :meth:`EngineProtocol.run`)."""
        ...


class EngineProtocol(JobRunner, Protocol):
    """Runs generation requests on one loaded model at a time, on the thread that calls it.

    ``force_float32`` is the user's setting, read when a model loads (a change reloads the model
    at its next job). Every method blocks its thread; ``cancel`` stops at the next step or stage.
    """

    force_float32: bool

    @property
    def profile(self) -> DeviceProfile:
        """The device the engine computes on (probed on first use)."""
        ...

    @property
    def run_plan(self) -> RunPlan | None:
        """How the loaded model runs here (dtype, VAE dtype, memory strategy); ``None`` before a
        model is loaded."""
        ...

    def load(
        self,
        reference: str,
        on_stage: StageCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> ModelInfo | None:
        """Load the model ``reference`` names (a catalog id, an installed model, a folder or a
        file); ``None`` when ``cancel`` stopped it, with no model loaded."""
        ...

    def run(
        self,
        request: GenerationRequest,
        on_step: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        on_stage: StageCallback | None = None,
    ) -> GenerationResult:
        """Generate what ``request`` asks for, loading its model first if needed; a cancelled run
        returns a result with ``cancelled`` set and no images. Raises
        :class:`~sfumato.errors.UserFacingError` subclasses for anything a user can act on."""
        ...
