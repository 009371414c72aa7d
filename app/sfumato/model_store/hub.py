"""The hub side: repo metadata through huggingface_hub, file selection per variant, error wording.

``HF_ENDPOINT`` and ``HF_TOKEN`` are honoured (read when a client is made, so a mirror can be
chosen without re-importing huggingface_hub); ``HF_HUB_OFFLINE`` blocks every request.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
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
from huggingface_hub.utils import build_hf_headers, filter_repo_objects, get_session, hf_raise_for_status

from sfumato.model_store.catalog import Variant
from sfumato.model_store.errors import DownloadError, GatedModelError, HubAccessError
from sfumato.model_store.weight_files import weight_variant

# What a diffusers component folder needs; weights only as .safetensors (never pickles).
COMPONENT_FILES = ("*.json", "*.txt", "*.model", "*.safetensors")
UNUSED_COMPONENTS = frozenset({"safety_checker", "feature_extractor"})
"""Listed in SD 1.x/2.x ``model_index.json`` files but never loaded: Sfumato runs without the
safety checker (``safety_checker=None``), and the feature extractor only feeds it."""


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch: where from, and what it must hash to (LFS sha256, or git blob sha1)."""

    path: str
    url: str
    size: int | None
    sha256: str | None
    git_sha1: str | None


IndexReader = Callable[[str, str, RemoteFile], bytes]
"""``(repo, commit, file) -> bytes``: how :meth:`HubClient.snapshot` reads ``model_index.json``."""


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

    def snapshot(
        self, repo: str, revision: str, variant: Variant, read_index: IndexReader | None = None
    ) -> RemoteSnapshot:
        """The files making ``variant`` of ``repo`` at ``revision``, with sizes and hashes.

        A diffusers repo's ``model_index.json`` says which folders are needed; ``read_index``
        fetches it (the model manager downloads it verified into the cache, so it is fetched
        once); by default it is read into memory.
        """
        with self.translate_errors(repo, revision):
            info = self._api.model_info(repo, revision=revision, files_metadata=True, timeout=self.timeout)
        commit = info.sha or revision
        gated = bool(info.gated)
        if gated and not self.token:
            raise self._gated(repo)
        by_path = {s.rfilename: s for s in info.siblings or []}
        remote = {
            path: RemoteFile(
                path=path,
                url=hf_hub_url(repo, path, revision=commit, endpoint=self.endpoint),
                size=sib.size,
                sha256=sib.lfs.sha256 if sib.lfs else None,
                git_sha1=None if sib.lfs else sib.blob_id,
            )
            for path, sib in by_path.items()
        }
        index = None
        if variant.layout == "diffusers" and "model_index.json" in remote:
            raw = (read_index or self._read_bytes)(repo, commit, remote["model_index.json"])
            index = parse_index(repo, raw)
        files = [remote[path] for path in select_files(repo, list(remote), variant, index)]
        return RemoteSnapshot(repo, revision, commit, gated, tuple(files))

    def _read_bytes(self, repo: str, commit: str, remote: RemoteFile) -> bytes:
        """A small file of ``repo`` at ``commit``, read into memory."""
        with self.translate_errors(repo, commit, remote.path):
            response = get_session().get(
                remote.url, headers=self.headers(), timeout=self.timeout, follow_redirects=True
            )
            hf_raise_for_status(response)
        return response.content

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


def parse_index(repo: str, raw: bytes) -> dict[str, object]:
    """A ``model_index.json`` as a dict; :class:`HubAccessError` if it is not a JSON object."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise HubAccessError(f"{repo}/model_index.json is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise HubAccessError(f"{repo}/model_index.json is not a JSON object.")
    return data


def pipeline_components(index: dict[str, object]) -> list[str]:
    """The component folders a diffusers ``model_index.json`` lists and Sfumato loads.

    Entries are ``"name": [library, class]``; ``[null, null]`` marks an optional component the
    repo does not ship, and :data:`UNUSED_COMPONENTS` are listed but never loaded.
    """
    return sorted(
        name
        for name, spec in index.items()
        if not name.startswith("_")
        and isinstance(spec, list)
        and len(spec) == 2
        and spec[0] is not None
        and name not in UNUSED_COMPONENTS
    )


def select_files(
    repo: str, paths: list[str], variant: Variant, index: dict[str, object] | None = None
) -> list[str]:
    """Which repo files make ``variant``: its single file, a diffusers folder's files, or (layout
    ``component``) one diffusers model's ``config.json`` and safetensors weights.

    For a diffusers folder (``index`` is its ``model_index.json``), only the folders of the
    components it lists are fetched, as diffusers does: root checkpoints, export folders
    (``vae_decoder/``, ONNX, OpenVINO) and duplicates such as SD 3.5's ``text_encoders/`` are
    left out, and so are the unused :data:`UNUSED_COMPONENTS`. Every component folder keeps the
    weight files of the variant (``*.fp16.safetensors``, sharded or not) when it has them and the
    unsuffixed ones otherwise — the rule diffusers applies when loading with ``variant=``; other
    variants (``non_ema``) and pickles are never fetched.
    """
    if variant.layout == "single_file":
        assert variant.file is not None
        if variant.file not in paths:
            raise HubAccessError(f"{repo} has no file {variant.file}.")
        return [variant.file]
    if variant.layout == "component":  # one diffusers model folder, e.g. a preview decoder
        files = ["config.json", "diffusion_pytorch_model.safetensors"]
        missing = [name for name in files if name not in paths]
        if missing:
            raise HubAccessError(f"{repo} has no {missing[0]}.")
        return files
    if index is None:
        raise HubAccessError(
            f"{repo} is not a diffusers repo (no model_index.json): download one checkpoint with --file."
        )
    components = pipeline_components(index)
    patterns = [f"{name}/{pattern}" for name in components for pattern in COMPONENT_FILES]
    chosen = list(filter_repo_objects(paths, allow_patterns=patterns))
    present = {PurePosixPath(path).parent.name for path in chosen}
    missing = [name for name in components if name not in present]
    if missing:
        name = missing[0]
        raise HubAccessError(f"{repo} lists {name} in model_index.json but has no {name}/ folder.")
    weights: dict[str, dict[str | None, list[str]]] = {}
    result = ["model_index.json"]
    for path in chosen:
        p = PurePosixPath(path)
        is_weights, weights_variant = weight_variant(p.name)
        if not is_weights:
            result.append(path)
        else:
            weights.setdefault(str(p.parent), {}).setdefault(weights_variant, []).append(path)
    for folder, by_variant in sorted(weights.items()):
        wanted = variant.weights_variant if variant.weights_variant in by_variant else None
        if wanted not in by_variant:
            raise HubAccessError(f"{repo}: {folder}/ has no weights for variant {variant.name!r}.")
        result.extend(by_variant[wanted])
    return sorted(result)
