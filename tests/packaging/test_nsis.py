"""The Windows installer: nsis.py's checks, and sfumato.nsi compiled by Debian's makensis against a stand-in.

The installer itself cannot run here (no Windows, no wine); CI's windows job builds it from the real bundle.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from packaging_scripts import load_script

nsis = load_script("windows/nsis.py")


def make_standin(root: Path) -> Path:
    """A folder shaped like the PyInstaller one-folder bundle built on Windows."""
    bundle = root / "Sfumato"
    (bundle / "_internal" / "resources").mkdir(parents=True)
    (bundle / "Sfumato.exe").write_bytes(b"MZ" + bytes(range(256)) * 8)
    (bundle / "sfumato-cli.exe").write_bytes(b"MZ" + bytes(range(256)) * 8)
    (bundle / "_internal" / "base_library.zip").write_bytes(bytes(range(256)) * 400)
    (bundle / "_internal" / "resources" / "style.qss").write_text("QWidget {}\n" * 50)
    (bundle / "_internal" / "price $5.txt").write_text("a name NSIS would read as a variable")
    return bundle


def make_icon(path: Path) -> Path:
    from PIL import Image

    Image.new("RGBA", (256, 256), (190, 120, 60, 255)).save(path, sizes=[(16, 16), (32, 32), (256, 256)])
    return path


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.1.0", "0.1.0.0"),
        ("1.2.3.4.5", "1.2.3.4"),
        ("0.1.0.dev3", "0.1.0.0"),
        ("2.0rc1", "2.0.0.0"),
        ("v3", "3.0.0.0"),
        ("1.0+local.7", "1.0.0.0"),
        ("nightly", "0.0.0.0"),
    ],
)
def test_vi_version_is_four_numbers(version: str, expected: str) -> None:
    assert nsis.vi_version(version) == expected


def test_payload_over_the_limit_is_refused_before_makensis_runs(tmp_path: Path) -> None:
    bundle = make_standin(tmp_path)
    size = nsis.payload_size(bundle)
    assert nsis.check_payload(bundle, limit=size + 1) == size
    with pytest.raises(nsis.PayloadTooLarge, match="cannot hold"):
        nsis.check_payload(bundle, limit=size)
    with pytest.raises(nsis.PayloadTooLarge):
        nsis.build_nsis(bundle, tmp_path / "out", "0.1.0", makensis="/nonexistent/makensis", limit=size)


def test_a_bundle_without_the_windows_executables_is_refused(tmp_path: Path) -> None:
    bundle = make_standin(tmp_path)
    (bundle / "sfumato-cli.exe").unlink()
    with pytest.raises(nsis.NsisError, match=r"sfumato-cli\.exe missing"):
        nsis.check_payload(bundle)
    assert nsis.check_payload(bundle, require_windows_exe=False) > 0
    with pytest.raises(nsis.NsisError, match="no bundle"):
        nsis.check_payload(tmp_path / "nowhere")


def test_uninstall_list_names_exactly_the_top_level_entries(tmp_path: Path) -> None:
    bundle = make_standin(tmp_path)
    (bundle / "odd $name").mkdir()
    text = nsis.write_uninstall_list(bundle, tmp_path / "list.nsh").read_text()
    lines = [line for line in text.splitlines() if not line.startswith(";")]
    assert lines == [
        'RMDir /r "$INSTDIR\\_internal"',
        'RMDir /r "$INSTDIR\\odd $$name"',
        'Delete "$INSTDIR\\sfumato-cli.exe"',
        'Delete "$INSTDIR\\Sfumato.exe"',
    ]
    assert 'RMDir /r "$INSTDIR"' not in text  # never the whole folder the user chose


def test_missing_makensis_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAKENSIS", raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(nsis.sys, "platform", "linux")
    with pytest.raises(nsis.NsisError, match="apt-get install nsis"):
        nsis.find_makensis()


def test_command_line_passes_defines_and_treats_warnings_as_errors() -> None:
    cmd = nsis.makensis_command("makensis", {"PAYLOAD": "C:\\b\\Sfumato", "VERSION": "0.1.0"})
    assert cmd[0] == "makensis"
    assert "-WX" in cmd
    assert "-DPAYLOAD=C:\\b\\Sfumato" in cmd
    assert "-DVERSION=0.1.0" in cmd
    assert cmd[-1] == str(nsis.SCRIPT)


@pytest.mark.skipif(shutil.which("makensis") is None, reason="makensis (apt-get install nsis) not installed")
def test_script_compiles_against_a_standin_payload(tmp_path: Path) -> None:
    bundle = make_standin(tmp_path)
    icon = make_icon(tmp_path / "sfumato.ico")
    out = nsis.build_nsis(bundle, tmp_path / "out", "0.1.0", icon=icon)
    assert out == (tmp_path / "out" / "Sfumato-0.1.0-windows-x64-setup.exe").resolve()
    data = out.read_bytes()
    assert data[:2] == b"MZ"
    assert b"Nullsoft" in data or b"NullsoftInst" in data
    assert len(data) > 50_000
    assert list((tmp_path / "out").iterdir()) == [out]  # the generated uninstall list is cleaned up


@pytest.mark.skipif(shutil.which("makensis") is None, reason="makensis (apt-get install nsis) not installed")
def test_compile_errors_come_back_with_makensis_output(tmp_path: Path) -> None:
    bundle = make_standin(tmp_path)
    with pytest.raises(nsis.NsisError, match="makensis failed"):
        nsis.build_nsis(bundle, tmp_path / "out", "0.1.0", compressor="nonsense")


def test_icon_is_found_where_the_spec_renders_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SFUMATO_ICON_DIR", raising=False)
    assert nsis.find_icon(tmp_path) is None
    make_icon(
        (tmp_path / "build" / "icons").mkdir(parents=True) or tmp_path / "build" / "icons" / "sfumato.ico"
    )
    assert nsis.find_icon(tmp_path) == tmp_path / "build" / "icons" / "sfumato.ico"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    make_icon(elsewhere / "sfumato.ico")
    monkeypatch.setenv("SFUMATO_ICON_DIR", str(elsewhere))
    assert nsis.find_icon(tmp_path) == elsewhere / "sfumato.ico"
