"""Downloads against the fake hub: placement, progress, resume, faults, gating, locks."""

from __future__ import annotations

import errno
import hashlib
import json
import pathlib
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_hub import FakeHub, Fault, Repo, git_sha1
from huggingface_hub import hf_hub_url
from store_helpers import SD15_SHAPES, TOKEN, blob, write_checkpoint

from sfumato.errors import DiskFullError
from sfumato.model_store import (
    ChecksumMismatchError,
    DownloadCancelled,
    DownloadError,
    DownloadProgress,
    GatedModelError,
    HubAccessError,
    ModelManager,
    ModelStoreError,
    NotInstalledError,
    TransferSettings,
    UnknownFamilyError,
    resolve_model,
)
from sfumato.model_store.hub import RemoteFile
from sfumato.model_store.transfer import staging_key

UNET16 = "unet/diffusion_pytorch_model.fp16.safetensors"
Make = Callable[..., ModelManager]


def assert_not_installed(manager: ModelManager, ref: str = "tiny-sd") -> None:
    """Nothing half-written shows as installed, and no partial file sits in the model folders."""
    assert manager.cache.read_all() == []
    with pytest.raises(NotInstalledError):
        resolve_model(ref)
    placed = [p for d in manager.cache.placed_dirs for p in d.rglob("*") if p.is_file()]
    assert all(not p.name.endswith(".part") for p in placed)


def resolves(hub: FakeHub) -> list[str]:
    return [r.path for r in hub.requests if "/resolve/" in r.path]


def staging_name(hub: FakeHub, path: str) -> str:
    """The staging file name of a fake-hub file (its sha256, or a key from url and git hash)."""
    repo = hub.repos["fake/tiny-sd"]
    data = repo.files[path]
    url = hf_hub_url("fake/tiny-sd", path, revision=repo.commit, endpoint=hub.url)
    lfs = path.endswith(".safetensors")
    sha = hashlib.sha256(data).hexdigest() if lfs else None
    return staging_key(RemoteFile(path, url, len(data), sha, None if lfs else git_sha1(data))) + ".part"


def staged(manager: ModelManager) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in manager.cache.staging_dir.glob("*.part")}


def test_install_fetches_the_variant_files_only_and_reports_progress(
    make_manager: Make, hub: FakeHub
) -> None:
    reports: list[DownloadProgress] = []
    model = make_manager().install("tiny-sd", on_progress=reports.append)

    files = sorted(p.relative_to(model.path).as_posix() for p in model.path.rglob("*") if p.is_file())
    assert files == [
        "model_index.json",
        "text_encoder/config.json",
        "text_encoder/model.fp16.safetensors",
        "tokenizer/merges.txt",
        "tokenizer/vocab.json",
        "unet/config.json",
        UNET16,
    ]
    repo = hub.repos["fake/tiny-sd"]
    assert all((model.path / f).read_bytes() == repo.files[f] for f in files)
    assert model.key == "tiny-sd@fp16" and model.family == "sd15" and model.dtype == "float32"
    last = reports[-1]
    assert last.finished and last.bytes_done == last.bytes_total == sum(len(repo.files[f]) for f in files)
    assert last.files_done == last.files_total == 7
    assert all(r.bytes_done <= r.bytes_total for r in reports)
    assert resolve_model("tiny-sd") == model.path == resolve_model("fake/tiny-sd")
    assert hub.requests[0].path == "/api/models/fake/tiny-sd/revision/main"


def test_sizes_come_from_the_hub_and_refine_the_fit(
    make_manager: Make, hub: FakeHub, test_catalog: Path
) -> None:
    catalog = json.loads((test_catalog / "catalog.json").read_text())
    catalog["families"]["sd15"]["params_millions"] = None
    (test_catalog / "catalog.json").write_text(json.dumps(catalog))
    manager = make_manager()
    assert manager.plan("tiny-sd").fits is None
    size = manager.download_size("tiny-sd")
    assert size == sum(
        len(hub.repos["fake/tiny-sd"].files[f.path]) for f in manager.install("tiny-sd").main.files
    )
    assert manager.plan("tiny-sd", download_bytes=size).fits is True
    assert manager.plan("tiny-sd").estimate == manager.plan("tiny-sd", download_bytes=size).estimate


def test_installing_again_downloads_nothing(make_manager: Make, hub: FakeHub) -> None:
    make_manager().install("tiny-sd")
    before = len(resolves(hub))
    assert make_manager().install("tiny-sd").key == "tiny-sd@fp16"
    assert len(resolves(hub)) == before


def test_a_new_commit_replaces_the_old_files(make_manager: Make, hub: FakeHub) -> None:
    old = make_manager().install("tiny-sd")
    hub.repos["fake/tiny-sd"].commit = "1" * 40
    new = make_manager().install("tiny-sd")
    assert new.path.name == "1" * 40 and (new.path / UNET16).is_file()
    assert not old.path.exists()


def _cancel_after(n: int, cancel: threading.Event) -> Callable[[DownloadProgress], None]:
    def on_progress(p: DownloadProgress) -> None:
        if p.bytes_done >= n:
            cancel.set()

    return on_progress


def test_cancel_keeps_staging_and_a_new_manager_resumes_with_range(make_manager: Make, hub: FakeHub) -> None:
    hub.chunk_delay, hub.chunk_size = 0.01, 16 * 1024
    first = make_manager(transfer=TransferSettings(retries=0))
    cancel = threading.Event()
    with pytest.raises(DownloadCancelled, match="kept to resume"):
        first.install("tiny-sd", on_progress=_cancel_after(600_000, cancel), cancel=cancel)
    assert_not_installed(first)
    kept = staged(first)[staging_name(hub, UNET16)]
    assert 0 < kept < 2_000_000

    hub.chunk_delay = 0.0
    reports: list[DownloadProgress] = []
    model = make_manager().install("tiny-sd", on_progress=reports.append)  # "after a restart"
    assert hub.ranges(UNET16)[-1] == f"bytes={kept}-"
    assert (model.path / UNET16).read_bytes() == hub.repos["fake/tiny-sd"].files[UNET16]
    assert reports[-1].bytes_resumed >= kept
    assert staged(first) == {}


def test_a_dropped_connection_is_resumed_within_the_same_install(make_manager: Make, hub: FakeHub) -> None:
    hub.faults[UNET16] = Fault(drop_after=700_000, times=1)
    model = make_manager().install("tiny-sd")
    assert hub.ranges(UNET16) == [None, "bytes=700000-"]
    assert (model.path / UNET16).read_bytes() == hub.repos["fake/tiny-sd"].files[UNET16]


def test_a_connection_that_keeps_dropping_fails_clearly_and_resumes_later(
    make_manager: Make, hub: FakeHub
) -> None:
    hub.faults[UNET16] = Fault(drop_after=300_000)
    manager = make_manager()
    with pytest.raises(DownloadError, match=r"stopped.*run the download again to resume"):
        manager.install("tiny-sd")
    assert_not_installed(manager)
    assert hub.ranges(UNET16) == [None, "bytes=300000-"]

    del hub.faults[UNET16]
    make_manager().install("tiny-sd")
    assert hub.ranges(UNET16)[-1] == "bytes=600000-"


def test_a_stalled_server_times_out_with_a_message(make_manager: Make, hub: FakeHub) -> None:
    hub.faults[UNET16] = Fault(stall_after=100_000, stall_s=5.0)
    manager = make_manager(transfer=TransferSettings(read_timeout=0.3, retries=0))
    with pytest.raises(DownloadError, match=r"no data for 0.3 s"):
        manager.install("tiny-sd")
    assert_not_installed(manager)


def test_a_truncated_file_on_the_server_is_reported(make_manager: Make, hub: FakeHub) -> None:
    data = hub.repos["fake/tiny-sd"].files[UNET16]
    hub.faults[UNET16] = Fault(serve=data[:-5000])
    manager = make_manager()
    with pytest.raises(DownloadError, match="shorter than the hub"):
        manager.install("tiny-sd")
    assert_not_installed(manager)


@pytest.mark.parametrize("path", [UNET16, "model_index.json"])
def test_wrong_bytes_are_rejected_and_discarded(make_manager: Make, hub: FakeHub, path: str) -> None:
    good = hub.repos["fake/tiny-sd"].files[path]
    hub.faults[path] = Fault(serve=bytes(b ^ 1 for b in good))
    manager = make_manager()
    with pytest.raises(ChecksumMismatchError, match=r"failed verification.*discarded"):
        manager.install("tiny-sd")
    assert_not_installed(manager)
    assert staging_name(hub, path) not in staged(manager)


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (401, None, "refused the token"),
        (403, None, "forbidden"),
        (404, "EntryNotFound", "was not found"),
        (500, None, "server had an error"),
    ],
)
def test_error_answers_end_in_clear_messages(
    make_manager: Make, hub: FakeHub, status: int, code: str | None, message: str
) -> None:
    hub.faults[UNET16] = Fault(status=status, error_code=code)
    manager = make_manager()
    with pytest.raises(HubAccessError, match=message):
        manager.install("tiny-sd")
    assert_not_installed(manager)


def test_missing_repo_and_revision(make_manager: Make, hub: FakeHub) -> None:
    manager = make_manager()
    with pytest.raises(HubAccessError, match="fake/nothing was not found"):
        manager.install("fake/nothing")
    hub.repos["someone/model"] = hub.repos["fake/tiny-sd"]
    with pytest.raises(HubAccessError, match="someone/model has no revision 'v9'"):
        manager.install("someone/model", revision="v9")


def test_gated_repo_asks_for_a_token_and_links_the_licence(make_manager: Make, hub: FakeHub) -> None:
    with pytest.raises(GatedModelError, match=rf"{hub.url}/fake/gated.*HF_TOKEN"):
        make_manager().install("tiny-gated")
    assert not any("/resolve/" in r.path for r in hub.requests)
    with pytest.raises(GatedModelError, match="no access yet"):
        make_manager(token="hf_wrong").install("tiny-gated")
    model = make_manager(token=TOKEN).install("tiny-gated")
    assert (model.path / UNET16).exists()
    assert all(r.authorization == f"Bearer {TOKEN}" for r in hub.requests[-7:])


def test_hf_token_from_the_environment_is_used(
    make_manager: Make, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    manager = ModelManager(profile=make_manager().profile, transfer=make_manager().transfer)
    assert manager.install("tiny-gated").key == "tiny-gated@fp16"


def test_offline_mode_is_explained(make_manager: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubAccessError, match="HF_HUB_OFFLINE"):
        make_manager().install("tiny-sd")


def test_not_enough_free_space_stops_before_downloading(make_manager: Make, hub: FakeHub) -> None:
    manager = make_manager(free_space_probe=lambda _path: 100 * 1024**2)
    with pytest.raises(DiskFullError, match=r"needs 0.00 GiB more.*only 0.10 GiB are free"):
        manager.install("tiny-sd")
    assert not any("/resolve/" in r.path for r in hub.requests)
    assert_not_installed(manager)


def test_a_full_disk_while_writing_keeps_what_was_staged(
    make_manager: Make, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = pathlib.Path.open

    class FullDisk:
        def __init__(self, f) -> None:  # type: ignore[no-untyped-def]
            self.f, self.written = f, 0

        def write(self, data: bytes) -> int:
            if self.written + len(data) > 400_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(data)
            return self.f.write(data)

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

    def open_(self: Path, mode: str = "r", *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        f = real_open(self, mode, *args, **kwargs)  # type: ignore[arg-type]
        return FullDisk(f) if self.suffix == ".part" and "b" in mode and "r" not in mode else f

    monkeypatch.setattr(pathlib.Path, "open", open_)
    manager = make_manager()
    with pytest.raises(DiskFullError, match=r"disk is full.*run the download again to resume"):
        manager.install("tiny-sd")
    assert_not_installed(manager)
    monkeypatch.setattr(pathlib.Path, "open", real_open)
    kept = staged(manager)[staging_name(hub, UNET16)]
    assert 0 < kept <= 400_000
    make_manager().install("tiny-sd")
    assert f"bytes={kept}-" in hub.ranges(UNET16)


def test_two_managers_downloading_into_one_cache_end_with_one_correct_copy(
    make_manager: Make, hub: FakeHub
) -> None:
    hub.chunk_delay = 0.002
    results: list[object] = []

    def install() -> None:
        try:
            results.append(make_manager().install("tiny-sd"))
        except Exception as exc:  # surfaced by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=install) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(not isinstance(r, Exception) for r in results), results
    assert len(hub.ranges(UNET16)) == 1  # the second instance waited on the lock and reused the file
    manager = make_manager()
    assert [m.key for m in manager.cache.read_all()] == ["tiny-sd@fp16"]
    assert (manager.resolve("tiny-sd").path / UNET16).read_bytes() == hub.repos["fake/tiny-sd"].files[UNET16]
    assert staged(manager) == {}


@pytest.mark.parametrize("limit", [1, 2])
def test_parallel_transfers_are_bounded(make_manager: Make, hub: FakeHub, limit: int) -> None:
    hub.chunk_delay, hub.chunk_size = 0.005, 16 * 1024
    make_manager(max_parallel=limit).install("tiny-sd")
    assert hub.peak_sending == limit


def test_pickle_files_of_a_repo_are_refused_before_downloading(make_manager: Make, hub: FakeHub) -> None:
    with pytest.raises(ModelStoreError, match="pickle checkpoint"):
        make_manager().install("fake/tiny-sd", file="unet/diffusion_pytorch_model.bin")
    assert hub.requests == []


def test_a_server_that_ignores_range_is_downloaded_from_the_start(make_manager: Make, hub: FakeHub) -> None:
    hub.faults[UNET16] = Fault(drop_after=500_000, times=1)
    hub.faults["fp16.safetensors"] = Fault(ignore_range=True)
    model = make_manager().install("tiny-sd")
    assert hub.ranges(UNET16) == [None, "bytes=500000-"]
    assert (model.path / UNET16).read_bytes() == hub.repos["fake/tiny-sd"].files[UNET16]


def test_plain_url_download_is_verified(make_manager: Make, hub: FakeHub, tmp_path: Path) -> None:
    data = write_checkpoint(tmp_path / "m.safetensors", SD15_SHAPES).read_bytes()
    hub.plain["m.safetensors"] = data
    manager = make_manager()
    with pytest.raises(ChecksumMismatchError):
        manager.install_url(f"{hub.url}/files/m.safetensors", "0" * 64)
    model = manager.install_url(f"{hub.url}/files/m.safetensors", hashlib.sha256(data).hexdigest())
    assert model.family == "sd15" and model.path.read_bytes() == data
    assert resolve_model("url:m.safetensors") == model.path
    with pytest.raises(ModelStoreError, match="pickle"):
        manager.install_url(f"{hub.url}/files/m.ckpt", "0" * 64)


def test_any_hub_repo_installs_with_its_family_detected(
    make_manager: Make, hub: FakeHub, tmp_path: Path
) -> None:
    hub.repos["someone/finetune"] = Repo(
        files={
            **{k: v for k, v in hub.repos["fake/tiny-sd"].files.items() if not k.startswith("v1-5")},
            "single.safetensors": write_checkpoint(tmp_path / "s.safetensors", SD15_SHAPES).read_bytes(),
            "lora.safetensors": write_checkpoint(
                tmp_path / "l.safetensors", {"lora_unet_x.lora_up.weight": (4, 4)}
            ).read_bytes(),
        }
    )
    manager = make_manager()
    folder = manager.install("someone/finetune")
    assert (
        folder.kind == "hub" and folder.family == "sd15" and resolve_model("someone/finetune") == folder.path
    )
    single = manager.install("someone/finetune", file="single.safetensors")
    assert single.path.name == "single.safetensors" and single.family == "sd15"
    with pytest.raises(UnknownFamilyError, match="LoRA"):
        manager.install("someone/finetune", file="lora.safetensors")
    assert not any(p.name == "lora.safetensors" for p in manager.cache.root.rglob("*"))


def test_single_file_variant_checks_the_catalog_hash(
    make_manager: Make, hub: FakeHub, test_catalog: Path
) -> None:
    model = make_manager().install("tiny-single")
    assert model.path.name == "v1-5-pruned.safetensors"
    assert model.path.read_bytes() == blob(70_000, 6)

    catalog = json.loads((test_catalog / "catalog.json").read_text())
    catalog["models"][2]["variants"][0]["sha256"] = "ab" * 32
    (test_catalog / "catalog.json").write_text(json.dumps(catalog))
    with pytest.raises(ModelStoreError, match="does not match the catalog's sha256"):
        make_manager().install("tiny-single")
