"""Our own renaming of a diffusers-layout (PEFT) LoRA into the kohya/A1111 and ComfyUI layouts,
so that the tiny LoRAs made with PEFT are loaded in all three layouts people share them in.

The names, from the code that writes them:

* kohya-ss sd-scripts: ``lora_unet_`` + the module path with ``_`` for ``.`` — the diffusers
  UNet's paths for SD 1.x/2.x (``networks/lora.py`` trains diffusers' UNet:
  ``lora_unet_down_blocks_0_attentions_0_proj_in``), the SGM UNet's for SDXL
  (``lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q``), MMDiT's for SD3
  (``networks/lora_sd3.py``: ``lora_unet_joint_blocks_0_x_block_attn_qkv``), BFL's for FLUX.1
  (``networks/lora_flux.py``: ``lora_unet_double_blocks_0_img_attn_qkv``,
  ``lora_unet_single_blocks_0_linear1``); text encoders ``lora_te_`` (SD 1.x/2.x) or
  ``lora_te1_`` / ``lora_te2_`` (SDXL, SD3, FLUX.1's CLIP-L) + transformers' module paths; each
  module with ``.lora_down.weight``, ``.lora_up.weight`` and a scalar ``.alpha`` (the LoRA is
  scaled by alpha / rank).
* ComfyUI (``comfy_extras/nodes_lora_extract.py``, ``LoraSave``): ``diffusion_model.`` + the
  original model's module path (LDM/SGM for every SD UNet, MMDiT, BFL), ``text_encoders.`` +
  ComfyUI's CLIP names (``clip_l.transformer.text_model.…``; ``clip_h`` for SD 2.x, ``clip_g`` for
  the second SDXL/SD3 encoder), ``.lora_up.weight`` / ``.lora_down.weight`` and no alpha.

Fused modules (MMDiT's and BFL's ``qkv``, BFL's ``linear1``) get the parts' down weights stacked
and their up weights block-diagonal, which is the same linear map; the original models' final
adaptive norms take their output halves in the other order than diffusers
(:func:`sfumato.inference.sd3_layout.swap_halves`), so those up weights are swapped.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from sfumato.inference import flux_layout, ldm_layout, sd3_layout

_KOHYA_TEXT = {
    "sd15": {"text_encoder": "lora_te_"},
    "sd2": {"text_encoder": "lora_te_"},
    "sdxl": {"text_encoder": "lora_te1_", "text_encoder_2": "lora_te2_"},
    "sd3": {"text_encoder": "lora_te1_", "text_encoder_2": "lora_te2_"},
    "flux": {"text_encoder": "lora_te1_"},
}
_COMFYUI_TEXT = {
    "sd15": {"text_encoder": "text_encoders.clip_l.transformer."},
    "sd2": {"text_encoder": "text_encoders.clip_h.transformer."},
    "sdxl": {
        "text_encoder": "text_encoders.clip_l.transformer.",
        "text_encoder_2": "text_encoders.clip_g.transformer.",
    },
    "sd3": {
        "text_encoder": "text_encoders.clip_l.transformer.",
        "text_encoder_2": "text_encoders.clip_g.transformer.",
    },
    "flux": {"text_encoder": "text_encoders.clip_l.transformer."},
}


Pair = tuple[torch.Tensor, torch.Tensor]
"""A module's LoRA: (down, up)."""


def convert(lora: Path, model: Path, family: str, layout: str, out: Path) -> Path:
    """The diffusers-layout LoRA ``lora`` (made for the tiny ``model`` of ``family``: sd15, sd2,
    sdxl, sd3, flux) written to ``out`` in ``layout`` (``kohya`` or ``comfyui``)."""
    tensors: dict[str, torch.Tensor] = {}
    for component, modules in _pairs(load_file(str(lora))).items():
        if component in ("unet", "transformer"):
            named = _denoiser_names(modules, model, family, layout)
            prefix = "lora_unet_" if layout == "kohya" else "diffusion_model."
        else:
            named = {_text_name(m): ([pair], False) for m, pair in modules.items()}
            prefix = (_KOHYA_TEXT if layout == "kohya" else _COMFYUI_TEXT)[family][component]
        for original, (parts, swapped) in named.items():
            down, up = _fuse(parts)
            if swapped:
                half = up.shape[0] // 2
                up = torch.cat([up[half:], up[:half]])
            name = prefix + (original.replace(".", "_") if layout == "kohya" else original)
            if layout == "kohya":  # alpha = rank / 2 scales the LoRA by 0.5: its down weights are doubled
                tensors[f"{name}.alpha"] = torch.tensor(down.shape[0] / 2)
                down = down * 2
            tensors[f"{name}.lora_down.weight"] = down.contiguous()
            tensors[f"{name}.lora_up.weight"] = up.contiguous()
    save_file(tensors, str(out))
    return out


def _pairs(state: dict[str, torch.Tensor]) -> dict[str, dict[str, Pair]]:
    """``component → module → (lora_A, lora_B)`` of a diffusers-layout file."""
    pairs: dict[str, dict[str, Pair]] = {}
    for key, down in state.items():
        if key.endswith(".lora_A.weight"):
            component, module = key.removesuffix(".lora_A.weight").split(".", 1)
            pairs.setdefault(component, {})[module] = (down, state[key.replace(".lora_A.", ".lora_B.")])
    return pairs


def _text_name(module: str) -> str:
    """transformers 4 names (``text_model.encoder…``), which files keep; transformers 5's
    ``CLIPTextModel`` drops ``text_model.``."""
    return module if module.startswith(("text_model.", "text_projection")) else f"text_model.{module}"


def _denoiser_names(
    modules: dict[str, Pair], model: Path, family: str, layout: str
) -> dict[str, tuple[list[Pair], bool]]:
    """Original module name → (the pairs it fuses, whether its output halves are swapped)."""
    if family in ("sd15", "sd2", "sdxl"):
        if layout == "kohya" and family != "sdxl":  # kohya trains SD 1.x/2.x on diffusers' UNet
            return {m: ([pair], False) for m, pair in modules.items()}
        config = json.loads((model / "unet" / "config.json").read_text(encoding="utf-8"))
        ups = {i for i, kind in enumerate(config["up_block_types"]) if kind.startswith("CrossAttn")}
        lpb = int(config["layers_per_block"])
        return {
            ldm_layout.unet_key(f"{m}.weight", lpb, ups).removesuffix(".weight"): ([pair], False)
            for m, pair in modules.items()
        }
    config = json.loads((model / "transformer" / "config.json").read_text(encoding="utf-8"))
    if family == "flux":
        table = flux_layout.module_names(config["num_layers"], config["num_single_layers"])
        swapped: tuple[str, ...] = (flux_layout.SWAPPED_MODULE,)
    else:
        table = sd3_layout.module_names(config["num_layers"])
        swapped = sd3_layout.swapped_modules(config["num_layers"])
    names = {
        original: ([modules[p] for p in parts], original in swapped)
        for original, parts in table.items()
        if all(p in modules for p in parts)
    }
    left = set(modules) - {p for original in names for p in table[original]}
    assert not left, f"no original name for {sorted(left)}"
    return names


def _fuse(parts: list[Pair]) -> Pair:
    """One module's (down, up) from the parts it fuses: downs stacked, ups block-diagonal."""
    if len(parts) == 1:
        return parts[0]
    return torch.cat([d for d, _ in parts]), torch.block_diag(*[u for _, u in parts])
