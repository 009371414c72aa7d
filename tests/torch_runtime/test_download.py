"""Downloading a variant from a package index (a fake one on 127.0.0.1) and installing it."""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fake_index import FakeIndex, Listing, serve_index
from fake_wheels import fake_dep, fake_torch

from sfumato.model_store import ChecksumMismatchError, DownloadCancelled, HardwareProfile, TransferSettings
from sfumato.torch_runtime import RuntimeProgress, install_runtime, provision
from sfumato.torch_runtime import download as download_module
from sfumato.torch_runtime.choice import RuntimeChoice
from sfumato.torch_runtime.download import downloads_dir
from sfumato.torch_runtime.errors import NotEnoughSpaceError, PackageIndexError
from sfumato.torch_runtime.layout import current_install, current_name
from sfumato.torch_runtime.variants import variant

CPU_ONLY = HardwareProfile(cpu_cores=2, ram_total=16 * 1024**3)
FAST = TransferSettings(connect_timeout=5, read_timeout=5, retries=3, retry_wait=0.01)


@pytest.fixture
def index() -> Iterator[FakeIndex]:
    with serve_index() as state:
        yield state


def publish_cu128(index: FakeIndex, wheel_dir: Path, listing: Listing | None = None) -> tuple[Path, Path]:
    """torch 2.13.0+cu128 needing nvidia-foo==1.0, both on the ``cu128`` index."""
    torch = fake_torch(wheel_dir, "2.13.0+cu128", ["nvidia-foo==1.0", "filelock"])
    dep = fake_dep(wheel_dir, "nvidia-foo", "1.0", ["nvidia-bar==2.0"])
    bar = fake_dep(wheel_dir, "nvidia-bar", "2.0")
    for wheel in (torch, dep, bar):
        index.add("cu128", wheel, listing)
    return torch, dep


def install(index: FakeIndex, key: str = "cu128", **kwargs: object):  # type: ignore[no-untyped-def]
    kwargs.setdefault("hardware", CPU_ONLY)
    kwargs.setdefault("verify", False)
    kwargs.setdefault("transfer", FAST)
    return install_runtime(key, index_url=index.index_url(key), **kwargs)  # type: ignore[arg-type]


def test_a_json_index_gives_torch_and_its_pins_recursively(index: FakeIndex, wheel_dir: Path) -> None:
    publish_cu128(index, wheel_dir)
    seen: list[RuntimeProgress] = []
    result = install(index, on_progress=seen.append)
    assert current_name() == result.name and result.record.variant == "cu128"
    assert [w.name for w in result.record.wheels] == ["torch", "nvidia-foo", "nvidia-bar"]
    assert all(w.url and w.url.startswith(index.url + "/files/") for w in result.record.wheels)
    assert result.record.index_url == index.index_url("cu128")
    assert (result.site_dir / "nvidia_bar" / "__init__.py").is_file()
    phases = [p.phase for p in seen]
    assert phases[0] == "resolve" and "download" in phases and phases[-1] == "done"
    last_download = [p for p in seen if p.phase == "download"][-1]
    assert last_download.done_bytes == last_download.total_bytes > 0
    assert not [p for p in downloads_dir().iterdir() if p.suffix == ".whl"]  # removed once installed
    assert not any(method == "HEAD" for method, _, _ in index.requests)  # sizes came in the JSON


def test_an_html_index_with_hash_fragments_and_no_sizes(index: FakeIndex, wheel_dir: Path) -> None:
    publish_cu128(index, wheel_dir, Listing(style="html", hash_in="fragment", sizes=False))
    result = install(index)
    assert len(result.record.wheels) == 3
    assert sum(method == "HEAD" for method, _, _ in index.requests) == 3  # the size of each file


def test_a_file_without_a_hash_is_refused(index: FakeIndex, wheel_dir: Path) -> None:
    publish_cu128(index, wheel_dir, Listing(style="html", hash_in=None))
    with pytest.raises(PackageIndexError, match=r"no sha256 for torch-2\.13\.0"):
        install(index)
    assert not any(path.startswith("/files/") for _, path, _ in index.requests)


def test_a_wrong_hash_discards_the_file(index: FakeIndex, wheel_dir: Path) -> None:
    torch, _ = publish_cu128(index, wheel_dir)
    index.wrong_sha.add(torch.name)
    with pytest.raises(ChecksumMismatchError, match="failed verification"):
        install(index)
    assert current_name() is None and not (downloads_dir() / torch.name).exists()


def test_a_dropped_connection_resumes_with_a_range_request(index: FakeIndex, wheel_dir: Path) -> None:
    torch, _ = publish_cu128(index, wheel_dir)
    index.drop_after[torch.name] = 300
    install(index)
    ranges = [r for _, path, r in index.requests if path == f"/files/{torch.name}"]
    assert ranges == [None, "bytes=300-"]


def test_a_cancel_keeps_the_bytes_and_the_next_install_resumes(index: FakeIndex, wheel_dir: Path) -> None:
    torch, _ = publish_cu128(index, wheel_dir)
    index.drop_after[torch.name] = 500  # a partial file is staged, then we cancel during the retry wait
    cancel = threading.Event()

    def on_progress(p: RuntimeProgress) -> None:
        if p.phase == "download" and p.done_bytes >= 500:
            cancel.set()

    with pytest.raises(DownloadCancelled):
        install(index, on_progress=on_progress, cancel=cancel, transfer=replace(FAST, retry_wait=1.0))
    assert current_name() is None
    install(index)  # "after a restart": a new call finds the staged bytes
    ranges = [r for _, path, r in index.requests if path == f"/files/{torch.name}"]
    assert ranges == [None, "bytes=500-"]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("/cu128/torch/", "answered 500"),
        ("/files/nvidia_foo-1.0-py3-none-any.whl", "answered 404"),
    ],
)
def test_error_answers_become_clear_errors(
    index: FakeIndex, wheel_dir: Path, fault: str, message: str
) -> None:
    publish_cu128(index, wheel_dir)
    index.status[fault] = 500 if fault.endswith("/") else 404
    with pytest.raises(PackageIndexError, match=message):
        install(index)
    assert current_name() is None


def test_pins_missing_from_the_variant_index_come_from_pypi(
    index: FakeIndex, wheel_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index.add("cu128", fake_torch(wheel_dir, "2.13.0+cu128", ["nvidia-foo==1.0"]))
    index.add("pypi", fake_dep(wheel_dir, "nvidia-foo", "1.0"))
    monkeypatch.setattr(download_module, "PYPI_SIMPLE", index.index_url("pypi"))
    result = install(index)
    assert result.record.wheels[1].url == f"{index.url}/files/nvidia_foo-1.0-py3-none-any.whl"


def test_a_pin_found_nowhere_is_named(
    index: FakeIndex, wheel_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index.add("cu128", fake_torch(wheel_dir, "2.13.0+cu128", ["nvidia-foo==1.0"]))
    index.add("pypi", fake_dep(wheel_dir, "nvidia-foo", "0.9"))
    monkeypatch.setattr(download_module, "PYPI_SIMPLE", index.index_url("pypi"))
    with pytest.raises(PackageIndexError, match=r"No wheel of nvidia-foo==1\.0"):
        install(index)


def test_a_variant_without_a_wheel_is_skipped_for_the_next_candidate(
    index: FakeIndex, wheel_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index.add("cu128", fake_torch(wheel_dir / "other", "2.12.0+cu128"))  # not the pinned version
    index.add("cpu", fake_torch(wheel_dir, "2.13.0+cpu"))
    cu128 = replace(variant("cu128"), index_url=index.index_url("cu128"))
    cpu = replace(variant("cpu"), index_url=index.index_url("cpu"))
    no_cu130 = replace(variant("cu130"), index_url=index.index_url("cu130"))  # an index that does not exist
    choice = RuntimeChoice(no_cu130, "test", (no_cu130, cu128, cpu))
    monkeypatch.setattr(provision, "choose_variant", lambda hardware: choice)
    result = install_runtime(hardware=CPU_ONLY, verify=False, transfer=FAST)
    assert result.record.variant == "cpu"
    assert [w.split(":")[0] for w in result.warnings] == ["CUDA 13.0", "CUDA 12.8"]

    monkeypatch.setattr(provision, "choose_variant", lambda hardware: RuntimeChoice(cu128, "test", (cu128,)))
    with pytest.raises(PackageIndexError, match=r"No torch 2\.13\.0 wheel fits this system"):
        install_runtime(hardware=CPU_ONLY, verify=False, transfer=FAST)
    assert current_install() is not None  # the cpu runtime is still there


def test_too_little_disk_space_stops_before_downloading(
    index: FakeIndex, wheel_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_cu128(index, wheel_dir)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(download_module.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 100, 100))
    with pytest.raises(NotEnoughSpaceError, match="free some space"):
        install(index)
    assert not any(path.startswith("/files/") for _, path, _ in index.requests)
