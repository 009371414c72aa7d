"""The one planner: how a model runs on a machine — device, dtype, the VAE's dtype, the weights
variant to fetch, the memory strategy, whether it fits, and why.

:func:`plan_run` is a pure function (no torch, no I/O) of the hardware facts (a
:class:`~sfumato.model_store.hardware.HardwareProfile`: device kind, GPU name, compute
capability, total and *free* VRAM, RAM) and the model's family, plus the catalog entry's
variants when there is one. Everything that says how a model runs asks it:

* the Model Manager's "Runs" column, the first-run wizard's starter set and ``sfumato models
  list``/``doctor``, through :func:`plan_model` (a catalog entry on the probed machine);
* the engine, through :func:`sfumato.inference.device.plan_for` when it loads a model (the
  model's family on the device torch reports) and :meth:`RunPlan.lower_strategy` when it runs
  out of memory.

Vocabulary. A *family* is the catalog's (:class:`~sfumato.model_store.catalog.Family`, ids such
as ``sd15``, ``sdxl-inpainting``, ``flux-dev``), which is also what the model store's detector
answers for any local model. ``device`` is ``cuda``, ``rocm``, ``mps`` or ``cpu``; dtypes are
``float32``, ``float16`` and ``bfloat16``; the strategy is a
:class:`~sfumato.memory_strategy.MemoryStrategy`, shown with its ``label``. :meth:`RunPlan.summary`
is the one text the Runs column and the command line print.

Dtype rules. The catalog family's ``dtypes`` give the order of preference; these rules overrule it:

* only the families in :data:`FLOAT16_FAMILIES` (SD 1.x, 2.x, XL) ever run in float16. FLUX.1,
  SD 3.x (and any family not listed) never do: bfloat16 where the GPU supports it
  (``GpuInfo.supports_bfloat16``), else float32 — with offload if that no longer fits;
* float16 needs a GPU that computes it correctly (``GpuInfo.supports_float16``: not the GTX 16xx,
  not before compute capability 6.0);
* when an SD model runs in float16 its VAE decodes in float32 (``vae_dtype``), unless it is an
  fp16-fix VAE (``vae_fp16_safe``: its config's ``force_upcast`` is false), since the SD VAEs
  overflow in float16;
* the CPU runs every family in bfloat16 where it computes bfloat16 natively
  (``HardwareProfile.cpu_bfloat16``: AMX-BF16 or AVX512-BF16 on x86, ARM's BF16 extension), its
  VAE included, and in float32 elsewhere — never in float16, which CPUs have no fast path for;
* ``force_float32`` (the user's setting) runs everything in float32, on any device.

Why bfloat16 on the CPU, VAE included: ``tests/benchmarks/bench_cpu.py`` on this project's
machine (2 cores of an Intel Xeon with AMX-BF16, torch 2.13, random weights in the real shapes,
classifier-free guidance; the 2 cores are shared with other work, so single figures vary by up
to 2× — these are from runs while the machine was quiet). SD 1.5 at 512², 4 steps: bare
diffusers float32 7.33 s per step, 41.4 s the image; the engine in bfloat16 (VAE too,
channels-last) 2.07 s per step (0.28×), 10.9 s (0.26×); OpenVINO 2026.4 with its bf16 hint on
the same weights 1.99 s per step, 10.2 s. SDXL per step at 512² (3 steps): 27.3 s, 3.15 s
(0.12×), 2.90 s; at 1024² (2 steps): 45.7 s, 13.1 s (0.29×), 11.8 s. One SD 1.5 UNet step
alone: bfloat16 0.31× of float32, channels-last 0.26× (``torch.compile`` on top 0.24×, after
compiling for 100 s on first use and 42 s with inductor's cache: not used). One VAE decode of
the same latents: 11.1 s float32, 6.4 s bfloat16, 2.4 s bfloat16 channels-last, at most 8 of
255 levels from float32 (mean 0.57, 99th percentile 2): invisible, while a float32 decode would
take longer than four bfloat16 steps. bfloat16 keeps float32's exponent range, so the SD VAEs
do not overflow in it as they do in float16. (Random weights: real checkpoints were not
available offline.)

Weights variant: the catalog variant stored in the runtime dtype; when the runtime dtype is
float32, or no variant is stored in it (SD on a bfloat16 CPU), the smallest one (float16 and
bfloat16 weights widen to float32 exactly; float16 weights are rounded to bfloat16 on loading).

The pre-flight memory estimate (estimates, not measurements):

* weights = parameter count × bytes per parameter of the runtime dtype (the VAE's at its own
  dtype), where the parameter count comes from the family's shipped configs
  (``params_millions``); without those, from the variant's download size rescaled to the runtime
  dtype; without either, the fit is unknown;
* denoiser activations ≈ 0.4 GiB × (native resolution / 512)² (1.6 GiB at 1024²), for latents and
  attention through PyTorch's fused attention; doubled in float32;
* VAE decode ≈ 1.2 GiB × (native resolution / 512)² untiled, and 1.2 GiB for a tiled decode at
  any size; doubled in float32. From diffusers' "VAE Decode with Hybrid Inference" page
  (https://huggingface.co/docs/diffusers/main/en/hybrid_inference/vae_decode): decoding SD 1.5
  latents on a 24 GiB RTX 4090 took 5.6 % of its memory at 512² and 20 % at 1024², 5.6 % tiled;
* a fixed 0.5 GiB for the runtime context (CUDA/Metal), and 5 % of the usable VRAM kept free.

Strategies, tried in order on a CUDA or ROCm GPU, against its *free* VRAM (total only where the
probe cannot read free memory): everything resident with an untiled decode (``FULL``);
everything resident, VAE tiled and attention sliced (``SLICED``); one component at a time on the
GPU (``MODEL_OFFLOAD``: the denoiser with its activations, the VAE with a tiled decode, or the
largest other component such as a T5 text encoder, whichever is biggest); layer by layer
(``SEQUENTIAL_OFFLOAD``: slow, activations + a tenth of the denoiser). Offloading needs all
weights in RAM plus 2 GiB. Apple silicon shares its memory, so offloading frees nothing there:
``FULL`` with 64 GiB of RAM or more, else ``SLICED`` — diffusers' MPS guide recommends attention
slicing below 64 GB (https://huggingface.co/docs/diffusers/optimization/mps). On the CPU
everything runs in RAM (``FULL``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sfumato.cpu_backend import BACKEND_NAMES, CpuBackend
from sfumato.memory_strategy import MemoryStrategy
from sfumato.model_store.catalog import Catalog, CatalogModel, Family, Variant
from sfumato.model_store.hardware import GIB, GpuInfo, HardwareProfile, hardware_tier

BYTES_PER_PARAM = {"float32": 4, "float16": 2, "bfloat16": 2}
CONTEXT_BYTES = GIB // 2
RAM_HEADROOM = 2 * GIB
VRAM_USABLE = 0.95
ACTIVATIONS_AT_512 = 0.4 * GIB
DECODE_AT_512 = 1.2 * GIB
MPS_FULL_FROM_RAM = 64 * GIB
DENOISERS = ("unet", "transformer")
OFFLOAD_DEVICES = ("cuda", "rocm")
"""Devices the engine can offload to RAM from (accelerate's CPU offload hooks)."""

FLOAT16_FAMILIES = frozenset({"sd15", "sd15-inpainting", "sd2", "sd2-inpainting", "sdxl", "sdxl-inpainting"})
"""Catalog families whose denoiser runs correctly in float16 (and whose VAE then decodes in
float32). Every other family — FLUX.1, SD 3.x, Stable Cascade, one added later — never runs in
float16, whatever the catalog's ``dtypes`` list says."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes the pre-flight estimate expects (see the module docstring)."""

    weights: int
    denoiser: int
    largest_other: int
    vae: int
    activations: int
    decode: int
    """An untiled VAE decode at the native resolution."""
    decode_tiled: int


@dataclass(frozen=True)
class RunPlan:
    """How a model runs here: the planner's one answer (see the module docstring).

    ``variant`` is the catalog variant to fetch (``None`` for a model outside the catalog);
    ``fits`` is ``None`` when its size is not known yet. ``backend`` is what computes the UNet:
    the planner always answers torch; the engine's plan for a loaded model says ``openvino``
    while OpenVINO computes it (:mod:`sfumato.inference.openvino_backend`).
    """

    model_id: str | None
    variant: str | None
    device: str
    dtype: str
    vae_dtype: str
    strategy: MemoryStrategy
    fits: bool | None
    reason: str
    estimate: MemoryEstimate | None
    backend: CpuBackend = CpuBackend.TORCH

    @property
    def compute(self) -> str:
        """The denoiser's dtype, with the library's name when it is not torch: ``bfloat16``,
        ``OpenVINO bfloat16`` (what a status bar shows after the device)."""
        if self.backend is CpuBackend.TORCH:
            return self.dtype
        return f"{BACKEND_NAMES[self.backend]} {self.dtype}"

    @property
    def precision(self) -> str:
        """``float16, VAE float32``, or just ``bfloat16`` (``OpenVINO bfloat16``: :attr:`compute`)
        when the VAE decodes in the same dtype."""
        return self.compute if self.vae_dtype == self.dtype else f"{self.compute}, VAE {self.vae_dtype}"

    def summary(self) -> str:
        """``fp16 · float16, VAE float32 · model offload``: what the Runs column and
        ``sfumato models list`` show."""
        parts = [self.variant] if self.variant else []
        return " · ".join([*parts, self.precision, self.strategy.label])

    def lower_strategy(self, strategy: MemoryStrategy) -> MemoryStrategy | None:
        """The next leaner strategy after running out of memory with ``strategy``, or ``None``
        if it is the leanest here (offloading needs a CUDA or ROCm GPU; elsewhere slicing is as
        lean as it gets)."""
        leanest = (
            MemoryStrategy.SEQUENTIAL_OFFLOAD if self.device in OFFLOAD_DEVICES else MemoryStrategy.SLICED
        )
        return MemoryStrategy(strategy + 1) if strategy < leanest else None


_PlanMaker = Callable[[MemoryStrategy, bool | None, str], RunPlan]


def _gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def supported_dtypes(gpu: GpuInfo | None, cpu_bfloat16: bool = False) -> frozenset[str]:
    """The dtypes ``gpu`` (or, for ``None``, the CPU) computes correctly and fast: the CPU
    float32, and bfloat16 too where it computes bfloat16 natively (``cpu_bfloat16``, the
    hardware facts' :attr:`~sfumato.model_store.hardware.HardwareProfile.cpu_bfloat16`)."""
    if gpu is None:
        return frozenset({"float32", "bfloat16"} if cpu_bfloat16 else {"float32"})
    supported = {"float32"}
    if gpu.supports_float16:
        supported.add("float16")
    if gpu.supports_bfloat16:
        supported.add("bfloat16")
    return frozenset(supported)


def device_dtype(gpu: GpuInfo | None, cpu_bfloat16: bool = False) -> str:
    """The fastest dtype ``gpu`` (or the CPU) computes correctly: bfloat16, float16 or float32.
    A model's own dtype also follows its family's rules (:func:`plan_run`)."""
    supported = supported_dtypes(gpu, cpu_bfloat16)
    return next(d for d in ("bfloat16", "float16", "float32") if d in supported)


def runtime_dtypes(
    family: Family, gpu: GpuInfo | None, cpu_bfloat16: bool = False, force_float32: bool = False
) -> tuple[str, str]:
    """The dtype ``family`` runs in on ``gpu`` (the CPU for ``None``) and the dtype its VAE
    decodes in when the VAE is not an fp16-fix one (see the module docstring for the rules).
    ``force_float32`` runs everything in float32."""
    if force_float32:
        return "float32", "float32"
    if gpu is None:  # every family, and the VAE too (measured: the module docstring)
        dtype = device_dtype(None, cpu_bfloat16)
        return dtype, dtype
    supported = supported_dtypes(gpu)
    allowed = [d for d in (*family.dtypes, "float32") if d != "float16" or family.id in FLOAT16_FAMILIES]
    dtype = next(d for d in allowed if d in supported)
    return dtype, "float32" if dtype == "float16" else dtype


def variant_for_dtype(variants: Sequence[Variant], dtype: str) -> Variant | None:
    """The variant to fetch for running in ``dtype``: the one stored in ``dtype``, or for
    float32 the smallest; else the first diffusers-layout variant (``None`` if there are none)."""
    candidates = [v for v in variants if v.layout == "diffusers"] or list(variants)
    smallest = min(candidates, key=lambda v: BYTES_PER_PARAM[v.dtype], default=None)
    if dtype == "float32":
        return smallest
    return next((v for v in candidates if v.dtype == dtype), smallest)


def estimate_memory(
    family: Family,
    dtype: str,
    vae_dtype: str | None = None,
    variant: Variant | None = None,
    download_bytes: int | None = None,
) -> MemoryEstimate | None:
    """Weights (all, denoiser, largest other component, VAE) and working memory in bytes for
    ``family`` in ``dtype`` (its VAE in ``vae_dtype``, default ``dtype``), or ``None`` if no size
    is known: without parameter counts, ``download_bytes`` or the variant's size decide."""
    vae_dtype = vae_dtype or dtype
    per_param = BYTES_PER_PARAM[dtype]
    params = family.params_millions
    if params:
        sizes = {
            k: int(v * 1e6 * BYTES_PER_PARAM[vae_dtype if k == "vae" else dtype]) for k, v in params.items()
        }
        weights = sum(sizes.values())
        denoiser = sum(v for k, v in sizes.items() if k in DENOISERS)
        largest_other = max((v for k, v in sizes.items() if k not in DENOISERS), default=0)
        vae = sizes.get("vae", 0)
    else:
        size = download_bytes or (variant.download_bytes if variant else None)
        if size is None or variant is None:
            return None
        weights = int(size * per_param / BYTES_PER_PARAM[variant.dtype])
        denoiser, largest_other, vae = weights, 0, 0  # unknown split: assume one component
    scale = (family.native_resolution / 512) ** 2
    activations = int(ACTIVATIONS_AT_512 * scale * (2 if dtype == "float32" else 1))
    decode_tiled = int(DECODE_AT_512 * (2 if vae_dtype == "float32" else 1))
    decode = int(decode_tiled * max(scale, 1.0))
    return MemoryEstimate(weights, denoiser, largest_other, vae, activations, decode, decode_tiled)


def plan_run(
    hardware: HardwareProfile,
    family: Family,
    *,
    model_id: str | None = None,
    variants: Sequence[Variant] = (),
    variant: Variant | None = None,
    download_bytes: int | None = None,
    vae_fp16_safe: bool = False,
    force_float32: bool = False,
) -> RunPlan:
    """How a model of ``family`` runs on ``hardware``: the one planner (module docstring).

    ``variants`` are the catalog entry's (the plan picks one unless ``variant`` is given);
    ``download_bytes`` sizes a family without parameter counts; ``vae_fp16_safe`` says the VAE
    decodes correctly in float16 (an fp16-fix VAE); ``force_float32`` (the user's setting) runs
    everything in float32 wherever it runs.
    """
    gpu = hardware.best_gpu
    device = gpu.backend if gpu is not None else "cpu"
    dtype, vae_dtype = runtime_dtypes(family, gpu, hardware.cpu_bfloat16, force_float32)
    if vae_fp16_safe and dtype == "float16":
        vae_dtype = dtype
    chosen = variant or variant_for_dtype(variants, dtype)
    est = estimate_memory(family, dtype, vae_dtype, chosen, download_bytes)

    def plan(strategy: MemoryStrategy, fits: bool | None, reason: str) -> RunPlan:
        name = chosen.name if chosen else None
        return RunPlan(model_id, name, device, dtype, vae_dtype, strategy, fits, reason, est)

    if est is None:
        return plan(MemoryStrategy.FULL, None, "size unknown until the hub's metadata is fetched")
    ram = hardware.ram_total
    if chosen is not None and chosen.min_ram_gb is not None and ram < chosen.min_ram_gb * GIB:
        return plan(
            MemoryStrategy.FULL, False, f"needs {chosen.min_ram_gb} GiB RAM; this machine has {_gib(ram)}"
        )
    if gpu is None:
        need = est.weights + max(est.activations, est.decode) + RAM_HEADROOM
        if need > ram:
            return plan(
                MemoryStrategy.FULL,
                False,
                f"needs ~{_gib(need)} RAM in {dtype}; this machine has {_gib(ram)}",
            )
        return plan(MemoryStrategy.FULL, True, f"CPU, {dtype}, ~{_gib(need)} RAM (slow)")
    if chosen is not None and chosen.min_vram_gb is not None and gpu.vram_total < chosen.min_vram_gb * GIB:
        return plan(
            MemoryStrategy.FULL,
            False,
            f"needs {chosen.min_vram_gb} GiB VRAM; this GPU has {_gib(gpu.vram_total)}",
        )
    return _gpu_plan(plan, est, gpu, ram)


def _gpu_plan(plan: _PlanMaker, est: MemoryEstimate, gpu: GpuInfo, ram: int) -> RunPlan:
    """The strategy ladder on a GPU (module docstring), against its free VRAM."""
    free = gpu.vram_free if gpu.vram_free is not None else gpu.vram_total
    usable = min(free, gpu.vram_total) * VRAM_USABLE
    room = f"{_gib(gpu.vram_total)} VRAM" + (f", {_gib(free)} free" if gpu.vram_free is not None else "")
    full = est.weights + max(est.activations, est.decode) + CONTEXT_BYTES
    sliced = est.weights + max(est.activations, est.decode_tiled) + CONTEXT_BYTES
    if gpu.backend == "mps":  # unified memory: offloading to RAM frees nothing
        metal = f"Metal can use ~{_gib(gpu.vram_total)}"
        if full <= usable and ram >= MPS_FULL_FROM_RAM:
            return plan(MemoryStrategy.FULL, True, f"~{_gib(full)}; {metal}")
        if sliced <= usable:
            return plan(MemoryStrategy.SLICED, True, f"~{_gib(sliced)}; {metal}")
        return plan(MemoryStrategy.SLICED, False, f"needs ~{_gib(sliced)}; {metal}")
    if full <= usable:
        return plan(MemoryStrategy.FULL, True, f"~{_gib(full)} of {room}")
    if sliced <= usable:
        return plan(MemoryStrategy.SLICED, True, f"~{_gib(sliced)} of {room}")
    by_model = (
        max(est.largest_other, est.denoiser + est.activations, est.vae + est.decode_tiled) + CONTEXT_BYTES
    )
    sequential = est.denoiser // 10 + max(est.activations, est.decode_tiled) + CONTEXT_BYTES
    offload = MemoryStrategy.MODEL_OFFLOAD if by_model <= usable else MemoryStrategy.SEQUENTIAL_OFFLOAD
    ram_need = est.weights + RAM_HEADROOM
    if ram_need > ram:
        return plan(
            offload,
            False,
            f"needs ~{_gib(sliced)} VRAM ({room} here) and offloading needs ~{_gib(ram_need)} RAM "
            f"(this machine has {_gib(ram)})",
        )
    if by_model <= usable:
        return plan(
            MemoryStrategy.MODEL_OFFLOAD, True, f"~{_gib(by_model)} of {room}, the rest waiting in RAM"
        )
    if sequential <= usable:
        return plan(
            MemoryStrategy.SEQUENTIAL_OFFLOAD,
            True,
            f"~{_gib(sequential)} of {room}, layer by layer (slow)",
        )
    return plan(
        MemoryStrategy.SEQUENTIAL_OFFLOAD,
        False,
        f"needs ~{_gib(sequential)} VRAM even offloading layer by layer; {room}",
    )


def plan_model(
    model: CatalogModel,
    profile: HardwareProfile,
    variant_name: str | None = None,
    download_bytes: int | None = None,
    *,
    force_float32: bool = False,
) -> RunPlan:
    """:func:`plan_run` for catalog entry ``model`` (its variant ``variant_name``, or the one the
    plan picks) on ``profile``. ``download_bytes`` (the variant's size from the hub) refines the
    estimate when the family has no parameter counts. ``force_float32`` (the user's setting)
    changes how the model computes, not what it downloads: the variant stays the one the
    hardware's own dtype picks, and the plan says float32."""
    if force_float32 and not variant_name:
        variant_name = plan_model(model, profile, None, download_bytes).variant
    return plan_run(
        profile,
        model.family,
        model_id=model.id,
        variants=model.variants,
        variant=model.variant(variant_name) if variant_name else None,
        download_bytes=download_bytes,
        force_float32=force_float32,
    )


def starter_set(catalog: Catalog, profile: HardwareProfile) -> list[RunPlan]:
    """The tier's starter models that fit (or whose fit is unknown), in catalog order."""
    tier = hardware_tier(profile)
    plans = [plan_model(catalog.get(model_id), profile) for model_id in catalog.starter_sets[tier]]
    return [p for p in plans if p.fits is not False]
