"""The model manager: the one object the CLI, the dialog and the engine talk to.

It installs catalog models and hub repos (verified, resumable, at most ``max_parallel`` files at
a time), plain-URL files with a known sha256, imports local files and folders, lists, verifies,
repairs and removes what is installed, and resolves a reference to a local path. Nothing here
imports torch.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import httpx2
from huggingface_hub import scan_cache_dir
from huggingface_hub.errors import CacheNotFound
from huggingface_hub.utils import get_session, hf_raise_for_status

from sfumato import paths
from sfumato.errors import DiskFullError
from sfumato.model_store.adapters import AdapterFile, AdapterImport, AdapterStore, describe_file
from sfumato.model_store.cache import (
    FileRecord,
    InstalledModel,
    ModelCache,
    SourceRecord,
    free_space,
)
from sfumato.model_store.catalog import Catalog, CatalogModel, Source, Variant, load_catalog
from sfumato.model_store.checkpoint_family import (
    PICKLE_SUFFIXES,
    adapter_family,
    file_family,
    folder_family,
    refuse_pickle,
)
from sfumato.model_store.errors import (
    DownloadCancelled,
    DownloadError,
    InvalidCheckpointError,
    ModelStoreError,
    NotInstalledError,
    UnknownFamilyError,
    UnknownModelError,
)
from sfumato.model_store.family_configs import single_file_config
from sfumato.model_store.fit import RunPlan, plan_model
from sfumato.model_store.hardware import HardwareProfile, probe_hardware
from sfumato.model_store.hub import HubClient, RemoteFile, RemoteSnapshot
from sfumato.model_store.progress import ProgressCallback, ProgressMeter
from sfumato.model_store.transfer import (
    AnyOf,
    CancelToken,
    TransferSettings,
    fetch_file,
    staging_key,
)

log = logging.getLogger(__name__)

SPACE_MARGIN = 256 * 1024**2
PREVIEW_DECODER = "preview-decoder"
"""The manifest ``kind`` of an installed preview decoder (see :class:`~.catalog.PreviewDecoder`)."""
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_HASH_BLOCK = 4 * 1024 * 1024


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of re-hashing one installed model; ``problems`` name each bad file."""

    key: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every file is present and matches its recorded hash."""
        return not self.problems


@dataclass(frozen=True)
class AdapterUse:
    """An installed catalog adapter (a LoRA) and the installed model it runs on."""

    model_id: str
    """The adapter's catalog id (``sd15-lcm-lora``)."""
    file: Path
    """The adapter's weights file."""
    base: Path
    """The path of the model it applies to, as :meth:`ModelManager.resolve` gives it."""
    scheduler: str
    """The scheduler the adapter is made for (its catalog default, e.g. ``LCMScheduler``): what
    "Model default" means while it is applied."""


@dataclass(frozen=True)
class _Job:
    remote: RemoteFile
    destination: Path
    repo: str | None


class ModelManager:
    """Catalog, hardware fit, downloads and cache behind one facade.

    ``cache_root`` is the setting's value (``None``: ``SFUMATO_CACHE_DIR`` or the platformdirs
    user cache). ``catalog``, ``hub``, ``profile`` and ``free_space_probe`` can be injected
    (tests, a mirror, a fake machine). Methods are thread-safe; callbacks run on worker threads.
    """

    def __init__(
        self,
        cache_root: Path | None = None,
        *,
        catalog: Catalog | None = None,
        hub: HubClient | None = None,
        profile: HardwareProfile | None = None,
        max_parallel: int = 3,
        transfer: TransferSettings | None = None,
        free_space_probe: Callable[[Path], int] = free_space,
        hf_cache_dir: Path | None = None,
    ) -> None:
        self.cache = ModelCache(cache_root or paths.cache_dir() / "models")
        self.adapters = AdapterStore(self.cache.root)
        """The installed LoRAs and embeddings, stored with the models."""
        self._catalog = catalog
        self._hub = hub
        self._profile = profile
        self.max_parallel = max_parallel
        self._slots = threading.BoundedSemaphore(max_parallel)
        self.transfer = transfer or TransferSettings()
        self._free_space = free_space_probe
        self._hf_cache_dir = hf_cache_dir
        self._plain_client: httpx2.Client | None = None
        self.force_float32 = False
        """The user's "compute in float32" setting: plans say float32 (what they download stays)."""

    # -- lazily built collaborators ----------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The validated catalog (loaded on first use)."""
        if self._catalog is None:
            self._catalog = load_catalog()
        return self._catalog

    @property
    def hub(self) -> HubClient:
        """The hub client (``HF_ENDPOINT``/``HF_TOKEN`` unless one was injected)."""
        if self._hub is None:
            self._hub = HubClient()
        return self._hub

    def use_token(self, token: str | None) -> None:
        """Talk to the same hub endpoint with ``token`` from now on (a token typed into the
        app for a gated repo; ``None`` falls back to ``HF_TOKEN`` or the saved login)."""
        current = self.hub
        self._hub = HubClient(current.endpoint, token or None, current.timeout)

    @property
    def profile(self) -> HardwareProfile:
        """This machine's hardware (probed on first use)."""
        if self._profile is None:
            self._profile = probe_hardware()
        return self._profile

    def plan(self, model_id: str, variant: str | None = None, download_bytes: int | None = None) -> RunPlan:
        """How ``model_id`` would run on this machine: the planner's answer (variant, dtype, VAE
        dtype, memory strategy, fit and why), as the engine will run it.

        Families without parameter counts are sized from ``download_bytes`` (see
        :meth:`download_size`) or, once installed, from the installed files.
        """
        model = self.catalog.get(model_id)
        if download_bytes is None and not model.family.params_millions:
            installed = [m for m in self.cache.read_all() if m.model_id == model_id]
            download_bytes = installed[0].size if installed else None
        return plan_model(model, self.profile, variant, download_bytes, force_float32=self.force_float32)

    def _planned_variant(self, model: CatalogModel) -> Variant:
        """The variant the plan fetches for ``model`` here (the first one when it names none)."""
        name = self.plan(model.id).variant
        return model.variant(name) if name else model.variants[0]

    def download_size(self, model_id: str, variant: str | None = None) -> int:
        """Bytes a catalog model's variant downloads, from the hub's metadata (a network call)."""
        model = self.catalog.get(model_id)
        chosen = model.variant(variant) if variant else self._planned_variant(model)
        return sum(
            f.size or 0
            for src in model.sources
            for f in self.hub.snapshot(src.repo, src.revision, chosen).files
        )

    def free_space(self) -> int:
        """Free bytes where the cache lives."""
        return self._free_space(self.cache.root)

    def single_file_config(self, family: str | None) -> Path | None:
        """A folder for ``from_single_file(path, config=…)`` (JSON and tokenizer files, no
        weights) for a catalog family id, or ``None`` if none is shipped for it."""
        fam = self.catalog.families.get(family or "")
        return single_file_config(fam, self.cache.root) if fam else None

    # -- installing ----------------------------------------------------------------------------

    def install(
        self,
        ref: str,
        *,
        variant: str | None = None,
        file: str | None = None,
        revision: str = "main",
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> InstalledModel:
        """Download a catalog model or a hub repo (``org/name``; ``file`` picks one checkpoint;
        ``revision`` applies to repos outside the catalog, whose entries pin their own).

        Resumes staged bytes, verifies every file, places them atomically and records the model
        last. An adapter (a catalog entry with ``adapter_for``) installs the model it runs on
        first, when that is not installed yet. Raises a :class:`ModelStoreError` subclass on
        failure; nothing half-done is recorded.
        """
        cancel = cancel or threading.Event()
        if file and not _REPO_ID.match(ref):
            raise UnknownModelError(f"A single file needs a hub repo id (org/name), not {ref!r}.")
        entry = None if file else self._catalog_entry(ref)
        base_id = entry.adapter_for if entry is not None else None
        if base_id and not any(m.model_id == base_id for m in self.cache.read_all()):
            self.install(base_id, on_progress=on_progress, cancel=cancel)
        decoder = None if file else self.catalog.preview_decoder(ref)
        sources: tuple[Source, ...]
        if decoder is not None:
            chosen = Variant("default", "component", None, None, None, "float32", None, None, None)
            key, sources, family = decoder.id, (decoder.source,), None
            kind, model_id, dtype = PREVIEW_DECODER, decoder.id, None
        elif entry is not None:
            chosen = entry.variant(variant) if variant else self._planned_variant(entry)
            key, sources, family = f"{entry.id}@{chosen.name}", entry.sources, entry.family.id
            kind, model_id, dtype = "catalog", entry.id, self.plan(entry.id, chosen.name).dtype
        elif _REPO_ID.match(ref):
            if file:
                refuse_pickle(Path(file))
            layout = "single_file" if file else "diffusers"
            chosen = Variant("default", layout, "fp16", file, None, "float16", None, None, None)
            key = f"{ref}:{file}" if file else ref
            sources, family, kind, model_id, dtype = (Source("main", ref, revision),), None, "hub", None, None
        else:
            raise UnknownModelError(f"{ref!r} is neither a catalog id nor a hub repo id (org/name).")
        def read_index(repo: str, commit: str, remote: RemoteFile) -> bytes:
            """Fetch ``model_index.json`` verified into the snapshot, once; it says what else to fetch."""
            destination = self.cache.snapshot_dir(repo, commit) / remote.path
            self._download(key, [_Job(remote, destination, repo)], None, cancel)
            return destination.read_bytes()

        snapshots = [(src, self.hub.snapshot(src.repo, src.revision, chosen, read_index)) for src in sources]
        if chosen.sha256:
            snapshots = [(s, _pin_sha256(snap, chosen.sha256)) for s, snap in snapshots]
        existing = self.cache.get(key)
        records = tuple(self._source_record(src, snap, chosen) for src, snap in snapshots)
        complete = all((r.root / f.path).exists() for r in records for f in r.files)
        if existing and complete and _same_commits(existing, records):
            return existing
        jobs = [
            _Job(remote, self.cache.snapshot_dir(snap.repo, snap.commit) / remote.path, snap.repo)
            for _, snap in snapshots
            for remote in snap.files
        ]
        self._download(key, jobs, on_progress, cancel)
        if family is None and kind != PREVIEW_DECODER:
            family = self._detect_downloaded(records)
        model = InstalledModel(key, kind, family, records, model_id, chosen.name, dtype)
        self._record(model)
        if existing is not None and not _same_commits(existing, records):
            with self.cache.lock("manifests"):  # an update: drop the superseded commit's files
                self.cache.delete_files(existing)
        log.info("installed %s at %s", key, model.path)
        return model

    def _record(self, model: InstalledModel) -> None:
        """Write the manifest, under the lock :meth:`remove` takes, if every file is still there."""
        with self.cache.lock("manifests"):
            missing = [f.path for s in model.sources for f in s.files if not (s.root / f.path).is_file()]
            if missing:
                raise DownloadError(
                    f"{missing[0]} was removed while {model.key} was installing; run it again."
                )
            self.cache.write(model)

    def install_url(
        self,
        url: str,
        sha256: str,
        *,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> InstalledModel:
        """Download one ``.safetensors`` file from a plain HTTPS URL and check it against ``sha256``."""
        name = Path(urlparse(url).path).name
        refuse_pickle(Path(name))
        if not name.endswith(".safetensors"):
            raise InvalidCheckpointError(f"{url} does not name a .safetensors file.")
        sha256 = sha256.lower()
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise InvalidCheckpointError("--sha256 needs the file's 64-character hex sha256.")
        size = self._url_size(url)
        remote = RemoteFile(name, url, size, sha256, None)
        root = self.cache.url_dir(sha256)
        self._download(
            f"url:{name}", [_Job(remote, root / name, None)], on_progress, cancel or threading.Event()
        )
        record = SourceRecord("main", root, name, (FileRecord(name, (root / name).stat().st_size, sha256),))
        family = self._detect_downloaded((record,))
        model = InstalledModel(f"url:{name}", "url", family, (record,))
        self._record(model)
        return model

    def adapter_use(self, ref: str) -> AdapterUse | None:
        """What running ``ref`` means when it names an installed catalog adapter (its id,
        ``id@variant``, or its file's path): the adapter's file and the model it runs on.
        ``None`` for any other reference. :class:`NotInstalledError` when the adapter, or the
        model it runs on, is not installed."""
        entry = self._catalog_entry(ref)
        installed = None
        if entry is None:
            path = Path(ref).expanduser()
            if not path.is_file():
                return None
            path = path.resolve()
            installed = next(
                (m for m in self.cache.read_all() if m.model_id and m.path.resolve() == path), None
            )
            if installed is None or installed.model_id is None:
                return None
            entry = self.catalog.get(installed.model_id)
        if entry.adapter_for is None:
            return None
        installed = installed or self.resolve(ref)
        return AdapterUse(
            entry.id, installed.path, self.resolve(entry.adapter_for).path, entry.defaults.scheduler
        )

    # -- LoRAs and embeddings -------------------------------------------------------------

    def import_adapters(self, path: Path, on_progress: ProgressCallback | None = None) -> list[AdapterImport]:
        """Install the LoRA or embedding file ``path``, or those in the folder ``path`` (an
        AUTOMATIC1111 or ComfyUI install included), copied into the store: one result per file,
        with its detected family or why it was refused (the Model Manager's "Import
        LoRA/embedding…" and ``sfumato models import`` call this)."""
        return self.adapters.import_path(path, on_progress)

    def loras(self, model_family: str | None = None) -> list[AdapterFile]:
        """The installed LoRAs, imported ones and installed catalog adapters (LCM-LoRA,
        Hyper-SD …), for a model of ``model_family`` (a catalog family id) or all of them: what a
        LoRA picker offers."""
        found = self.adapters.installed("lora")
        for model in self.cache.read_all():
            entry = self._catalog_entry(model.model_id) if model.model_id else None
            if entry is not None and entry.adapter_for and model.path.is_file():
                found.append(self._catalog_lora(entry, model))
        if model_family is None:
            return found
        return [a for a in found if a.family == adapter_family(model_family)]

    def embeddings(self, model_family: str | None = None) -> list[AdapterFile]:
        """The installed embeddings, for a model of ``model_family`` or all of them."""
        found = self.adapters.installed("embedding")
        if model_family is None:
            return found
        return [a for a in found if a.family == adapter_family(model_family)]

    def lora(self, name: str) -> AdapterFile:
        """The LoRA ``name`` means: an installed LoRA of that name, an installed catalog adapter
        (``sd15-lcm-lora``), or a ``.safetensors`` file's path. Pickles are refused; anything
        else is a one-line :class:`ModelStoreError`."""
        installed = self.adapters.get("lora", name)
        if installed is not None:
            return installed
        entry = self._catalog_entry(name)
        if entry is not None and entry.adapter_for:
            return self._catalog_lora(entry, self.resolve(name))
        path = Path(name).expanduser()
        if path.exists() or path.suffix or "/" in name or "\\" in name:
            adapter = describe_file(path)
            if adapter.kind != "lora":
                raise InvalidCheckpointError(f"{path.name} is a textual-inversion embedding, not a LoRA.")
            return adapter
        raise UnknownModelError(
            f"No LoRA named {name!r} is installed and there is no such file (`sfumato models list` "
            "shows the installed ones; `sfumato models import FILE` installs one)."
        )

    def embedding(self, ref: str) -> AdapterFile:
        """The embedding ``ref`` means: an installed embedding's name or a file's path."""
        installed = self.adapters.get("embedding", ref)
        if installed is not None:
            return installed
        adapter = describe_file(Path(ref).expanduser())
        if adapter.kind != "embedding":
            raise InvalidCheckpointError(f"{adapter.path.name} is a LoRA, not a textual-inversion embedding.")
        return adapter

    @staticmethod
    def _catalog_lora(entry: CatalogModel, model: InstalledModel) -> AdapterFile:
        sha256 = next((f.sha256 for f in model.main.files if f.sha256), None)
        return AdapterFile(entry.id, "lora", entry.family.id, model.path, sha256, entry.id)

    def _catalog_entry(self, ref: str) -> CatalogModel | None:
        base = ref.split("@", 1)[0]
        if any(m.id == base for m in self.catalog.models):
            return self.catalog.get(base)
        return self.catalog.find_by_repo(ref) if _REPO_ID.match(ref) else None

    def _source_record(self, src: Source, snap: RemoteSnapshot, variant: Variant) -> SourceRecord:
        files = tuple(FileRecord(f.path, f.size or 0, f.sha256, f.git_sha1) for f in snap.files)
        entry = variant.file if variant.layout == "single_file" else ""
        root = self.cache.snapshot_dir(snap.repo, snap.commit)
        return SourceRecord(src.role, root, entry or "", files, snap.repo, snap.revision, snap.commit)

    def _detect_downloaded(self, records: tuple[SourceRecord, ...]) -> str:
        path = records[0].path
        try:
            return folder_family(path) if path.is_dir() else file_family(path)
        except (UnknownFamilyError, InvalidCheckpointError):
            self.cache.delete_files(InstalledModel("", "", None, records))
            raise

    def _url_size(self, url: str) -> int | None:
        with self.hub.translate_errors(url):
            resp = self._plain().head(url, timeout=self.transfer.timeout())
            hf_raise_for_status(resp)
        length = resp.headers.get("Content-Length")
        return int(length) if length else None

    def _plain(self) -> httpx2.Client:
        if self._plain_client is None:
            self._plain_client = httpx2.Client(follow_redirects=True)
        return self._plain_client

    def _download(
        self, key: str, jobs: list[_Job], on_progress: ProgressCallback | None, cancel: CancelToken
    ) -> None:
        """Fetch every job's file with bounded parallelism; the first real error wins."""
        todo = [j for j in jobs if not j.destination.exists()]
        needed = 0
        for job in todo:
            part = self.cache.staging_dir / f"{staging_key(job.remote)}.part"
            staged = part.stat().st_size if part.exists() else 0
            needed += max((job.remote.size or 0) - staged, 0)
        free = self.free_space()
        if needed + SPACE_MARGIN > free:
            raise DiskFullError(
                f"Not enough free space for {key}: it needs {needed / 1024**3:.2f} GiB more in "
                f"{self.cache.root}, only {free / 1024**3:.2f} GiB are free."
            )
        total = sum(j.remote.size or 0 for j in jobs)
        meter = ProgressMeter(key, total, len(jobs), on_progress)
        for job in jobs:
            if job.destination.exists():
                meter.add(job.destination.stat().st_size, job.remote.path, resumed=True)
                meter.file_done(job.remote.path)
        stop = threading.Event()
        token = AnyOf(cancel, stop)
        errors: list[BaseException] = []

        def run(job: _Job) -> None:
            try:
                self._fetch(job, token, meter)
            except BaseException as exc:
                errors.append(exc)
                stop.set()

        todo.sort(key=lambda j: j.remote.size or 0)
        with ThreadPoolExecutor(self.max_parallel, thread_name_prefix="sfumato-download") as pool:
            list(pool.map(run, todo))
        real = [e for e in errors if not isinstance(e, DownloadCancelled)]
        if real:
            raise real[0]
        if errors:
            kept = self.cache.staged_bytes() / 1024**2
            raise DownloadCancelled(f"Download of {key} cancelled; {kept:.0f} MiB are kept to resume later.")
        meter.finish()

    def _fetch(self, job: _Job, cancel: CancelToken, meter: ProgressMeter) -> None:
        while not self._slots.acquire(timeout=0.1):
            if cancel.is_set():
                raise DownloadCancelled(f"Download of {job.remote.path} cancelled.")
        try:
            client = get_session() if job.repo else self._plain()
            headers = self.hub.headers() if job.repo else {}

            def on_bytes(n: int, resumed: bool) -> None:
                meter.add(n, job.remote.path, resumed)

            with self.hub.translate_errors(job.repo or job.remote.url, path=job.remote.path):
                fetch_file(
                    client,
                    job.remote,
                    headers,
                    job.destination,
                    self.cache.staging_dir,
                    cancel,
                    on_bytes,
                    self.transfer,
                )
            meter.file_done(job.remote.path)
        finally:
            self._slots.release()

    # -- local files -------------------------------------------------------------------------

    def import_path(self, path: Path, on_progress: ProgressCallback | None = None) -> list[InstalledModel]:
        """Record a local ``.safetensors`` file or diffusers folder in place (hashed, not copied).

        Pickle checkpoints are refused; a folder without ``model_index.json`` is registered as a
        folder of checkpoints (A1111, ComfyUI) instead — see :meth:`register_folder`.
        """
        path = path.expanduser().resolve()
        refuse_pickle(path)
        if not path.exists():
            raise InvalidCheckpointError(f"{path} does not exist.")
        if path.is_dir() and not (path / "model_index.json").exists():
            return self.register_folder(path)
        if path.is_dir():
            family = folder_family(path)
            files = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() not in PICKLE_SUFFIXES
            )
            root, entry = path, ""
        elif path.suffix.lower() == ".safetensors":
            family = file_family(path)
            files, root, entry = [path], path.parent, path.name
        else:
            raise InvalidCheckpointError(
                f"{path.name}: only .safetensors files and diffusers folders can be imported."
            )
        meter = ProgressMeter(
            f"local:{path.name}", sum(f.stat().st_size for f in files), len(files), on_progress
        )
        records = tuple(
            FileRecord(f.relative_to(root).as_posix(), f.stat().st_size, _sha256(f, meter)) for f in files
        )
        meter.finish()
        key = f"local:{path.stem}"
        clash = self.cache.get(key)
        if clash is not None and clash.path != path:
            key = f"local:{path.stem}-{hashlib.sha256(str(path).encode()).hexdigest()[:6]}"
        model = InstalledModel(key, "local", family, (SourceRecord("main", root, entry, records),))
        self.cache.write(model)
        return [model]

    def register_folder(self, folder: Path) -> list[InstalledModel]:
        """Use the checkpoints of an A1111 or ComfyUI install (or any folder) in place."""
        folder = folder.expanduser().resolve()
        if not folder.is_dir():
            raise InvalidCheckpointError(f"{folder} is not a folder.")
        with self.cache.lock("external"):
            known = self.cache.external_folders()
            if folder not in known:
                self.cache.set_external_folders([*known, folder])
        return self._external_in(folder)

    def _external_in(self, folder: Path) -> list[InstalledModel]:
        # A1111's and ComfyUI's checkpoints, and ComfyUI's diffusion models: transformer-only
        # files such as flux1-dev.safetensors (its folder_paths.py reads models/unet and
        # models/diffusion_models for them)
        kinds = ("Stable-diffusion", "checkpoints", "unet", "diffusion_models")
        roots = [r for r in (folder / "models" / kind for kind in kinds) if r.is_dir()] or [folder]
        found = []
        for root in roots:
            for file in sorted(root.rglob("*.safetensors")):
                try:
                    family = file_family(file)
                except ModelStoreError:
                    continue  # VAEs, LoRAs, text encoders live beside checkpoints
                record = SourceRecord("main", file.parent, file.name, ())
                found.append(
                    InstalledModel(
                        f"external:{file.relative_to(folder).as_posix()}", "external", family, (record,)
                    )
                )
        return found

    def _hf_cache(self) -> list[InstalledModel]:
        try:
            info = scan_cache_dir(self._hf_cache_dir)
        except (CacheNotFound, OSError):
            return []
        found = []
        for repo in info.repos:
            if repo.repo_type != "model":
                continue
            for rev in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
                try:
                    family = folder_family(rev.snapshot_path)
                except ModelStoreError:
                    continue
                record = SourceRecord("main", rev.snapshot_path, "", (), repo.repo_id, None, rev.commit_hash)
                found.append(InstalledModel(f"hf-cache:{repo.repo_id}", "hf-cache", family, (record,)))
                break
        return found

    # -- listing, verifying, removing --------------------------------------------------------

    def installed(self) -> list[InstalledModel]:
        """Everything usable to generate with: our installs, registered folders, the Hugging Face
        cache (preview decoders are listed by :meth:`preview_decoders`)."""
        models = [m for m in self.cache.read_all() if m.kind != PREVIEW_DECODER]
        for folder in self.cache.external_folders():
            if folder.is_dir():
                models.extend(self._external_in(folder))
        models.extend(self._hf_cache())
        return models

    def preview_decoders(self) -> list[InstalledModel]:
        """The installed preview decoders (``sfumato models download taesd`` …)."""
        return [m for m in self.cache.read_all() if m.kind == PREVIEW_DECODER]

    def preview_decoder_for(self, families: Collection[str]) -> Path | None:
        """The folder of an installed preview decoder made for any of ``families`` (catalog
        family ids), or ``None``. Installed decoders are checked in catalog order."""
        installed = {m.model_id: m for m in self.preview_decoders()}
        for decoder in self.catalog.preview_decoders:
            model = installed.get(decoder.id)
            if model is not None and set(decoder.families) & set(families) and model.path.is_dir():
                return model.path
        return None

    def resolve(self, ref: str) -> InstalledModel:
        """Turn a reference into an installed model.

        ``ref`` is a catalog id (``sdxl-base``, or ``sdxl-base@fp16`` for one variant), a hub repo
        id (``org/name``, from this cache or the Hugging Face cache), a key from
        :meth:`installed`, a ``.safetensors`` file or a diffusers folder. Raises
        :class:`NotInstalledError` for known but missing models, :class:`UnknownModelError` for
        references that mean nothing, and the import errors for unusable local files.
        """
        if ref.lower().endswith(PICKLE_SUFFIXES):
            refuse_pickle(Path(ref))
        manifests = self.cache.read_all()
        for model in manifests:
            if model.key == ref:
                return model
        entry = self._catalog_entry(ref)
        if entry is not None:
            wanted = ref.split("@", 1)[1] if "@" in ref else None
            order = [v.name for v in entry.variants]
            matches = [m for m in manifests if m.model_id == entry.id and wanted in (None, m.variant)]
            if matches:
                return min(
                    matches, key=lambda m: order.index(m.variant) if m.variant in order else len(order)
                )
        if _REPO_ID.match(ref):
            for model in manifests:
                if model.kind == "hub" and model.main.repo == ref:
                    return model
            for model in self._hf_cache():
                if model.main.repo == ref:
                    return model
        path = Path(ref).expanduser()
        if path.exists():
            return self._local(path.resolve())
        for model in self.installed():
            if model.key == ref:
                return model
        if entry is not None or _REPO_ID.match(ref):
            raise NotInstalledError(
                f"{ref} is not installed: run `sfumato models download {ref.split('@')[0]}`."
            )
        if path.suffix or "/" in ref or "\\" in ref:
            raise InvalidCheckpointError(f"{ref} does not exist.")
        raise UnknownModelError(
            f"{ref!r} is not a catalog id, an installed model or a path. `sfumato models list` shows them."
        )

    def _local(self, path: Path) -> InstalledModel:
        refuse_pickle(path)
        if path.is_dir():
            return InstalledModel(
                f"path:{path}", "local", folder_family(path), (SourceRecord("main", path, "", ()),)
            )
        if path.suffix.lower() != ".safetensors":
            raise InvalidCheckpointError(
                f"{path.name}: only .safetensors files and diffusers folders can be used."
            )
        record = SourceRecord("main", path.parent, path.name, ())
        return InstalledModel(f"path:{path}", "local", file_family(path), (record,))

    def verify(
        self, ref: str | None = None, on_progress: ProgressCallback | None = None
    ) -> list[VerifyResult]:
        """Re-hash the files of one model (``ref``) or of every recorded install."""
        models = [self._recorded(ref)] if ref else self.cache.read_all()
        results = []
        for model in models:
            files = [(src.root / f.path, f) for src in model.sources for f in src.files]
            meter = ProgressMeter(model.key, sum(f.size for _, f in files), len(files), on_progress)
            problems = []
            for path, rec in files:
                problem = _check_file(path, rec, meter)
                if problem:
                    problems.append(f"{rec.path}: {problem}")
            meter.finish()
            results.append(VerifyResult(model.key, tuple(problems)))
        return results

    def repair(
        self, ref: str, *, on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None
    ) -> InstalledModel:
        """Re-download the files of ``ref`` that fail verification."""
        model = self._recorded(ref)
        if model.kind not in ("catalog", "hub", PREVIEW_DECODER):
            raise ModelStoreError(f"{model.key} was not downloaded by Sfumato: import or download it again.")
        for src in model.sources:
            for rec in src.files:
                target = src.root / rec.path
                if target.exists() and _check_file(target, rec, None):
                    target.unlink()
        self.cache.forget(model.key)
        if model.kind == PREVIEW_DECODER:
            return self.install(model.key, on_progress=on_progress, cancel=cancel)
        if model.kind == "catalog":
            assert model.model_id is not None
            return self.install(model.model_id, variant=model.variant, on_progress=on_progress, cancel=cancel)
        main = model.main
        assert main.repo is not None
        return self.install(
            main.repo,
            file=main.entry or None,
            revision=main.revision or "main",
            on_progress=on_progress,
            cancel=cancel,
        )

    def remove(self, ref: str) -> InstalledModel | AdapterFile:
        """Forget ``ref`` and delete its cached files that no other install shares;
        ``lora:NAME`` and ``embedding:NAME`` remove an installed LoRA or embedding."""
        kind, _, name = ref.partition(":")
        if kind in ("lora", "embedding") and name:
            return self.adapters.remove(kind, name)
        model = self._recorded(ref)
        with self.cache.lock("manifests"):
            self.cache.forget(model.key)
            self.cache.delete_files(model)
        return model

    def _recorded(self, ref: str) -> InstalledModel:
        model = self.resolve(ref)
        if self.cache.get(model.key) is None:
            raise NotInstalledError(f"{ref} is not managed by Sfumato's cache (it lives at {model.path}).")
        return model


def _pin_sha256(snap: RemoteSnapshot, sha256: str) -> RemoteSnapshot:
    """Check the hub's hash against the catalog's for a single-file variant."""
    (remote,) = snap.files
    if remote.sha256 and remote.sha256 != sha256:
        raise ModelStoreError(
            f"{snap.repo}/{remote.path} on the hub does not match the catalog's sha256; "
            "the catalog or the repo changed — not downloading."
        )
    return replace(snap, files=(replace(remote, sha256=sha256, git_sha1=None),))


def _same_commits(model: InstalledModel, records: tuple[SourceRecord, ...]) -> bool:
    return [s.commit for s in model.sources] == [r.commit for r in records]


def _sha256(path: Path, meter: ProgressMeter | None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
            if meter:
                meter.add(len(block), path.name, resumed=True)
    if meter:
        meter.file_done(path.name)
    return digest.hexdigest()


def _check_file(path: Path, rec: FileRecord, meter: ProgressMeter | None) -> str | None:
    """``None`` if ``path`` matches ``rec``, else what is wrong."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != rec.size:
        return f"size {size} bytes, expected {rec.size}"
    if rec.sha256:
        if _sha256(path, meter) != rec.sha256:
            return "content differs from its sha256"
    elif rec.git_sha1:
        digest = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
        digest.update(path.read_bytes())
        if digest.hexdigest() != rec.git_sha1:
            return "content differs from its git hash"
    return None


def preview_decoder_path(families: Collection[str]) -> Path | None:
    """The folder of an installed preview decoder for any of ``families`` (catalog family ids),
    or ``None`` when none is installed."""
    return ModelManager().preview_decoder_for(families)


def adapter_use(ref: str) -> AdapterUse | None:
    """:meth:`ModelManager.adapter_use` in the default cache: the adapter ``ref`` names and the
    model it runs on, or ``None`` when ``ref`` is not an installed catalog adapter."""
    return ModelManager().adapter_use(ref)


def resolve_model(ref: str) -> Path:
    """The local path of a catalog id, an installed hub repo (``org/name``), a diffusers folder
    or a ``.safetensors`` file. Raises a :class:`ModelStoreError` if it is not installed."""
    return ModelManager().resolve(ref).path


def lora_file(name: str) -> AdapterFile:
    """:meth:`ModelManager.lora` in the default cache: the file and family of the LoRA ``name``
    (an installed LoRA, an installed catalog adapter, or a path)."""
    return ModelManager().lora(name)


def embedding_file(ref: str) -> AdapterFile:
    """:meth:`ModelManager.embedding` in the default cache."""
    return ModelManager().embedding(ref)


def installed_embeddings(model_family: str) -> list[AdapterFile]:
    """The installed embeddings for a model of ``model_family``, in the default cache."""
    return ModelManager().embeddings(model_family)
