"""Download a variant's torch wheel and its pinned dependencies, resumable and sha256-verified.

Files go through :func:`sfumato.model_store.transfer.fetch_file` into
``<cache_dir>/runtime-downloads/``: a dropped connection, a cancel or a restart resumes where it
stopped, and only a file whose sha256 matches the index is kept. The torch wheel comes first;
its METADATA names the ``==`` pins (the CUDA libraries and triton of a Linux CUDA build), which
are looked up on the same index, then on PyPI, and fetched in turn (with their own pins).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx2
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from sfumato.model_store.hub import RemoteFile
from sfumato.model_store.transfer import CancelToken, TransferSettings, fetch_file
from sfumato.paths import cache_dir
from sfumato.torch_runtime.errors import NotEnoughSpaceError, PackageIndexError
from sfumato.torch_runtime.index import WheelChoice, find_wheel
from sfumato.torch_runtime.layout import runtime_root
from sfumato.torch_runtime.progress import ProgressCallback, RuntimeProgress
from sfumato.torch_runtime.variants import PYPI_SIMPLE, TORCH_VERSION
from sfumato.torch_runtime.wheels import inspect_wheel, is_pinned

UNPACK_ESTIMATE = 2.5
"""Unpacked size / download size assumed before the wheels are here (checked exactly later)."""


@dataclass(frozen=True)
class DownloadedWheels:
    """The wheel files fetched for one install, and the URL each came from."""

    paths: tuple[Path, ...]
    urls: dict[Path, str]


def downloads_dir() -> Path:
    """``<cache_dir>/runtime-downloads``: finished wheels; ``.staging/`` holds partial ones."""
    return cache_dir() / "runtime-downloads"


class WheelFetcher:
    """Finds wheels on an index (then PyPI) and downloads them with progress and cancel."""

    def __init__(
        self,
        index_url: str,
        on_progress: ProgressCallback,
        cancel: CancelToken | None = None,
        settings: TransferSettings | None = None,
        client: httpx2.Client | None = None,
    ) -> None:
        self.indexes = [index_url] + ([PYPI_SIMPLE] if index_url.rstrip("/") != PYPI_SIMPLE else [])
        self.report = on_progress
        self.cancel = cancel or threading.Event()
        self.settings = settings or TransferSettings()
        self.client = client or httpx2.Client(follow_redirects=True)
        self.done_bytes = 0
        self.total_bytes = 0

    def find_torch(self, version: str = TORCH_VERSION) -> WheelChoice | None:
        """The ``torch==version`` wheel for this interpreter on the first index only (the variant's)."""
        return find_wheel(self.client, self.indexes[:1], Requirement(f"torch=={version}"))

    def fetch_all(self, torch: WheelChoice) -> DownloadedWheels:
        """Download ``torch``, then every ``==`` pin it (and they) require."""
        self._check_space([torch])
        paths = [self._fetch(torch)]
        urls = {paths[0]: torch.file.url}
        seen = {"torch"}
        pending = self._pins(paths[0], seen)
        while pending:
            choices = [self._find(req) for req in pending]
            self._check_space(choices)
            pending = []
            for choice in choices:
                path = self._fetch(choice)
                paths.append(path)
                urls[path] = choice.file.url
                pending += self._pins(path, seen)
        return DownloadedWheels(tuple(paths), urls)

    def _pins(self, wheel: Path, seen: set[str]) -> list[Requirement]:
        """The ``==`` requirements of a downloaded wheel not fetched yet."""
        found = []
        for req in inspect_wheel(wheel).requires:
            name = canonicalize_name(req.name)
            if is_pinned(req) and name not in seen:
                seen.add(name)
                found.append(req)
        return found

    def _find(self, req: Requirement) -> WheelChoice:
        choice = find_wheel(self.client, self.indexes, req)
        if choice is None:
            raise PackageIndexError(
                f"No wheel of {req} for this Python and platform on {' or '.join(self.indexes)}."
            )
        return choice

    def _check_space(self, choices: Sequence[WheelChoice]) -> None:
        """Free space for the downloads (cache) and their unpacked files (runtime folder)."""
        size = sum(c.file.size or 0 for c in choices)
        self.total_bytes += size
        needs: dict[int, tuple[Path, float]] = {}
        for folder, amount in ((downloads_dir(), size), (runtime_root().parent, size * UNPACK_ESTIMATE)):
            folder.mkdir(parents=True, exist_ok=True)
            device = os.stat(folder).st_dev
            path, before = needs.get(device, (folder, 0.0))
            needs[device] = (path, before + amount)
        for path, amount in needs.values():
            free = shutil.disk_usage(path).free
            if free < amount:
                raise NotEnoughSpaceError(
                    f"The torch runtime needs about {amount / 1024**3:.1f} GiB on the disk of {path}, "
                    f"but only {free / 1024**3:.1f} GiB is free: free some space and try again."
                )

    def _fetch(self, choice: WheelChoice) -> Path:
        file = choice.file
        destination = downloads_dir() / file.filename
        self.report(
            RuntimeProgress("download", self.done_bytes, self.total_bytes, f"Downloading {file.filename}")
        )

        def on_bytes(n: int, _resumed: bool) -> None:
            self.done_bytes += n
            self.report(
                RuntimeProgress("download", self.done_bytes, self.total_bytes, f"Downloading {file.filename}")
            )

        remote = RemoteFile(file.filename, file.url, file.size, file.sha256, None)
        try:
            fetch_file(
                self.client,
                remote,
                {},
                destination,
                downloads_dir() / ".staging",
                self.cancel,
                on_bytes,
                self.settings,
            )
        except httpx2.HTTPError as exc:  # an error answer (404, 500 …); dropped connections are retried
            status = getattr(getattr(exc, "response", None), "status_code", None)
            why = f"the server answered {status}" if status else str(exc)
            raise PackageIndexError(f"Downloading {file.url} failed: {why}; try again later.") from exc
        return destination
