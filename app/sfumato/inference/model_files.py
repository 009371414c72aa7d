"""Reading model files without loading weights: resolution, validation, detection, hashing.

Pickle refusal, safetensors headers and single-file family detection are the model store's
(:mod:`sfumato.model_store.checkpoint_family`); this module raises its refusals as the engine's
:class:`ModelError`. The store is imported on first use, so ``import sfumato.inference`` stays
cheap. No torch here.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sfumato.inference.errors import ModelError, UnsupportedError
from sfumato.inference.families import (
    STORE_FAMILIES,
    Family,
    ModelInfo,
    family_from_pipeline_class,
    sd_family_from_unet,
)

OPTIONAL_COMPONENTS = frozenset({"safety_checker", "feature_extractor", "image_encoder"})
"""Components a ``model_index.json`` may list that a folder can lack (the model store never
fetches the SD safety checker and its feature extractor); they load as ``None``."""

SINGLE_FILE_CONFIG_SUFFIX = ".config"
"""A folder ``<stem>.config`` next to ``<stem>.safetensors`` holds its diffusers configuration."""


def resolve_model(reference: str) -> Path:
    """The local path a model reference names.

    An existing diffusers folder or ``.safetensors`` file is used as it is; anything else is
    resolved by the model store (a catalog id, ``id@variant``, an installed ``org/name`` or key).
    """
    path = Path(reference).expanduser()
    if path.exists():
        return path
    from sfumato.model_store import InvalidCheckpointError, ModelStoreError
    from sfumato.model_store import resolve_model as store_resolve

    try:
        return store_resolve(reference)
    except InvalidCheckpointError as exc:  # a path that does not exist
        raise ModelError(
            f"Model not found: {reference}. Give a diffusers folder, a .safetensors file or an "
            "installed model (`sfumato models list`)."
        ) from exc
    except ModelStoreError as exc:
        raise ModelError(str(exc), exc.details) from exc


@contextmanager
def _store_refusals(path: Path) -> Iterator[None]:
    """Raise the model store's refusals of ``path`` as :class:`ModelError`."""
    from sfumato.model_store import InvalidCheckpointError, ModelStoreError

    try:
        yield
    except InvalidCheckpointError as exc:  # the store's only one while reading a header
        raise ModelError(
            f"{path.name} is not a complete .safetensors file (truncated or damaged download?): "
            f"{exc.__cause__ or exc}"
        ) from exc
    except ModelStoreError as exc:  # a pickle checkpoint, or tensors of no known family
        raise ModelError(str(exc), exc.details) from exc


def _refuse_pickle(path: Path) -> None:
    from sfumato.model_store.checkpoint_family import refuse_pickle

    with _store_refusals(path):
        refuse_pickle(path)


def _tensor_shapes(path: Path) -> dict[str, list[int]]:
    from sfumato.model_store.checkpoint_family import tensor_shapes

    with _store_refusals(path):
        return tensor_shapes(path)


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"The model file {path.name} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"The model file {path.name} is not a JSON object.")
    return data


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
        _tensor_shapes(file)


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
        if not name.startswith("_")
        and isinstance(spec, list)
        and spec
        and spec[0] is not None
        and not (name in OPTIONAL_COMPONENTS and not (folder / name).is_dir())
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
    from sfumato.model_store import ModelManager
    from sfumato.model_store.checkpoint_family import file_family

    _refuse_pickle(path)
    if path.suffix.lower() != ".safetensors":
        raise ModelError(f"{path.name} is not a model: give a diffusers folder or a .safetensors file.")
    with _store_refusals(path):
        store_family = file_family(path)
    family, inpaint_only = STORE_FAMILIES[store_family]
    if family is Family.STABLE_CASCADE:
        raise UnsupportedError(
            f"{path.name} is a Stable Cascade checkpoint. Its diffusers pipelines are deprecated "
            "and Sfumato does not run them; use an SDXL, SD3 or FLUX model instead."
        )
    config = path.with_name(path.stem + SINGLE_FILE_CONFIG_SUFFIX)
    config_dir = config if config.is_dir() else ModelManager().single_file_config(store_family)
    return ModelInfo(path, family, inpaint_only, single_file=True, config_dir=config_dir)


def detect_model(path: Path) -> ModelInfo:
    """Recognise the model at ``path`` (folder or file) and check it is complete and loadable.

    A single file's ``config_dir`` is its ``<stem>.config`` folder if there is one, else the
    config the model store ships for its family (SD 1.x, SD 2.x, SDXL and their inpainting
    versions), else ``None``.
    """
    return _detect_folder(path) if path.is_dir() else _detect_file(path)


def check_loadable_offline(info: ModelInfo) -> None:
    """Refuse a single file without a config folder: neither its ``<stem>.config`` folder nor
    one the model store ships for its family.

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
