"""``install_runtime``: the one entry point the CLI and the UI call to install a torch runtime."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import httpx2

from sfumato.model_store.hardware import HardwareProfile, probe_hardware
from sfumato.model_store.transfer import CancelToken, TransferSettings
from sfumato.torch_runtime import variants
from sfumato.torch_runtime.choice import choose_variant, largest_gpu
from sfumato.torch_runtime.download import WheelFetcher
from sfumato.torch_runtime.errors import PackageIndexError
from sfumato.torch_runtime.install import InstallResult, install_wheel_files
from sfumato.torch_runtime.progress import ProgressCallback, RuntimeProgress
from sfumato.torch_runtime.variants import TORCH_VERSION
from sfumato.torch_runtime.wheels import supported_tags


def install_runtime(
    variant: str | None = None,
    *,
    wheels: Sequence[Path] = (),
    index_url: str | None = None,
    hardware: HardwareProfile | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    verify: bool = True,
    transfer: TransferSettings | None = None,
) -> InstallResult:
    """Install a torch runtime and make it the current one.

    With ``wheels`` (a torch wheel and its pinned dependencies) nothing is downloaded, and
    ``variant`` (a key) only names what they are (default: the torch version's local label).
    Otherwise ``torch==TORCH_VERSION`` of ``variant`` — default: :func:`choose_variant`'s
    candidates in order, skipping those whose index has no wheel for this interpreter — is
    downloaded from ``index_url`` (default: the variant's index) with its pinned dependencies.
    ``verify`` imports torch from the new runtime in a child process before switching to it.
    Cancelling raises :class:`~sfumato.model_store.DownloadCancelled`; partial downloads are kept.
    """
    profile = hardware or probe_hardware()
    gpu = largest_gpu(profile, "cuda")
    report = on_progress or (lambda _p: None)
    if wheels:
        return install_wheel_files(
            [Path(w) for w in wheels],
            variant,
            index_url=index_url,
            gpu=gpu,
            verify=verify,
            on_progress=report,
            cancel=cancel,
        )
    candidates = (variants.variant(variant),) if variant else choose_variant(profile).candidates
    skipped: list[str] = []
    with httpx2.Client(follow_redirects=True) as client:
        for candidate in candidates:
            index = index_url or candidate.index_url
            fetcher = WheelFetcher(index, report, cancel, transfer, client)
            report(RuntimeProgress("resolve", 0, 0, f"Looking for torch {TORCH_VERSION} ({candidate.label})"))
            torch = fetcher.find_torch()
            if torch is None:
                skipped.append(
                    f"{candidate.label}: {index} has no torch {TORCH_VERSION} wheel for this system"
                )
                continue
            downloaded = fetcher.fetch_all(torch)
            result = install_wheel_files(
                downloaded.paths,
                candidate.key,
                index_url=index,
                urls=downloaded.urls,
                gpu=gpu,
                verify=verify,
                check_record_hashes=False,  # each file was just checked against the index's sha256
                on_progress=report,
                cancel=cancel,
            )
            for path in downloaded.paths:  # runtime.json keeps their sha256; the space is the user's
                path.unlink(missing_ok=True)
            return replace(result, warnings=(*skipped, *result.warnings))
    raise PackageIndexError(
        f"No torch {TORCH_VERSION} wheel fits this system (Python tag {supported_tags()[0]}): "
        + "; ".join(skipped)
        + "."
    )
