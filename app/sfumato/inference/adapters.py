"""LoRAs and textual-inversion embeddings on a loaded pipeline, switched between jobs.

Imported only by the engine once a model is loaded (torch, diffusers and safetensors).

**LoRAs** become PEFT adapters of the pipeline's denoiser and text encoders through diffusers'
``load_lora_weights``, each named after its file's sha256 (:func:`adapter_name`), and every job
makes exactly its own LoRAs active at their weights (``set_adapters``; ``disable_lora`` for a job
without any). Nothing is ever fused: the model's weights stay as they were loaded, so a job
without LoRAs gives the model's own pixels, and switching LoRAs needs no reload. Up to
:data:`LORA_CAPACITY` adapters stay loaded; the least recently used is deleted when another is
needed. Files in the kohya/A1111 and ComfyUI layouts are renamed to diffusers' PEFT layout first
(:func:`peft_state_dict`), from the loaded model's own module names: fused projections (FLUX.1's
``qkv`` and ``linear1``, SD3's ``qkv``) are split at the model's own widths, and a kohya
``alpha`` is folded into the down weights (``alpha / rank``, as kohya scales them). Files in
diffusers' layout are read by diffusers itself, with the PEFT settings saved in them.

**Embeddings** (SD 1.x/2.x, SDXL) are loaded with ``load_textual_inversion`` under their name as
the token (lower case, as CLIP's tokenizer reads prompts), SDXL's ``clip_l`` and ``clip_g``
vectors into both tokenizer/encoder pairs. A job loads exactly the embeddings its prompts name
and unloads the others, so a prompt is read the same however the jobs before it ran.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from sfumato.inference import flux_layout, ldm_layout, sd3_layout
from sfumato.model_store import AdapterFile
from sfumato.model_store.checkpoint_family import ADAPTER_LABELS, lora_layout

log = logging.getLogger(__name__)

LORA_CAPACITY = 8
"""How many LoRAs stay loaded on a model at most (the least recently used is deleted first)."""

_KOHYA = (
    ("lora_unet_", "denoiser"),
    ("lora_te1_", "text_encoder"),
    ("lora_te2_", "text_encoder_2"),
    ("lora_te3_", "t5"),
    ("lora_te_", "text_encoder"),
)
"""kohya-ss sd-scripts prefixes → the component they train (networks/lora.py, lora_sd3.py,
lora_flux.py: ``lora_te1`` CLIP-L, ``lora_te2`` CLIP-G, ``lora_te3`` T5)."""
_COMFYUI = (
    ("diffusion_model.", "denoiser"),
    ("text_encoders.clip_l.transformer.", "text_encoder"),
    ("text_encoders.clip_h.transformer.", "text_encoder"),
    ("text_encoders.clip_g.transformer.", "text_encoder_2"),
    ("text_encoders.t5xxl.transformer.", "t5"),
)
"""ComfyUI's LoRA prefixes (comfy_extras/nodes_lora_extract.py: ``diffusion_model.`` and
``text_encoders.`` + its CLIP state-dict names, ``clip_l``/``clip_h``/``clip_g``/``t5xxl``)."""
_ROLES = (
    ".lora_down.weight",
    ".lora_up.weight",
    ".alpha",
    ".diff",
    ".diff_b",
    ".dora_scale",
    ".lora_mid.weight",
)


def adapter_name(adapter: AdapterFile) -> str:
    """The PEFT adapter name of a LoRA file: ``lora_`` + the first 16 hex digits of its sha256,
    the same for the same file wherever it lies."""
    return "lora_" + file_sha256(adapter)[:16]


_HASHES: dict[tuple[Path, int, int], str] = {}


def file_sha256(adapter: AdapterFile) -> str:
    """The sha256 of ``adapter``'s file: recorded for installed files, else computed once per
    path, size and modification time."""
    if adapter.sha256:
        return adapter.sha256
    path = adapter.path.resolve()
    stat = path.stat()
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(4 * 1024 * 1024):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


# -- kohya / ComfyUI layouts → diffusers' PEFT layout ----------------------------------------


@dataclass(frozen=True)
class _Target:
    """The diffusers modules a LoRA module name stands for, and their output widths."""

    component: str
    modules: tuple[str, ...]
    widths: tuple[int, ...]
    swapped: bool = False
    """Whether the original module's output halves are in the other order (adaptive norms)."""


def peft_state_dict(
    tensors: dict[str, torch.Tensor], pipe: Any, name: str
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``tensors`` of a kohya/A1111 or ComfyUI LoRA renamed to diffusers' PEFT layout for
    ``pipe`` (``unet.….lora_A.weight`` …), and notices for what could not be kept.

    Kept out, with a notice: T5 text-encoder layers (diffusers applies LoRAs to the denoiser and
    the CLIP text encoders only) and ComfyUI's ``.diff`` / ``.diff_b`` norm and bias changes.
    Raises ``ValueError`` naming a module the model has none of, or a DoRA / LoCon file."""
    layout = lora_layout(tensors)
    prefixes = _KOHYA if layout == "kohya" else _COMFYUI
    index = _module_index(pipe)
    groups: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        prefix, component = next(((p, c) for p, c in prefixes if key.startswith(p)), ("", ""))
        role = next((r for r in _ROLES if key.endswith(r)), None)
        if not prefix or role is None:
            raise ValueError(f"{key} is in no LoRA layout Sfumato reads")
        module = key[len(prefix) : -len(role)]
        groups.setdefault((component, module), {})[role] = tensor
    out: dict[str, torch.Tensor] = {}
    left_out: set[str] = set()
    for (component, module), parts in groups.items():
        if ".dora_scale" in parts or ".lora_mid.weight" in parts:
            raise ValueError(f"{module} is a DoRA or LoCon layer; Sfumato applies plain LoRAs")
        if ".lora_down.weight" not in parts:
            left_out.add("norm and bias changes (.diff)")
            continue
        if component == "t5":
            left_out.add("T5 text-encoder layers")
            continue
        target = index.get((_component(component, pipe), module))
        if target is None:
            raise ValueError(f"the model has no layer {module} ({component})")
        out.update(_split(parts, target))
    notices = [f"{name}: its {what} were left out (diffusers applies none)." for what in sorted(left_out)]
    return out, notices


def _component(component: str, pipe: Any) -> str:
    if component != "denoiser":
        return component
    return "unet" if getattr(pipe, "unet", None) is not None else "transformer"


def _split(parts: dict[str, torch.Tensor], target: _Target) -> dict[str, torch.Tensor]:
    """One LoRA module's tensors as PEFT ``lora_A`` / ``lora_B`` of each target module: the down
    weights (scaled by alpha / rank) for every one, the up weights cut at their widths."""
    down = parts[".lora_down.weight"].float()
    up = parts[".lora_up.weight"].float()
    alpha = parts.get(".alpha")
    if alpha is not None:
        down = down * (float(alpha) / down.shape[0])
    if target.swapped:
        half = up.shape[0] // 2
        up = torch.cat([up[half:], up[:half]])
    if up.shape[0] != sum(target.widths):
        ours, theirs = up.shape[0], sum(target.widths)
        raise ValueError(f"{'+'.join(target.modules)}: the LoRA's layer is {ours} wide, the model's {theirs}")
    ups = torch.split(up, list(target.widths)) if len(target.widths) > 1 else (up,)
    out = {}
    for module, piece in zip(target.modules, ups, strict=True):
        out[f"{target.component}.{module}.lora_A.weight"] = down
        out[f"{target.component}.{module}.lora_B.weight"] = piece.contiguous()
    return out


def _layers(model: torch.nn.Module) -> dict[str, int]:
    """Every linear and convolution layer of ``model`` (as loaded, PEFT wrappers seen through)
    → its output width."""
    found = {}
    for name, module in model.named_modules():
        parts = name.split(".")
        if any(p == "base_layer" or p.startswith("lora_") for p in parts):
            continue
        base = getattr(module, "base_layer", module)
        if isinstance(base, torch.nn.Linear | torch.nn.Conv2d):
            found[name] = int(base.weight.shape[0])
    return found


def _module_index(pipe: Any) -> dict[tuple[str, str], _Target]:
    """``(component, name)`` → :class:`_Target` for every name a kohya or ComfyUI LoRA may give
    a module of ``pipe``: the original model's (LDM/SGM, MMDiT, BFL; dotted for ComfyUI, with
    ``_`` for ``.`` for kohya) and diffusers' own."""
    index: dict[tuple[str, str], _Target] = {}

    def add(
        component: str, original: str, modules: tuple[str, ...], layers: dict[str, int], swapped: bool = False
    ) -> None:
        if all(m in layers for m in modules):
            target = _Target(component, modules, tuple(layers[m] for m in modules), swapped)
            index[(component, original)] = target
            index[(component, original.replace(".", "_"))] = target

    unet = getattr(pipe, "unet", None)
    transformer = getattr(pipe, "transformer", None)
    if isinstance(unet, torch.nn.Module):
        layers = _layers(unet)
        config = getattr(unet, "config")  # noqa: B009 (a diffusers model's, not a torch attribute)
        attention_ups = {i for i, kind in enumerate(config.up_block_types) if kind.startswith("CrossAttn")}
        for module in layers:
            add("unet", module, (module,), layers)
            try:
                ldm = ldm_layout.unet_key(f"{module}.weight", int(config.layers_per_block), attention_ups)
            except KeyError:
                continue
            add("unet", ldm.removesuffix(".weight"), (module,), layers)
    elif isinstance(transformer, torch.nn.Module):
        layers = _layers(transformer)
        for module in layers:
            add("transformer", module, (module,), layers)
        config = getattr(transformer, "config")  # noqa: B009 (a diffusers model's, not a torch attribute)
        if "num_single_layers" in config:  # FLUX.1
            names = flux_layout.module_names(config.num_layers, config.num_single_layers)
            swapped: tuple[str, ...] = (flux_layout.SWAPPED_MODULE,)
        else:
            names = sd3_layout.module_names(config.num_layers)
            swapped = sd3_layout.swapped_modules(config.num_layers)
        for original, modules in names.items():
            add("transformer", original, modules, layers, original in swapped)
    for component in ("text_encoder", "text_encoder_2"):
        encoder = getattr(pipe, component, None)
        if not isinstance(encoder, torch.nn.Module) or not type(encoder).__name__.startswith("CLIP"):
            continue
        layers = _layers(encoder)
        for module in layers:
            prefixed = module.startswith(("text_model.", "text_projection"))
            add(component, module if prefixed else f"text_model.{module}", (module,), layers)
            add(component, module, (module,), layers)
    return index


# -- LoRAs on a pipeline -----------------------------------------------------------------------


@dataclass(frozen=True)
class AppliedLora:
    """One LoRA a job applies: the file (with its family checked) and its weight."""

    adapter: AdapterFile
    weight: float


class LoraSet:
    """The LoRAs loaded into one pipeline as PEFT adapters, and which of them are active."""

    def __init__(self, pipe: Any) -> None:
        self._pipe = pipe
        self._loaded: OrderedDict[str, str] = OrderedDict()
        """Adapter name → file name, least recently used first."""
        self.active: tuple[AppliedLora, ...] = ()

    @property
    def loaded(self) -> tuple[str, ...]:
        """The adapter names loaded now, least recently used first."""
        return tuple(self._loaded)

    def apply(self, loras: Sequence[AppliedLora]) -> tuple[bool, list[str]]:
        """Make exactly ``loras`` active (weight 0 ones are left out: they change nothing),
        loading those not loaded yet. Returns whether new layers were added to the model (they
        are to be placed on the device) and the notices loading gave."""
        wanted: dict[str, float] = {}
        for lora in loras:
            if lora.weight != 0:
                key = adapter_name(lora.adapter)
                wanted[key] = wanted.get(key, 0.0) + lora.weight
        files = {adapter_name(lora.adapter): lora.adapter for lora in loras}
        added, notices = False, []
        for key in wanted:
            if key not in self._loaded:
                self._make_room(keep=set(wanted))
                notices += self._load(files[key], key)
                added = True
            self._loaded.move_to_end(key)
        if wanted:
            self._pipe.enable_lora()
            self._pipe.set_adapters(list(wanted), adapter_weights=list(wanted.values()))
        elif self._loaded:
            self._pipe.disable_lora()
        self.active = tuple(lora for lora in loras if lora.weight != 0)
        return added, notices

    def _make_room(self, keep: set[str]) -> None:
        while len(self._loaded) >= LORA_CAPACITY:
            old = next((k for k in self._loaded if k not in keep), None)
            if old is None:
                return
            log.info("deleting the LoRA %s (%s): the least recently used", old, self._loaded[old])
            self._pipe.delete_adapters(old)
            del self._loaded[old]

    def _load(self, adapter: AdapterFile, key: str) -> list[str]:
        path = adapter.path
        notices: list[str] = []
        if lora_layout(_keys(path)) == "diffusers":  # diffusers reads the PEFT settings saved with it
            with _quiet_libraries():
                self._pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=key)
        else:
            state, notices = peft_state_dict(load_file(str(path)), self._pipe, path.name)
            with _quiet_libraries():
                self._pipe.load_lora_weights(state, adapter_name=key)
        self._loaded[key] = path.name
        log.info("loaded the LoRA %s as %s", path.name, key)
        return notices


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Keep what diffusers, transformers and PEFT say while adapters load out of stderr: a
    report of every weight a LoRA does not carry, the text encoder a LoRA leaves alone, how new
    token embeddings are initialised (the engine reports what matters itself)."""
    import diffusers
    import transformers

    levels = (diffusers.utils.logging.get_verbosity(), transformers.utils.logging.get_verbosity())
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        diffusers.utils.logging.set_verbosity(levels[0])
        transformers.utils.logging.set_verbosity(levels[1])


def _keys(path: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return list(f.keys())


# -- embeddings ----------------------------------------------------------------------------------


def trigger_words(adapters: Iterable[AdapterFile], texts: Iterable[str]) -> list[AdapterFile]:
    """The embeddings among ``adapters`` whose name is a word of one of ``texts`` (case
    forgiven, as CLIP reads prompts in lower case): A1111's way of triggering them."""
    joined = "\n".join(texts)
    return [a for a in adapters if _word(a.name).search(joined)]


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])", re.IGNORECASE)


class EmbeddingSet:
    """The embeddings loaded into one SD or SDXL pipeline's tokenizers and text encoders."""

    def __init__(self, pipe: Any) -> None:
        self._pipe = pipe
        self._loaded: dict[str, tuple[AdapterFile, list[str]]] = {}
        """Token → (file, every token its vectors took)."""

    @property
    def names(self) -> tuple[str, ...]:
        """The embeddings loaded now, by name."""
        return tuple(adapter.name for adapter, _ in self._loaded.values())

    def use(self, adapters: Sequence[AdapterFile]) -> bool:
        """Load exactly ``adapters`` (unloading the others); whether anything changed. Raises
        ``ValueError`` for an embedding whose vectors do not fit the text encoder or whose name
        the tokenizer already has."""
        wanted = {token(a): a for a in adapters}
        if {t: a.path for t, a in wanted.items()} == {t: a.path for t, (a, _) in self._loaded.items()}:
            return False
        self._unload_all()
        for key, adapter in wanted.items():
            self._loaded[key] = (adapter, self._load(adapter, key))
        return True

    def _pairs(self) -> list[tuple[Any, Any]]:
        pairs = [(self._pipe.tokenizer, self._pipe.text_encoder)]
        if getattr(self._pipe, "text_encoder_2", None) is not None:
            pairs.append((self._pipe.tokenizer_2, self._pipe.text_encoder_2))
        return pairs

    def _load(self, adapter: AdapterFile, key: str) -> list[str]:
        tensors = load_file(str(adapter.path))
        pairs = self._pairs()
        if len(pairs) == 2:
            if not {"clip_l", "clip_g"} <= set(tensors):
                raise ValueError(f"{adapter.path.name} has no clip_l and clip_g vectors for SDXL")
            vectors = [tensors["clip_l"], tensors["clip_g"]]
        else:
            vectors = [tensors.get("emb_params", next(iter(tensors.values())))]
        tokens: list[str] = []
        for (tokenizer, encoder), vector in zip(pairs, vectors, strict=True):
            vector = vector.reshape(-1, vector.shape[-1])
            width = encoder.get_input_embeddings().weight.shape[-1]
            if vector.shape[-1] != width:
                raise ValueError(
                    f"{adapter.path.name} has {vector.shape[-1]}-wide vectors, the model's text encoder "
                    f"takes {width} ({ADAPTER_LABELS.get(adapter.family or '', 'another model')})"
                )
            with _quiet_libraries():
                self._pipe.load_textual_inversion(
                    vector, token=key, tokenizer=tokenizer, text_encoder=encoder
                )
            tokens = [key] + [f"{key}_{i}" for i in range(1, vector.shape[0])]
        log.info("loaded the embedding %s (%d vectors) as %s", adapter.path.name, len(tokens), key)
        return tokens

    def _unload_all(self) -> None:
        if not self._loaded:
            return
        tokens = [t for _, taken in self._loaded.values() for t in taken]
        for tokenizer, encoder in self._pairs():
            self._pipe.unload_textual_inversion(tokens=tokens, tokenizer=tokenizer, text_encoder=encoder)
        self._loaded.clear()


def token(adapter: AdapterFile) -> str:
    """The token an embedding is loaded as: its name in lower case (CLIP's tokenizer lowers
    prompts before it looks tokens up)."""
    return adapter.name.lower()
