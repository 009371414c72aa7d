"""A package index on 127.0.0.1 for runtime download tests: PEP 691 JSON or PEP 503 HTML pages.

Several indexes share one server: ``/<index>/<project>/`` lists files, ``/files/<name>`` serves
them (with ``Range`` → 206, and a HEAD with Content-Length). Faults per file: answer a status,
drop the connection after some bytes (once), or list a wrong sha256.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

_RANGE = re.compile(r"bytes=(\d+)-")


@dataclass
class Listing:
    """How an index describes its files: ``json`` or ``html``; where the hash goes; sizes or not."""

    style: str = "json"
    hash_in: str | None = "hashes"  # "hashes" (JSON), "fragment" (#sha256=), None: no hash at all
    sizes: bool = True


@dataclass
class FakeIndex:
    """Server state: ``indexes[name][project]`` lists file names held in ``files``."""

    indexes: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    listings: dict[str, Listing] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)  # path → status to answer
    drop_after: dict[str, int] = field(default_factory=dict)  # file → bytes, then close (once)
    wrong_sha: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    url: str = ""

    def add(self, index: str, wheel: Path, listing: Listing | None = None) -> None:
        """Publish a wheel file on ``index`` under its project name."""
        project = wheel.name.split("-", 1)[0].replace("_", "-").lower()
        self.indexes.setdefault(index, {}).setdefault(project, []).append(wheel.name)
        self.files[wheel.name] = wheel.read_bytes()
        if listing is not None:
            self.listings[index] = listing

    def index_url(self, index: str) -> str:
        """The simple-API root of one index."""
        return f"{self.url}/{index}"


class _Handler(BaseHTTPRequestHandler):
    state: FakeIndex

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, head: bool) -> None:
        state = self.state
        path = unquote(self.path)
        state.requests.append((self.command, path, self.headers.get("Range")))
        if path in state.status:
            self._send(state.status[path], b"error", "text/plain")
            return
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "files" and parts[1] in state.files:
            self._file(parts[1], head)
        elif len(parts) == 2 and parts[1] in state.indexes.get(parts[0], {}):
            self._page(parts[0], parts[1])
        else:
            self._send(404, b"not found", "text/plain")

    def _page(self, index: str, project: str) -> None:
        state = self.state
        listing = state.listings.get(index, Listing())
        wants_json = "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", "")
        entries = []
        for name in state.indexes[index][project]:
            data = state.files[name]
            sha = hashlib.sha256(data + (b"x" if name in state.wrong_sha else b"")).hexdigest()
            url = f"../../files/{quote(name)}"
            if listing.hash_in == "fragment":
                url += f"#sha256={sha}"
            entries.append((name, url, sha, len(data)))
        if listing.style == "json" and wants_json:
            files = []
            for name, url, sha, size in entries:
                entry: dict[str, object] = {"filename": name, "url": url, "hashes": {}}
                if listing.hash_in == "hashes":
                    entry["hashes"] = {"sha256": sha}
                if listing.sizes:
                    entry["size"] = size
                files.append(entry)
            body = json.dumps({"meta": {"api-version": "1.1"}, "name": project, "files": files})
            self._send(200, body.encode(), "application/vnd.pypi.simple.v1+json")
            return
        links = "".join(
            f'<a href="{html.escape(url)}">{html.escape(name)}</a><br>\n' for name, url, _, _ in entries
        )
        self._send(200, f"<!DOCTYPE html><html><body>{links}</body></html>".encode(), "text/html")

    def _file(self, name: str, head: bool) -> None:
        data = self.state.files[name]
        match = _RANGE.match(self.headers.get("Range") or "")
        start = int(match.group(1)) if match else 0
        self.send_response(206 if match else 200)
        self.send_header("Content-Length", str(len(data) - start))
        if match:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if head:
            return
        body = data[start:]
        drop = self.state.drop_after.pop(name, None)
        if drop is not None:
            self.wfile.write(body[:drop])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


@contextmanager
def serve_index() -> Iterator[FakeIndex]:
    """Run a fake index on a free port of 127.0.0.1 for the ``with`` block."""
    state = FakeIndex()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"state": state}))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
