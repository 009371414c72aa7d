"""``sfumato models …`` end to end against the fake hub, with a fake 8 GB GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_hub import FakeHub, Repo
from store_helpers import SD15_SHAPES, write_checkpoint

from sfumato.cli import main
from sfumato.model_store import GpuInfo, HardwareProfile

GIB = 1024**3
UNET16 = "unet/diffusion_pytorch_model.fp16.safetensors"


@pytest.fixture
def env(hub: FakeHub, test_catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """HF_ENDPOINT on the fake hub, a fake 8 GB GPU, the test catalog."""
    profile = HardwareProfile(
        8, 32 * GIB, None, (GpuInfo("cuda", "Fake RTX 4060", 8 * GIB, 7 * GIB, "8.9", "560.1"),)
    )
    (tmp_path / "hw.json").write_text(json.dumps(profile.to_dict()))
    monkeypatch.setenv("SFUMATO_HARDWARE_PROFILE", str(tmp_path / "hw.json"))
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    return hub


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["models", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_doctor_prints_the_profile_tier_and_starter_set(
    env: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    assert "gpu [cuda]: Fake RTX 4060, 8.0 GiB (7.0 GiB free, compute capability 8.9, driver 560.1)" in out
    assert "tier: gpu-8gb" in out
    assert "tiny-sd" in out.split("starter set:")[1]


def test_download_list_verify_repair_remove(
    env: FakeHub, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "download", "tiny-sd")
    assert code == 0 and out.startswith("tiny-sd@fp16: installed at ")
    assert "MiB/s" in err and "ETA" in err and "files 7/7" in err
    path = Path(out.split(" at ", 1)[1].strip())

    code, out, _ = run(capsys, "list")
    assert code == 0 and "tiny-sd@fp16" in out.split("installed:")[1]
    assert "fp16 · float16, VAE float32 · full" in out  # 8 GB, Ada: fp16 weights, all on the GPU

    assert run(capsys, "verify")[:2] == (0, "tiny-sd@fp16: ok\n")
    (path / UNET16).write_bytes(b"\0" * (path / UNET16).stat().st_size)
    code, out, _ = run(capsys, "verify", "tiny-sd")
    assert code == 1 and "FAILED" in out and "content differs" in out
    code, out, _ = run(capsys, "verify", "--repair")
    assert code == 0 and "repaired" in out
    assert run(capsys, "verify", "tiny-sd")[:2] == (0, "tiny-sd@fp16: ok\n")

    assert run(capsys, "remove", "tiny-sd")[:2] == (0, "tiny-sd@fp16: removed\n")
    code, _, err = run(capsys, "remove", "tiny-sd")
    assert code == 2 and err == "error: tiny-sd is not installed: run `sfumato models download tiny-sd`.\n"


def test_a_preview_decoder_downloads_and_lists_apart_from_the_models(
    env: FakeHub, test_catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads((test_catalog / "catalog.json").read_text())
    data["preview_decoders"] = [
        {
            "id": "tiny-taesd",
            "name": "tiny TAESD",
            "families": ["sd15"],
            "source": {"role": "main", "repo": "fake/taesd", "revision": "main"},
            "licence": {"name": "MIT", "url": "https://example.org/taesd"},
        }
    ]
    (test_catalog / "catalog.json").write_text(json.dumps(data))
    env.repos["fake/taesd"] = Repo(
        files={"config.json": b"{}", "diffusion_pytorch_model.safetensors": b"\0" * 1000}
    )
    code, out, _ = run(capsys, "list")
    assert code == 0 and "tiny-taesd" in out.split("preview decoders")[1].split("installed")[0]

    code, out, _ = run(capsys, "download", "tiny-taesd")
    assert code == 0 and out.startswith("tiny-taesd: installed at ")

    code, out, _ = run(capsys, "list")
    decoders, installed = out.split("preview decoders")[1].split("\ninstalled")
    assert "tiny-taesd" in decoders and decoders.rstrip().endswith("installed")
    assert "tiny-taesd" not in installed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["download", "tiny-gated"], "is gated: open http"),
        (["download", "sd99"], "neither a catalog id nor a hub repo id"),
        (["download", "https://example.org/model.safetensors"], "needs --sha256"),
        (["verify", "nothing-here"], "not a catalog id"),
    ],
)
def test_failures_are_one_error_line(
    env: FakeHub, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_import_and_cache_dir_option(
    env: FakeHub, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    file = write_checkpoint(tmp_path / "mine.safetensors", SD15_SHAPES)
    cache = tmp_path / "elsewhere"
    code, out, _ = run(capsys, "--cache-dir", str(cache), "import", str(file))
    assert code == 0 and out == f"local:mine: sd15 at {file}\n"
    assert list((cache / "installed").glob("*.json"))
    ckpt = tmp_path / "old.ckpt"
    ckpt.write_bytes(b"not opened")
    code, _, err = run(capsys, "import", str(ckpt))
    assert code == 2 and "pickle checkpoint" in err
