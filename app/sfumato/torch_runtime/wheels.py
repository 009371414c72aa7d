"""Wheel files: are they for this interpreter, and are their requirements met?

A wheel is usable when one of the tags in its file name is among ``packaging.tags.sys_tags()``.
Requirements come from ``Requires-Dist`` in the wheel's METADATA, with markers evaluated for this
interpreter and ``extra=""`` (extras are never installed). An ``==`` pin (the CUDA libraries and
triton that a Linux CUDA torch wheel needs) must be among the wheels being installed; any other
requirement may also be met by the app itself (sympy, jinja2 … ship with the app).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import Tag, sys_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from sfumato.torch_runtime.errors import DependencyError, WheelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WheelInfo:
    """A wheel file checked against this interpreter.

    ``rank``: the position of its best tag in ``sys_tags()`` (lower is a better fit).
    ``requires``: the requirements that apply here.
    """

    path: Path
    name: str
    version: Version
    rank: int
    requires: tuple[Requirement, ...]


def supported_tags() -> list[Tag]:
    """This interpreter's wheel tags, best first."""
    return list(sys_tags())


def tag_rank(filename: str, tags: Sequence[Tag]) -> int | None:
    """How well a wheel file name fits ``tags`` (index of its best tag), or ``None`` if it does not."""
    try:
        _, _, _, wheel_tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return None
    ranks = [i for i, tag in enumerate(tags) if tag in wheel_tags]
    return min(ranks) if ranks else None


def inspect_wheel(path: Path, tags: Sequence[Tag] | None = None) -> WheelInfo:
    """Check a wheel's name and tags and read its requirements; :class:`WheelError` if unusable."""
    tags = supported_tags() if tags is None else tags
    try:
        name, version, _, _ = parse_wheel_filename(path.name)
    except InvalidWheelFilename as exc:
        raise WheelError(f"{path.name} is not a wheel file name ({exc}).") from exc
    rank = tag_rank(path.name, tags)
    if rank is None:
        raise WheelError(
            f"{path.name} is built for another Python or platform; this app needs a wheel "
            f"tagged {tags[0]} (or compatible)."
        )
    return WheelInfo(path, str(name), version, rank, tuple(applicable(_requires_dist(path, name, version))))


def _requires_dist(path: Path, name: str, version: Version) -> list[str]:
    """The ``Requires-Dist`` lines of the wheel's METADATA."""
    try:
        with zipfile.ZipFile(path) as archive:
            metadata = next(
                (
                    n
                    for n in archive.namelist()
                    if n.count("/") == 1
                    and n.endswith(".dist-info/METADATA")
                    and canonicalize_name(n.split("-", 1)[0]) == name
                ),
                None,
            )
            if metadata is None:
                raise WheelError(f"{path.name} has no {name}-{version}.dist-info/METADATA.")
            text = archive.read(metadata).decode("utf-8")
    except (OSError, zipfile.BadZipFile) as exc:
        raise WheelError(f"{path.name} cannot be read as a wheel ({exc}).") from exc
    return HeaderParser().parsestr(text).get_all("Requires-Dist") or []


def applicable(lines: Iterable[str]) -> list[Requirement]:
    """Parse requirement lines, keeping those whose marker holds here with no extra selected."""
    found = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            raise WheelError(f"A wheel declares an unreadable requirement {line!r} ({exc}).") from exc
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            found.append(req)
    return found


def is_pinned(req: Requirement) -> bool:
    """Whether the requirement names one exact version (``==1.2.3``, no wildcard)."""
    specs = list(req.specifier)
    return len(specs) == 1 and specs[0].operator in ("==", "===") and not specs[0].version.endswith("*")


def app_version(name: str) -> str | None:
    """The version of a distribution the running app has, or ``None``.

    A frozen app may bundle a package without its dist-info; then an importable module of the
    same name counts, as version ``"unknown"``.
    """
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        module = canonicalize_name(name).replace("-", "_")
        return "unknown" if importlib.util.find_spec(module) is not None else None


def check_requirements(
    wheels: Sequence[WheelInfo], installed: Callable[[str], str | None] = app_version
) -> None:
    """Raise :class:`DependencyError` naming every requirement the wheels and the app leave unmet."""
    provided = {canonicalize_name(w.name): w.version for w in wheels}
    missing_pins: list[str] = []
    unmet: list[str] = []
    for wheel in wheels:
        for req in wheel.requires:
            have = provided.get(canonicalize_name(req.name))
            if have is not None and req.specifier.contains(have, prereleases=True):
                continue
            if is_pinned(req):
                missing_pins.append(f"{req} (for {wheel.name})")
                continue
            version = installed(req.name)
            if version == "unknown":
                log.warning("%s is bundled without metadata; assuming it satisfies %s", req.name, req)
            elif version is None or not req.specifier.contains(version, prereleases=True):
                unmet.append(f"{req} (this app has {version or 'none'})")
    problems = []
    if missing_pins:
        problems.append(
            "these exact versions are not among the wheels to install: "
            + ", ".join(sorted(set(missing_pins)))
            + " (add their wheels, or install from a package index)"
        )
    if unmet:
        problems.append("these requirements are not met by this app: " + ", ".join(sorted(set(unmet))))
    if problems:
        raise DependencyError("The torch runtime cannot be installed: " + "; ".join(problems) + ".")
