"""Resumable, verified, atomic file transfer — the layer huggingface_hub lacks.

Bytes go to a staging file ``<staging>/<key>.part`` that survives a cancel, a dropped connection
or an app restart; the next attempt asks for ``Range: bytes=<staged size>-``. Only a file whose
size and hash match is moved into place, with one ``os.replace`` on the same file system. A file
lock per staging key keeps two processes from writing the same staging file.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx2
from filelock import FileLock, Timeout
from huggingface_hub.utils import hf_raise_for_status

from sfumato.errors import DiskFullError
from sfumato.model_store.errors import (
    ChecksumMismatchError,
    DownloadCancelled,
    DownloadError,
)
from sfumato.model_store.hub import RemoteFile

BytesCallback = Callable[[int, bool], None]
"""``(n, resumed)``: ``n`` more bytes of the current file, ``resumed`` if found already staged."""


class CancelToken(Protocol):
    """What a transfer polls to know it should stop (a ``threading.Event`` is one)."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class AnyOf:
    """A cancel token set as soon as any of several tokens is."""

    def __init__(self, *tokens: CancelToken) -> None:
        self._tokens = tokens

    def is_set(self) -> bool:
        """Whether any token is set."""
        return any(t.is_set() for t in self._tokens)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for any token; return whether one is set."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if left <= 0:
                return False
            time.sleep(left)
        return True


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class TransferSettings:
    """Timeouts (seconds) and retries per file."""

    connect_timeout: float = 15.0
    read_timeout: float = 60.0
    retries: int = 4
    retry_wait: float = 2.0

    def timeout(self) -> httpx2.Timeout:
        """The httpx2 timeout object."""
        return httpx2.Timeout(self.read_timeout, connect=self.connect_timeout)


class _Hasher:
    """sha256 of the content, or the git blob sha1 (``blob <size>\\0`` + content) for small files."""

    def __init__(self, remote: RemoteFile) -> None:
        if remote.sha256:
            self.expected, self._h = remote.sha256, hashlib.sha256()
        elif remote.git_sha1 and remote.size is not None:
            self.expected, self._h = remote.git_sha1, hashlib.sha1(usedforsecurity=False)
            self._h.update(f"blob {remote.size}\0".encode())
        else:
            raise DownloadError(f"No hash is known for {remote.path}; it cannot be verified.")
        self._start = self._h.copy()

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def reset(self) -> None:
        self._h = self._start.copy()

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def staging_key(remote: RemoteFile) -> str:
    """A name for the staging file that changes whenever the expected content changes."""
    if remote.sha256:
        return remote.sha256
    return hashlib.sha256(f"{remote.url}\n{remote.git_sha1}\n{remote.size}".encode()).hexdigest()


@contextmanager
def file_lock(path: Path, cancel: CancelToken, what: str) -> Iterator[None]:
    """Hold an inter-process lock on ``path``, waiting (cancellably) while another holds it."""
    lock = FileLock(str(path))
    while True:
        if cancel.is_set():
            raise DownloadCancelled(f"Download of {what} cancelled.")
        try:
            lock.acquire(timeout=0.2)
            break
        except Timeout:
            continue
    try:
        yield
    finally:
        lock.release()


def fetch_file(
    client: httpx2.Client,
    remote: RemoteFile,
    headers: Mapping[str, str],
    destination: Path,
    staging_dir: Path,
    cancel: CancelToken,
    on_bytes: BytesCallback,
    settings: TransferSettings,
) -> None:
    """Download ``remote`` to ``destination``, resuming from staging, verifying, placing atomically.

    Raises :class:`DownloadCancelled`, :class:`DownloadError` (staging kept: the next call resumes),
    :class:`ChecksumMismatchError` (staging discarded), :class:`DiskFullError`, or the
    huggingface_hub HTTP errors of ``hf_raise_for_status`` for error answers.
    """
    staging_dir.mkdir(parents=True, exist_ok=True)
    key = staging_key(remote)
    part = staging_dir / f"{key}.part"
    with file_lock(staging_dir / f"{key}.lock", cancel, remote.path):
        if destination.exists() and (remote.size is None or destination.stat().st_size == remote.size):
            on_bytes(destination.stat().st_size, True)  # another process placed it meanwhile
            return
        hasher = _Hasher(remote)
        offset = _hash_staged(part, remote, hasher)
        if offset:
            on_bytes(offset, True)
        attempt = 0
        while remote.size is None or offset < remote.size:
            try:
                offset, complete = _receive(
                    client, remote, headers, part, offset, hasher, cancel, on_bytes, settings
                )
                if complete:
                    break
                reason = "the server closed the connection early"
            except httpx2.TimeoutException:
                reason = f"no data for {settings.read_timeout:g} s"
            except httpx2.TransportError as exc:
                reason = f"the connection failed ({exc.__class__.__name__})"
            offset = part.stat().st_size if part.exists() else 0  # every written byte was hashed
            attempt += 1
            if attempt > settings.retries:
                raise DownloadError(
                    f"Download of {remote.path} stopped: {reason}. {offset} bytes are kept; "
                    "run the download again to resume."
                )
            if cancel.wait(settings.retry_wait * attempt):
                raise DownloadCancelled(f"Download of {remote.path} cancelled.")
        if remote.size is not None and offset != remote.size:
            part.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                f"{remote.path}: the server sent {offset} bytes, {remote.size} were expected; "
                "the file was discarded, run the download again."
            )
        if hasher.hexdigest() != hasher.expected:
            part.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                f"{remote.path} failed verification (expected hash {hasher.expected[:12]}…, got "
                f"{hasher.hexdigest()[:12]}…); the file was discarded, run the download again."
            )
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, destination)


def _hash_staged(part: Path, remote: RemoteFile, hasher: _Hasher) -> int:
    """Feed the staged bytes to the hasher; return how many there are (0 if none or unusable)."""
    if not part.exists():
        return 0
    size = part.stat().st_size
    if remote.size is not None and size > remote.size:
        part.unlink()
        return 0
    with part.open("rb") as f:
        while block := f.read(4 * 1024 * 1024):
            hasher.update(block)
    return size


def _receive(
    client: httpx2.Client,
    remote: RemoteFile,
    headers: Mapping[str, str],
    part: Path,
    offset: int,
    hasher: _Hasher,
    cancel: CancelToken,
    on_bytes: BytesCallback,
    settings: TransferSettings,
) -> tuple[int, bool]:
    """One request from ``offset`` on; returns the new offset and whether the body was complete."""
    request_headers = dict(headers)
    if offset:
        request_headers["Range"] = f"bytes={offset}-"
    with client.stream("GET", remote.url, headers=request_headers, timeout=settings.timeout()) as resp:
        if resp.status_code == 416 and offset:
            if offset == remote.size:
                return offset, True  # the staged file was already complete
            raise DownloadError(
                f"The server's copy of {remote.path} is shorter than the hub's metadata says "
                f"({offset} of {remote.size} bytes are here); try again later."
            )
        hf_raise_for_status(resp)
        mode = "ab"
        if offset and resp.status_code == 206:
            match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                raise DownloadError(f"The server answered a wrong range for {remote.path}.")
        elif offset:  # 200: the server ignored Range, start over
            hasher.reset()
            on_bytes(-offset, True)
            offset, mode = 0, "wb"
        expected = offset + int(resp.headers["Content-Length"]) if "Content-Length" in resp.headers else None
        try:
            with part.open(mode) as out:
                for chunk in resp.iter_bytes():  # as received: a drop loses nothing already here
                    if cancel.is_set():
                        raise DownloadCancelled(
                            f"Download of {remote.path} cancelled; {offset} bytes are kept for resuming."
                        )
                    out.write(chunk)
                    hasher.update(chunk)
                    offset += len(chunk)
                    on_bytes(len(chunk), False)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(
                    f"The disk is full while writing {remote.path} under {part.parent}: free some space "
                    "and run the download again to resume."
                ) from exc
            raise
    complete = expected is None or offset >= expected
    if remote.size is not None:
        complete = offset >= remote.size
    return offset, complete
