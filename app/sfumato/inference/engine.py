"""The engine: one loaded checkpoint, requests in, images out.

``import sfumato.inference`` stays cheap: torch and diffusers are imported only when a model is
loaded. An engine is meant to live on one worker thread; ``run`` blocks that thread.

Loading is a step of its own: it reports its stages (loading, moving to the GPU, generating)
and stops between them when cancelled. A reference to a catalog adapter (a LoRA such as
``sd15-lcm-lora``) loads the model it runs on and applies the LoRA to it. A job's LoRAs (the
request's and its prompt's ``<lora:…>`` tags) and the embeddings its prompts name are applied to
the loaded model for that job only (:mod:`sfumato.inference.adapters`: PEFT adapters switched
between jobs, never fused, kept loaded for the next job), so a job without them runs the model as
it was loaded, and none of it needs a reload. Running out of device memory, while the
model is placed on the device or while it generates, is retried with the next leaner memory
strategy; the job after one that needed it tries the planned strategy again. On the CPU the
UNet of an SD 1.x, 2.x or SDXL model may be computed by OpenVINO instead of torch (the
``cpu_backend`` choice, :mod:`sfumato.inference.openvino_backend`), inside the same pipelines:
preparing it (converting once, compiling) is a loading stage; jobs with a LoRA run in torch.
"""

from __future__ import annotations

import inspect
import logging
import secrets
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sfumato.cpu_backend import CpuBackend
from sfumato.generation.metadata import format_parameters
from sfumato.generation.prompt_syntax import JobPrompts
from sfumato.generation.requests import MAX_SEED, GenerationRequest, Task, Txt2ImgRequest
from sfumato.generation.schedulers import scheduler_for_class
from sfumato.inference.device import DeviceProfile, MemoryStrategy, plan_for, probe_device
from sfumato.inference.errors import GenerationError, ModelError, OutOfMemoryError
from sfumato.inference.families import Architecture, ModelInfo
from sfumato.inference.model_files import (
    check_loadable_offline,
    detect_model,
    model_hash,
    resolve_model,
)
from sfumato.inference.planning import CallPlan, image_seeds, plan_request
from sfumato.inference.results import GenerationResult, ProgressCallback, StageCallback, StepProgress

if TYPE_CHECKING:
    from sfumato.generation.requests import LoraUse
    from sfumato.inference.adapters import AppliedLora, EmbeddingSet, LoraSet
    from sfumato.model_store import AdapterFile, AdapterUse
    from sfumato.model_store.fit import RunPlan

log = logging.getLogger(__name__)

ADAPTER_WEIGHT = 1.0
"""The weight a catalog adapter is applied at: full, as the model cards use them."""


@dataclass
class _Loaded:
    """The checkpoint in memory and how it is currently placed on the device."""

    info: ModelInfo
    hash: str
    base: Any
    scheduler_config: Any
    run_plan: RunPlan
    """The planner's answer for this model here: dtype, VAE dtype, strategy, the step-down."""
    planned: MemoryStrategy
    """The strategy the plan chose for this model: every job starts from it."""
    strategy: MemoryStrategy
    """The strategy in use: leaner than ``planned`` after running out of memory in this job."""
    forced_float32: bool = False
    """Whether it was loaded with float32 forced (the engine reloads when the setting changes)."""
    tiled_vae: bool = False
    pipes: dict[Task, Any] = field(default_factory=dict)
    placed: tuple[Task, MemoryStrategy, bool] | None = None
    """Which task's pipeline the shared weights were last placed for, and how (``None``: not yet)."""
    schedulers: dict[str, Any] = field(default_factory=dict)
    """Built once per name: every call resets a scheduler's state with ``set_timesteps``."""
    previewer: Any = None
    tiny_decoder: Any = None
    """The model's tiny decoder (:class:`~sfumato.inference.preview.TinyDecoder`), if one is
    installed: it makes the live previews and, for fast decoding, the final images."""
    adapter: AdapterUse | None = None
    """The catalog adapter the job's model reference names (``sd15-lcm-lora``), if any."""
    lora: tuple[AppliedLora, ...] | None = None
    """The LoRAs applied to the model now, with their weights (``None``: the model as it was
    loaded)."""
    lora_id: str = ""
    """The catalog id of the catalog adapter applied (what the images' parameters record)."""
    lora_scheduler: str | None = None
    """The scheduler that adapter is made for: used when a request names none."""
    loras: LoraSet | None = None
    """The LoRAs loaded into the model as PEFT adapters (made on the first LoRA)."""
    embeddings: EmbeddingSet | None = None
    """The embeddings loaded into the model's tokenizers (made on the first embedding)."""
    torch_unet: Any = None
    """The UNet as loaded (``None``: the model's denoiser is a transformer)."""
    openvino: Any = None
    """The :class:`~sfumato.inference.openvino_unet.OpenVINOUNet` that computes the UNet in jobs
    without a LoRA (``None``: torch computes it)."""
    cpu_backend: CpuBackend | None = None
    """The ``cpu_backend`` choice ``openvino`` was decided for (``None``: not decided yet)."""
    notes: list[str] = field(default_factory=list)
    """What the next job's notices say about how the model was prepared (then emptied)."""

    def denoiser(self) -> Any:
        """What computes the UNet in the next job: OpenVINO's, unless a LoRA is applied."""
        return self.openvino if self.openvino is not None and self.lora is None else self.torch_unet


class _Cancelled(Exception):
    """The job's cancel event was set between two stages."""


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise _Cancelled


def _quiet(_text: str) -> None:
    """The stage callback when nobody listens."""


class Engine:
    """Runs generation requests on one loaded checkpoint at a time.

    ``profile`` defaults to the best device found on first load. Switching task (txt2img →
    inpaint …) reuses the loaded weights; asking for another model unloads the current one.
    ``threads``, when given, is the torch thread count set when a model loads
    (:func:`~sfumato.inference.device.cpu_threads` is what Sfumato asks for; ``None`` leaves the
    process's count alone). ``force_float32`` runs models in float32 throughout (the user's
    setting; a change reloads the model at its next job). ``cpu_backend`` says what computes the
    UNet on the CPU (the user's setting, :class:`~sfumato.cpu_backend.CpuBackend`; a change
    applies at the next job without reloading the model).
    """

    def __init__(
        self,
        profile: DeviceProfile | None = None,
        *,
        threads: int | None = None,
        force_float32: bool = False,
        cpu_backend: CpuBackend | str = CpuBackend.AUTO,
    ) -> None:
        self._profile = profile
        self._loaded: _Loaded | None = None
        self._threads = threads
        self.force_float32 = force_float32
        self._cpu_backend = CpuBackend(cpu_backend)

    @property
    def profile(self) -> DeviceProfile:
        """The device profile (probed on first use)."""
        if self._profile is None:
            self._profile = probe_device()
        return self._profile

    @property
    def cpu_backend(self) -> CpuBackend:
        """What computes the UNet on the CPU from the next job on (the user's setting)."""
        return self._cpu_backend

    @cpu_backend.setter
    def cpu_backend(self, value: CpuBackend | str) -> None:
        self._cpu_backend = CpuBackend(value)

    @property
    def model(self) -> ModelInfo | None:
        """The loaded model, if any."""
        return self._loaded.info if self._loaded else None

    @property
    def strategy(self) -> MemoryStrategy | None:
        """The memory strategy the loaded model runs with, if one is loaded."""
        return self._loaded.strategy if self._loaded else None

    @property
    def run_plan(self) -> RunPlan | None:
        """How the loaded model runs (its dtype, VAE dtype, strategy, and ``backend``: what
        computes its UNet in the next job), if one is loaded."""
        loaded = self._loaded
        if loaded is None:
            return None
        if loaded.openvino is not None and loaded.denoiser() is loaded.openvino:
            return replace(loaded.run_plan, backend=CpuBackend.OPENVINO)
        return loaded.run_plan

    def load(
        self,
        reference: str,
        on_stage: StageCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> ModelInfo | None:
        """Load the model ``reference`` names (no-op if it is already loaded).

        ``on_stage`` hears each stage as it begins; setting ``cancel`` stops at the next stage
        boundary and returns ``None``: with no model loaded (the next load starts afresh), or,
        when preparing OpenVINO was cancelled, with the model loaded in torch (the next load
        prepares OpenVINO again, reusing a conversion that finished).
        """
        try:
            return self._load(reference, on_stage or _quiet, cancel).info
        except _Cancelled:
            return None

    def _load(self, reference: str, report: StageCallback, cancel: threading.Event | None) -> _Loaded:
        adapter = _adapter(reference)
        path = (adapter.base if adapter is not None else resolve_model(reference)).resolve()
        loaded = self._loaded
        if loaded is None or loaded.info.path != path or loaded.forced_float32 != self.force_float32:
            loaded = self._loaded = self._load_model(path, report, cancel)
        loaded.adapter = adapter
        self._use_loras(loaded, (), report)
        self._use_cpu_backend(loaded, report, cancel)
        return loaded

    def _use_loras(self, loaded: _Loaded, loras: Sequence[LoraUse], report: StageCallback) -> list[str]:
        """Apply exactly the catalog adapter the reference names (at :data:`ADAPTER_WEIGHT`) and
        ``loras`` (names or files, each checked to be made for the loaded model's family) to the
        loaded model, loading those not loaded yet; no LoRAs leave the model as it was loaded.
        Returns the notices loading gave. ``loras`` are a job's: ``(*request.loras, *prompt tags)``.
        """
        from sfumato.inference.adapters import AppliedLora, LoraSet, adapter_name
        from sfumato.model_store import ModelStoreError, lora_file
        from sfumato.model_store.checkpoint_family import check_adapter_family

        adapter = loaded.adapter
        wanted: list[AppliedLora] = []
        if adapter is not None:
            wanted.append(AppliedLora(_catalog_lora(adapter, loaded.info.family_id), ADAPTER_WEIGHT))
        try:
            for use in loras:
                found = lora_file(use.name)
                check_adapter_family("LoRA", found.path.name, found.family or "", loaded.info.family_id,
                                     loaded.info.name)  # fmt: skip
                wanted.append(AppliedLora(found, use.weight))
        except ModelStoreError as exc:
            raise ModelError(str(exc), exc.details) from exc
        if not wanted and loaded.loras is None:
            return []
        if loaded.loras is None:
            loaded.loras = LoraSet(loaded.base)
        loaded_now = loaded.loras.loaded
        new = [a.adapter.name for a in wanted if a.weight and adapter_name(a.adapter) not in loaded_now]
        if new:
            report(f"Applying {', '.join(new)}…")
        if loaded.torch_unet is not None:  # the LoRA goes into the torch UNet
            loaded.base.unet = loaded.torch_unet
        try:
            added, notices = loaded.loras.apply(wanted)
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            message = f"Could not apply the LoRA {', '.join(new)}: {reason}"
            raise ModelError(message, details=traceback.format_exc()) from exc
        if added:
            loaded.placed = None  # the new layers are placed with the model on the next job
        loaded.lora = loaded.loras.active or None
        loaded.lora_id = adapter.model_id if adapter is not None else ""
        loaded.lora_scheduler = scheduler_for_class(adapter.scheduler) if adapter is not None else None
        names = ", ".join(a.adapter.name for a in loaded.loras.active)
        log.info("LoRAs on %s: %s", loaded.info.name, names or "none")
        return notices

    def _use_embeddings(
        self, loaded: _Loaded, texts: Sequence[str], extra: Sequence[str], report: StageCallback
    ) -> None:
        """Load exactly the embeddings ``texts`` name: the installed ones made for the loaded
        model's family and ``extra`` (files or installed names) whose name is a word of them;
        the others are unloaded. Only SD 1.x/2.x and SDXL models read embeddings."""
        from sfumato.inference.adapters import EmbeddingSet, trigger_words
        from sfumato.model_store import ModelStoreError, embedding_file, installed_embeddings
        from sfumato.model_store.checkpoint_family import check_adapter_family

        try:
            extras = [embedding_file(ref) for ref in extra]
            for found in extras:
                if found.family is not None:
                    check_adapter_family("embedding", found.path.name, found.family, loaded.info.family_id,
                                         loaded.info.name)  # fmt: skip
            if extras and not hasattr(loaded.base, "load_textual_inversion"):
                raise ModelError(
                    f"{loaded.info.name} is a {loaded.info.traits.label} model, which takes no "
                    "textual-inversion embeddings (SD 1.x, 2.x and SDXL do)."
                )
            candidates: list[AdapterFile] = []
            if hasattr(loaded.base, "load_textual_inversion"):
                by_name = {a.name.casefold(): a for a in installed_embeddings(loaded.info.family_id)}
                by_name.update({a.name.casefold(): a for a in extras})  # a file given for this job wins
                candidates = list(by_name.values())
        except ModelStoreError as exc:
            raise ModelError(str(exc), exc.details) from exc
        wanted = trigger_words(candidates, texts)
        if not wanted and loaded.embeddings is None:
            return
        if loaded.embeddings is None:
            loaded.embeddings = EmbeddingSet(loaded.base)
        if wanted and set(loaded.embeddings.names) != {a.name for a in wanted}:
            report(f"Loading the embeddings {', '.join(a.name for a in wanted)}…")
        try:
            changed = loaded.embeddings.use(wanted)
        except ValueError as exc:
            raise ModelError(str(exc), details=traceback.format_exc()) from exc
        if changed:
            loaded.placed = None  # new token embeddings: placed with the text encoder on the next job

    def _use_cpu_backend(
        self, loaded: _Loaded, report: StageCallback, cancel: threading.Event | None
    ) -> None:
        """Decide, once per ``cpu_backend`` choice, whether OpenVINO computes the loaded model's
        UNet (on the CPU only; converted from the model's own weights, so only while no LoRA is
        applied: a LoRA job meanwhile runs in torch and the decision waits for the next one)."""
        wanted = self.cpu_backend if self.profile.kind == "cpu" else CpuBackend.TORCH
        if loaded.cpu_backend is wanted:
            return
        if wanted is not CpuBackend.TORCH and loaded.lora is not None:
            return
        loaded.openvino, loaded.cpu_backend, loaded.placed = None, None, None
        if wanted is not CpuBackend.TORCH:
            from sfumato.inference import openvino_backend

            prepared = openvino_backend.prepare(
                loaded.base, loaded.info, loaded.run_plan.dtype, wanted, report, lambda: _check(cancel)
            )
            loaded.openvino = prepared.unet
            if prepared.note:
                loaded.notes.append(prepared.note)
        loaded.cpu_backend = wanted

    def _load_model(self, path: Path, report: StageCallback, cancel: threading.Event | None) -> _Loaded:
        info = detect_model(path)
        check_loadable_offline(info)
        _check(cancel)
        self.unload()
        # after unloading: against the memory free now
        run_plan = plan_for(self.profile, info, self.force_float32)
        report(f"Loading {info.name}…")
        started = time.perf_counter()
        from sfumato.inference import pipelines, preview

        if self._threads is not None:
            import torch

            torch.set_num_threads(self._threads)

        # load_pipeline loads in its profile's dtype: this model's, the plan's
        base = pipelines.load_pipeline(info, replace(self.profile, dtype=run_plan.dtype))
        if cancel is not None and cancel.is_set():
            del base
            pipelines.free_memory()
            log.info("loading %s cancelled", info.name)
            raise _Cancelled
        strategy = run_plan.strategy
        tiny = preview.find_tiny_decoder(info)
        dtype = pipelines.torch_dtype(run_plan.dtype)
        decoder = preview.TinyDecoder(tiny, self.profile.kind, dtype) if tiny else None
        loaded = _Loaded(
            info,
            model_hash(info),
            base,
            base.scheduler.config,
            run_plan,
            strategy,
            strategy,
            forced_float32=self.force_float32,
            previewer=preview.make_previewer(base.vae, decoder),
            tiny_decoder=decoder,
            torch_unet=getattr(base, "unet", None),
        )
        log.info(
            "loaded %s (%s) in %.2f s on %s, %s, %s",
            info.name,
            info.architecture,
            time.perf_counter() - started,
            self.profile.name,
            run_plan.precision,
            strategy.name,
        )
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
        on_stage: StageCallback | None = None,
    ) -> GenerationResult:
        """Generate what ``request`` asks for.

        ``on_step`` is called after every denoising step with a preview, ``on_stage`` when a
        stage without steps begins (loading the model, moving it to the GPU). Setting
        ``cancel`` stops after the current step or stage and returns a result with
        ``cancelled`` set and no images (a loaded model stays loaded and usable; a model whose
        loading was cancelled is not kept). Raises :class:`~sfumato.errors.UserFacingError`
        subclasses for anything a user can act on.
        """
        first = _chosen(request.seed)
        variation_first = _chosen(request.variation_seed if isinstance(request, Txt2ImgRequest) else -1)
        seeds, variation_seeds = image_seeds(request, first, variation_first)
        report = on_stage or _quiet
        try:
            _check(cancel)
            loaded = self._load(request.model, report, cancel)
        except _Cancelled:
            return GenerationResult((), seeds, cancelled=True, variation_seeds=variation_seeds)
        from sfumato.inference import pipelines, prompt_encoding, schedulers

        traits = loaded.info.traits
        scheduler_name = (
            request.scheduler
            or loaded.lora_scheduler
            or schedulers.default_scheduler_name(loaded.base.scheduler, traits)
        )
        scheduler = loaded.schedulers.get(scheduler_name)
        if scheduler is None:
            scheduler = schedulers.make_scheduler(scheduler_name, loaded.scheduler_config, traits)
            loaded.schedulers[scheduler_name] = scheduler
        plan = plan_request(
            request, pipelines.native_size(loaded.base), traits.multiple, loaded.info.inpaint_only
        )
        notices = [*plan.notices, *loaded.notes]
        loaded.notes.clear()
        effective = self._effective_request(loaded, plan, request, notices)
        seeds, variation_seeds = image_seeds(effective, first, variation_first)
        prompts = JobPrompts.resolve(effective.prompt, effective.negative_prompt, seeds)
        try:
            _check(cancel)
            # the job's LoRAs: the request's, then the prompt's tags
            notices += self._use_loras(loaded, (*effective.loras, *prompts.loras), report)
            texts = [text for pair in prompts.written for text in pair]
            self._use_embeddings(loaded, texts, effective.embeddings, report)
        except _Cancelled:
            return GenerationResult(
                (), seeds, tuple(notices), cancelled=True, variation_seeds=variation_seeds
            )
        notices += prompt_encoding.prompt_notices(loaded.base, loaded.info.architecture, prompts)
        started = time.perf_counter()
        try:
            outputs = self._generate(
                loaded, plan, effective, scheduler, seeds, variation_seeds, on_step, cancel, report
            )
        finally:
            self._after_job(loaded, notices)
        log.info("%s in %.2f s at %dx%d", request.task, time.perf_counter() - started, *plan.size)
        if outputs is None or (cancel is not None and cancel.is_set()):
            return GenerationResult(
                (), seeds, tuple(notices), cancelled=True, variation_seeds=variation_seeds
            )
        blends = iter(variation_seeds)  # one per image, in order (none without a blend)
        images = tuple(
            plan.finish(
                image,
                seed,
                format_parameters(
                    effective,
                    prompt=prompt,
                    negative_prompt=negative,
                    seed=seed,
                    scheduler=scheduler_name,
                    size=plan.recorded_size,
                    model_name=loaded.info.name,
                    model_hash=loaded.hash,
                    lora=loaded.lora_id,
                    variation_seed=next(blends, None),
                ),
            )
            for image, seed, (prompt, negative) in zip(outputs, seeds, prompts.written, strict=True)
        )
        return GenerationResult(images, seeds, tuple(notices), variation_seeds=variation_seeds)

    @staticmethod
    def _effective_request(
        loaded: _Loaded, plan: CallPlan, request: GenerationRequest, notices: list[str]
    ) -> GenerationRequest:
        """``request`` as it will really run (and be recorded): the plan's steps, no negative
        prompt on FLUX.1, whose distilled guidance has no unconditional pass to steer, the VAE
        decoding when fast decoding has no tiny decoder to decode with, and no variation blend
        where the call is not a text-to-image one (an inpaint-only model's txt2img): the blended
        noise goes in through the text-to-image pipelines' ``latents``."""
        changes: dict[str, Any] = {}
        if request.fast_decode and not _tiny_decoder_ready(loaded, notices):
            changes["fast_decode"] = False
        if plan.steps != request.steps:
            changes["steps"] = plan.steps
        if loaded.info.architecture is Architecture.FLUX and request.negative_prompt:
            changes["negative_prompt"] = ""
            notices.append("FLUX.1 models take no negative prompt; it was left out.")
        blended = isinstance(request, Txt2ImgRequest) and request.variation_strength > 0
        if blended and plan.pipeline_task is not Task.TXT2IMG:
            changes["variation_strength"] = 0.0
            notices.append(
                f"{loaded.info.name} is an inpainting model, which generates by inpainting a blank "
                "picture: the variation seed applies to text-to-image models only and was left out."
            )
        return replace(request, **changes) if changes else request

    def _after_job(self, loaded: _Loaded, notices: list[str]) -> None:
        """Say so if the job needed a leaner strategy, and let the next job try the planned one."""
        if loaded.strategy == loaded.planned and not loaded.tiled_vae:
            return
        notices.append(
            f"Ran out of GPU memory; retried with {loaded.strategy.describe()} and tiled VAE decoding "
            f"(slower, uses less memory). The next job tries {loaded.planned.describe()} again."
        )
        log.info(
            "this job ran with %s and a tiled VAE after running out of memory; the next one tries %s again",
            loaded.strategy.name,
            loaded.planned.name,
        )
        loaded.strategy, loaded.tiled_vae = loaded.planned, False

    def _pipeline(self, loaded: _Loaded, task: Task, report: StageCallback) -> Any:
        """The pipeline for ``task``, its shared weights placed as the current strategy says."""
        from sfumato.inference import pipelines

        pipe = loaded.pipes.get(task)
        if pipe is None:
            pipe = loaded.pipes[task] = pipelines.task_pipeline(loaded.base, task)
        denoiser = loaded.denoiser()
        if denoiser is not None and pipe.unet is not denoiser:
            pipe.unet = denoiser
        placement = (task, loaded.strategy, loaded.tiled_vae)
        if loaded.placed != placement:
            if self.profile.kind != "cpu" and (loaded.placed is None or loaded.placed[1:] != placement[1:]):
                report(f"Moving {loaded.info.name} to the GPU…")
            loaded.placed = None  # until it has worked: a failed placement leaves the weights anywhere
            self._place(pipe, loaded.strategy, loaded.tiled_vae)
            loaded.placed = placement
        return pipe

    def _place(self, pipe: Any, strategy: MemoryStrategy, tiled_vae: bool) -> None:
        """Put ``pipe`` on the device (one place, so tests can inject faults here)."""
        from sfumato.inference import pipelines

        assert self._loaded is not None  # only the loaded model's pipelines are placed
        pipelines.apply_strategy(pipe, strategy, self.profile, tiled_vae, self._loaded.run_plan.vae_dtype)

    def _generate(
        self,
        loaded: _Loaded,
        plan: CallPlan,
        request: GenerationRequest,
        scheduler: Any,
        seeds: tuple[int, ...],
        variation_seeds: tuple[int, ...],
        on_step: ProgressCallback | None,
        cancel: threading.Event | None,
        report: StageCallback,
    ) -> list[np.ndarray] | None:
        """Place the weights and run the pipeline (``None`` if cancelled before the call); on
        out-of-memory while placing or running, free memory and retry with the next leaner
        strategy and a tiled VAE, until there is none leaner."""
        import torch

        from sfumato.inference import pipelines

        while True:
            if cancel is not None and cancel.is_set():
                return None
            out_of_memory = False
            try:
                pipe = self._pipeline(loaded, plan.pipeline_task, report)
                if cancel is not None and cancel.is_set():
                    return None
                pipe.scheduler = scheduler
                kwargs = self._call_arguments(
                    pipe, loaded, plan, request, seeds, variation_seeds, on_step, cancel
                )
                report("Generating…")
                result = self._invoke(pipe, kwargs)
                images = self._images(loaded, pipe, plan, request, result)
            except torch.OutOfMemoryError:
                out_of_memory = True
            except (RuntimeError, ValueError) as exc:
                raise GenerationError(
                    f"Generation failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                    details=traceback.format_exc(),
                ) from exc
            if not out_of_memory:
                return images
            # Outside the except block: the exception and its frames (holding tensors) are gone.
            pipe, kwargs = None, {}
            pipelines.free_memory()
            lower = loaded.run_plan.lower_strategy(loaded.strategy)
            if lower is None and loaded.tiled_vae:
                break
            if lower is not None:
                loaded.strategy = lower
            loaded.tiled_vae = True
            log.warning("out of memory; retrying with %s and tiled VAE", loaded.strategy.name)
        raise OutOfMemoryError(
            f"Out of GPU memory even with {loaded.strategy.describe()}. Try a smaller size, fewer "
            "images at once, or a smaller model."
        )

    def _invoke(self, pipe: Any, kwargs: dict[str, Any]) -> Any:
        """Call the pipeline (one place, so tests can inject faults here)."""
        return pipe(**kwargs)

    @staticmethod
    def _images(
        loaded: _Loaded, pipe: Any, plan: CallPlan, request: GenerationRequest, result: Any
    ) -> list[np.ndarray]:
        """The call's images as ``(H, W, 3)`` uint8: decoded by the pipeline's VAE, or, for fast
        decoding, from the latents it returned by the tiny decoder."""
        if request.fast_decode:
            from sfumato.inference import pipelines

            latents = pipelines.unpack_latents(pipe, result.images, plan.size)
            return list(loaded.tiny_decoder.decode(latents))
        return [np.clip(np.rint(image * 255), 0, 255).astype(np.uint8) for image in result.images]

    def _call_arguments(
        self,
        pipe: Any,
        loaded: _Loaded,
        plan: CallPlan,
        request: GenerationRequest,
        seeds: tuple[int, ...],
        variation_seeds: tuple[int, ...],
        on_step: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> dict[str, Any]:
        import torch

        from sfumato.inference import pipelines, preview, prompt_encoding

        previews = preview.StepPreviews(loaded.previewer)

        def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if on_step is not None:
                latents = pipelines.unpack_latents(pipe, tensors["latents"], plan.size)
                total = int(getattr(pipe, "num_timesteps", 0) or plan.steps)
                # fast decoding decodes the last step's latents with the same tiny decoder next:
                # its preview would be that image, made twice (a 1-step model's only preview)
                last = request.fast_decode and step + 1 >= total
                on_step(StepProgress(step + 1, total, None if last else previews(latents)))
            if cancel is not None and cancel.is_set():
                pipe._interrupt = True
            return {}

        # A batch is passed as lists, one entry per image: SD3 img2img (diffusers 0.42) fails
        # with num_images_per_prompt > 1 and a list of generators. Each image has its own
        # prompt: its wildcards drawn with its seed (embedded with its weights on SD and SDXL).
        prompts = JobPrompts.resolve(request.prompt, request.negative_prompt, seeds)
        count = len(seeds)
        wanted: dict[str, Any] = {
            **prompt_encoding.prompt_arguments(pipe, loaded.info.architecture, prompts, request.guidance),
            "num_inference_steps": plan.steps,
            "guidance_scale": request.guidance,
            "generator": [torch.Generator("cpu").manual_seed(seed) for seed in seeds],
            "width": plan.size[0],
            "height": plan.size[1],
            "image": [plan.image] * count if plan.image is not None else None,
            "mask_image": [plan.mask] * count if plan.mask is not None else None,
            "strength": plan.strength,
            "output_type": "latent" if request.fast_decode else "np",
            "callback_on_step_end": on_step_end,
            "callback_on_step_end_tensor_inputs": ["latents"],
        }
        if variation_seeds and isinstance(request, Txt2ImgRequest):
            from sfumato.inference import noise

            wanted["latents"] = noise.initial_latents(
                pipe, plan.size, wanted["generator"], variation_seeds, request.variation_strength
            )
        accepted = inspect.signature(pipe.__call__).parameters
        return {key: value for key, value in wanted.items() if key in accepted and value is not None}


def _chosen(seed: int) -> int:
    """``seed``, or a random one for -1."""
    return seed if seed != -1 else secrets.randbelow(MAX_SEED + 1)


def _adapter(reference: str) -> AdapterUse | None:
    """The catalog adapter ``reference`` names, with the model it runs on (``None``: it names a
    model). A folder is never an adapter, so loading one asks the model store nothing."""
    if Path(reference).expanduser().is_dir():
        return None
    from sfumato.model_store import ModelStoreError, adapter_use

    try:
        return adapter_use(reference)
    except ModelStoreError as exc:
        raise ModelError(str(exc), exc.details) from exc


def _catalog_lora(adapter: AdapterUse, model_family: str) -> AdapterFile:
    """A catalog adapter's file as one of a job's LoRAs: made for the model it runs on."""
    from sfumato.model_store import AdapterFile
    from sfumato.model_store.checkpoint_family import adapter_family

    return AdapterFile(adapter.model_id, "lora", adapter_family(model_family), adapter.file)


def _tiny_decoder_ready(loaded: _Loaded, notices: list[str]) -> bool:
    """Whether the loaded model's tiny decoder can decode its final images; if not, a notice
    says why and what to install."""
    from sfumato.inference import preview

    if loaded.tiny_decoder is not None:
        try:
            loaded.tiny_decoder.load()
            return True
        except Exception:
            log.warning("the tiny decoder in %s failed to load", loaded.tiny_decoder.folder, exc_info=True)
            notices.append("Fast decode: the tiny decoder could not be loaded; the VAE decoded instead.")
            return False
    wanted = preview.suggested_decoder(loaded.info)
    how = f" (`sfumato models download {wanted}`, or Models › Model Manager…)" if wanted else ""
    notices.append(f"Fast decode needs a tiny decoder for this model{how}; the VAE decoded instead.")
    return False
