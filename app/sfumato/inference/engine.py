"""The engine: one loaded checkpoint, requests in, images out.

``import sfumato.inference`` stays cheap: torch and diffusers are imported only when a model is
loaded. An engine is meant to live on one worker thread; ``run`` blocks that thread.
"""

from __future__ import annotations

import inspect
import logging
import secrets
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sfumato.generation.metadata import format_parameters
from sfumato.generation.requests import MAX_SEED, GenerationRequest
from sfumato.inference.device import DeviceProfile, MemoryStrategy, probe_device
from sfumato.inference.errors import GenerationError, OutOfMemoryError
from sfumato.inference.families import ModelInfo
from sfumato.inference.model_files import (
    check_loadable_offline,
    detect_model,
    model_hash,
    resolve_model,
)
from sfumato.inference.planning import PipelineTask, Plan, plan_request
from sfumato.inference.results import GenerationResult, ProgressCallback, StepProgress

log = logging.getLogger(__name__)


@dataclass
class _Loaded:
    """The checkpoint in memory and how it is currently placed on the device."""

    info: ModelInfo
    hash: str
    base: Any
    scheduler_config: Any
    strategy: MemoryStrategy
    tiled_vae: bool = False
    pipes: dict[PipelineTask, tuple[Any, tuple[MemoryStrategy, bool]]] = field(default_factory=dict)
    schedulers: dict[str, Any] = field(default_factory=dict)
    """Built once per name: every call resets a scheduler's state with ``set_timesteps``."""
    previewer: Any = None


class Engine:
    """Runs generation requests on one loaded checkpoint at a time.

    ``profile`` defaults to the best device found on first load. Switching task (txt2img →
    inpaint …) reuses the loaded weights; asking for another model unloads the current one.
    """

    def __init__(self, profile: DeviceProfile | None = None) -> None:
        self._profile = profile
        self._loaded: _Loaded | None = None

    @property
    def profile(self) -> DeviceProfile:
        """The device profile (probed on first use)."""
        if self._profile is None:
            self._profile = probe_device()
        return self._profile

    @property
    def model(self) -> ModelInfo | None:
        """The loaded model, if any."""
        return self._loaded.info if self._loaded else None

    @property
    def strategy(self) -> MemoryStrategy | None:
        """The memory strategy the loaded model runs with, if one is loaded."""
        return self._loaded.strategy if self._loaded else None

    def load(self, reference: str) -> ModelInfo:
        """Load the model ``reference`` names (no-op if it is already loaded)."""
        return self._load(reference).info

    def _load(self, reference: str) -> _Loaded:
        path = resolve_model(reference).resolve()
        if self._loaded is not None and self._loaded.info.path == path:
            return self._loaded
        info = detect_model(path)
        check_loadable_offline(info)
        self.unload()
        from sfumato.inference import pipelines, preview

        started = time.perf_counter()
        base = pipelines.load_pipeline(info, self.profile)
        strategy = self.profile.strategy_for(info.family)
        loaded = _Loaded(
            info,
            model_hash(info),
            base,
            base.scheduler.config,
            strategy,
            previewer=preview.make_previewer(
                base.vae,
                preview.find_tiny_decoder(info),
                self.profile.kind,
                pipelines.torch_dtype(self.profile.dtype),
            ),
        )
        log.info(
            "loaded %s (%s) in %.2f s on %s, %s, %s",
            info.name,
            info.family,
            time.perf_counter() - started,
            self.profile.name,
            self.profile.dtype,
            strategy.name,
        )
        self._loaded = loaded
        return loaded

    def unload(self) -> None:
        """Drop the loaded model and return its memory."""
        if self._loaded is None:
            return
        self._loaded = None
        from sfumato.inference import pipelines

        pipelines.free_memory()

    def run(
        self,
        request: GenerationRequest,
        on_step: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        """Generate what ``request`` asks for.

        ``on_step`` is called after every denoising step with a preview; setting ``cancel``
        stops after the current step and returns a result with ``cancelled`` set and no images
        (the model stays loaded and usable). Raises :class:`~sfumato.errors.UserFacingError`
        subclasses for anything a user can act on.
        """
        first = request.seed if request.seed != -1 else secrets.randbelow(MAX_SEED + 1)
        seeds = tuple((first + i) % (MAX_SEED + 1) for i in range(request.image_count))
        if cancel is not None and cancel.is_set():
            return GenerationResult((), seeds, cancelled=True)
        loaded = self._load(request.model)
        from sfumato.inference import pipelines, schedulers

        traits = loaded.info.traits
        scheduler_name = request.scheduler or schedulers.default_scheduler_name(loaded.base.scheduler, traits)
        scheduler = loaded.schedulers.get(scheduler_name)
        if scheduler is None:
            scheduler = schedulers.make_scheduler(scheduler_name, loaded.scheduler_config, traits)
            loaded.schedulers[scheduler_name] = scheduler
        plan = plan_request(
            request, pipelines.native_size(loaded.base), traits.multiple, loaded.info.inpaint_only
        )
        notices = list(plan.notices)
        started = time.perf_counter()
        outputs = self._generate(loaded, plan, request, scheduler, seeds, on_step, cancel, notices)
        log.info("%s in %.2f s at %dx%d", request.task, time.perf_counter() - started, *plan.size)
        if cancel is not None and cancel.is_set():
            return GenerationResult((), seeds, tuple(notices), cancelled=True)
        images = tuple(
            plan.finish(
                image,
                seed,
                format_parameters(
                    request,
                    seed=seed,
                    scheduler=scheduler_name,
                    size=plan.recorded_size,
                    model_name=loaded.info.name,
                    model_hash=loaded.hash,
                ),
            )
            for image, seed in zip(outputs, seeds, strict=True)
        )
        return GenerationResult(images, seeds, tuple(notices))

    def _pipeline(self, loaded: _Loaded, task: PipelineTask) -> Any:
        from sfumato.inference import pipelines

        placement = (loaded.strategy, loaded.tiled_vae)
        pipe, applied = loaded.pipes.get(task, (None, None))
        if pipe is None:
            pipe = pipelines.task_pipeline(loaded.base, task)
        if applied != placement:
            pipelines.apply_strategy(pipe, loaded.strategy, self.profile, loaded.tiled_vae)
        loaded.pipes[task] = (pipe, placement)
        return pipe

    def _generate(
        self,
        loaded: _Loaded,
        plan: Plan,
        request: GenerationRequest,
        scheduler: Any,
        seeds: tuple[int, ...],
        on_step: ProgressCallback | None,
        cancel: threading.Event | None,
        notices: list[str],
    ) -> list[np.ndarray]:
        """Run the pipeline; on out-of-memory, free memory and retry once with a leaner strategy."""
        import torch

        from sfumato.inference import pipelines

        for attempt in (1, 2):
            pipe = self._pipeline(loaded, plan.task)
            pipe.scheduler = scheduler
            kwargs = self._call_arguments(pipe, loaded, plan, request, seeds, on_step, cancel)
            out_of_memory = False
            try:
                result = self._invoke(pipe, kwargs)
            except torch.OutOfMemoryError:
                out_of_memory = True
            except (RuntimeError, ValueError) as exc:
                raise GenerationError(
                    f"Generation failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                    details=traceback.format_exc(),
                ) from exc
            if not out_of_memory:
                return [np.clip(np.rint(image * 255), 0, 255).astype(np.uint8) for image in result.images]
            # Outside the except block: the exception and its frames (holding tensors) are gone.
            del kwargs, pipe
            pipelines.free_memory()
            lower = self.profile.lower_strategy(loaded.strategy)
            if attempt == 2 or (lower is None and loaded.tiled_vae):
                break
            if lower is not None:
                loaded.strategy = lower
            loaded.tiled_vae = True
            notices.append(
                f"Ran out of GPU memory; retried with {loaded.strategy.describe()} and tiled VAE "
                "decoding (slower, uses less memory)."
            )
            log.warning("out of memory; retrying with %s and tiled VAE", loaded.strategy.name)
        raise OutOfMemoryError(
            f"Out of GPU memory even with {loaded.strategy.describe()}. Try a smaller size, fewer "
            "images at once, or a smaller model."
        )

    def _invoke(self, pipe: Any, kwargs: dict[str, Any]) -> Any:
        """Call the pipeline (one place, so tests can inject faults here)."""
        return pipe(**kwargs)

    def _call_arguments(
        self,
        pipe: Any,
        loaded: _Loaded,
        plan: Plan,
        request: GenerationRequest,
        seeds: tuple[int, ...],
        on_step: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> dict[str, Any]:
        import torch

        from sfumato.inference import pipelines, preview

        previews = preview.StepPreviews(loaded.previewer)

        def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if on_step is not None:
                latents = pipelines.unpack_latents(pipe, tensors["latents"], plan.size)
                total = int(getattr(pipe, "num_timesteps", 0) or request.steps)
                on_step(StepProgress(step + 1, total, previews(latents)))
            if cancel is not None and cancel.is_set():
                pipe._interrupt = True
            return {}

        # A batch is passed as lists, one entry per image: SD3 img2img (diffusers 0.42) fails
        # with num_images_per_prompt > 1 and a list of generators.
        count = len(seeds)
        wanted: dict[str, Any] = {
            "prompt": [request.prompt] * count,
            "negative_prompt": [request.negative_prompt] * count if request.negative_prompt else None,
            "num_inference_steps": request.steps,
            "guidance_scale": request.guidance,
            "generator": [torch.Generator("cpu").manual_seed(seed) for seed in seeds],
            "width": plan.size[0],
            "height": plan.size[1],
            "image": [plan.image] * count if plan.image is not None else None,
            "mask_image": [plan.mask] * count if plan.mask is not None else None,
            "strength": plan.strength,
            "output_type": "np",
            "callback_on_step_end": on_step_end,
            "callback_on_step_end_tensor_inputs": ["latents"],
        }
        accepted = inspect.signature(pipe.__call__).parameters
        return {key: value for key, value in wanted.items() if key in accepted and value is not None}
