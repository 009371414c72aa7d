"""``install_runtime``: the one entry point the CLI and the UI call to install a torch runtime."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sfumato.model_store.hardware import HardwareProfile, probe_hardware
from sfumato.model_store.transfer import CancelToken
from sfumato.torch_runtime.errors import TorchRuntimeError
from sfumato.torch_runtime.install import InstallResult, install_wheel_files
from sfumato.torch_runtime.progress import ProgressCallback


def install_runtime(
    variant: str | None = None,
    *,
    wheels: Sequence[Path] = (),
    index_url: str | None = None,
    hardware: HardwareProfile | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    verify: bool = True,
) -> InstallResult:
    """Install a torch runtime and make it the current one.

    With ``wheels`` (a torch wheel and its pinned dependencies) nothing is downloaded; ``variant``
    then only names what they are (default: the torch version's local label). ``verify`` imports
    torch from the new runtime in a child process before switching to it.
    """
    profile = hardware or probe_hardware()
    gpu = profile.best_gpu
    if wheels:
        return install_wheel_files(
            [Path(w) for w in wheels],
            variant,
            index_url=index_url,
            gpu=gpu,
            verify=verify,
            on_progress=on_progress,
        )
    raise TorchRuntimeError("Downloading is not available yet: pass the wheel files (--wheel FILE).")
