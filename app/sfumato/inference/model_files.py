"""Reading model files without loading weights: resolution, validation, detection, hashing.

Pickle checkpoints (``.ckpt``, ``.pt``, ``.pth``, ``.bin``) are refused and never opened: they
can run code when unpickled. No torch here.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

from safetensors import SafetensorError, safe_open

from sfumato.inference.errors import ModelError, UnsupportedError
from sfumato.inference.families import (
    Family,
    ModelInfo,
    family_from_pipeline_class,
    family_from_tensors,
    sd_family_from_unet,
)

PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"})
SINGLE_FILE_CONFIG_SUFFIX = ".config"
"""A folder ``<stem>.config`` next to ``<stem>.safetensors`` holds its diffusers configuration."""


def resolve_model(reference: str) -> Path:
    """The local path a model reference names.

    Today a reference is a diffusers folder or a single ``.safetensors`` file; catalog ids are
    resolved here once the model store provides them.
    """
    path = Path(reference).expanduser()
    if not path.exists():
        raise ModelError(f"Model not found: {reference}. Give a diffusers folder or a .safetensors file.")
    return path


def _refuse_pickle(path: Path) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise ModelError(
            f"{path.name} is a pickle checkpoint, which can run code when opened; Sfumato only "
            "loads .safetensors. Convert it to .safetensors first."
        )


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"The model file {path.name} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"The model file {path.name} is not a JSON object.")
    return data


def tensor_shapes(path: Path) -> dict[str, list[int]]:
    """Every tensor's name and shape in a ``.safetensors`` file (header only, no weights)."""
    try:
        with safe_open(str(path), framework="numpy") as handle:
            return {key: list(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as exc:
        raise ModelError(
            f"{path.name} is not a complete .safetensors file (truncated or damaged download?): {exc}"
        ) from exc


def _check_component(folder: Path, name: str) -> None:
    component = folder / name
    if not component.is_dir():
        raise ModelError(f"The model folder {folder.name} is incomplete: '{name}' is missing.")
    if name.startswith("tokenizer") or name == "feature_extractor":
        return
    if name.startswith("scheduler"):
        if not (component / "scheduler_config.json").is_file():
            raise ModelError(f"The model folder {folder.name} is incomplete: '{name}' has no config.")
        return
    if not (component / "config.json").is_file():
        raise ModelError(f"The model folder {folder.name} is incomplete: '{name}' has no config.json.")
    weights = list(component.glob("*.safetensors"))
    if not weights:
        for file in component.iterdir():
            _refuse_pickle(file)
        raise ModelError(f"The model folder {folder.name} is incomplete: '{name}' has no weights.")
    for file in weights:
        tensor_shapes(file)


def _detect_folder(folder: Path) -> ModelInfo:
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        raise ModelError(f"{folder} is not a diffusers model folder (it has no model_index.json).")
    index = _read_json(index_file)
    class_name = str(index.get("_class_name", ""))
    family = family_from_pipeline_class(class_name)
    if family is None:
        raise ModelError(f"{folder.name} holds a {class_name or 'unknown'} model, which Sfumato cannot run.")
    if family is Family.STABLE_CASCADE:
        raise UnsupportedError(
            f"{folder.name} is a Stable Cascade model. Its diffusers pipelines are deprecated and "
            "Sfumato does not run them; use an SDXL, SD3 or FLUX model instead."
        )
    components = [
        name
        for name, spec in index.items()
        if not name.startswith("_") and isinstance(spec, list) and spec and spec[0] is not None
    ]
    for name in components:
        _check_component(folder, name)
    inpaint_only = class_name == "FluxFillPipeline"
    if family is Family.SD1 or (family is Family.SDXL and "unet" in components):
        unet = _read_json(folder / "unet" / "config.json")
        inpaint_only = unet.get("in_channels") == 9
        if family is Family.SD1:
            family = sd_family_from_unet(unet)
    return ModelInfo(folder, family, inpaint_only, single_file=False)


def _detect_file(path: Path) -> ModelInfo:
    _refuse_pickle(path)
    if path.suffix.lower() != ".safetensors":
        raise ModelError(f"{path.name} is not a model: give a diffusers folder or a .safetensors file.")
    detected = family_from_tensors(tensor_shapes(path))
    if detected is None:
        raise ModelError(f"{path.name} is not a checkpoint of a model family Sfumato knows.")
    family, inpaint_only = detected
    if family is Family.STABLE_CASCADE:
        raise UnsupportedError(
            f"{path.name} is a Stable Cascade checkpoint. Its diffusers pipelines are deprecated "
            "and Sfumato does not run them; use an SDXL, SD3 or FLUX model instead."
        )
    config = path.with_name(path.stem + SINGLE_FILE_CONFIG_SUFFIX)
    config_dir = config if config.is_dir() else None
    return ModelInfo(path, family, inpaint_only, single_file=True, config_dir=config_dir)


def detect_model(path: Path) -> ModelInfo:
    """Recognise the model at ``path`` (folder or file) and check it is complete and loadable."""
    return _detect_folder(path) if path.is_dir() else _detect_file(path)


def check_loadable_offline(info: ModelInfo) -> None:
    """Refuse a single file without its ``<stem>.config`` folder.

    Without a local config, diffusers 0.42.1 ``from_single_file`` fetches one from the Hub even
    with ``local_files_only=True``; the engine never touches the network.
    """
    if info.single_file and info.config_dir is None:
        raise ModelError(
            f"{info.path.name} needs its configuration to load offline: put the model's diffusers "
            f"folder without weights, named {info.path.stem}{SINGLE_FILE_CONFIG_SUFFIX}, next to it."
        )


def _header_bytes(path: Path) -> bytes:
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        return handle.read(length)


def model_hash(info: ModelInfo) -> str:
    """A short, stable fingerprint of a model: sha256 over its safetensors headers (10 hex digits).

    Headers name every tensor with its dtype, shape and byte offsets, so different checkpoints
    differ; hashing them costs milliseconds where hashing gigabytes of weights would cost seconds.
    """
    digest = hashlib.sha256()
    files = [info.path] if info.single_file else sorted(info.path.glob("*/*.safetensors"))
    if not info.single_file:
        digest.update((info.path / "model_index.json").read_bytes())
    for file in files:
        digest.update(_header_bytes(file))
    return digest.hexdigest()[:10]
