"""Fast checks of the packaging scripts (no bundle is built): what ships, how torch is stripped,
how the build script finds a wheel and judges a smoke run. The real build is a documented command:
``.venv/bin/python packaging/build.py``."""

from __future__ import annotations

import ast
import json
import plistlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from packaging_scripts import PACKAGING, ROOT, load_script


@pytest.fixture(scope="module")
def support() -> ModuleType:
    return load_script("spec_support.py")


@pytest.fixture(scope="module")
def build() -> ModuleType:
    return load_script("build.py")


SITE = "/venv/lib/python3.11/site-packages"
SAMPLE_TOC = [
    ("torch", f"{SITE}/torch/__init__.py", "PYMODULE"),
    ("torch.nn.functional", f"{SITE}/torch/nn/functional.py", "PYMODULE"),
    ("torchgen.model", f"{SITE}/torchgen/model.py", "PYMODULE"),
    ("functorch", f"{SITE}/functorch/__init__.py", "PYMODULE"),
    ("torch/lib/libtorch_cpu.so", f"{SITE}/torch/lib/libtorch_cpu.so", "BINARY"),
    ("torch/_C.cpython-311-x86_64-linux-gnu.so", f"{SITE}/torch/_C.cpython-311-x86_64-linux-gnu.so",
     "EXTENSION"),
    ("libc10.so", "torch/lib/libc10.so", "SYMLINK"),
    ("torch/share/cmake/Torch/TorchConfig.cmake", f"{SITE}/torch/share/cmake/Torch/TorchConfig.cmake",
     "DATA"),
    ("torch-2.13.0+cpu.dist-info/METADATA", f"{SITE}/torch-2.13.0+cpu.dist-info/METADATA", "DATA"),
    ("libcudart.so", "/usr/local/cuda-13.0/lib/libcudart.so", "BINARY"),
]
KEEP_TOC = [
    ("sfumato.torch_runtime", "/repo/app/sfumato/torch_runtime/__init__.py", "PYMODULE"),
    ("safetensors.torch", f"{SITE}/safetensors/torch.py", "PYMODULE"),
    ("transformers.pytorch_utils", f"{SITE}/transformers/pytorch_utils.py", "PYMODULE"),
    ("diffusers.utils.torch_utils", f"{SITE}/diffusers/utils/torch_utils.py", "PYMODULE"),
    ("sympy", f"{SITE}/sympy/__init__.py", "PYMODULE"),
    ("typing_extensions", f"{SITE}/typing_extensions.py", "PYMODULE"),
    ("libgomp-6a29c32d.so.1.0.0", "sentencepiece.libs/libgomp-6a29c32d.so.1.0.0", "SYMLINK"),
    ("PySide6/Qt/plugins/platforms/libqoffscreen.so", f"{SITE}/PySide6/Qt/plugins/platforms/libqoffscreen.so",
     "BINARY"),
    ("sympy-1.14.0.dist-info/METADATA", f"{SITE}/sympy-1.14.0.dist-info/METADATA", "DATA"),
    ("models/catalog.json", "/repo/models/catalog.json", "DATA"),
]


def test_strip_torch_removes_torch_and_gpu_libraries_and_keeps_everything_else(support: ModuleType) -> None:
    kept, removed = support.strip_torch(SAMPLE_TOC + KEEP_TOC)
    assert removed == SAMPLE_TOC
    assert kept == KEEP_TOC
    assert list(support.torch_leftovers(kept)) == []
    assert list(support.torch_leftovers(SAMPLE_TOC[:1])) == SAMPLE_TOC[:1]


def test_windows_paths_are_recognised_too(support: ModuleType) -> None:
    site = r"C:\\venv\\Lib\\site-packages"
    assert support.is_torch_entry(("torch\\lib\\c10.dll", f"{site}\\torch\\lib\\c10.dll", "BINARY"))
    assert support.is_torch_entry(("c10.dll", f"{site}\\torch\\lib\\c10.dll", "BINARY"))
    assert not support.is_torch_entry(("PySide6\\Qt6Core.dll", f"{site}\\PySide6\\Qt6Core.dll", "BINARY"))


def test_data_files_ship_resources_and_model_configs_but_not_screenshots(support: ModuleType) -> None:
    pairs = support.data_files(ROOT)
    shipped = {Path(dest, Path(src).name).as_posix() for src, dest in pairs}
    assert "resources/icons/sfumato.svg" in shipped
    assert "resources/style.qss" in shipped
    assert "models/catalog.json" in shipped
    assert "models/configs/sd15/unet/config.json" in shipped
    assert "models/configs/clip-tokenizer/vocab.json" in shipped
    assert not [p for p in shipped if "screenshots" in p or p.endswith(".py") or "__pycache__" in p]
    assert all(Path(src).is_file() for src, _ in pairs)


def test_project_version_comes_from_pyproject(support: ModuleType) -> None:
    import tomllib

    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert support.project_version() == expected


def test_macos_info_plist_declares_openraster_and_high_dpi(support: ModuleType) -> None:
    info = support.info_plist("1.2.3")
    plistlib.dumps(info)  # serialisable as PyInstaller will write it
    assert info["NSHighResolutionCapable"] is True
    assert info["CFBundleShortVersionString"] == "1.2.3"
    ora = info["CFBundleDocumentTypes"][0]
    assert ora["CFBundleTypeExtensions"] == ["ora"] and ora["CFBundleTypeRole"] == "Editor"
    assert ora["LSItemContentTypes"] == [info["UTImportedTypeDeclarations"][0]["UTTypeIdentifier"]]


def test_windows_version_info_is_a_python_expression(support: ModuleType) -> None:
    text = support.windows_version_info("0.1.0", "Sfumato", "Sfumato")
    tree = ast.parse(text, mode="eval")
    assert isinstance(tree.body, ast.Call) and tree.body.func.id == "VSVersionInfo"
    assert "filevers=(0, 1, 0, 0)" in text and "'OriginalFilename', 'Sfumato.exe'" in text


def test_the_spec_is_valid_python_and_names_its_pieces() -> None:
    text = (PACKAGING / "sfumato.spec").read_text()
    ast.parse(text)
    for needle in ("strip_torch", "torch_leftovers", "upx=False", "console=True", "BUNDLE(", "copy_metadata",
                   "sfumato-cli"):
        assert needle in text


def test_build_help_works() -> None:
    done = subprocess.run([sys.executable, str(PACKAGING / "build.py"), "--help"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    for option in ("--skip-build", "--skip-smoke", "--no-installer", "--torch-wheel"):
        assert option in done.stdout


def test_the_torch_wheel_is_found_by_version_and_python_tag(build: ModuleType, tmp_path: Path) -> None:
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    right = tmp_path / f"torch-2.13.0+cpu-{tag}-{tag}-manylinux_2_28_x86_64.whl"
    for name in (right.name, "torch-2.13.0+cpu-cp39-cp39-manylinux_2_28_x86_64.whl",
                 f"torch-2.12.0+cpu-{tag}-{tag}-manylinux_2_28_x86_64.whl"):
        (tmp_path / name).write_bytes(b"")
    assert build.find_torch_wheel("2.13.0+cpu", tmp_path) == right
    assert build.find_torch_wheel("2.13.0", tmp_path) == right
    assert build.find_torch_wheel("2.14.0", tmp_path) is None
    assert build.find_torch_wheel("2.13.0", tmp_path / "missing") is None


def _result(build: ModuleType, output: list[str], returncode: int = 0) -> object:
    return build.SmokeResult("offscreen", returncode, 9.0, 1.5, build.parse_smoke(output), output)


def test_a_smoke_run_passes_only_with_torch_from_the_runtime_folder(build: ModuleType,
                                                                   tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    good = {"ok": True, "frozen": True, "torch_file": str(runtime / "cpu" / "site" / "torch" / "__init__.py")}
    build.check_smoke(_result(build, ["smoke: window shown", "smoke: " + json.dumps(good)]), runtime)

    bundled = {**good, "torch_file": "/opt/sfumato/_internal/torch/__init__.py"}
    with pytest.raises(build.BuildFailed, match="not from the runtime folder"):
        build.check_smoke(_result(build, ["smoke: window shown", "smoke: " + json.dumps(bundled)]), runtime)
    with pytest.raises(build.BuildFailed, match="exit status 1"):
        failed = _result(build, ["smoke: window shown", "smoke failed: boom"], returncode=1)
        build.check_smoke(failed, runtime)
    unfrozen = {**good, "frozen": False}
    with pytest.raises(build.BuildFailed, match="outside the bundle"):
        build.check_smoke(_result(build, ["smoke: " + json.dumps(unfrozen)]), runtime)


def test_a_missing_installer_builder_is_skipped(build: ModuleType, tmp_path: Path) -> None:
    assert build.load_builder(tmp_path / "nope.py", "build_deb") is None
    (tmp_path / "deb.py").write_text("def build_deb(bundle, out_dir, version):\n"
                                     "    return out_dir / 'x.deb'\n")
    assert build.load_builder(tmp_path / "deb.py", "build_deb")(tmp_path, tmp_path, "1") == tmp_path / "x.deb"


def test_a_real_smoke_child_is_timed_from_outside(build: ModuleType, tmp_path: Path) -> None:
    script = ("import time; print('smoke: window shown', flush=True); time.sleep(0.2); "
              "print('smoke: {\"ok\": true}', flush=True)")
    result = build.run_smoke("fake", [sys.executable, "-c", script], env=None, timeout=60)
    assert result.returncode == 0 and result.report == {"ok": True}
    assert 0 < result.seconds_to_window < result.seconds_total


def test_the_bundle_check_finds_torch_left_in_a_folder(build: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "_internal" / "torch" / "lib").mkdir(parents=True)
    (tmp_path / "_internal" / "sympy").mkdir()
    assert build.torch_in_bundle(tmp_path) == [str(Path("_internal", "torch"))]
    assert build.tree_size(tmp_path) == (0, 0)


def test_identical_executables_become_one_inode(support: ModuleType, build: ModuleType,
                                                tmp_path: Path) -> None:
    gui, cli, other = tmp_path / "sfumato", tmp_path / "sfumato-cli", tmp_path / "other"
    gui.write_bytes(b"x" * 3000)
    cli.write_bytes(b"x" * 3000)
    other.write_bytes(b"x" * 2999 + b"y")
    assert support.link_identical(gui, cli) and gui.stat().st_ino == cli.stat().st_ino
    assert not support.link_identical(gui, other)
    assert build.tree_size(tmp_path) == (6000, 3)  # the linked pair counts once
