"""Put the installed torch runtime on ``sys.path`` before anything imports torch.

The packaged app ships without torch; :func:`activate` runs first in ``sfumato.__main__`` and
makes ``<data_dir>/runtime/<current>/site`` importable. In a Python install torch comes from the
environment and the runtime folder is only used when ``SFUMATO_USE_RUNTIME=1``.
``SFUMATO_RUNTIME_SITE`` names a site folder to use instead of ``current`` (the install check runs
its child process with it). Nothing here imports torch or touches the network.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from sfumato.paths import is_frozen
from sfumato.torch_runtime.layout import SITE_DIR, current_install, read_record

_add_dll_directory = getattr(os, "add_dll_directory", None)  # exists on Windows only


@dataclass(frozen=True)
class ActiveRuntime:
    """Where torch comes from in this process.

    ``source``: ``runtime`` (an installed runtime folder), ``environment`` (the Python install's
    own torch) or ``none``. ``torch_preloaded``: torch was already imported when :func:`activate`
    ran, so ``sys.path`` was left alone and ``source`` describes the torch that is loaded;
    ``restart_needed`` then says whether the installed runtime differs from it.
    """

    source: str
    variant: str | None = None
    torch_version: str | None = None
    site_dir: Path | None = None
    torch_preloaded: bool = False
    restart_needed: bool = False


_last: ActiveRuntime | None = None
_dll_handles: dict[str, object] = {}  # os.add_dll_directory's handles, by folder


def activate() -> ActiveRuntime:
    """Make the installed runtime importable when it should be used, and describe the result.

    Idempotent and cheap (reads two small files). Called again after an install in a process
    that has not imported torch yet, it swaps the previous runtime's site for the new one.
    """
    global _last
    wanted = _wanted_site()
    if "torch" in sys.modules:
        _last = _describe_loaded(wanted)
        return _last
    previous = _last.site_dir if _last is not None and _last.source == "runtime" else None
    if previous is not None and previous != (wanted[0] if wanted else None):
        _forget(previous)
    if wanted is not None:
        site, variant = wanted
        _put_first(site)
        _last = ActiveRuntime("runtime", variant, _dist_version("torch", site), site)
    elif importlib.util.find_spec("torch") is not None:
        _last = ActiveRuntime("environment", None, _dist_version("torch", None))
    else:
        _last = ActiveRuntime("none")
    return _last


def active_runtime() -> ActiveRuntime:
    """The result of the last :func:`activate` (running it first if it has not run)."""
    return _last if _last is not None else activate()


def loaded_site() -> Path | None:
    """The folder the imported torch package lies in (its ``site``), or ``None`` if torch is not imported."""
    torch = sys.modules.get("torch")
    torch_file = getattr(torch, "__file__", None)
    return Path(torch_file).resolve().parents[1] if torch_file else None


def dll_directories(site: Path) -> list[Path]:
    """Folders Windows must search for the runtime's DLLs: ``torch/lib`` and ``nvidia/*/bin``."""
    folders = [site / "torch" / "lib", *sorted((site / "nvidia").glob("*/bin"))]
    return [f for f in folders if f.is_dir()]


def _wanted_site() -> tuple[Path, str | None] | None:
    """The site folder this process should use, and its variant; ``None`` for the environment."""
    override = os.environ.get("SFUMATO_RUNTIME_SITE")
    if override:
        site = Path(override)
        record = read_record(site.parent)
        return site, record.variant if record else None
    if not (is_frozen() or os.environ.get("SFUMATO_USE_RUNTIME") == "1"):
        return None
    found = current_install()
    if found is None:
        return None
    folder, record = found
    return folder / SITE_DIR, record.variant


def _put_first(site: Path) -> None:
    entry = str(site)
    if sys.path[:1] != [entry]:
        _remove_from_path(site)
        sys.path.insert(0, entry)
        importlib.invalidate_caches()
    if _add_dll_directory is not None:
        for folder in dll_directories(site):
            if str(folder) not in _dll_handles:
                _dll_handles[str(folder)] = _add_dll_directory(str(folder))


def _remove_from_path(site: Path) -> None:
    entry = str(site)
    while entry in sys.path:
        sys.path.remove(entry)


def _forget(site: Path) -> None:
    """Undo :func:`_put_first` for a runtime that was replaced before torch was imported."""
    _remove_from_path(site)
    for folder in [f for f in _dll_handles if Path(f).is_relative_to(site)]:
        handle = _dll_handles.pop(folder)
        close = getattr(handle, "close", None)
        if close is not None:
            close()


def _describe_loaded(wanted: tuple[Path, str | None] | None) -> ActiveRuntime:
    """Describe the torch already imported: from a runtime site folder, or from the environment."""
    site = loaded_site()
    record = read_record(site.parent) if site is not None and site.name == SITE_DIR else None
    restart = wanted is not None and wanted[0].resolve() != site
    if record is not None:
        return ActiveRuntime("runtime", record.variant, _dist_version("torch", site), site, True, restart)
    return ActiveRuntime("environment", None, _dist_version("torch", None), None, True, restart)


def _dist_version(name: str, site: Path | None) -> str | None:
    """A distribution's version from its metadata (in ``site``, or anywhere on ``sys.path``)."""
    try:
        if site is None:
            return importlib.metadata.version(name)
        dist = next(iter(importlib.metadata.distributions(name=name, path=[str(site)])), None)
        return dist.version if dist is not None else None
    except importlib.metadata.PackageNotFoundError:
        return None
