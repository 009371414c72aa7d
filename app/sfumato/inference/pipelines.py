"""Loading checkpoints into diffusers pipelines, switching task, and spending device memory.

Imported only by the engine, when it loads a model (this module imports torch and diffusers).
"""

from __future__ import annotations

import gc
import importlib
import json
import traceback
from pathlib import Path
from typing import Any

import diffusers
import torch
import transformers
from diffusers import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    DiffusionPipeline,
    FluxFillPipeline,
    FluxPipeline,
    FluxTransformer2DModel,
    StableDiffusion3Pipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
)

from sfumato.generation.requests import Task
from sfumato.inference.device import DeviceProfile, MemoryStrategy
from sfumato.inference.errors import ModelError
from sfumato.inference.families import Architecture, ModelInfo
from sfumato.inference.vae_precision import keep_vae_in

_AUTO = {
    Task.TXT2IMG: AutoPipelineForText2Image,
    Task.IMG2IMG: AutoPipelineForImage2Image,
    Task.INPAINT: AutoPipelineForInpainting,
}
"""The pipeline for each task a call runs (:attr:`~sfumato.inference.planning.CallPlan.pipeline_task`)."""

_SINGLE_FILE_CLASSES: dict[tuple[Architecture, bool], type[DiffusionPipeline]] = {
    (Architecture.SD1, False): StableDiffusionPipeline,
    (Architecture.SD1, True): StableDiffusionInpaintPipeline,
    (Architecture.SD2, False): StableDiffusionPipeline,
    (Architecture.SD2, True): StableDiffusionInpaintPipeline,
    (Architecture.SDXL, False): StableDiffusionXLPipeline,
    (Architecture.SDXL, True): StableDiffusionXLInpaintPipeline,
    (Architecture.SD3, False): StableDiffusion3Pipeline,
    (Architecture.FLUX, False): FluxPipeline,
    (Architecture.FLUX, True): FluxFillPipeline,
}


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype a profile names."""
    return {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(name, torch.float32)


def _quiet_progress_bars() -> None:
    """Progress is reported through the engine's callback; the libraries' tqdm bars would only
    interleave with it on stderr."""
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


def load_pipeline(info: ModelInfo, profile: DeviceProfile) -> Any:
    """The pipeline for ``info``, loaded offline from safetensors only, on the CPU.

    Callers check :func:`~sfumato.inference.model_files.check_loadable_offline` first.
    """
    _quiet_progress_bars()
    dtype = torch_dtype(profile.dtype)
    try:
        if info.single_file:
            return _load_single_file(info, dtype)
        return _load_folder(info, dtype)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"Could not load {info.name}: {reason}", details=traceback.format_exc()) from exc


def _load_folder(info: ModelInfo, dtype: torch.dtype) -> Any:
    """A diffusers folder as the Hub serves it (or as a model download left it).

    Weights are read in the precision variant the folder holds (``*.fp16.safetensors``; see
    :func:`~sfumato.model_store.weight_files.loading_variant`). Components that
    ``model_index.json`` lists but the folder lacks — the SD safety checker and feature
    extractor, which the model store never fetches, or an image encoder — are loaded as ``None``
    when the pipeline allows it; the SD safety checker is never loaded.
    """
    from sfumato.model_store.weight_files import loading_variant

    index = json.loads((info.path / "model_index.json").read_text(encoding="utf-8"))
    pipeline_class = getattr(diffusers, str(index.get("_class_name")), DiffusionPipeline)
    optional = set(getattr(pipeline_class, "_optional_components", ()))
    kwargs: dict[str, Any] = {
        name: None
        for name, spec in index.items()
        if name in optional and isinstance(spec, list) and not (info.path / name).is_dir()
    }
    if "safety_checker" in optional:
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    files = [str(p.relative_to(info.path).as_posix()) for p in info.path.glob("*/*.safetensors")]
    variant = loading_variant(files, half_precision=dtype != torch.float32)
    return DiffusionPipeline.from_pretrained(
        str(info.path), dtype=dtype, use_safetensors=True, local_files_only=True, variant=variant, **kwargs
    )


def _load_single_file(info: ModelInfo, dtype: torch.dtype) -> Any:
    """A single checkpoint completed by its ``config_dir`` (which
    :func:`~sfumato.inference.model_files.check_loadable_offline` found complete).

    The components the file holds are read from it, those it lacks (``info.borrowed``: the
    text encoders of an SD 3.5 release, everything but a FLUX.1 transformer) from the folder's
    weights, in the precision variant the folder holds; tokenizers and the scheduler always
    come from the folder. SD files go through diffusers' ``from_single_file``; a FLUX.1 file's
    transformer is converted by :func:`~sfumato.inference.flux_layout.from_bfl` (diffusers'
    converter reads only full-width models) and the pipeline is built from the folder around it.
    """
    folder = info.config_dir
    if folder is None:
        raise ModelError(f"{info.path.name} has no folder to complete it with.")
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    pipeline_class = _SINGLE_FILE_CLASSES[(info.architecture, info.inpaint_only)]
    optional = set(getattr(pipeline_class, "_optional_components", ()))
    parts: dict[str, Any] = {
        name: None
        for name, spec in index.items()
        if name in optional and isinstance(spec, list) and spec[0] and not (folder / name).is_dir()
    }
    if "safety_checker" in optional:
        parts.update(safety_checker=None, requires_safety_checker=False)
    for name in info.borrowed:
        parts[name] = _folder_component(folder, name, index[name], dtype)
    if info.architecture is Architecture.FLUX:
        parts["transformer"] = _flux_transformer(info, folder, dtype)
        return pipeline_class.from_pretrained(
            str(folder), dtype=dtype, use_safetensors=True, local_files_only=True, **parts
        )
    pipe = pipeline_class.from_single_file(
        str(info.path), config=str(folder), dtype=dtype, local_files_only=True, **parts
    )
    # diffusers 0.42.1 leaves a T5 read from a single file in training mode
    # (create_diffusers_t5_model_from_checkpoint never calls eval()): its dropout would make
    # every SD3 prompt encode differently
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()
    return pipe


def _folder_component(folder: Path, name: str, spec: list[str], dtype: torch.dtype) -> Any:
    """Component ``name`` of a diffusers folder (``spec``: its library and class, as
    ``model_index.json`` gives them), in the precision variant the folder holds."""
    from sfumato.model_store.weight_files import loading_variant

    library, class_name = spec
    component_class = getattr(importlib.import_module(library), class_name)
    files = [f"{name}/{p.name}" for p in (folder / name).glob("*.safetensors")]
    variant = loading_variant(files, half_precision=dtype != torch.float32)
    return component_class.from_pretrained(
        str(folder), subfolder=name, dtype=dtype, use_safetensors=True, local_files_only=True, variant=variant
    )


def _flux_transformer(info: ModelInfo, folder: Path, dtype: torch.dtype) -> Any:
    """The FLUX.1 transformer in ``info.path`` (BFL or diffusers names), configured by
    ``folder``'s ``transformer/config.json``; every tensor must match the model's."""
    from safetensors.torch import load_file

    from sfumato.inference.flux_layout import from_bfl

    config = FluxTransformer2DModel.load_config(str(folder), subfolder="transformer", local_files_only=True)
    with torch.device("meta"):
        model = FluxTransformer2DModel.from_config(config)
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    state = from_bfl(
        load_file(str(info.path)),
        shapes,
        cat=lambda tensors: torch.cat(tensors, dim=0),
        split=lambda tensor, sizes: list(torch.split(tensor, sizes, dim=0)),
    )
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(dtype).eval()


def task_pipeline(base: Any, task: Task) -> Any:
    """A pipeline for ``task`` sharing ``base``'s weights (``base`` itself if it already fits)."""
    if task is Task.INPAINT and isinstance(
        base, FluxFillPipeline | StableDiffusionInpaintPipeline | StableDiffusionXLInpaintPipeline
    ):
        pipe = base
    else:
        pipe = _AUTO[task].from_pipe(base)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def native_size(pipe: Any) -> int:
    """The side, in pixels, the model was trained at."""
    sample = getattr(pipe, "default_sample_size", None)
    if sample is None:
        sample = pipe.unet.config.sample_size
    return int(sample * getattr(pipe, "vae_scale_factor", 8))


def apply_strategy(
    pipe: Any, strategy: MemoryStrategy, profile: DeviceProfile, tiled_vae: bool, vae_dtype: str
) -> None:
    """Place ``pipe`` on the device the way ``strategy`` says; tile the VAE when asked; let the
    VAE compute in the plan's ``vae_dtype`` (float32 under a float16 SD model); on the CPU, lay
    the convolution weights out channels-last (:func:`use_channels_last`).

    What a leaner strategy set up before (slicing, tiling, offload hooks) is undone when a
    fuller one is asked for, so the engine can go back to its planned strategy.
    """
    keep_vae_in(pipe, torch_dtype(vae_dtype))  # before offload hooks take the weights' places
    if strategy >= MemoryStrategy.SLICED:
        pipe.enable_attention_slicing()
    else:
        pipe.disable_attention_slicing()
    if strategy >= MemoryStrategy.SLICED or tiled_vae:
        pipe.vae.enable_tiling()
        pipe.vae.enable_slicing()
    else:
        pipe.vae.disable_tiling()
        pipe.vae.disable_slicing()
    if strategy is MemoryStrategy.SEQUENTIAL_OFFLOAD:
        pipe.enable_sequential_cpu_offload(device=profile.kind)
    elif strategy is MemoryStrategy.MODEL_OFFLOAD:
        pipe.enable_model_cpu_offload(device=profile.kind)
    else:
        pipe.remove_all_hooks()
        pipe.to(profile.kind)  # every component: after offload hooks some may sit elsewhere
    if profile.kind == "cpu":
        use_channels_last(pipe)


def use_channels_last(pipe: Any) -> None:
    """Keep the UNet's and the VAE's convolution weights channels-last: on the CPU (oneDNN) a
    bfloat16 SD 1.5 UNet step takes 0.84× the time and a bfloat16 VAE decode 0.38×; float32 is
    about as fast either way (UNet 1.02×, VAE 0.90×) — ``tests/benchmarks/bench_cpu.py``, figures
    in :mod:`sfumato.model_store.fit`."""
    for name in ("unet", "vae"):
        module = getattr(pipe, name, None)
        if isinstance(module, torch.nn.Module):
            module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # documented, not in the overloads


def free_memory() -> None:
    """Return cached device memory after a failure or an unload."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif torch.backends.mps.is_available():
        torch.mps.empty_cache()


def unpack_latents(pipe: Any, latents: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(B, C, h, w)`` latents from what a step callback sees (FLUX packs them into tokens)."""
    if latents.ndim == 3 and hasattr(pipe, "_unpack_latents"):
        return pipe._unpack_latents(latents, size[1], size[0], pipe.vae_scale_factor)
    return latents
