"""Reading model files without loading weights: resolution, validation, detection, hashing.

Family detection of folders and files, pickle refusal and safetensors headers are the model
store's (:mod:`sfumato.model_store.checkpoint_family`, the one detector the store and the engine
share); this module raises its refusals as the engine's :class:`ModelError` or
:class:`UnsupportedError`, checks that a folder is complete, and finds what completes a single
file. The store is imported on first use, so ``import sfumato.inference`` stays cheap. No torch
here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sfumato.errors import UserFacingError
from sfumato.inference.errors import ModelError, UnsupportedError
from sfumato.inference.families import ModelInfo

log = logging.getLogger(__name__)

OPTIONAL_COMPONENTS = frozenset({"safety_checker", "feature_extractor", "image_encoder"})
"""Components a ``model_index.json`` may list that a folder can lack (the model store never
fetches the SD safety checker and its feature extractor); they load as ``None``."""

SINGLE_FILE_CONFIG_SUFFIX = ".config"
"""A folder ``<stem>.config`` next to ``<stem>.safetensors``: the model's diffusers folder (its
configs and tokenizers, and the weights of the components the file lacks)."""

_PART_WORDS = {"unet": "the UNet", "transformer": "the transformer", "vae": "the VAE"}


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
def _store_refusals(path: Path, *, reading_header: bool = False) -> Iterator[None]:
    """Raise the model store's refusals of ``path`` as :class:`ModelError` (a recognised model
    Sfumato does not run: :class:`UnsupportedError`)."""
    from sfumato.model_store import InvalidCheckpointError, ModelStoreError, UnsupportedModelError

    try:
        yield
    except UnsupportedModelError as exc:
        raise UnsupportedError(str(exc), exc.details) from exc
    except InvalidCheckpointError as exc:
        if not reading_header:
            raise ModelError(str(exc), exc.details) from exc
        raise ModelError(
            f"{path.name} is not a complete .safetensors file (truncated or damaged download?): "
            f"{exc.__cause__ or exc}"
        ) from exc
    except ModelStoreError as exc:  # a pickle checkpoint, or no family Sfumato knows
        raise ModelError(str(exc), exc.details) from exc


def _refuse_pickle(path: Path) -> None:
    from sfumato.model_store.checkpoint_family import refuse_pickle

    with _store_refusals(path):
        refuse_pickle(path)


def _tensor_shapes(path: Path) -> dict[str, list[int]]:
    from sfumato.model_store.checkpoint_family import tensor_shapes

    with _store_refusals(path, reading_header=True):
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


def _listed(index: dict[str, object]) -> list[str]:
    """The components a ``model_index.json`` lists with a class (``[null, null]`` ones are off)."""
    return [
        name
        for name, spec in index.items()
        if not name.startswith("_") and isinstance(spec, list) and spec and spec[0] is not None
    ]


def _detect_folder(folder: Path) -> ModelInfo:
    from sfumato.model_store.checkpoint_family import pipeline_family, refuse_unrunnable

    index_file = folder / "model_index.json"
    if not index_file.is_file():
        raise ModelError(f"{folder} is not a diffusers model folder (it has no model_index.json).")
    index = _read_json(index_file)
    with _store_refusals(folder):
        family = pipeline_family(folder)
        refuse_unrunnable(family, folder.name)
    for name in _listed(index):
        if not (name in OPTIONAL_COMPONENTS and not (folder / name).is_dir()):
            _check_component(folder, name)
    return ModelInfo(folder, family, single_file=False)


def _detect_file(path: Path) -> ModelInfo:
    from sfumato.model_store.checkpoint_family import (
        file_components,
        file_family,
        pipeline_components,
        refuse_unrunnable,
    )

    _refuse_pickle(path)
    if path.suffix.lower() != ".safetensors":
        raise ModelError(f"{path.name} is not a model: give a diffusers folder or a .safetensors file.")
    shapes = _tensor_shapes(path)
    with _store_refusals(path, reading_header=True):
        family = file_family(path)
        refuse_unrunnable(family, path.name)
    held = file_components(family, shapes)
    borrowed = tuple(part for part in pipeline_components(family) if part not in held)
    config_dir = _companion(path, family, held, borrowed)
    return ModelInfo(path, family, single_file=True, config_dir=config_dir, borrowed=borrowed)


def _companion(path: Path, family: str, held: tuple[str, ...], borrowed: tuple[str, ...]) -> Path | None:
    """The diffusers folder that completes the single file ``path``.

    Its ``<stem>.config`` folder if there is one (complete or not: :func:`check_loadable_offline`
    says what it lacks); else, when the file holds every component, the config folder the model
    store ships for its family; else an installed diffusers folder of the same family that has
    everything the file lacks (a catalog download such as ``flux-dev``, an imported folder, the
    Hugging Face cache); else ``None``.
    """
    own = path.with_name(path.stem + SINGLE_FILE_CONFIG_SUFFIX)
    if own.is_dir():
        return own
    from sfumato.model_store import ModelManager, ModelStoreError

    manager = ModelManager()
    try:
        shipped = None if borrowed else manager.single_file_config(family)
        if shipped is not None:
            return shipped
        for model in manager.installed():
            folder = model.path
            if model.family == family and folder.is_dir() and not _lacks(folder, held, borrowed):
                return folder
    except ModelStoreError:
        log.warning("could not look for a %s model to complete %s", family, path.name, exc_info=True)
    return None


def _lacks(folder: Path, held: tuple[str, ...], borrowed: tuple[str, ...]) -> list[str]:
    """What ``folder`` lacks to complete a single file holding ``held`` and lacking ``borrowed``:
    ``model_index.json``, each component's config, the tokenizers and schedulers it lists, and
    the weights of ``borrowed``."""
    from sfumato.model_store.weight_files import weight_variant

    index_file = folder / "model_index.json"
    if not index_file.is_file():
        return ["model_index.json"]
    missing = []
    for name in (*held, *borrowed):
        if not (folder / name / "config.json").is_file():
            missing.append(f"{name}/config.json")
    for name in borrowed:
        files = (folder / name).glob("*.safetensors") if (folder / name).is_dir() else ()
        if not any(weight_variant(file.name)[0] for file in files):
            missing.append(f"the {name} weights")
    for name in _listed(_read_json(index_file)):
        if name.startswith("tokenizer") and not (folder / name).is_dir():
            missing.append(f"{name}/")
        elif name.startswith("scheduler") and not (folder / name / "scheduler_config.json").is_file():
            missing.append(f"{name}/scheduler_config.json")
    return missing


def _words(parts: tuple[str, ...]) -> str:
    """``('vae', 'text_encoder', 'text_encoder_2')`` → "the VAE and the text encoders
    (text_encoder, text_encoder_2)"."""
    encoders = [part for part in parts if part.startswith("text_encoder")]
    items = [_PART_WORDS[part] for part in parts if part in _PART_WORDS]
    if encoders:
        items.append(f"the text encoder{'s' if len(encoders) > 1 else ''} ({', '.join(encoders)})")
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _holds(info: ModelInfo, held: tuple[str, ...]) -> str:
    if not info.borrowed:
        return f"{info.path.name} holds every component"
    only = "only " if len(held) == 1 else ""
    return f"{info.path.name} holds {only}{_words(held)}, not {_words(info.borrowed)}"


def detect_model(path: Path) -> ModelInfo:
    """Recognise the model at ``path`` (folder or file) and check that a folder is complete.

    A single file's ``config_dir`` is the folder that completes it (see :func:`_companion`):
    its ``<stem>.config`` folder, the config the model store ships for its family (SD 1.x,
    SD 2.x, SDXL and their inpainting versions) when the file holds every component, or an
    installed diffusers folder of its family; ``None`` if there is none.
    """
    return _detect_folder(path) if path.is_dir() else _detect_file(path)


def check_loadable_offline(info: ModelInfo) -> None:
    """Refuse a single file that cannot be completed offline, saying exactly what is missing
    and where to put it.

    diffusers 0.42.1 ``from_single_file`` fetches configs from the Hub without a local folder,
    even with ``local_files_only=True``; the engine never touches the network.
    """
    if not info.single_file:
        return
    from sfumato.model_store.checkpoint_family import pipeline_components

    held = tuple(part for part in pipeline_components(info.family_id) if part not in info.borrowed)
    config = info.path.stem + SINGLE_FILE_CONFIG_SUFFIX
    if info.config_dir is not None:
        missing = _lacks(info.config_dir, held, info.borrowed)
        if missing:
            raise ModelError(
                f"{_holds(info, held)}; {info.config_dir} completes it but lacks "
                f"{', '.join(missing)}: copy them there from the model's diffusers folder."
            )
        return
    label, install = _catalog_hint(info.family_id)
    if info.borrowed:
        what = f"{_holds(info, held)}: "
        folder = f"the weights of {_words(held)} may be left out"
    else:
        what = f"{_holds(info, held)}, but Sfumato ships no configuration for {label}: "
        folder = "configs and tokenizers, no weights needed"
    raise ModelError(f"{what}{install}or put its diffusers folder next to it as {config} ({folder}).")


def _catalog_hint(family: str) -> tuple[str, str]:
    """The family's label and "install <label> (`sfumato models download <id>`) " for the
    first catalog model of the family (no hint if the catalog has none or cannot be read)."""
    from sfumato.model_store import ModelManager, ModelStoreError

    try:
        catalog = ModelManager().catalog
    except ModelStoreError:
        return family, ""
    model = next((m for m in catalog.models if m.family.id == family), None)
    if model is None:
        label = catalog.families[family].label if family in catalog.families else family
        return label, ""
    return model.family.label, f"install {model.family.label} (`sfumato models download {model.id}`) "


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


def installed_model(name: str, hash_: str = "") -> str | None:
    """A reference the engine loads for an installed model that a picture's parameters name, or
    ``None`` when none matches.

    ``name`` matches an installed catalog id (``sd15``, ``sd15-lcm-lora``), an installed model's
    key, or the name Sfumato records as ``Model`` (the folder name, or a file's name without
    ``.safetensors``, as A1111 names checkpoints); ``hash_`` matches Sfumato's ``Model hash``
    (:func:`model_hash`). A1111's own ``Model hash`` is a hash of the whole file, which would
    take seconds per checkpoint to compute, so those checkpoints are found by name only.
    Catalog models come back as their catalog id, others as their key.
    """
    from sfumato.model_store import ModelManager, ModelStoreError

    try:
        models = ModelManager().installed()
    except ModelStoreError:
        log.info("cannot list the installed models", exc_info=True)
        return None
    for model in models:
        reference = model.model_id or model.key
        if name and name in (model.model_id, model.key):
            return reference
        try:
            info = detect_model(model.path)
            if (name and info.name == name) or (hash_ and model_hash(info) == hash_):
                return reference
        except (UserFacingError, OSError, ValueError, struct.error):
            log.debug("skipping %s while looking for %s", model.key, name or hash_, exc_info=True)
    return None
