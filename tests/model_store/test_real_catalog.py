"""Every catalog entry, from a hub laid out like the real one, through download to pixels.

Each entry's repo is served with the real repo's file list (``tests/fixtures/hub_layouts``, built
from the Hub's own pages, which each layout cites) and tiny weights of the same architecture
(:mod:`real_hub`). The test runs ``sfumato models download ID`` as a user would, asserts the exact
set of files fetched — no root checkpoints, no pickles, no second precision, no export folders,
no duplicates — then runs every task the entry supports through the engine, offline: the code the
window's worker runs.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from fake_hub import FakeHub, start_fake_hub
from real_hub import assumed_paths, build_repo, download_bytes, layout, layout_paths
from store_helpers import TOKEN
from task_requests import TASKS, task_request

from sfumato.cli import main
from sfumato.generation import GenerationRequest, Margins
from sfumato.inference import Engine, tiny_models
from sfumato.inference.device import profile_for
from sfumato.inference.model_files import detect_model
from sfumato.inference.preview import find_tiny_decoder
from sfumato.inference.tiny_models import export_single_file
from sfumato.model_store import GpuInfo, HardwareProfile, load_catalog, resolve_model
from sfumato.model_store import manager as manager_module
from sfumato.model_store.catalog import catalog_dir
from sfumato.model_store.hub import parse_index, select_files

TINY: dict[str, Callable[[Path], Path]] = {
    "sd15": tiny_models.build_sd15,
    "sd15-inpainting": tiny_models.build_sd_inpaint,
    "sd2": tiny_models.build_sd2,
    "sd2-inpainting": tiny_models.build_sd2_inpaint,
    "sdxl": tiny_models.build_sdxl,
    "sdxl-inpainting": tiny_models.build_sdxl_inpaint,
    "sd35-medium": tiny_models.build_sd3,
    "sd35-large": tiny_models.build_sd3,
    "flux-schnell": tiny_models.build_flux,
    "flux-dev": tiny_models.build_flux_dev,
    "flux-fill": tiny_models.build_flux_fill,
    "decoder-4": lambda folder: tiny_models.build_tiny_decoder(folder, 4),
    "decoder-16": lambda folder: tiny_models.build_tiny_decoder(folder, 16),
}
"""The tiny architecture each catalog family (and preview-decoder latent size) is served with."""

LORAS: dict[str, str] = {"sd15": "lora-sd15", "sdxl": "lora-sdxl"}
"""Family → the tiny LoRA a catalog adapter for a model of it is served with: made with PEFT for
that family's tiny model (:func:`~sfumato.inference.tiny_models.build_lora`)."""

DECODERS: dict[str, tuple[str, str]] = {
    "taesd": ("decoder-4", "sd15"),
    "taesdxl": ("decoder-4", "sdxl"),
    "taesd3": ("decoder-16", "sd35-medium"),
    "taef1": ("decoder-16", "flux-schnell"),
}
"""Preview decoder → (its tiny architecture, a family whose previews it decodes)."""

DECODER_FILES = ["config.json", "diffusion_pytorch_model.safetensors"]

CLIP_TOKENIZER = ["merges.txt", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"]
T5_TOKENIZER = ["special_tokens_map.json", "spiece.model", "tokenizer.json", "tokenizer_config.json"]
UNET = "diffusion_pytorch_model"


def _folder(name: str, *files: str) -> list[str]:
    return [f"{name}/{file}" for file in files]


def _sd(variant: str, second_text_encoder: bool = False) -> list[str]:
    """An SD 1.x/2.x (or, with ``second_text_encoder``, SDXL) pipeline's files in ``variant``
    (``""`` for unsuffixed weights)."""
    v = f".{variant}" if variant else ""
    files = ["model_index.json", "scheduler/scheduler_config.json"]
    files += _folder("text_encoder", "config.json", f"model{v}.safetensors")
    files += _folder("tokenizer", *CLIP_TOKENIZER)
    if second_text_encoder:
        files += _folder("text_encoder_2", "config.json", f"model{v}.safetensors")
        files += _folder("tokenizer_2", *CLIP_TOKENIZER)
    files += _folder("unet", "config.json", f"{UNET}{v}.safetensors")
    files += _folder("vae", "config.json", f"{UNET}{v}.safetensors")
    return files


def _sd3(t5_shards: int, transformer_shards: int) -> list[str]:
    """An SD 3.5 pipeline in its full weights, T5 and the transformer in as many shards as the
    repo has (1: one file)."""
    files = ["model_index.json", "scheduler/scheduler_config.json"]
    for n in ("", "_2"):
        files += _folder(f"text_encoder{n}", "config.json", "model.safetensors")
        files += _folder(f"tokenizer{n}", *CLIP_TOKENIZER)
    files += _folder("text_encoder_3", "config.json", *_shards("model", t5_shards))
    files += _folder("tokenizer_3", *T5_TOKENIZER)
    files += _folder("transformer", "config.json", *_shards(UNET, transformer_shards))
    files += _folder("vae", "config.json", f"{UNET}.safetensors")
    return files


def _flux(transformer_shards: int, t5_shards: int) -> list[str]:
    """A FLUX.1 pipeline (bf16 weights, unsuffixed), sharded as the repo shards it."""
    files = ["model_index.json", "scheduler/scheduler_config.json"]
    files += _folder("text_encoder", "config.json", "model.safetensors")
    files += _folder("tokenizer", *CLIP_TOKENIZER)
    files += _folder("text_encoder_2", "config.json", *_shards("model", t5_shards))
    files += _folder("tokenizer_2", *T5_TOKENIZER)
    files += _folder("transformer", "config.json", *_shards(UNET, transformer_shards))
    files += _folder("vae", "config.json", f"{UNET}.safetensors")
    return files


def _shards(stem: str, count: int) -> list[str]:
    if count == 1:
        return [f"{stem}.safetensors"]
    return [f"{stem}-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)] + [
        f"{stem}.safetensors.index.json"
    ]


FETCHED: dict[str, list[str]] = {
    # Read off the layouts: never safety_checker/ or feature_extractor/, root checkpoints, .bin,
    # .ckpt, ONNX/OpenVINO/Flax files, vae_1_0/, vae_decoder/, vae_encoder/, text_encoders/, non_ema.
    "sd15": _sd("fp16"),
    "sd15-inpainting": _sd("fp16"),
    "sd21": _sd("fp16"),
    "sd2-inpainting": _sd("fp16"),
    "sdxl-base": _sd("fp16", second_text_encoder=True),
    "sdxl-inpainting": _sd("fp16", second_text_encoder=True),
    "sdxl-turbo": _sd("fp16", second_text_encoder=True),
    "sd35-medium": _sd3(t5_shards=2, transformer_shards=1),
    "sd35-large": _sd3(t5_shards=1, transformer_shards=2),  # text_encoder_3/ assumed (no page)
    "sd35-large-turbo": _sd3(t5_shards=2, transformer_shards=1),  # transformer/ assumed (no page)
    "flux-schnell": _flux(transformer_shards=3, t5_shards=2),
    "flux-dev": _flux(transformer_shards=3, t5_shards=2),
    "flux-fill": _flux(transformer_shards=3, t5_shards=2),
    "sd-turbo": _sd("fp16"),
    "sd15-lcm-lora": ["pytorch_lora_weights.safetensors"],  # and sd15, which it runs on
    "sdxl-lcm-lora": ["pytorch_lora_weights.safetensors"],  # and sdxl-base
    "hyper-sd15-8step": ["Hyper-SD15-8steps-lora.safetensors"],  # one file of a repo of many
    "hyper-sdxl-8step": ["Hyper-SDXL-8steps-lora.safetensors"],
}
"""Catalog id → exactly the files its default download fetches, written out by hand from the
layouts so that the selection code is checked, not restated."""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Builds each tiny architecture once per module."""
    root = tmp_path_factory.mktemp("tiny")
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            base = next((family for family, lora in LORAS.items() if lora == name), None)
            if base is not None:
                built[name] = tiny_models.build_lora(get(base), root / name).parent
            else:
                built[name] = TINY[name](root / name)
        return built[name]

    return get


RTX_3060 = HardwareProfile(
    cpu_cores=8,
    ram_total=32 * 2**30,
    gpus=(GpuInfo("cuda", "NVIDIA GeForce RTX 3060", 12 * 2**30, 11 * 2**30, "8.6"),),
)
"""The machine the downloads are planned for: a common 12 GB Ampere card, so SD fetches its fp16
variant and FLUX/SD3 their bf16 weights (the engine still runs the tiny models on the CPU)."""


@pytest.fixture
def real_hub(online: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A fake hub that the CLI reaches through ``HF_ENDPOINT``, with a token for gated repos, and
    a CLI that plans for :data:`RTX_3060`."""
    fake, server = start_fake_hub()
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(manager_module, "probe_hardware", lambda: RTX_3060)
    yield fake
    fake.closing.set()
    server.shutdown()
    server.server_close()


def _fetched(hub: FakeHub, repo: str) -> list[str]:
    """The files of ``repo`` whose bytes were downloaded (GET on ``resolve``)."""
    prefix = f"/{repo}/resolve/"
    gets = [r.path for r in hub.requests if r.method == "GET" and r.path.startswith(prefix)]
    return sorted({path[len(prefix) :].split("/", 1)[1] for path in gets})


def _mask(shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[20:44, 24:48] = 255
    return mask


def _request(task: str, model: str, source: np.ndarray) -> GenerationRequest:
    mask, margins = _mask(source.shape[:2]), Margins(16, 0, 0, 0)
    return task_request(task, model, source, mask, margins, prompt="a lighthouse", seed=5, strength=0.8)


def _source() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:64]
    return np.stack([x * 3, y * 3, (x + y) % 256], axis=2).astype(np.uint8)


def _tiny_name(model_id: str) -> str:
    """The tiny architecture an entry is served with: its family's, or for an adapter the tiny
    LoRA for its family."""
    entry = load_catalog().get(model_id)
    return LORAS[entry.family.id] if entry.adapter_for else entry.family.id


def _serve(hub: FakeHub, model_id: str, tiny: Callable[[str], Path]) -> None:
    """Serve the entry's repos (and an adapter's model's); gated as its pages say, or as the
    catalog says where no page did."""
    entry = load_catalog().get(model_id)
    if entry.adapter_for:
        _serve(hub, entry.adapter_for, tiny)
    for source in entry.sources:
        repo = build_repo(source.repo, tiny(_tiny_name(model_id)), token=TOKEN)
        shown = layout(source.repo).get("gated")
        assert shown is None or shown == entry.gated, f"{source.repo}: the catalog's gating is wrong"
        repo.gated = entry.gated
        hub.repos[source.repo] = repo


def _pin_tiny_file(
    pinned: str | None, data: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run on a copy of the catalog whose sha256 pin ``pinned`` (a single file's) is that of
    the tiny ``data`` served in its place."""
    catalog = tmp_path / "catalog"
    shutil.copytree(catalog_dir(), catalog)
    text = (catalog / "catalog.json").read_text(encoding="utf-8")
    text = text.replace(str(pinned), hashlib.sha256(data).hexdigest())
    (catalog / "catalog.json").write_text(text, encoding="utf-8")
    monkeypatch.setenv("SFUMATO_CATALOG_DIR", str(catalog))


def _models() -> list[str]:
    return [m.id for m in load_catalog().models]


@pytest.mark.parametrize("model_id", _models())
def test_every_catalog_entry_downloads_exactly_what_it_needs_and_generates(
    model_id: str,
    real_hub: FakeHub,
    tiny: Callable[[str], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    entry = load_catalog().get(model_id)
    _serve(real_hub, model_id, tiny)
    pinned = entry.variants[0]
    if pinned.layout == "single_file":  # an adapter: its one file is pinned, and served tiny
        served_file = real_hub.repos[entry.repo].files[str(pinned.file)]
        _pin_tiny_file(pinned.sha256, served_file, tmp_path, monkeypatch)

    assert main(["models", "download", model_id]) == 0, capsys.readouterr().err

    assert _fetched(real_hub, entry.repo) == sorted(FETCHED[model_id])
    served = set(layout_paths(entry.repo)) | set(assumed_paths(entry.repo, tiny(_tiny_name(model_id))))
    assert set(FETCHED[model_id]) <= served
    if entry.adapter_for:  # the model it runs on came with it
        base = load_catalog().get(entry.adapter_for)
        assert _fetched(real_hub, base.repo) == sorted(FETCHED[base.id])
    info = detect_model(resolve_model(entry.adapter_for or model_id))
    engine = Engine(profile_for("cpu"))
    source = _source()
    for task in TASKS:
        request = _request(task, model_id, source)
        result = engine.run(request)
        assert not result.cancelled and len(result.images) == request.image_count, task
        for generated in result.images:
            image = generated.full()
            assert image.dtype == np.uint8 and image.shape[2] == 3 and image.std() > 0, task
    assert engine.model == info


@pytest.mark.parametrize("decoder_id", sorted(DECODERS))
def test_every_preview_decoder_downloads_its_two_files_and_decodes_previews(
    decoder_id: str,
    real_hub: FakeHub,
    tiny: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    architecture, family = DECODERS[decoder_id]
    decoder = load_catalog().preview_decoder(decoder_id)
    assert decoder is not None
    real_hub.repos[decoder.repo] = build_repo(decoder.repo, tiny(architecture))

    assert main(["models", "download", decoder_id]) == 0, capsys.readouterr().err

    assert _fetched(real_hub, decoder.repo) == DECODER_FILES
    model = detect_model(tiny(family))
    found = find_tiny_decoder(model)
    assert found is not None and sorted(p.name for p in found.iterdir()) == DECODER_FILES


def _variants() -> list[tuple[str, str]]:
    return [(m.id, v.name) for m in load_catalog().models for v in m.variants]


@pytest.mark.parametrize(("model_id", "variant_name"), _variants())
def test_catalog_download_sizes_are_the_sizes_the_hub_pages_show(
    model_id: str, variant_name: str, tiny: Callable[[str], Path]
) -> None:
    """``download_bytes`` is the sum of the sizes the Hub pages show for exactly the files the
    variant fetches, and stays empty where a page gives no size for one of its weight files."""
    entry = load_catalog().get(model_id)
    variant = entry.variant(variant_name)
    if variant.layout == "single_file":  # and its sha256 is the one its page shows
        (shown,) = [f for f in layout(entry.repo)["files"] if f["path"] == variant.file]
        assert variant.sha256 == shown["sha256"] and variant.download_bytes == download_bytes(
            entry.repo, [shown["path"]]
        )
        return
    repo = build_repo(entry.repo, tiny(entry.family.id))
    index = parse_index(entry.repo, repo.files["model_index.json"])
    chosen = select_files(entry.repo, list(repo.files), variant, index)
    assert variant.download_bytes == download_bytes(entry.repo, chosen)


SINGLE_FILES = {"sd15": "sd15", "sdxl-base": "sdxl"}
"""Catalog entries with a single-file variant → the tiny architecture its file is exported from."""


@pytest.mark.parametrize("model_id", sorted(SINGLE_FILES))
def test_a_single_file_variant_downloads_that_one_file_and_generates(
    model_id: str,
    real_hub: FakeHub,
    tiny: Callable[[str], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The root checkpoint people keep (``v1-5-pruned-emaonly``, ``sd_xl_base_1.0``), served in its
    real key layout at tiny size; the catalog pins its sha256, so the test runs on a copy of the
    catalog whose pin is the tiny file's. The shipped family config describes the real-size
    architecture, so the tiny file is completed by the ``<stem>.config`` folder beside it."""
    entry = load_catalog().get(model_id)
    variant = entry.variant("single-file")
    assert variant.file is not None
    exported = export_single_file(tiny(SINGLE_FILES[model_id]), tmp_path / variant.file)
    data = exported.read_bytes()
    repo = build_repo(entry.repo, tiny(entry.family.id), token=TOKEN)
    repo.files[variant.file] = data
    real_hub.repos[entry.repo] = repo
    _pin_tiny_file(variant.sha256, data, tmp_path, monkeypatch)

    assert main(["models", "download", model_id, "--variant", "single-file"]) == 0, capsys.readouterr().err

    assert _fetched(real_hub, entry.repo) == [variant.file]
    installed = resolve_model(f"{model_id}@single-file")
    assert installed.name == variant.file and installed.read_bytes() == data
    shutil.copytree(
        exported.with_name(exported.stem + ".config"), installed.with_name(exported.stem + ".config")
    )
    engine = Engine(profile_for("cpu"))
    for task in ("txt2img", "inpaint"):
        result = engine.run(_request(task, f"{model_id}@single-file", _source()))
        assert len(result.images) == 1 and result.images[0].full().std() > 0, task


LICENCE_TAGS = {
    "creativeml-openrail-m": "CreativeML OpenRAIL-M",
    "openrail++": "CreativeML OpenRAIL++-M",
    "sai-nc-community": "Stability AI Non-Commercial Research Community License",
    "stabilityai-ai-community": "Stability AI Community License",
    "apache-2.0": "Apache-2.0",
    "flux-1-dev-non-commercial-license": "FLUX.1 [dev] Non-Commercial License",
    "mit": "MIT",
}
"""The Hub's licence tags (as the layouts record them from the repo pages) → the catalog's names."""


def test_catalog_licences_and_gating_are_what_the_hub_pages_say() -> None:
    catalog = load_catalog()
    entries = [(m.repo, m.licence_name, m.gated) for m in catalog.models]
    entries += [(d.repo, d.licence_name, False) for d in catalog.preview_decoders]
    untagged = []
    for repo, licence, gated in entries:
        shown = layout(repo)
        if shown.get("licence") is None:
            untagged.append(repo)
        else:
            assert LICENCE_TAGS[shown["licence"]] == licence, repo
        assert shown.get("gated") in (None, gated), repo
    # no stored page shows their tags (sd-turbo's licence comes from its LICENSE.md: catalog notes)
    # (Hyper-SD's licence: its older cards' openrail++, in the catalog notes)
    assert untagged == [
        "ByteDance/Hyper-SD",
        "stabilityai/sd-turbo",
        "ByteDance/Hyper-SD",
        "stabilityai/stable-diffusion-3.5-large-turbo",
    ]
