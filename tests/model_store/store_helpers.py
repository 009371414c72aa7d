"""Helpers for model-store tests: tiny repos and checkpoints, a test catalog, fast settings."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
from fake_hub import Repo
from safetensors.numpy import save_file

from sfumato.model_store import HardwareProfile, TransferSettings
from sfumato.model_store.catalog import catalog_dir

GIB = 1024**3
CPU_16GB = HardwareProfile(cpu_cores=8, ram_total=16 * GIB)
TOKEN = "hf_good_token"


def blob(size: int, seed: int) -> bytes:
    """Deterministic pseudo-random bytes."""
    return random.Random(seed).randbytes(size)


def tiny_sd_repo() -> Repo:
    """A diffusers-layout SD 1.5 repo in miniature: variants, a safety checker, a stray pickle."""
    return Repo(
        files={
            "model_index.json": json.dumps(
                {
                    "_class_name": "StableDiffusionPipeline",
                    "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
                    "text_encoder": ["transformers", "CLIPTextModel"],
                    "tokenizer": ["transformers", "CLIPTokenizer"],
                    "unet": ["diffusers", "UNet2DConditionModel"],
                }
            ).encode(),
            "unet/config.json": json.dumps({"cross_attention_dim": 768, "in_channels": 4}).encode(),
            "unet/diffusion_pytorch_model.fp16.safetensors": blob(2_000_000, 1),
            "unet/diffusion_pytorch_model.safetensors": blob(1_500_000, 2),
            "unet/diffusion_pytorch_model.bin": b"pickle" * 10,
            "text_encoder/config.json": b'{"hidden_size": 768}',
            "text_encoder/model.fp16.safetensors": blob(300_000, 3),
            "text_encoder/model.safetensors": blob(600_000, 4),
            "tokenizer/merges.txt": b"#version: 0.2\na b\n",
            "tokenizer/vocab.json": b'{"a": 0}',
            "safety_checker/model.fp16.safetensors": blob(50_000, 5),
            "v1-5-pruned.safetensors": blob(70_000, 6),
        }
    )


def write_test_catalog(folder: Path) -> Path:
    """A catalog of fake-hub models, valid against the real schema."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(catalog_dir() / "catalog.schema.json", folder / "catalog.schema.json")
    variant = {"layout": "diffusers", "download_bytes": None, "min_vram_gb": None, "min_ram_gb": None}
    defaults = {"steps": 20, "cfg": 7.0, "scheduler": "EulerDiscreteScheduler", "width": 512, "height": 512}

    def model(mid: str, repo: str, gated: bool, variants: list[dict]) -> dict:
        return {
            "id": mid,
            "name": mid,
            "family": "sd15",
            "task": "text-to-image",
            "sources": [{"role": "main", "repo": repo, "revision": "main"}],
            "licence": {"name": "test", "url": f"https://example.org/{repo}"},
            "gated": gated,
            "variants": variants,
            "defaults": defaults,
        }

    data = {
        "schema_version": 1,
        "families": {
            "sd15": {
                "label": "SD 1.x",
                "native_resolution": 512,
                "dtypes": ["float16", "float32"],
                "config_dir": None,
                "params_millions": {"unet": 860.0, "text_encoder": 123.0, "vae": 84.0},
            }
        },
        "models": [
            model(
                "tiny-sd",
                "fake/tiny-sd",
                False,
                [
                    {
                        "name": "fp16",
                        "weights_variant": "fp16",
                        "dtype": "float16",
                        **variant,
                    },
                    {
                        "name": "fp32",
                        "weights_variant": None,
                        "dtype": "float32",
                        **variant,
                    },
                ],
            ),
            model(
                "tiny-gated",
                "fake/gated",
                True,
                [{"name": "fp16", "weights_variant": "fp16", "dtype": "float16", **variant}],
            ),
            model(
                "tiny-single",
                "fake/tiny-sd",
                False,
                [
                    {
                        "name": "single",
                        "weights_variant": None,
                        "dtype": "float16",
                        **variant,
                        "layout": "single_file",
                        "file": "v1-5-pruned.safetensors",
                    }
                ],
            ),
        ],
        "starter_sets": {
            t: ["tiny-sd"] for t in ("cpu", "mps", "gpu-6gb", "gpu-8gb", "gpu-12gb", "gpu-16gb", "gpu-24gb")
        },
    }
    (folder / "catalog.json").write_text(json.dumps(data, indent=1))
    return folder


FAST = TransferSettings(connect_timeout=2.0, read_timeout=1.0, retries=1, retry_wait=0.02)


def write_checkpoint(path: Path, shapes: dict[str, tuple[int, ...]]) -> Path:
    """A .safetensors file with zero tensors of these names and shapes (only the header matters)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: np.zeros(s, dtype=np.float16) for k, s in shapes.items()}, str(path))
    return path


LDM = "model.diffusion_model."
SD15_SHAPES = {
    LDM + "input_blocks.0.0.weight": (320, 4, 3, 3),
    LDM + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 768),
}
