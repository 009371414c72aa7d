"""The Linux .deb: packaging/linux/deb.py builds a package from a small fake bundle, inspected with dpkg-deb.

The real bundle, installed on a fresh Debian, is packaging/linux/test_in_clean_root.sh's job (root, minutes).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from packaging_scripts import ROOT, load_script

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed")



deb = load_script("linux/deb.py")


def make_bundle(root: Path) -> Path:
    """A folder shaped like the PyInstaller one-folder bundle: two executables and an _internal folder."""
    bundle = root / "Sfumato"
    (bundle / "_internal" / "resources").mkdir(parents=True)
    for exe in ("sfumato", "sfumato-cli"):
        (bundle / exe).write_text("#!/bin/sh\necho stand-in\n")
        (bundle / exe).chmod(0o700)  # the package must make it 0755 whatever the build left
    (bundle / "_internal" / "base_library.zip").write_bytes(bytes(range(256)) * 64)
    (bundle / "_internal" / "libfake.so.1").write_bytes(b"not an ELF")
    (bundle / "_internal" / "libfake.so.1").chmod(0o777)
    (bundle / "_internal" / "resources" / "style.qss").write_text("QWidget {}\n")
    (bundle / "_internal" / "resources" / "style.qss").chmod(0o600)
    (bundle / "_internal" / "transformers" / "__pycache__").mkdir(parents=True)  # left by a smoke run
    (bundle / "_internal" / "transformers" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"pyc")
    return bundle


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deb")
    path = deb.build_deb(make_bundle(tmp), tmp / "out", "0.2.0rc1")
    info = subprocess.run(["dpkg-deb", "-f", str(path)], capture_output=True, text=True, check=True).stdout
    fields = dict(
        line.split(": ", 1) for line in info.splitlines() if ": " in line and not line.startswith(" ")
    )
    extracted = tmp / "x"
    subprocess.run(["dpkg-deb", "-x", str(path), str(extracted)], check=True)
    return path, fields, extracted


def data_members(path: Path) -> dict[str, tarfile.TarInfo]:
    """dpkg-deb --fsys-tarfile gives the data tar whatever its compression; read its members' metadata."""
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(path)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        return {m.name.removeprefix("./").rstrip("/"): m for m in t.getmembers()}


def test_file_name_and_control_fields(built):
    path, fields, _ = built
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    assert path.name == f"sfumato_0.2.0~rc1_{arch}.deb"  # rc sorts before the release in Debian's order
    assert fields["Package"] == "sfumato"
    assert fields["Version"] == "0.2.0~rc1"
    assert fields["Architecture"] == arch
    assert fields["Section"] == "graphics"
    assert "@" in fields["Maintainer"]
    assert int(fields["Installed-Size"]) > 0
    depends = [d.strip().split(" ")[0] for d in fields["Depends"].split(",")]
    for pkg in (
        "libgl1",
        "libegl1",
        "libfontconfig1",
        "libxkbcommon0",
        "libxkbcommon-x11-0",
        "libdbus-1-3",
        "libxcb-cursor0",
        "libxcb-icccm4",
        "libxcb-xinerama0",
        "libxcb-xkb1",
        "libc6",
    ):
        assert pkg in depends, pkg
    checked_in = deb.parse_depends(deb.DEPENDS_FILE.read_text())
    assert {d.package for d in checked_in.values() if d.field == "Depends"} <= set(depends)


def test_compressed_with_zstd(built):
    path, _, _ = built
    members = subprocess.run(
        ["ar", "t", str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert members == ["debian-binary", "control.tar.zst", "data.tar.zst"]


def test_layout_symlinks_and_ownership(built):
    path, _, _ = built
    members = data_members(path)
    assert (
        members["usr/bin/sfumato"].issym() and members["usr/bin/sfumato"].linkname == "/opt/sfumato/sfumato"
    )
    assert members["usr/bin/sfumato-cli"].linkname == "/opt/sfumato/sfumato-cli"
    for name in ("opt/sfumato/sfumato", "opt/sfumato/sfumato-cli"):
        assert members[name].mode & 0o7777 == 0o755, name
    # PyInstaller's two executables are byte-identical: the package stores the second as a hard link
    assert members["opt/sfumato/sfumato-cli"].islnk()
    assert members["opt/sfumato/sfumato-cli"].linkname.removeprefix("./") == "opt/sfumato/sfumato"
    assert members["opt/sfumato/_internal/resources/style.qss"].mode & 0o7777 == 0o644
    assert members["opt/sfumato/_internal/libfake.so.1"].mode & 0o7777 == 0o644  # no world-writable files
    assert all(m.mode & 0o7777 == 0o755 for m in members.values() if m.isdir())
    assert not any("__pycache__" in name for name in members)
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {(0, 0, "root", "root")}
    for name in (
        "usr/share/doc/sfumato/copyright",
        "usr/share/doc/sfumato/changelog.gz",
        "usr/share/metainfo/org.sfumato.Sfumato.metainfo.xml",
        "usr/share/man/man1/sfumato.1.gz",
    ):
        assert name in members, name


def test_icons(built):
    _path, _, extracted = built
    hicolor = extracted / "usr/share/icons/hicolor"
    for size in (16, 32, 48, 64, 128, 256, 512):
        png = hicolor / f"{size}x{size}/apps/sfumato.png"
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(data[16:20], "big") == size and int.from_bytes(data[20:24], "big") == size
    assert (hicolor / "scalable/apps/sfumato.svg").read_bytes() == (
        ROOT / "resources/icons/sfumato.svg"
    ).read_bytes()


def test_desktop_entry(built):
    _, _, extracted = built
    desktop = extracted / "usr/share/applications/sfumato.desktop"
    entry = dict(line.split("=", 1) for line in desktop.read_text().splitlines() if "=" in line)
    assert entry["Exec"] == "sfumato %F"
    assert entry["Icon"] == "sfumato"
    assert entry["Categories"] == "Graphics;2DGraphics;RasterGraphics;"
    assert entry["MimeType"].split(";")[0] == "image/openraster"
    assert entry["StartupWMClass"] == "Sfumato"  # the class part of WM_CLASS Qt sets from applicationName
    if shutil.which("desktop-file-validate"):
        proc = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
        assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout


def test_app_names_the_desktop_file():
    """Wayland matches windows to sfumato.desktop by the app id Qt takes from desktopFileName."""
    source = (ROOT / "app/sfumato/ui/app.py").read_text()
    assert 'setDesktopFileName("sfumato")' in source
    assert 'setApplicationName("Sfumato")' in source


def test_depends_file_round_trips():
    deps = deb.parse_depends(deb.DEPENDS_FILE.read_text())
    assert deps["libgl1"].field == "Depends"
    again = deb.parse_depends(deb.render_depends(deps, "test"))
    assert {k: (v.field, v.version) for k, v in again.items()} == {
        k: (v.field, v.version) for k, v in deps.items()
    }


@pytest.mark.skipif(shutil.which("ldd") is None or shutil.which("dpkg") is None, reason="needs ldd and dpkg")
def test_derive_maps_a_system_library_to_its_package(tmp_path):
    """A bundle whose executable links libc: derive finds libc6 outside the bundle, with a glibc floor."""
    bundle = tmp_path / "Sfumato"
    (bundle / "_internal").mkdir(parents=True)
    shutil.copy2(os.path.realpath(shutil.which("true")), bundle / "sfumato")
    deps = deb.derive_depends(bundle, baseline=False)
    assert deps["libc6"].field == "Depends"
    assert deps["libc6"].version.startswith(">= 2.")


def test_version_mapping():
    assert deb.debian_version("1.2.3") == "1.2.3"
    assert deb.debian_version("v0.2.0rc1") == "0.2.0~rc1"
    assert deb.debian_version("0.3.0.dev4") == "0.3.0~dev4"
    with pytest.raises(ValueError):
        deb.debian_version("latest")


def test_version_floors_come_from_the_bundle_being_packaged():
    """A bundle built on Ubuntu 22.04 (glibc 2.35) must not inherit the Debian 12 file's libc6 (>= 2.36)."""
    checked_in = deb.parse_depends("Depends libc6 (>= 2.36)\nDepends libgl1\nRecommends libwayland-cursor0\n")
    derived = {
        "libc6": deb.Dep("Depends", "libc6", ">= 2.35"),
        "libwayland-cursor0": deb.Dep("Depends", "libwayland-cursor0"),
    }
    merged = deb._merge_depends(checked_in, derived)
    assert merged["libc6"].spec() == "libc6 (>= 2.35)"
    assert merged["libgl1"].field == "Depends"
    assert merged["libwayland-cursor0"].field == "Depends"  # promoted: the bundle now needs it outright


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_appimage_appdir_runs_the_bundle(tmp_path):
    """build_appimage.sh --appdir-only: AppRun execs the bundle's sfumato with its arguments."""
    bundle = make_bundle(tmp_path)
    (bundle / "sfumato").write_text('#!/bin/sh\necho "ran $0 $*"\n')
    script = ROOT / "packaging/linux/appimage/build_appimage.sh"
    subprocess.run(
        ["bash", str(script), "--appdir-only", str(bundle), str(tmp_path / "out")],
        check=True,
        env=dict(os.environ, PYTHON=sys.executable, SFUMATO_VERSION="0.1.0"),
        capture_output=True,
    )
    appdir = tmp_path / "out/Sfumato.AppDir"
    for name in (
        "AppRun",
        "sfumato.desktop",
        "sfumato.png",
        ".DirIcon",
        "usr/share/metainfo/org.sfumato.Sfumato.metainfo.xml",
        "usr/share/icons/hicolor/scalable/apps/sfumato.svg",
    ):
        assert (appdir / name).exists(), name
    out = subprocess.run(
        [str(appdir / "AppRun"), "--smoke"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"ran {appdir}/usr/lib/sfumato/sfumato --smoke"
