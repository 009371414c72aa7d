"""Tiny but well-formed wheels for runtime tests: dist-info METADATA, WHEEL and RECORD with hashes.

:func:`fake_torch` builds a ``torch`` package just complete enough for ``probe-torch``: its
``cuda.is_available()`` and ``get_arch_list()`` read ``FAKE_TORCH_CUDA`` (a JSON object) so a test
decides what the child process reports; ``on_import`` code runs first (crash or hang on purpose).
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Sequence
from pathlib import Path

ANY_TAG = "py3-none-any"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(
    folder: Path,
    name: str,
    version: str,
    files: dict[str, str],
    requires: Sequence[str] = (),
    tag: str = ANY_TAG,
    corrupt: str | None = None,
) -> Path:
    """Write ``<name>-<version>-<tag>.whl`` into ``folder``.

    ``corrupt``: a path inside the wheel whose content differs from its RECORD hash.
    """
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    metadata = "\n".join(
        ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        + [f"Requires-Dist: {r}" for r in requires]
    )
    wheel = f"Wheel-Version: 1.0\nGenerator: sfumato-tests\nRoot-Is-Purelib: false\nTag: {tag}\n"
    contents = {**{p: t.encode() for p, t in files.items()}, f"{info}/METADATA": metadata.encode()}
    contents[f"{info}/WHEEL"] = wheel.encode()
    record = [f"{p},{_record_hash(d)},{len(d)}" for p, d in contents.items()] + [f"{info}/RECORD,,"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for inner, data in contents.items():
            archive.writestr(inner, data + b"# corrupted\n" if inner == corrupt else data)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


FAKE_TORCH_INIT = """\
{on_import}
import json as _json
import os as _os
import types as _types

__version__ = "{version}"
_FAKE = _json.loads(_os.environ.get("FAKE_TORCH_CUDA", "{{}}"))
cuda = _types.SimpleNamespace(
    is_available=lambda: bool(_FAKE.get("capability")),
    get_device_capability=lambda i=0: tuple(int(p) for p in _FAKE["capability"].split(".")),
    get_device_name=lambda i=0: _FAKE.get("name", "Fake GPU"),
    get_arch_list=lambda: list(_FAKE.get("arch_list", [])) if _FAKE.get("capability") else [],
)
version = _types.SimpleNamespace(hip=None, cuda=_FAKE.get("cuda"))
backends = _types.SimpleNamespace(mps=_types.SimpleNamespace(is_available=lambda: False))
"""


def fake_torch(
    folder: Path,
    version: str = "2.13.0+cpu",
    requires: Sequence[str] = (),
    on_import: str = "",
    tag: str = ANY_TAG,
    entry_points: str | None = None,
) -> Path:
    """A fake torch wheel (see the module docstring); ``entry_points``: its entry_points.txt."""
    files = {"torch/__init__.py": FAKE_TORCH_INIT.format(version=version, on_import=on_import)}
    if entry_points is not None:
        files[f"torch-{version}.dist-info/entry_points.txt"] = entry_points
    return build_wheel(folder, "torch", version, files, requires, tag)


def fake_dep(folder: Path, name: str, version: str, requires: Sequence[str] = ()) -> Path:
    """A dependency wheel with one module (``nvidia-foo`` → package ``nvidia_foo``)."""
    module = name.replace("-", "_")
    return build_wheel(folder, name, version, {f"{module}/__init__.py": f"VERSION = {version!r}\n"}, requires)
