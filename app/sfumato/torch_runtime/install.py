"""Install torch wheels into a new runtime folder, check it in a child process, then switch to it.

The wheels are unpacked with the ``installer`` library into ``runtime/.staging-<id>/site`` (RECORD
sizes and hashes are validated first), the folder is renamed to its install name, torch is
imported once in a child process, and only then ``current`` is switched. Any failure before that
removes the staging folder and leaves the previous runtime in use. One install at a time: a file
lock on ``runtime/.lock`` serialises processes.
"""

from __future__ import annotations

import compileall
import hashlib
import logging
import platform
import shutil
import sys
import threading
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock
from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.sources import WheelFile
from installer.utils import get_launcher_kind

from sfumato.model_store.errors import DownloadCancelled
from sfumato.model_store.hardware import GpuInfo
from sfumato.model_store.transfer import CancelToken
from sfumato.torch_runtime.activation import loaded_site
from sfumato.torch_runtime.errors import NotEnoughSpaceError, RuntimeCheckError, TorchRuntimeError, WheelError
from sfumato.torch_runtime.layout import (
    CURRENT_FILE,
    LOCK_FILE,
    OLD_PREFIX,
    SITE_DIR,
    STAGING_PREFIX,
    RuntimeRecord,
    WheelRecord,
    current_name,
    installs,
    runtime_root,
    set_current,
    this_python,
    write_record,
)
from sfumato.torch_runtime.probe import RuntimeCheck, arch_warning, check_runtime
from sfumato.torch_runtime.progress import ProgressCallback, RuntimeProgress
from sfumato.torch_runtime.variants import TorchBuild, variant, variant_for_local_label
from sfumato.torch_runtime.wheels import WheelInfo, check_requirements, inspect_wheel

log = logging.getLogger(__name__)

SPACE_MARGIN = 1.1
"""Free space asked for beyond the wheels' unpacked size."""


@dataclass(frozen=True)
class InstallResult:
    """A finished install: its folder name, site folder, record, the child's check, and warnings."""

    name: str
    site_dir: Path
    record: RuntimeRecord
    check: RuntimeCheck | None
    warnings: tuple[str, ...] = field(default_factory=tuple)


def install_wheel_files(
    wheels: Sequence[Path],
    variant_key: str | None = None,
    *,
    index_url: str | None = None,
    urls: dict[Path, str] | None = None,
    gpu: GpuInfo | None = None,
    verify: bool = True,
    check_record_hashes: bool = True,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> InstallResult:
    """Install local wheel files (a torch wheel plus its pinned dependencies) as the current runtime.

    ``variant_key`` defaults to the one the torch version's local label names (``+cu128``).
    ``urls``: where each file was downloaded from (recorded). ``gpu``: the CUDA GPU whose compute
    capability the build's arch list is judged against. ``verify``: import torch in a child
    process before switching (a failure there aborts the install). ``check_record_hashes``:
    re-hash every file against the wheel's RECORD (needless for files just verified against the
    index's sha256; file names are checked against RECORD either way). ``cancel`` is polled
    between wheels while unpacking (:class:`DownloadCancelled`).
    """
    report = on_progress or (lambda _p: None)
    infos = [inspect_wheel(Path(w)) for w in wheels]
    torch_wheel = _the_torch_wheel(infos)
    chosen = _variant_of(torch_wheel, variant_key)
    check_requirements(infos)
    root = runtime_root()
    root.mkdir(parents=True, exist_ok=True)
    _check_space(root, sum(_unpacked_size(w.path) for w in infos) * SPACE_MARGIN)
    with FileLock(str(root / LOCK_FILE)):
        _remove_stale_staging(root)
        staging = root / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
        try:
            _unpack(infos, staging, check_record_hashes, report, cancel or threading.Event())
            name = _free_name(root, f"torch-{torch_wheel.version.base_version}-{chosen.key}")
            record = RuntimeRecord(
                name=name,
                variant=chosen.key,
                backend=chosen.backend,
                torch_version=str(torch_wheel.version),
                python=this_python(),
                installed_at=datetime.now(UTC).isoformat(timespec="seconds"),
                index_url=index_url,
                wheels=tuple(
                    WheelRecord(
                        w.path.name, w.name, str(w.version), _sha256(w.path), (urls or {}).get(w.path)
                    )
                    for w in infos
                ),
            )
            write_record(staging, record)
            folder = root / name
            staging.rename(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        check, warnings = _verify(folder, chosen, gpu, report) if verify else (None, [])
        set_current(name, root)
        _prune(root, keep=name)
    report(RuntimeProgress("done", 0, 0, f"torch {record.torch_version} ({chosen.key}) installed"))
    return InstallResult(name, folder / SITE_DIR, record, check, tuple(warnings))


def remove_runtime(name: str) -> Path:
    """Delete an install folder that is not in use; returns the folder removed."""
    root = runtime_root()
    found = {folder.name: folder for folder, _ in installs(root)}
    if name not in found:
        raise TorchRuntimeError(
            f"No runtime called {name!r} is installed"
            + (f" (installed: {', '.join(sorted(found))})." if found else ".")
        )
    loaded = loaded_site()
    if loaded is not None and loaded.parent == found[name].resolve():
        raise TorchRuntimeError(f"{name} is the runtime this app is using; quit the app and remove it then.")
    with FileLock(str(root / LOCK_FILE)):
        if current_name(root) == name:
            (root / CURRENT_FILE).unlink()
        _discard(root, found[name])
    if found[name].exists():
        raise TorchRuntimeError(f"{name} is in use by another Sfumato window; close it and try again.")
    return found[name]


def _the_torch_wheel(infos: Sequence[WheelInfo]) -> WheelInfo:
    names = [w.name for w in infos]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise WheelError(f"More than one wheel for {', '.join(doubled)}; give one of each.")
    torch_wheel = next((w for w in infos if w.name == "torch"), None)
    if torch_wheel is None:
        raise WheelError("No torch wheel among the files to install.")
    return torch_wheel


def _variant_of(torch_wheel: WheelInfo, key: str | None) -> TorchBuild:
    """The variant to record: the one asked for, else the one the version's local label names."""
    if key is not None:
        return variant(key)
    found = variant_for_local_label(torch_wheel.version.local, platform.system(), platform.machine())
    if found is None:
        raise TorchRuntimeError(
            f"torch {torch_wheel.version} names no known variant; pass --variant (e.g. cpu, cu128)."
        )
    return found


def _check_space(root: Path, needed: float) -> None:
    free = shutil.disk_usage(root).free
    if free < needed:
        raise NotEnoughSpaceError(
            f"Installing the torch runtime needs about {needed / 1024**3:.1f} GiB under {root}, "
            f"but only {free / 1024**3:.1f} GiB is free: free some space and try again."
        )


def _unpacked_size(path: Path) -> int:
    """The bytes a wheel's files take once unpacked (from its zip directory)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(item.file_size for item in archive.infolist())
    except (OSError, zipfile.BadZipFile) as exc:
        raise WheelError(f"{path.name} cannot be read as a wheel ({exc}).") from exc


def _remove_stale_staging(root: Path) -> None:
    """Folders left by an interrupted install or removal (the lock is held: nobody is writing them)."""
    for prefix in (STAGING_PREFIX, OLD_PREFIX):
        for folder in root.glob(f"{prefix}*"):
            shutil.rmtree(folder, ignore_errors=True)


class _ScriptlessWheel(WheelFile):
    """A wheel installed without its console scripts (``torchrun`` …).

    The runtime is imported, never run from a shell, and a frozen app lacks the launcher
    templates ``installer`` would need for them on Windows. ``entry_points.txt`` itself is still
    installed, so plugin discovery keeps working.
    """

    @property
    def dist_info_filenames(self) -> list[str]:
        """The dist-info files, minus the one that makes ``installer`` write scripts."""
        return [n for n in super().dist_info_filenames if n != "entry_points.txt"]


def _unpack(
    infos: Sequence[WheelInfo],
    staging: Path,
    check_hashes: bool,
    report: ProgressCallback,
    cancel: CancelToken,
) -> None:
    """Validate each wheel's RECORD and install it into ``staging/site``."""
    site = staging / SITE_DIR
    site.mkdir(parents=True)
    destination = SchemeDictionaryDestination(
        scheme_dict={
            "purelib": str(site),
            "platlib": str(site),
            "headers": str(staging / "include"),
            "scripts": str(staging / "bin"),
            "data": str(staging / "data"),
        },
        interpreter=sys.executable,
        script_kind=get_launcher_kind(),
    )
    total = sum(w.path.stat().st_size for w in infos)
    done = 0
    for info in infos:
        if cancel.is_set():
            raise DownloadCancelled("Installing the torch runtime was cancelled; the previous one is kept.")
        report(RuntimeProgress("install", done, total, f"Unpacking {info.path.name}"))
        try:
            with zipfile.ZipFile(info.path) as archive:
                source = _ScriptlessWheel(archive)
                source.validate_record(validate_contents=check_hashes)
                install(source, destination, additional_metadata={"INSTALLER": b"sfumato\n"})
        except (InstallerError, ValueError, OSError, zipfile.BadZipFile) as exc:
            raise WheelError(f"{info.path.name} could not be installed: {exc}") from exc
        done += info.path.stat().st_size
    report(RuntimeProgress("install", total, total, "Compiling to bytecode"))
    # once, here, by the interpreter that will import it (the frozen app's own): otherwise the first
    # start after an install compiles torch's ~3000 modules (~5 s). quiet=2: torch ships a few
    # files only newer Pythons parse (py312_intrinsics.py); they stay uncompiled, as pip leaves them.
    compileall.compile_dir(site, quiet=2, workers=1)
    report(RuntimeProgress("install", total, total, "Unpacked"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(4 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _free_name(root: Path, base: str) -> str:
    """``base``, or ``base-2``, ``base-3`` … when a folder of that name exists (it may be in use)."""
    name, n = base, 1
    while (root / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _verify(
    folder: Path, chosen: TorchBuild, gpu: GpuInfo | None, report: ProgressCallback
) -> tuple[RuntimeCheck, list[str]]:
    """Import torch from the new folder in a child; a failure removes the folder and aborts."""
    report(RuntimeProgress("check", 0, 0, "importing torch from the new runtime"))
    try:
        check = check_runtime(folder / SITE_DIR)
    except RuntimeCheckError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeCheckError(
            f"The new torch runtime does not start ({exc}); the previous one is kept.", details=exc.details
        ) from exc
    warnings = []
    if chosen.backend in ("cuda", "rocm") and not check.cuda_available:
        warnings.append(
            f"torch {check.torch_version} sees no {chosen.backend.upper()} GPU here; "
            "generation will run on the CPU (is the GPU driver installed and up to date?)."
        )
    if gpu is not None and gpu.backend == "cuda" and chosen.backend == "cuda":
        warning = arch_warning(check, check.capability or gpu.compute_capability, gpu.name)
        if warning:
            warnings.append(warning)
    for warning in warnings:
        log.warning("%s", warning)
    return check, warnings


def _prune(root: Path, keep: str) -> None:
    """Remove older installs, except the one this process has imported torch from."""
    loaded = loaded_site()
    for folder, _ in installs(root):
        if folder.name != keep and (loaded is None or loaded.parent != folder.resolve()):
            _discard(root, folder)


def _discard(root: Path, folder: Path) -> None:
    """Rename an install out of the way, then delete it.

    The rename fails as a whole while another process has its DLLs open (Windows); the install
    then stays intact and is pruned after a later install. A half-deleted ``.old-*`` folder is
    finished off by the next install.
    """
    trash = root / f"{OLD_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        folder.rename(trash)
    except OSError as exc:
        log.info("kept %s for now: %s", folder, exc)
        return
    shutil.rmtree(trash, ignore_errors=True)
