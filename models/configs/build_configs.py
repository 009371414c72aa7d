"""Build ``models/configs/<family>/`` and the ``params_millions`` of ``models/catalog.json``.

    .venv/bin/python models/configs/build_configs.py path/to/bpe_simple_vocab_16e6.txt.gz

Every JSON file is written by the diffusers / transformers class's own ``save_config`` /
``save_pretrained`` from the architecture parameters of the published checkpoint; the CLIP
tokenizers are built from the BPE merges list shipped in the open_clip_torch wheel (the list
OpenAI's CLIP tokenizer was made from). Models are instantiated on the meta device only to count
parameters: no weights are created or written. Families whose text encoder needs a T5
SentencePiece model (SD 3.5, FLUX.1) get parameter counts but no folder, since that tokenizer
file cannot be produced offline.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    EulerDiscreteScheduler,
    FluxTransformer2DModel,
    PNDMScheduler,
    SD3Transformer2DModel,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    T5Config,
    T5EncoderModel,
)
from transformers.convert_slow_tokenizer import bytes_to_unicode

HERE = Path(__file__).resolve().parent
CATALOG = HERE.parent / "catalog.json"
SHARED = HERE / "clip-tokenizer"

CLIP_L = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}
OPENCLIP_H = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 23,
    "num_attention_heads": 16,
    "hidden_act": "gelu",
    "projection_dim": 512,
}
OPENCLIP_BIGG = {
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 20,
    "hidden_act": "gelu",
    "projection_dim": 1280,
}
T5_XXL = {
    "vocab_size": 32128,
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_layers": 24,
    "num_heads": 64,
    "feed_forward_proj": "gated-gelu",
    "tie_word_embeddings": False,
}
SD_VAE = {
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
}
SD_BETAS = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}
SDXL_UNET = {
    "sample_size": 128, "cross_attention_dim": 2048, "block_out_channels": (320, 640, 1280),
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "transformer_layers_per_block": (1, 2, 10), "attention_head_dim": (5, 10, 20),
    "use_linear_projection": True, "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256, "projection_class_embeddings_input_dim": 2816,
}  # fmt: skip


def write_clip_vocabulary(bpe_gz: Path) -> None:
    """vocab.json and merges.txt of the CLIP BPE tokenizer (49 408 tokens), shared by every
    family: the model store copies them into each ``tokenizer*/`` folder when it assembles one."""
    with gzip.open(bpe_gz) as f:
        merges = f.read().decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
    units = list(bytes_to_unicode().values())
    vocab = units + [u + "</w>" for u in units] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    SHARED.mkdir(parents=True, exist_ok=True)
    (SHARED / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (SHARED / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")


def clip_tokenizer(pad_token: str) -> CLIPTokenizer:
    """The CLIP tokenizer; OpenCLIP-trained text encoders pad with ``!``."""
    return CLIPTokenizer(
        vocab=str(SHARED / "vocab.json"), merges=str(SHARED / "merges.txt"),
        pad_token=pad_token, model_max_length=77,
    )  # fmt: skip


def millions(*modules: torch.nn.Module) -> float:
    return round(sum(p.numel() for m in modules for p in m.parameters()) / 1e6, 1)


def clip_text(params: dict, projection: bool) -> torch.nn.Module:
    config = CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, **params)
    cls = CLIPTextModelWithProjection if projection else CLIPTextModel
    return cls(config)


def sd_family(name: str, sd2: bool, inpaint: bool, size: int) -> dict[str, float]:
    unet_args = {"sample_size": size // 8, "in_channels": 9 if inpaint else 4}
    if sd2:
        unet_args |= {"cross_attention_dim": 1024, "attention_head_dim": (5, 10, 20, 20),
                      "use_linear_projection": True}  # fmt: skip
    else:
        unet_args |= {"cross_attention_dim": 768}
    unet = UNet2DConditionModel(**unet_args)
    vae = AutoencoderKL(**SD_VAE, sample_size=size)
    text = clip_text(OPENCLIP_H if sd2 else CLIP_L, projection=False)
    v_prediction = sd2 and not inpaint  # SD 2.1 (768) predicts v; the 2.x inpainting model epsilon
    with torch.device("cpu"):  # schedulers hold real tensors
        scheduler = (
        DDIMScheduler(**SD_BETAS, clip_sample=False, set_alpha_to_one=False, steps_offset=1,
                      prediction_type="v_prediction")
        if v_prediction
        else PNDMScheduler(**SD_BETAS, skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)
    )  # fmt: skip
    cls = StableDiffusionInpaintPipeline if inpaint else StableDiffusionPipeline
    pipe = cls(vae=vae, text_encoder=text, tokenizer=clip_tokenizer("!" if sd2 else "<|endoftext|>"),
               unet=unet, scheduler=scheduler, safety_checker=None, feature_extractor=None,
               requires_safety_checker=False)  # fmt: skip
    write(name, pipe)
    return {"unet": millions(unet), "vae": millions(vae), "text_encoder": millions(text)}


def sdxl_family(name: str, inpaint: bool) -> dict[str, float]:
    unet = UNet2DConditionModel(**SDXL_UNET, in_channels=9 if inpaint else 4)
    vae = AutoencoderKL(**SD_VAE, sample_size=1024, scaling_factor=0.13025, force_upcast=True)
    text, text_2 = clip_text(CLIP_L, projection=False), clip_text(OPENCLIP_BIGG, projection=True)
    with torch.device("cpu"):  # schedulers hold real tensors
        scheduler = EulerDiscreteScheduler(**SD_BETAS, steps_offset=1, timestep_spacing="leading")
    kwargs = {"requires_aesthetics_score": False} if inpaint else {}
    cls = StableDiffusionXLInpaintPipeline if inpaint else StableDiffusionXLPipeline
    pipe = cls(vae=vae, text_encoder=text, text_encoder_2=text_2, tokenizer=clip_tokenizer("<|endoftext|>"),
               tokenizer_2=clip_tokenizer("!"), unet=unet, scheduler=scheduler,
               force_zeros_for_empty_prompt=True, **kwargs)  # fmt: skip
    write(name, pipe)
    return {"unet": millions(unet), "vae": millions(vae), "text_encoder": millions(text),
            "text_encoder_2": millions(text_2)}  # fmt: skip


def write(name: str, pipe: object) -> None:
    """model_index.json and each component's config (JSON and tokenizer files only)."""
    folder = HERE / name
    shutil.rmtree(folder, ignore_errors=True)
    pipe.save_config(folder)  # type: ignore[attr-defined]
    for component, module in pipe.components.items():  # type: ignore[attr-defined]
        if module is None:
            continue
        target = folder / component
        if hasattr(module, "save_config"):
            module.save_config(target)
        elif hasattr(module, "config"):
            module.config.save_pretrained(target)
        else:  # a tokenizer: its settings only, the vocabulary is shared
            module.save_pretrained(target)
            (target / "tokenizer.json").unlink()


def counts_only() -> dict[str, dict[str, float]]:
    """Parameter counts of the T5-based families (no folder: see the module docstring)."""
    vae16 = AutoencoderKL(
        **{**SD_VAE, "latent_channels": 16}, use_quant_conv=False, use_post_quant_conv=False
    )
    clip_l = clip_text(CLIP_L, projection=True)
    clip_g = clip_text(OPENCLIP_BIGG, projection=True)
    t5 = T5EncoderModel(T5Config(**T5_XXL))
    sd3 = {"vae": millions(vae16), "text_encoder": millions(clip_l), "text_encoder_2": millions(clip_g),
           "text_encoder_3": millions(t5)}  # fmt: skip
    flux_text = {"vae": millions(vae16), "text_encoder": millions(clip_l), "text_encoder_2": millions(t5)}
    large = SD3Transformer2DModel(num_layers=38, num_attention_heads=38, caption_projection_dim=2432,
                                  pos_embed_max_size=192, qk_norm="rms_norm")  # fmt: skip
    medium = SD3Transformer2DModel(num_layers=24, num_attention_heads=24, caption_projection_dim=1536,
                                   pos_embed_max_size=384, qk_norm="rms_norm",
                                   dual_attention_layers=tuple(range(13)))  # fmt: skip
    return {
        "sd35-large": {"transformer": millions(large), **sd3},
        "sd35-medium": {"transformer": millions(medium), **sd3},
        "flux-dev": {"transformer": millions(FluxTransformer2DModel(guidance_embeds=True)), **flux_text},
        "flux-schnell": {"transformer": millions(FluxTransformer2DModel()), **flux_text},
        "flux-fill": {
            "transformer": millions(
                FluxTransformer2DModel(in_channels=384, out_channels=64, guidance_embeds=True)
            ),
            **flux_text,
        },
    }


def main(bpe: Path) -> None:
    write_clip_vocabulary(bpe)
    with torch.device("meta"):
        params = {
            "sd15": sd_family("sd15", sd2=False, inpaint=False, size=512),
            "sd15-inpainting": sd_family("sd15-inpainting", sd2=False, inpaint=True, size=512),
            "sd2": sd_family("sd2", sd2=True, inpaint=False, size=768),
            "sd2-inpainting": sd_family("sd2-inpainting", sd2=True, inpaint=True, size=512),
            "sdxl": sdxl_family("sdxl", inpaint=False),
            "sdxl-inpainting": sdxl_family("sdxl-inpainting", inpaint=True),
        }
        shipped = set(params)
        params |= counts_only()
    catalog = json.loads(CATALOG.read_text())
    for family, entry in catalog["families"].items():
        entry["config_dir"] = f"configs/{family}" if family in shipped else None
        entry["params_millions"] = params.get(family)
    CATALOG.write_text(json.dumps(catalog, indent=2) + "\n")
    print(json.dumps(params, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
