"""Tiny random-weight models of every family's real architecture, built offline.

They have the same pipeline classes, component classes and file layout as the real checkpoints,
only with a few channels and layers, so the engine's whole path (detection, loading, task
switching, schedulers, preview, region handling) runs on them in milliseconds. Tests build them
once per session; the packaging smoke test uses them too. Weights are seeded, so a given build
is identical every time.
"""

from __future__ import annotations

import json
import shutil
import string
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderTiny,
    DiffusionPipeline,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    FluxFillPipeline,
    FluxPipeline,
    SD3Transformer2DModel,
    StableDiffusion3Pipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from diffusers.models import FluxTransformer2DModel
from safetensors.torch import save_file
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    T5Config,
    T5EncoderModel,
    T5Tokenizer,
)

from sfumato.inference import flux_layout, ldm_layout, sd3_layout

TINY_SIZE = 64
"""The native resolution of the tiny UNet and SD3 models (FLUX pipelines always assume 1024)."""

_CHARS = string.ascii_lowercase + string.digits + string.punctuation


def clip_tokenizer() -> CLIPTokenizer:
    """A character-level CLIP tokenizer built in code (no vocabulary files needed)."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in _CHARS:
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _t5_tokenizer() -> T5Tokenizer:
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    pieces += [("▁" + char, -2.0) for char in _CHARS] + [(char, -3.0) for char in _CHARS]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


_Clip = TypeVar("_Clip", CLIPTextModel, CLIPTextModelWithProjection)


def _clip_text(hidden: int, model_class: type[_Clip]) -> _Clip:
    torch.manual_seed(0)
    config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=hidden,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=len(_CHARS) * 2 + 2,
        max_position_embeddings=77,
        projection_dim=hidden,
        hidden_act="gelu",
    )
    return model_class(config)


def _t5_text(d_model: int) -> T5EncoderModel:
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=4 + len(_CHARS) * 2,
        d_model=d_model,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        pad_token_id=0,
        eos_token_id=1,
    )
    # SD 3.5's text_encoder_3/config.json carries it (copied from the stabilityai snapshot in
    # huggingface.co/tensorart/stable-diffusion-3.5-large-TurboX/blob/main/text_encoder_3/config.json);
    # transformers 5's T5Config takes it without naming it in __init__
    config.decoder_start_token_id = 0
    return T5EncoderModel(config)


def tiny_vae(latent_channels: int, seed: int = 0) -> AutoencoderKL:
    """The tiny 8× VAE every tiny model uses (``seed`` 0); another ``seed`` gives a VAE of the
    same shapes with other weights, like a fine-tuned VAE baked into a checkpoint."""
    torch.manual_seed(seed)
    if latent_channels == 4:
        extra: dict[str, object] = {}
    else:
        extra = {
            "use_quant_conv": False,
            "use_post_quant_conv": False,
            "shift_factor": 0.0609,
            "scaling_factor": 1.5035,
        }
    return AutoencoderKL(
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        norm_num_groups=2,
        in_channels=3,
        out_channels=3,
        latent_channels=latent_channels,
        sample_size=TINY_SIZE,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        **extra,
    )


def sd_scheduler(prediction_type: str = "epsilon") -> EulerDiscreteScheduler:
    """An Euler scheduler with Stable Diffusion's noise schedule."""
    return EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type=prediction_type,
        timestep_spacing="leading",
        steps_offset=1,
    )


def _sd_unet(in_channels: int, linear_projection: bool) -> UNet2DConditionModel:
    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=TINY_SIZE // 8,
        in_channels=in_channels,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=(2, 4),
        use_linear_projection=linear_projection,
    )


def _build_sd(folder: Path, pipeline: type, *, in_channels: int = 4, linear_projection: bool = False,
              prediction: str = "epsilon") -> Path:
    pipe = pipeline(
        vae=tiny_vae(4),
        text_encoder=_clip_text(32, CLIPTextModel),
        tokenizer=clip_tokenizer(),
        unet=_sd_unet(in_channels, linear_projection=linear_projection),
        scheduler=sd_scheduler(prediction),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return folder


def build_sd15(folder: Path) -> Path:
    """A tiny SD 1.5 (CLIP-L-shaped text encoder, 4-channel UNet, epsilon prediction)."""
    return _build_sd(folder, StableDiffusionPipeline)


def build_sd2(folder: Path) -> Path:
    """A tiny SD 2.x (linear-projection transformer blocks, v-prediction)."""
    return _build_sd(folder, StableDiffusionPipeline, linear_projection=True, prediction="v_prediction")


def build_sd_inpaint(folder: Path) -> Path:
    """A tiny 9-channel SD inpainting model (latents + mask + masked-image latents)."""
    return _build_sd(folder, StableDiffusionInpaintPipeline, in_channels=9)


def build_sd2_inpaint(folder: Path) -> Path:
    """A tiny 9-channel SD 2.x inpainting model (linear projections, epsilon prediction, like
    ``stable-diffusion-2-inpainting``)."""
    return _build_sd(folder, StableDiffusionInpaintPipeline, in_channels=9, linear_projection=True)


def build_sdxl(folder: Path) -> Path:
    """A tiny SDXL (two CLIP text encoders, text-time conditioning)."""
    return _build_sdxl(folder, StableDiffusionXLPipeline, in_channels=4)


def build_sdxl_inpaint(folder: Path) -> Path:
    """A tiny 9-channel SDXL inpainting model (``stable-diffusion-xl-1.0-inpainting-0.1``)."""
    return _build_sdxl(folder, StableDiffusionXLInpaintPipeline, in_channels=9)


def _build_sdxl(folder: Path, pipeline: type, *, in_channels: int) -> Path:
    """The two text encoders differ in width as CLIP ViT-L (768) and OpenCLIP ViT-bigG (1280)
    do: diffusers tells them apart by width when it reads them from an SDXL single file
    (``create_diffusers_clip_model_from_ldm``)."""
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=TINY_SIZE // 8,
        in_channels=in_channels,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * 8 + 48,
        cross_attention_dim=32 + 48,
    )
    pipe = pipeline(
        vae=tiny_vae(4),
        text_encoder=_clip_text(32, CLIPTextModel),
        text_encoder_2=_clip_text(48, CLIPTextModelWithProjection),
        tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(),
        unet=unet,
        scheduler=sd_scheduler(),
    )
    pipe.save_pretrained(folder)
    return folder


def build_sd3(folder: Path) -> Path:
    """A tiny SD3 (MMDiT, two CLIPs + T5, 16-channel VAE, flow matching).

    As in the real model the three text encoders differ in width (CLIP-L 768, CLIP-G 1280,
    T5-XXL 4096), which is how diffusers tells them apart in a single file, and CLIP-L's
    projection is the identity: SD3 files carry none, and diffusers gives CLIP-L
    ``torch.eye`` when it reads one (``create_diffusers_clip_model_from_ldm``).
    """
    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(
        sample_size=TINY_SIZE // 8,
        patch_size=2,
        in_channels=16,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        joint_attention_dim=96,
        caption_projection_dim=32,
        pooled_projection_dim=32 + 48,
        out_channels=16,
        pos_embed_max_size=96,
    )
    clip_l = _clip_text(32, CLIPTextModelWithProjection)
    with torch.no_grad():
        clip_l.text_projection.weight.copy_(torch.eye(32))
    pipe = StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=tiny_vae(16),
        text_encoder=clip_l,
        tokenizer=clip_tokenizer(),
        text_encoder_2=_clip_text(48, CLIPTextModelWithProjection),
        tokenizer_2=clip_tokenizer(),
        text_encoder_3=_t5_text(96),
        tokenizer_3=_t5_tokenizer(),
    )
    pipe.save_pretrained(folder)
    return folder


def _flux_transformer(in_channels: int, guidance_embeds: bool) -> FluxTransformer2DModel:
    torch.manual_seed(0)
    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=in_channels,
        out_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=guidance_embeds,
        axes_dims_rope=(4, 4, 8),
    )


def _flux_scheduler() -> FlowMatchEulerDiscreteScheduler:
    return FlowMatchEulerDiscreteScheduler(
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )


def _build_flux(folder: Path, pipeline: type, *, in_channels: int, guidance_embeds: bool) -> Path:
    pipe = pipeline(
        scheduler=_flux_scheduler(),
        vae=tiny_vae(16),
        text_encoder=_clip_text(32, CLIPTextModel),
        tokenizer=clip_tokenizer(),
        text_encoder_2=_t5_text(32),
        tokenizer_2=_t5_tokenizer(),
        transformer=_flux_transformer(in_channels, guidance_embeds=guidance_embeds),
    )
    pipe.save_pretrained(folder)
    return folder


def build_flux(folder: Path) -> Path:
    """A tiny FLUX.1 without a guidance embedding, like schnell."""
    return _build_flux(folder, FluxPipeline, in_channels=64, guidance_embeds=False)


def build_flux_dev(folder: Path) -> Path:
    """A tiny FLUX.1 [dev]: with the distilled-guidance embedding (``guidance_embeds``)."""
    return _build_flux(folder, FluxPipeline, in_channels=64, guidance_embeds=True)


def build_flux_fill(folder: Path) -> Path:
    """A tiny FLUX.1 Fill (384 input channels: latents, masked image and packed mask)."""
    return _build_flux(folder, FluxFillPipeline, in_channels=384, guidance_embeds=True)


def build_tiny_decoder(folder: Path, latent_channels: int) -> Path:
    """A tiny random-weight ``AutoencoderTiny`` (the TAESD architecture, 8× upsampling) for
    latents with ``latent_channels`` channels (4: SD/SDXL, 16: SD3/FLUX), saved in diffusers
    format like ``madebyollin/taesd``."""
    torch.manual_seed(0)
    AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=latent_channels,
    ).save_pretrained(folder)
    return folder


LORA_FILE = "pytorch_lora_weights.safetensors"
"""The file name diffusers' ``save_lora_weights`` writes (and LoRA repos such as
``latent-consistency/lcm-lora-sdv1-5`` hold)."""


_LORA_TARGETS = {
    "unet": ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out"],
    "sd3": ["to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out",
            "norm_out.linear"],
    "flux": ["to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out",
             "proj_mlp", "proj_out", "norm_out.linear"],
    "text": ["q_proj", "k_proj", "v_proj", "out_proj"],
}  # fmt: skip
"""What the tiny LoRAs train: every attention projection (and an SD UNet's ``proj_in`` /
``proj_out``, 1×1 convolutions in SD 1.x, linear layers in SD 2.x and SDXL, as kohya's LoRAs
train them), FLUX.1's fused single-block layers, the final adaptive norm of SD3 and FLUX.1, and
the CLIP text encoders' attention."""


def build_lora(model: Path, folder: Path, rank: int = 4, seed: int = 0) -> Path:
    """A random-weight LoRA made with PEFT for the tiny model in ``model`` (any family): its
    denoiser and its CLIP text encoders (:data:`_LORA_TARGETS`), saved in diffusers' layout by
    the pipeline's ``save_lora_weights`` as ``folder/pytorch_lora_weights.safetensors``; returns
    that file. ``seed`` picks the weights: the same every time for the same seed."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = DiffusionPipeline.from_pretrained(model, local_files_only=True)
    torch.manual_seed(seed)
    denoiser = "unet" if getattr(pipe, "unet", None) is not None else "transformer"
    kind = "unet" if denoiser == "unet" else "flux" if isinstance(pipe, FluxPipeline) else "sd3"
    layers: dict[str, dict[str, torch.Tensor]] = {}
    encoders = [name for name in ("text_encoder", "text_encoder_2") if name in pipe.components]
    encoders = [name for name in encoders if type(getattr(pipe, name)).__name__.startswith("CLIP")]
    for name in (denoiser, *encoders):
        module = getattr(pipe, name)
        targets = _LORA_TARGETS[kind if name == denoiser else "text"]
        # init_lora_weights=False: random up and down weights, so the LoRA changes the output at once
        config = LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False, target_modules=targets)
        if name == denoiser:
            module.add_adapter(config)
        else:
            from peft import inject_adapter_in_model

            inject_adapter_in_model(config, module)
        layers[f"{name}_lora_layers"] = get_peft_model_state_dict(module)
    type(pipe).save_lora_weights(folder, safe_serialization=True, **layers)
    return folder / LORA_FILE


def build_embedding(model: Path, file: Path, vectors: int = 2, seed: int = 0) -> Path:
    """A random textual-inversion embedding of ``vectors`` vectors for the tiny SD or SDXL model
    in ``model``, saved as ``file``: A1111's ``emb_params`` for a one-encoder model, ``clip_l`` and
    ``clip_g`` for SDXL (the layout SDXL embeddings are shared in). Seeded by ``seed``."""
    index = json.loads((model / "model_index.json").read_text(encoding="utf-8"))
    generator = torch.Generator().manual_seed(seed)

    def width(encoder: str) -> int:
        config = json.loads((model / encoder / "config.json").read_text(encoding="utf-8"))
        return int(config["hidden_size"])

    def random(encoder: str) -> torch.Tensor:
        return torch.randn(vectors, width(encoder), generator=generator)

    if "text_encoder_2" in index:
        tensors = {"clip_l": random("text_encoder"), "clip_g": random("text_encoder_2")}
    else:
        tensors = {"emb_params": random("text_encoder")}
    save_file(tensors, str(file))
    return file


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "sd15": build_sd15,
    "sd2": build_sd2,
    "sd15-inpaint": build_sd_inpaint,
    "sdxl": build_sdxl,
    "sd3": build_sd3,
    "flux": build_flux,
    "flux-dev": build_flux_dev,
    "flux-fill": build_flux_fill,
}
"""Every tiny model, by name."""


def build_all(root: Path) -> dict[str, Path]:
    """Build every tiny model under ``root`` (one folder each) and return their folders."""
    return {name: build(root / name) for name, build in BUILDERS.items()}


def export_single_file(
    folder: Path,
    file: Path,
    *,
    text_encoders: bool = True,
    vae: AutoencoderKL | None = None,
    config_folder: bool = True,
) -> Path:
    """Write the tiny model in ``folder`` as one ``.safetensors`` file in the layout its family's
    single files are shared in, and return ``file``.

    SD 1.x/2.x: UNet, VAE and CLIP in the LDM layout (``v1-5-pruned-emaonly.safetensors``);
    SDXL: UNet, VAE, CLIP-L and OpenCLIP in the SGM layout (``sd_xl_base_1.0.safetensors``);
    SD3: the MMDiT and the VAE, plus the three text encoders unless ``text_encoders`` is false
    (``sd3.5_medium.safetensors`` holds none); FLUX.1: the transformer alone in BFL's layout
    (``flux1-dev.safetensors``). ``vae`` is baked in instead of the folder's own VAE.

    With ``config_folder``, ``<stem>.config`` goes next to it: ``folder`` without the weights of
    the components the file holds (so with the weights of those it lacks), which is what
    completing the file offline needs.
    """
    def cat(tensors: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(tensors, dim=0)

    pipeline = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))["_class_name"]
    pipe = DiffusionPipeline.from_pretrained(folder, local_files_only=True)
    baked = vae or pipe.vae
    if pipeline.startswith("Flux"):
        tensors = flux_layout.to_bfl(pipe.transformer.state_dict(), cat)
        held = ["transformer"]
    elif pipeline.startswith("StableDiffusion3"):
        encoders = ("text_encoder", "text_encoder_2", "text_encoder_3") if text_encoders else ()
        tensors = sd3_layout.sd3_checkpoint(
            pipe.transformer.state_dict(),
            pipe.transformer.config.num_layers,
            baked.state_dict(),
            baked.config,
            tuple(getattr(pipe, name).state_dict() for name in encoders) or None,
            cat,
        )
        held = ["transformer", "vae", *encoders]
    elif pipeline.startswith("StableDiffusionXL"):
        tensors = ldm_layout.sdxl_checkpoint(
            pipe.unet.state_dict(),
            pipe.unet.config,
            baked.state_dict(),
            baked.config,
            (pipe.text_encoder.state_dict(), pipe.text_encoder_2.state_dict()),
            cat,
        )
        held = ["unet", "vae", "text_encoder", "text_encoder_2"]
    else:
        tensors = ldm_layout.sd1_checkpoint(
            pipe.unet.state_dict(), pipe.unet.config, baked.state_dict(), baked.config,
            pipe.text_encoder.state_dict(),
        )
        held = ["unet", "vae", "text_encoder"]
    save_file({key: value.contiguous().clone() for key, value in tensors.items()}, str(file))
    if config_folder:

        def weights_of_held(directory: str, names: list[str]) -> list[str]:
            if Path(directory).name not in held:
                return []
            return [n for n in names if n.endswith((".safetensors", ".safetensors.index.json"))]

        config = file.with_name(file.stem + ".config")
        shutil.copytree(folder, config, ignore=weights_of_held, dirs_exist_ok=True)
    return file
