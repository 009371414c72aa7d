"""The engine's tiny models, served by the fake hub or imported, then recognised and run by the
engine, by path or by catalog id, key or repo."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_hub import FakeHub, Repo

from sfumato.cli import main
from sfumato.generation.metadata import parse_parameters, read_parameters
from sfumato.inference.families import Architecture
from sfumato.inference.model_files import detect_model
from sfumato.inference.tiny_models import build_sd15, export_single_file
from sfumato.model_store import ModelManager, resolve_model


def test_a_tiny_sd15_goes_from_the_hub_to_the_engine(
    make_manager: Callable[..., ModelManager], hub: FakeHub, tmp_path: Path
) -> None:
    folder = build_sd15(tmp_path / "tiny-sd15")
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    hub.repos["tiny/sd15"] = Repo(files=files)

    model = make_manager().install("tiny/sd15")
    assert (model.kind, model.family) == ("hub", "sd15")
    path = resolve_model("tiny/sd15")
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()) == sorted(files)
    assert detect_model(path).architecture is Architecture.SD1

    single = export_single_file(folder, tmp_path / "tiny.safetensors")
    hub.plain["tiny.safetensors"] = single.read_bytes()
    url_model = make_manager().install_url(
        f"{hub.url}/files/tiny.safetensors", hashlib.sha256(single.read_bytes()).hexdigest()
    )
    assert url_model.family == "sd15" and url_model.path.read_bytes() == single.read_bytes()


def _generate(model: str, out: Path) -> list[str]:
    return ["generate", "--model", model, "--prompt", "a boat", "--steps", "2", "--seed", "3",
            "--width", "64", "--height", "64", "--out", str(out)]  # fmt: skip


def test_generate_runs_an_imported_model_by_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model,) = ModelManager().import_path(build_sd15(tmp_path / "tiny-sd15"))
    assert model.key == "local:tiny-sd15"
    assert main(_generate(model.key, tmp_path / "out.png")) == 0, capsys.readouterr().err
    assert (tmp_path / "out.png").is_file()


def test_generate_runs_an_installed_catalog_id(
    make_manager: Callable[..., ModelManager],
    hub: FakeHub,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = build_sd15(tmp_path / "tiny-sd15")
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    hub.repos["fake/tiny-sd"] = Repo(files=files)
    assert main(_generate("tiny-sd", tmp_path / "before.png")) == 2
    assert "tiny-sd is not installed: run `sfumato models download tiny-sd`" in capsys.readouterr().err

    make_manager().install("tiny-sd", variant="fp32")
    assert main(_generate("tiny-sd", tmp_path / "out.png")) == 0, capsys.readouterr().err
    assert main(_generate("tiny-sd@fp32", tmp_path / "again.png")) == 0, capsys.readouterr().err
    assert (tmp_path / "out.png").is_file() and (tmp_path / "again.png").is_file()


def test_generate_with_an_unknown_id_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_generate("no-such-model", tmp_path / "out.png")) == 2
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [err.strip()]
    assert "'no-such-model' is not a catalog id" in err and "Traceback" not in err
    assert not (tmp_path / "out.png").exists()


def test_generate_samples_a_catalog_id_with_its_catalog_defaults(
    make_manager: Callable[..., ModelManager],
    hub: FakeHub,
    test_catalog: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without --steps/--cfg/--scheduler, a catalog id runs as its entry says (SDXL Turbo's one
    step without CFG, not the CLI's 20 steps at CFG 7); options given still win."""
    data = json.loads((test_catalog / "catalog.json").read_text())
    data["models"][0]["defaults"].update(steps=3, cfg=1.5, scheduler="DDIMScheduler")
    (test_catalog / "catalog.json").write_text(json.dumps(data))
    folder = build_sd15(tmp_path / "tiny-sd15")
    hub.repos["fake/tiny-sd"] = Repo(files={p.relative_to(folder).as_posix(): p.read_bytes()
                                            for p in folder.rglob("*") if p.is_file()})  # fmt: skip
    make_manager().install("tiny-sd", variant="fp32")
    base = ["generate", "--model", "tiny-sd", "--prompt", "a boat", "--seed", "3", "--width", "64",
            "--height", "64"]  # fmt: skip

    assert main([*base, "--out", str(tmp_path / "a.png")]) == 0, capsys.readouterr().err
    assert main([*base, "--steps", "2", "--cfg", "4", "--out", str(tmp_path / "b.png")]) == 0

    catalog = parse_parameters(read_parameters(tmp_path / "a.png") or "").values
    given = parse_parameters(read_parameters(tmp_path / "b.png") or "").values
    assert (catalog["Steps"], catalog["CFG scale"], catalog["Sampler"]) == ("3", "1.5", "DDIM")
    assert (given["Steps"], given["CFG scale"], given["Sampler"]) == ("2", "4.0", "DDIM")
