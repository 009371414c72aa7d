"""How diffusers names weight files: ``<stem>[.<variant>][-0000k-of-0000n].safetensors`` and
``<stem>.safetensors.index[.<variant>].json`` for shards.

The hub's file selection and the engine's loading read names with the same rules, so what is
downloaded is what is loaded. Nothing here touches the disk or the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath

_WEIGHTS = re.compile(r"^(?P<stem>[^./]+)(?:\.(?P<variant>\w+))?(?:-\d{5}-of-\d{5})?\.safetensors$")
_INDEX = re.compile(r"^(?P<stem>[^./]+)\.safetensors\.index(?:\.(?P<variant>\w+))?\.json$")
PRECISION_VARIANTS = ("fp16", "bf16")
"""Weight variants that hold the same model in a lower precision (``non_ema`` and others differ)."""


def weight_variant(name: str) -> tuple[bool, str | None]:
    """``(is a weights file or shard index, its variant or None)`` for a file name."""
    match = _WEIGHTS.match(name) or _INDEX.match(name)
    return (match is not None, match["variant"] if match else None)


def variants_by_folder(paths: Iterable[str]) -> dict[str, set[str | None]]:
    """For each folder, the variants its safetensors weights come in (``None``: unsuffixed)."""
    found: dict[str, set[str | None]] = {}
    for path in paths:
        p = PurePosixPath(path)
        is_weights, variant = weight_variant(p.name)
        if is_weights and p.name.endswith(".safetensors"):
            found.setdefault(str(p.parent), set()).add(variant)
    return found


def loading_variant(paths: Iterable[str], half_precision: bool) -> str | None:
    """The ``variant=`` to pass to ``from_pretrained`` for a folder holding ``paths``.

    A precision variant is required when some component has only that variant's weights (a
    folder downloaded as ``fp16``); when components have both, the variant is used for a
    half-precision run (half the bytes to read) and the full weights otherwise.
    """
    by_folder = variants_by_folder(paths)
    only_variants = [variants for variants in by_folder.values() if None not in variants]
    required = {v for variants in only_variants for v in variants if v in PRECISION_VARIANTS}
    if len(required) == 1:
        return required.pop()
    if required:
        raise ValueError(f"the folder mixes weight variants {sorted(required)}")
    if half_precision:
        present = [v for v in PRECISION_VARIANTS if any(v in variants for variants in by_folder.values())]
        return present[0] if present else None
    return None
