"""Which variant, dtype and offload policy each catalog model gets on a given machine.

The pre-flight memory estimate (documented here because the numbers are estimates, not
measurements):

* weights = parameter count × bytes per parameter of the runtime dtype, where the parameter
  count comes from the family's shipped configs (``params_millions``); without those, from the
  variant's download size rescaled to the runtime dtype; without either, the fit is unknown.
* activations ≈ 0.4 GiB × (native resolution / 512)² (1.6 GiB at 1024²), for latents and
  attention through PyTorch's fused attention, assuming the engine tiles the VAE decode when
  memory is tight; on the CPU, doubled for float32.
* a fixed 0.5 GiB for the runtime context (CUDA/Metal), and 5 % of VRAM kept free.

Policies, tried in order on a GPU: everything resident (``none``); one component at a time on
the GPU (``model``: the denoiser with its activations, or the largest other component such as
a T5 text encoder, whichever is bigger); layer by layer (``sequential``: slow, activations + a
tenth of the denoiser). Offloading needs all weights in RAM plus 2 GiB. On the CPU everything
runs in float32 in RAM.
"""

from __future__ import annotations

from dataclasses import dataclass

from sfumato.model_store.catalog import Catalog, CatalogModel, Variant
from sfumato.model_store.hardware import GIB, HardwareProfile, hardware_tier

BYTES_PER_PARAM = {"float32": 4, "float16": 2, "bfloat16": 2}
CONTEXT_BYTES = GIB // 2
RAM_HEADROOM = 2 * GIB
VRAM_USABLE = 0.95
ACTIVATIONS_AT_512 = 0.4 * GIB
DENOISERS = ("unet", "transformer")


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes the pre-flight estimate expects (see the module docstring)."""

    weights: int
    denoiser: int
    largest_other: int
    activations: int


@dataclass(frozen=True)
class Plan:
    """How a model would run here. ``fits`` is ``None`` when its size is not known yet."""

    model_id: str
    variant: str
    device: str
    dtype: str
    offload: str
    fits: bool | None
    reason: str
    estimate: MemoryEstimate | None


def _gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def runtime_dtype(model: CatalogModel, profile: HardwareProfile) -> tuple[str, str]:
    """The device (``cuda``/``rocm``/``mps``/``cpu``) and the family's preferred dtype it supports."""
    gpu = profile.best_gpu
    if gpu is None:
        return "cpu", "float32"
    supported = {"float16", "float32"}
    if gpu.supports_bfloat16:
        supported.add("bfloat16")
    dtype = next(d for d in (*model.family.dtypes, "float32") if d in supported)
    return gpu.backend, dtype


def estimate_memory(
    model: CatalogModel, variant: Variant, dtype: str, download_bytes: int | None = None
) -> MemoryEstimate | None:
    """Weights (all, denoiser, largest other component) and activations in bytes, or ``None``
    if no size is known."""
    per_param = BYTES_PER_PARAM[dtype]
    params = model.family.params_millions
    if params:
        weights = int(sum(params.values()) * 1e6 * per_param)
        denoiser = int(sum(v for k, v in params.items() if k in DENOISERS) * 1e6 * per_param)
        others = [v for k, v in params.items() if k not in DENOISERS]
        largest_other = int(max(others, default=0) * 1e6 * per_param)
    else:
        size = download_bytes or variant.download_bytes
        if size is None:
            return None
        weights = int(size * per_param / BYTES_PER_PARAM[variant.dtype])
        denoiser, largest_other = weights, 0  # unknown split: assume one component
    scale = (model.family.native_resolution / 512) ** 2
    activations = int(ACTIVATIONS_AT_512 * scale * (2 if dtype == "float32" else 1))
    return MemoryEstimate(weights, denoiser, largest_other, activations)


def plan_model(
    model: CatalogModel,
    profile: HardwareProfile,
    variant_name: str | None = None,
    download_bytes: int | None = None,
) -> Plan:
    """Choose variant, dtype and offload for ``model`` on ``profile``, or say why it will not fit.

    ``download_bytes`` (the variant's size from the hub) refines the estimate when the family
    has no parameter counts.
    """
    variant = (
        model.variant(variant_name)
        if variant_name
        else next((v for v in model.variants if v.layout == "diffusers"), model.variants[0])
    )
    device, dtype = runtime_dtype(model, profile)
    est = estimate_memory(model, variant, dtype, download_bytes)

    def plan(offload: str, fits: bool | None, reason: str) -> Plan:
        return Plan(model.id, variant.name, device, dtype, offload, fits, reason, est)

    if est is None:
        return plan("none", None, "size unknown until the hub's metadata is fetched")
    ram = profile.ram_total
    if variant.min_ram_gb is not None and ram < variant.min_ram_gb * GIB:
        return plan("none", False, f"needs {variant.min_ram_gb} GiB RAM; this machine has {_gib(ram)}")
    if device == "cpu":
        need = est.weights + est.activations + RAM_HEADROOM
        if need > ram:
            return plan("none", False, f"needs ~{_gib(need)} RAM in float32; this machine has {_gib(ram)}")
        return plan("none", True, f"CPU, float32, ~{_gib(need)} RAM (slow)")
    gpu = profile.best_gpu
    assert gpu is not None
    vram = gpu.vram_total * VRAM_USABLE
    if variant.min_vram_gb is not None and gpu.vram_total < variant.min_vram_gb * GIB:
        return plan(
            "none", False, f"needs {variant.min_vram_gb} GiB VRAM; this GPU has {_gib(gpu.vram_total)}"
        )
    resident = est.weights + est.activations + CONTEXT_BYTES
    if resident <= vram:
        return plan("none", True, f"~{_gib(resident)} of {_gib(gpu.vram_total)} VRAM")
    if device == "mps":  # unified memory: offloading to RAM frees nothing
        return plan("none", False, f"needs ~{_gib(resident)}; Metal can use ~{_gib(gpu.vram_total)}")
    ram_need = est.weights + RAM_HEADROOM
    if ram_need > ram:
        return plan(
            "model",
            False,
            f"needs ~{_gib(resident)} VRAM (GPU has {_gib(gpu.vram_total)}) and offloading needs "
            f"~{_gib(ram_need)} RAM (machine has {_gib(ram)})",
        )
    by_model = max(est.largest_other, est.denoiser + est.activations) + CONTEXT_BYTES
    if by_model <= vram:
        return plan("model", True, f"~{_gib(by_model)} VRAM with model offload to RAM")
    sequential = est.denoiser // 10 + est.activations + CONTEXT_BYTES
    if sequential <= vram:
        return plan("sequential", True, f"~{_gib(sequential)} VRAM with sequential offload (slow)")
    return plan(
        "sequential",
        False,
        f"needs ~{_gib(sequential)} VRAM even offloading layer by layer; GPU has {_gib(gpu.vram_total)}",
    )


def starter_set(catalog: Catalog, profile: HardwareProfile) -> list[Plan]:
    """The tier's starter models that fit (or whose fit is unknown), in catalog order."""
    tier = hardware_tier(profile)
    plans = [plan_model(catalog.get(model_id), profile) for model_id in catalog.starter_sets[tier]]
    return [p for p in plans if p.fits is not False]
