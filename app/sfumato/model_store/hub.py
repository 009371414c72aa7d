"""The hub side: repo metadata through huggingface_hub, file selection per variant, error wording.

``HF_ENDPOINT`` and ``HF_TOKEN`` are honoured (read when a client is made, so a mirror can be
chosen without re-importing huggingface_hub); ``HF_HUB_OFFLINE`` blocks every request.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import httpx2
from huggingface_hub import HfApi, constants, get_token, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, filter_repo_objects

from sfumato.model_store.catalog import Variant
from sfumato.model_store.errors import DownloadError, GatedModelError, HubAccessError

# What a diffusers folder needs; weights only as .safetensors (never pickles).
DIFFUSERS_FILES = ["model_index.json", "*/*.json", "*/*.txt", "*/*.model", "*/*.safetensors"]
_WEIGHTS = re.compile(r"^(?P<stem>[^./]+)(?:\.(?P<variant>\w+))?(?:-\d{5}-of-\d{5})?\.safetensors$")
_INDEX = re.compile(r"^(?P<stem>[^./]+)\.safetensors\.index(?:\.(?P<variant>\w+))?\.json$")


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch: where from, and what it must hash to (LFS sha256, or git blob sha1)."""

    path: str
    url: str
    size: int | None
    sha256: str | None
    git_sha1: str | None


@dataclass(frozen=True)
class RemoteSnapshot:
    """A repo at one commit: the files chosen for a variant, and whether the repo is gated."""

    repo: str
    revision: str
    commit: str
    gated: bool
    files: tuple[RemoteFile, ...]


class HubClient:
    """Reads repo metadata and builds download URLs and headers for one hub endpoint."""

    def __init__(self, endpoint: str | None = None, token: str | None = None, timeout: float = 30.0):
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
        self.token = token or get_token()
        self.timeout = timeout
        self._api = HfApi(endpoint=self.endpoint, token=self.token or False)

    def headers(self) -> dict[str, str]:
        """Request headers for file downloads (user agent, and the token if there is one)."""
        return build_hf_headers(token=self.token or False)

    def licence_page(self, repo: str) -> str:
        """The repo page where its licence is shown and accepted."""
        return f"{self.endpoint}/{repo}"

    def snapshot(self, repo: str, revision: str, variant: Variant) -> RemoteSnapshot:
        """The files making ``variant`` of ``repo`` at ``revision``, with sizes and hashes."""
        with self.translate_errors(repo, revision):
            info = self._api.model_info(repo, revision=revision, files_metadata=True, timeout=self.timeout)
        commit = info.sha or revision
        gated = bool(info.gated)
        if gated and not self.token:
            raise self._gated(repo)
        by_path = {s.rfilename: s for s in info.siblings or []}
        files = []
        for path in select_files(repo, list(by_path), variant):
            sib = by_path[path]
            files.append(
                RemoteFile(
                    path=path,
                    url=hf_hub_url(repo, path, revision=commit, endpoint=self.endpoint),
                    size=sib.size,
                    sha256=sib.lfs.sha256 if sib.lfs else None,
                    git_sha1=None if sib.lfs else sib.blob_id,
                )
            )
        return RemoteSnapshot(repo, revision, commit, gated, tuple(files))

    def _gated(self, repo: str, denied: bool = False) -> GatedModelError:
        page = self.licence_page(repo)
        if denied or self.token:
            return GatedModelError(
                f"{repo} is gated and your token has no access yet: open {page}, accept the licence "
                "while logged in, then retry."
            )
        return GatedModelError(
            f"{repo} is gated: open {page} and accept its licence, then create a read token at "
            f"{self.endpoint}/settings/tokens and set HF_TOKEN (or run `hf auth login`)."
        )

    @contextlib.contextmanager
    def translate_errors(self, repo: str, revision: str = "", path: str = "") -> Iterator[None]:
        """Turn huggingface_hub and network exceptions into short :class:`HubAccessError`s."""
        what = f"{repo}/{path}" if path else repo
        try:
            yield
        except OfflineModeIsEnabled as exc:
            raise HubAccessError(
                "Offline mode is on (HF_HUB_OFFLINE is set): unset it to download models.",
            ) from exc
        except GatedRepoError as exc:
            raise self._gated(repo, denied=True) from exc
        except RevisionNotFoundError as exc:
            raise HubAccessError(f"{repo} has no revision {revision!r} on {self.endpoint}.") from exc
        except RemoteEntryNotFoundError as exc:
            raise HubAccessError(f"{what} was not found on {self.endpoint}.") from exc
        except RepositoryNotFoundError as exc:
            hint = "" if self.token else " If it is private or gated, set HF_TOKEN."
            raise HubAccessError(f"{repo} was not found on {self.endpoint}.{hint}") from exc
        except HfHubHTTPError as exc:
            raise _http_error(exc, what, self.licence_page(repo)) from exc
        except httpx2.TimeoutException as exc:
            raise DownloadError(f"{self.endpoint} did not answer in time ({what}); try again.") from exc
        except httpx2.TransportError as exc:
            raise DownloadError(
                f"Cannot reach {self.endpoint} ({exc.__class__.__name__}); check the network."
            ) from exc


def _http_error(exc: HfHubHTTPError, what: str, page: str) -> HubAccessError:
    status = exc.response.status_code if exc.response is not None else 0
    if status == 401:
        return HubAccessError(f"The hub refused the token (401) for {what}: check HF_TOKEN.")
    if status == 403:
        return HubAccessError(
            f"Access to {what} is forbidden (403): check its licence at {page} and your token."
        )
    if status >= 500:
        return HubAccessError(f"The server had an error ({status}) for {what}; try again later.")
    return HubAccessError(f"The server answered {status} for {what}.")


def select_files(repo: str, paths: list[str], variant: Variant) -> list[str]:
    """Which repo files make ``variant``: its single file, a diffusers folder's files, or (layout
    ``component``) one diffusers model's ``config.json`` and safetensors weights.

    For a diffusers folder, every component folder keeps the weight files of the variant
    (``*.fp16.safetensors``) when it has them and the unsuffixed ones otherwise, as diffusers
    does when loading with ``variant=``.
    """
    if variant.layout == "single_file":
        assert variant.file is not None
        if variant.file not in paths:
            raise HubAccessError(f"{repo} has no file {variant.file}.")
        return [variant.file]
    if variant.layout == "component":  # one diffusers model folder, e.g. a preview decoder
        wanted = ["config.json", "diffusion_pytorch_model.safetensors"]
        missing = [name for name in wanted if name not in paths]
        if missing:
            raise HubAccessError(f"{repo} has no {missing[0]}.")
        return wanted
    if "model_index.json" not in paths:
        raise HubAccessError(
            f"{repo} is not a diffusers repo (no model_index.json): download one checkpoint with --file."
        )
    chosen = list(
        filter_repo_objects(paths, allow_patterns=DIFFUSERS_FILES, ignore_patterns=list(variant.ignore))
    )
    weights: dict[str, dict[str | None, list[str]]] = {}
    others = []
    for path in chosen:
        p = PurePosixPath(path)
        match = _WEIGHTS.match(p.name) or _INDEX.match(p.name)
        if match is None:
            others.append(path)
        else:
            weights.setdefault(str(p.parent), {}).setdefault(match["variant"], []).append(path)
    result = others
    for folder, by_variant in sorted(weights.items()):
        wanted = variant.weights_variant if variant.weights_variant in by_variant else None
        if wanted not in by_variant:
            raise HubAccessError(f"{repo}: {folder}/ has no weights for variant {variant.name!r}.")
        result.extend(by_variant[wanted])
    return sorted(result)
