"""Autosave without stalling painting, and recovery after a crash.

On the painting thread, :func:`take_snapshot` copies the layer arrays and properties (a memcpy,
no encoding). An :class:`AutosaveWriter` encodes snapshots to OpenRaster on its own thread (or
an executor's) and
writes them atomically into its *session folder*: ``<directory>/<session>/<document id>.ora``,
one file per document, each new autosave replacing the previous one.

Each writer holds an OS lock on ``session.lock`` in its session folder for as long as it lives;
the operating system drops the lock when the process ends, however it ends (even SIGKILL). A
later launch that can take the lock knows the session is over; if its autosaves are still there
the session did not close cleanly, so :func:`find_recoverable` offers them. ``session.json``
records the pid and start time for display. A clean :meth:`AutosaveWriter.close` deletes the
session folder, so nothing is offered after a normal exit.

The UI decides when to autosave (every ``autosave_interval_s`` while ``doc.modified`` and the
revision changed since the last snapshot) and calls :meth:`AutosaveWriter.remove` once the
document is saved or closed.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import secrets
import shutil
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from sfumato.document.atomic import atomic_write
from sfumato.document.document import Document
from sfumato.document.layers import Layer
from sfumato.document.ora import load_ora, write_ora
from sfumato.errors import UserFacingError
from sfumato.paths import os_error_reason

log = logging.getLogger(__name__)

SESSION_INFO = "session.json"
SESSION_LOCK = "session.lock"
_AUTOSAVE_COMPRESS_LEVEL = 1  # fast zlib: autosave speed matters more than size
_LOCK_HELD = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, getattr(errno, "EDEADLOCK", errno.EDEADLK)}

_doc_ids: weakref.WeakKeyDictionary[Document, str] = weakref.WeakKeyDictionary()
_doc_ids_lock = threading.Lock()


def document_id(doc: Document) -> str:
    """A random id naming ``doc``'s autosave, stable for the document's lifetime."""
    with _doc_ids_lock:
        if doc not in _doc_ids:
            _doc_ids[doc] = secrets.token_hex(8)
        return _doc_ids[doc]


@dataclass(frozen=True)
class Snapshot:
    """An immutable copy of a document's layers and properties at one revision."""

    doc_id: str
    width: int
    height: int
    layers: tuple[Layer, ...]
    active_uid: int | None
    revision: int
    title: str
    source_path: str | None
    taken_at: float
    eotf: float | None = None
    """The document's :attr:`~sfumato.document.document.Document.eotf`, written back with it."""

    @property
    def active_layer(self) -> Layer | None:
        """The layer that was active."""
        return next((lyr for lyr in self.layers if lyr.uid == self.active_uid), None)


def _frozen_pixels(layer: Layer, previous: dict[int, Layer]) -> np.ndarray:
    """A read-only copy of ``layer.pixels`` (see :meth:`Layer.frozen_copy`), shared with
    ``previous`` if the layer is unchanged."""
    old = previous.get(layer.uid)
    if old is not None and old.pixel_version == layer.pixel_version:
        return old.pixels
    return layer.frozen_copy()


def take_snapshot(doc: Document, title: str | None = None,
                  previous: Snapshot | None = None) -> Snapshot:
    """Copy ``doc`` for autosaving; cheap enough for the painting thread (copies, no encoding).

    ``title`` is what a recovery prompt shows (default: the file name, or "Untitled"). Layers
    whose pixels did not change since ``previous`` (same uid and ``pixel_version``) share its
    read-only arrays instead of being copied again, and a changed layer whose coverage is known
    copies only its content bounds, so a result applied on a big canvas costs the result's size.
    """
    before = {lyr.uid: lyr for lyr in previous.layers} if previous else {}
    layers = tuple(
        Layer(lyr.name, lyr.kind, _frozen_pixels(lyr, before), lyr.visible, lyr.opacity,
              lyr.locked, lyr.blend, lyr.tint, dict(lyr.metadata), lyr.off_canvas, uid=lyr.uid,
              pixel_version=lyr.pixel_version)
        for lyr in doc.layers
    )
    active = doc.active_layer
    return Snapshot(
        doc_id=document_id(doc),
        width=doc.width,
        height=doc.height,
        layers=layers,
        active_uid=active.uid if active else None,
        revision=doc.revision,
        title=title or (doc.path.name if doc.path else "Untitled"),
        source_path=str(doc.path) if doc.path else None,
        taken_at=time.time(),
        eotf=doc.eotf,
    )


# ------------------------------------------------------------------------------- locking
def _try_lock(fh: IO[bytes]) -> bool:
    """Take an exclusive, non-blocking OS lock on ``fh``; False if another holder has it.

    Other failures (a file system without locks) raise :class:`OSError`.
    """
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in _LOCK_HELD:
            return False
        raise
    return True


def _reason(exc: OSError | UserFacingError) -> str:
    """What stops autosave, in a few lower-case words."""
    cause = exc.__cause__ if isinstance(exc, UserFacingError) else exc
    if isinstance(cause, OSError):
        return os_error_reason(cause)
    return str(exc)


def _session_is_over(folder: Path) -> bool:
    """True when no living process holds ``folder``'s session lock (when unsure: False)."""
    try:
        with open(folder / SESSION_LOCK, "rb") as fh:
            return _try_lock(fh)  # closing the file releases it again
    except OSError:
        return False


def _write_json(path: Path, data: dict[str, object]) -> None:
    atomic_write(path, lambda fh: fh.write(json.dumps(data, ensure_ascii=False).encode()))


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# ------------------------------------------------------------------------------- writing
class AutosaveError(UserFacingError):
    """Autosave cannot run in the given folder (it cannot be created or locked)."""


class AutosaveWriter:
    """Writes snapshots to ``directory`` on a background thread; one per process is typical.

    ``on_error(exc)`` is called **on the writer thread** when an autosave fails (for instance
    a :class:`~sfumato.errors.DiskFullError`); the writer keeps going. The writer's loop runs on
    a daemon thread of its own, or on ``executor`` (the window's background-work lane), which it
    holds until :meth:`close`.
    """

    def __init__(self, directory: Path | str, *, on_error: Callable[[Exception], None] | None = None,
                 executor: Executor | None = None) -> None:
        self.directory = Path(directory)
        started = time.time()
        self.session_dir = self.directory / f"{os.getpid()}-{int(started)}-{secrets.token_hex(4)}"
        lock_file: IO[bytes] | None = None
        try:
            self.session_dir.mkdir(parents=True)
            lock_file = open(self.session_dir / SESSION_LOCK, "wb")  # noqa: SIM115 - held for life
            if not _try_lock(lock_file):
                raise OSError(errno.EBUSY, "the new session folder is locked by another process")
            # written after the lock is held: a scanner ignores folders without it
            _write_json(self.session_dir / SESSION_INFO,
                        {"pid": os.getpid(), "started": started, "host": socket.gethostname()})
        except (OSError, UserFacingError) as exc:
            if lock_file is not None:
                lock_file.close()
            shutil.rmtree(self.session_dir, ignore_errors=True)
            raise AutosaveError(f"Autosave is off: {_reason(exc)} ({self.directory}). Save your work "
                                "often.", details=str(exc)) from exc
        self._lock_file = lock_file
        self._on_error = on_error
        self._pending: dict[str, Snapshot | None] = {}  # doc id → newest snapshot, None = remove
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        if executor is None:
            thread = threading.Thread(target=self._run, name="sfumato-autosave", daemon=True)
            thread.start()
            self._join: Callable[[], object] = thread.join
        else:
            self._join = executor.submit(self._run).result

    def path_for(self, doc_id: str) -> Path:
        """Where the autosave of document ``doc_id`` is written."""
        return self.session_dir / f"{doc_id}.ora"

    def submit(self, snapshot: Snapshot) -> None:
        """Queue ``snapshot`` for writing; an unwritten older one of the same document is dropped."""
        self._queue(snapshot.doc_id, snapshot)

    def remove(self, doc_id: str) -> None:
        """Delete the autosave of ``doc_id`` (after the document was saved or closed)."""
        self._queue(doc_id, None)

    def _queue(self, doc_id: str, item: Snapshot | None) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the autosave writer is closed")
            self._pending[doc_id] = item
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued is written; False if ``timeout`` ran out first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def close(self, keep: bool = False) -> None:
        """Stop the thread (finishing a write in progress) and delete this session's autosaves.

        Call on a normal exit: afterwards nothing from this session is offered for recovery.
        With ``keep`` (the system ends the session: SIGTERM, logout) the autosaves stay and the
        next start offers them, as after a crash.
        """
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()
        self._join()
        self._lock_file.close()
        if not keep:
            shutil.rmtree(self.session_dir, ignore_errors=True)

    def __enter__(self) -> AutosaveWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if self._closed:
                    return
                doc_id, item = next(iter(self._pending.items()))
                del self._pending[doc_id]
                self._busy = True
            try:
                if item is None:
                    for path in (self.path_for(doc_id), self.path_for(doc_id).with_suffix(".json")):
                        path.unlink(missing_ok=True)
                else:
                    self._write(item)
            except Exception as exc:
                log.exception("autosave of %s failed", doc_id)
                if self._on_error is not None:
                    self._on_error(exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _write(self, snap: Snapshot) -> None:
        path = self.path_for(snap.doc_id)
        started = time.perf_counter()
        atomic_write(path, lambda fh: write_ora(fh, snap.width, snap.height, snap.layers, snap.active_layer,
                                                compress_level=_AUTOSAVE_COMPRESS_LEVEL, eotf=snap.eotf))
        _write_json(path.with_suffix(".json"), {
            "title": snap.title, "source_path": snap.source_path, "revision": snap.revision,
            "width": snap.width, "height": snap.height, "taken_at": snap.taken_at,
        })
        log.debug("autosaved %s (revision %d) in %.0f ms", snap.doc_id, snap.revision,
                  (time.perf_counter() - started) * 1000)


# ------------------------------------------------------------------------------ recovery
@dataclass(frozen=True)
class RecoveryEntry:
    """An autosave left behind by a session that ended without closing cleanly."""

    path: Path
    title: str
    source_path: Path | None
    saved_at: float
    width: int | None
    height: int | None
    session_pid: int | None
    session_started: float | None

    def load(self) -> Document:
        """The autosaved document, marked modified and pointing at its original file (if any).

        Raises :class:`~sfumato.document.ora.OraError` when the autosave is unreadable. The
        autosave stays on disk until :meth:`discard`.
        """
        doc = load_ora(self.path)
        doc.path = self.source_path
        doc.revision += 1  # unsaved: differs from the saved revision
        return doc

    def discard(self) -> None:
        """Delete this autosave (and its session folder once nothing is left in it).

        A file that cannot be deleted is logged and offered again next time.
        """
        try:
            self.path.unlink(missing_ok=True)
            self.path.with_suffix(".json").unlink(missing_ok=True)
        except OSError:
            log.exception("could not delete the autosave %s", self.path)
            return
        folder = self.path.parent
        if not any(folder.glob("*.ora")):
            shutil.rmtree(folder, ignore_errors=True)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def find_recoverable(directory: Path | str) -> list[RecoveryEntry]:
    """Autosaves in ``directory`` whose session is over, newest first.

    Sessions of running processes (this one included) are skipped; finished sessions with
    nothing left to recover are deleted.
    """
    directory = Path(directory)
    try:
        folders = list(directory.iterdir())
    except OSError:  # missing or unreadable: nothing to offer (autosave says so at start)
        return []
    entries: list[RecoveryEntry] = []
    for folder in folders:
        if not (folder / SESSION_INFO).is_file() or not _session_is_over(folder):
            continue
        autosaves = sorted(folder.glob("*.ora"))
        if not autosaves:
            shutil.rmtree(folder, ignore_errors=True)
            continue
        session = _read_json(folder / SESSION_INFO)
        for path in autosaves:
            info = _read_json(path.with_suffix(".json"))
            source = info.get("source_path")
            title = info.get("title")
            entries.append(RecoveryEntry(
                path=path,
                title=title if isinstance(title, str) else "Untitled",
                source_path=Path(source) if isinstance(source, str) else None,
                saved_at=path.stat().st_mtime,
                width=_int_or_none(info.get("width")),
                height=_int_or_none(info.get("height")),
                session_pid=_int_or_none(session.get("pid")),
                session_started=_float_or_none(session.get("started")),
            ))
    entries.sort(key=lambda e: e.saved_at, reverse=True)
    return entries
