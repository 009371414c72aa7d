"""A fake Hugging Face hub on 127.0.0.1 for download tests, with fault injection.

Serves what huggingface_hub and the model store need: ``GET /api/models/{repo}[/revision/{rev}]``
(``sha``, ``gated``, ``siblings``; as on the Hub, siblings carry ``size``, ``blobId`` and
``lfs: {size, sha256, pointerSize}`` only when asked with ``?blobs=true``, which
``HfApi.model_info(files_metadata=True)`` sends — see FIELD-NOTES "huggingface_hub against a
local server"), ``GET /api/models/{repo}/tree/{rev}``,
``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` with ``X-Repo-Commit``, ``ETag``, ``Content-Length``
and ``Range`` → 206, and plain files under ``/files/{name}``. Every request is logged.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt")


@dataclass
class Fault:
    """What goes wrong when a file is served.

    ``drop_after``: close the connection after this many body bytes (``times`` requests, then
    serve normally; ``times=None`` always). ``stall_after``: stop sending for ``stall_s`` after
    this many bytes. ``status``: answer with this code (and ``error_code`` as X-Error-Code).
    ``serve``: bytes served instead of the real content (wrong or truncated file), metadata
    unchanged. ``ignore_range``: answer 200 with the whole file to Range requests.
    """

    drop_after: int | None = None
    stall_after: int | None = None
    stall_s: float = 5.0
    status: int | None = None
    error_code: str | None = None
    serve: bytes | None = None
    ignore_range: bool = False
    times: int | None = None


@dataclass
class Repo:
    """A repo at one commit. ``token``: the bearer token a gated repo's files require."""

    files: dict[str, bytes]
    commit: str = "c0ffee" * 6 + "abcd"
    gated: bool = False
    token: str | None = None


@dataclass
class Request:
    """One logged request."""

    method: str
    path: str
    range: str | None
    authorization: str | None


@dataclass
class FakeHub:
    """State shared with the handler threads."""

    repos: dict[str, Repo] = field(default_factory=dict)
    plain: dict[str, bytes] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    chunk_delay: float = 0.0
    chunk_size: int = 64 * 1024
    closing: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    sending: int = 0
    peak_sending: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ranges(self, path_suffix: str) -> list[str | None]:
        """Range headers of the GET requests for files ending in ``path_suffix``."""
        return [r.range for r in self.requests if r.method == "GET" and r.path.endswith(path_suffix)]


def git_sha1(data: bytes) -> str:
    """The git blob id of ``data``."""
    return _digests(data)[1]


@functools.lru_cache(maxsize=256)
def _digests(data: bytes) -> tuple[str, str]:
    """sha256 and git blob id, computed once per content (benchmarks serve large files)."""
    return hashlib.sha256(data).hexdigest(), hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _sibling(path: str, data: bytes) -> dict:
    entry: dict = {"rfilename": path, "size": len(data), "blobId": git_sha1(data)}
    if path.endswith(LFS_SUFFIXES):
        entry["lfs"] = {"sha256": _digests(data)[0], "size": len(data), "pointerSize": 134}
    return entry


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: FakeHub

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def _dispatch(self, head: bool) -> None:
        hub = self.hub
        url = urlparse(self.path)
        path = unquote(url.path)
        hub.requests.append(
            Request(self.command, path, self.headers.get("Range"), self.headers.get("Authorization"))
        )
        if path.startswith("/api/models/"):
            self._api(path[len("/api/models/") :], parse_qs(url.query))
            return
        if path.startswith("/files/"):
            name = path[len("/files/") :]
            if name not in hub.plain:
                self._error(404, None)
                return
            self._serve(path, hub.plain[name], head, {"ETag": '"plain"'})
            return
        match = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if match is None:
            self._error(404, None)
            return
        repo_id, revision, file_path = match.groups()
        repo = hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound")
            return
        if revision not in ("main", repo.commit):
            self._error(404, "RevisionNotFound")
            return
        if repo.gated and self.headers.get("Authorization") != f"Bearer {repo.token}":
            self._error(401 if self.headers.get("Authorization") is None else 403, "GatedRepo")
            return
        if file_path not in repo.files:
            self._error(404, "EntryNotFound")
            return
        data = repo.files[file_path]
        etag = _digests(data)[0] if file_path.endswith(LFS_SUFFIXES) else git_sha1(data)
        self._serve(path, data, head, {"ETag": f'"{etag}"', "X-Repo-Commit": repo.commit})

    def _api(self, rest: str, query: dict) -> None:
        match = re.match(r"^([^/]+/[^/]+)(?:/revision/([^/]+)|/tree/([^/]+))?$", rest)
        repo = self.hub.repos.get(match.group(1)) if match else None
        if match is None or repo is None:
            self._error(404, "RepoNotFound")
            return
        revision = match.group(2) or match.group(3) or "main"
        if revision not in ("main", repo.commit):
            self._error(404, "RevisionNotFound")
            return
        if match.group(3):
            body = [
                {
                    "type": "file",
                    "path": p,
                    "size": len(d),
                    "oid": git_sha1(d),
                    **(
                        {"lfs": {"oid": s["lfs"]["sha256"], "size": len(d), "pointerSize": 134}}
                        if "lfs" in (s := _sibling(p, d))
                        else {}
                    ),
                }
                for p, d in sorted(repo.files.items())
            ]
        else:
            body = {
                "id": match.group(1),
                "sha": repo.commit,
                "gated": "auto" if repo.gated else False,
                "private": False,
                "siblings": [
                    _sibling(p, d) if query.get("blobs") == ["true"] else {"rfilename": p}
                    for p, d in sorted(repo.files.items())
                ],
            }
        self._json(200, body)

    def _json(self, status: int, body: object) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, code: str | None) -> None:
        raw = json.dumps({"error": code or "error"}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _fault(self, path: str) -> Fault | None:
        for suffix, fault in self.hub.faults.items():
            if path.endswith(suffix) and (fault.times is None or fault.times > 0):
                return fault
        return None

    def _serve(self, path: str, data: bytes, head: bool, headers: dict[str, str]) -> None:
        fault = None if head else self._fault(path)
        if fault is not None and fault.times is not None:
            fault.times -= 1
        if fault is not None and fault.status:
            self._error(fault.status, fault.error_code)
            return
        if fault is not None and fault.serve is not None:
            data = fault.serve
        start = 0
        range_header = self.headers.get("Range")
        if range_header and not (fault and fault.ignore_range):
            start = int(re.match(r"bytes=(\d+)-", range_header).group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if head:
            return
        with self.hub.lock:
            self.hub.sending += 1
            self.hub.peak_sending = max(self.hub.peak_sending, self.hub.sending)
        try:
            self._body(data[start:], fault)
        finally:
            with self.hub.lock:
                self.hub.sending -= 1

    def _body(self, body: bytes, fault: Fault | None) -> None:
        hub = self.hub
        sent = 0
        while sent < len(body):
            limit = len(body)
            if fault is not None and fault.drop_after is not None:
                limit = min(limit, fault.drop_after)
            if fault is not None and fault.stall_after is not None and sent >= fault.stall_after:
                hub.closing.wait(fault.stall_s)
                fault = None
                continue
            if sent >= limit:
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(2)  # drop mid-file
                return
            end = min(sent + hub.chunk_size, limit)
            if fault is not None and fault.stall_after is not None:
                end = min(end, max(fault.stall_after, sent + 1))
            self.wfile.write(body[sent:end])
            sent = end
            if hub.chunk_delay:
                time.sleep(hub.chunk_delay)


def start_fake_hub() -> tuple[FakeHub, ThreadingHTTPServer]:
    """Start a server on 127.0.0.1 (a free port) in a daemon thread."""
    hub = FakeHub()
    handler = type("Handler", (_Handler,), {"hub": hub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return hub, server
