"""Read a Python package index (the "simple" API) and pick the wheel for this interpreter.

PEP 691 JSON is asked for first (``Accept: application/vnd.pypi.simple.v1+json``); an index that
answers HTML is read as PEP 503. A file's sha256 comes from ``hashes`` (JSON) or the ``#sha256=``
URL fragment; a file without one is refused, since it could not be verified. Its size comes from
the JSON ``size`` (PEP 700) or a HEAD request's Content-Length.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from urllib.parse import unquote, urldefrag, urljoin

import httpx2
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from sfumato.torch_runtime.errors import PackageIndexError
from sfumato.torch_runtime.wheels import supported_tags, tag_rank

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{JSON_TYPE}, text/html;q=0.1"


@dataclass(frozen=True)
class IndexFile:
    """One file an index lists for a project."""

    filename: str
    url: str
    sha256: str | None = None
    size: int | None = None
    requires_python: str | None = None
    yanked: bool = False


@dataclass(frozen=True)
class WheelChoice:
    """The wheel picked for a requirement: its file, version, and the index it came from."""

    file: IndexFile
    version: Version
    index_url: str


class _Anchors(HTMLParser):
    """Collects the ``<a>`` elements of a PEP 503 project page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open, self._text = dict(attrs), ""

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.links.append((self._open, self._text.strip()))
            self._open = None


def project_files(
    client: httpx2.Client, index_url: str, project: str, timeout: float = 30.0
) -> list[IndexFile]:
    """Every file the index lists for ``project``; ``[]`` when the index does not know it (404)."""
    url = f"{index_url.rstrip('/')}/{canonicalize_name(project)}/"
    try:
        resp = client.get(url, headers={"Accept": ACCEPT}, timeout=timeout)
    except httpx2.HTTPError as exc:
        raise PackageIndexError(
            f"Cannot reach the package index {index_url} ({exc}); check the connection."
        ) from exc
    if resp.status_code == 404:
        return []
    if resp.status_code >= 400:
        raise PackageIndexError(
            f"The package index {index_url} answered {resp.status_code} for {project}; try again later."
        )
    base = str(resp.url)
    content_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
    try:
        if content_type == JSON_TYPE:
            return _from_json(json.loads(resp.text), base)
        return _from_html(resp.text, base)
    except (ValueError, KeyError, TypeError) as exc:
        raise PackageIndexError(
            f"The package index {index_url} sent an unreadable page for {project}."
        ) from exc


def _from_json(data: dict, base: str) -> list[IndexFile]:
    files = []
    for entry in data["files"]:
        url, fragment = urldefrag(urljoin(base, entry["url"]))
        hashes = entry.get("hashes") or {}
        sha256 = hashes.get("sha256") or _fragment_sha256(fragment)
        size = entry.get("size")
        files.append(
            IndexFile(
                entry["filename"],
                url,
                sha256,
                int(size) if size is not None else None,
                entry.get("requires-python"),
                bool(entry.get("yanked")),
            )
        )
    return files


def _from_html(text: str, base: str) -> list[IndexFile]:
    parser = _Anchors()
    parser.feed(text)
    files = []
    for attrs, label in parser.links:
        href = attrs.get("href")
        if not href:
            continue
        url, fragment = urldefrag(urljoin(base, href))
        filename = label or unquote(url.rsplit("/", 1)[-1])
        files.append(
            IndexFile(
                filename,
                url,
                _fragment_sha256(fragment),
                None,
                attrs.get("data-requires-python"),
                "data-yanked" in attrs,
            )
        )
    return files


def _fragment_sha256(fragment: str) -> str | None:
    algorithm, _, value = fragment.partition("=")
    return value if algorithm == "sha256" and value else None


def pick_wheel(files: Sequence[IndexFile], requirement: Requirement, tags: Sequence[Tag]) -> IndexFile | None:
    """The best wheel for ``requirement`` among ``files``: fitting tags first, then newest version.

    Yanked files and files whose ``Requires-Python`` excludes this interpreter are skipped.
    """
    python = Version(platform.python_version())
    found: list[tuple[int, Version, IndexFile]] = []
    for file in files:
        try:
            name, version, _, _ = parse_wheel_filename(unquote(file.filename))
        except InvalidWheelFilename:
            continue
        if name != canonicalize_name(requirement.name) or file.yanked:
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            continue
        if file.requires_python and not _allows(file.requires_python, python):
            continue
        rank = tag_rank(unquote(file.filename), tags)
        if rank is not None:
            found.append((rank, version, file))
    found.sort(key=lambda f: f[1], reverse=True)  # newest first, so min() below breaks rank ties by version
    return min(found, key=lambda f: f[0])[2] if found else None


def _allows(requires_python: str, python: Version) -> bool:
    try:
        return SpecifierSet(requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:
        return True


def find_wheel(
    client: httpx2.Client,
    index_urls: Sequence[str],
    requirement: Requirement,
    tags: Sequence[Tag] | None = None,
) -> WheelChoice | None:
    """The wheel for ``requirement`` on the first index (in order) that has one, with sha256 and size.

    ``None`` when no index has a fitting wheel. A fitting file without a sha256 is refused.
    """
    tags = supported_tags() if tags is None else tags
    for index_url in index_urls:
        file = pick_wheel(project_files(client, index_url, requirement.name), requirement, tags)
        if file is None:
            continue
        if not file.sha256:
            raise PackageIndexError(
                f"{index_url} gives no sha256 for {file.filename}, so it cannot be verified; refusing it."
            )
        if file.size is None:
            file = _with_size(client, file)
        _, version, _, _ = parse_wheel_filename(unquote(file.filename))
        return WheelChoice(file, version, index_url)
    return None


def _with_size(client: httpx2.Client, file: IndexFile) -> IndexFile:
    try:
        resp = client.head(file.url, timeout=30.0)
    except httpx2.HTTPError as exc:
        raise PackageIndexError(f"Cannot reach {file.url} ({exc}); check the connection.") from exc
    if resp.status_code >= 400:
        raise PackageIndexError(f"{file.url} answered {resp.status_code}; try again later.")
    length = resp.headers.get("Content-Length")
    return replace(file, size=int(length) if length else None)
