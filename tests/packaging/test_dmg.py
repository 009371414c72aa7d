"""The macOS DMG recipe: what can be checked without macOS (layout, command lines, signing choice, errors).

hdiutil, codesign, ditto and notarytool exist only on macOS; CI's macos jobs build the real DMG.
"""

from __future__ import annotations

import plistlib
from pathlib import Path

import pytest
from packaging_scripts import load_script

dmg = load_script("macos/dmg.py")


def make_app(root: Path) -> Path:
    """A folder shaped like PyInstaller's BUNDLE output, with a relative symlink as PyInstaller makes."""
    app = root / "Sfumato.app"
    (app / "Contents" / "MacOS").mkdir(parents=True)
    (app / "Contents" / "Frameworks").mkdir()
    (app / "Contents" / "Resources").mkdir()
    (app / "Contents" / "Info.plist").write_bytes(plistlib.dumps({"CFBundleExecutable": "Sfumato"}))
    exe = app / "Contents" / "MacOS" / "Sfumato"
    exe.write_bytes(b"\xcf\xfa\xed\xfe")
    exe.chmod(0o755)
    (app / "Contents" / "Resources" / "style.qss").write_text("QWidget {}\n")
    (app / "Contents" / "Frameworks" / "resources").symlink_to("../Resources")
    return app


def test_staging_holds_the_app_and_an_applications_link(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    staging = dmg.stage(app, tmp_path / "staging")
    assert sorted(p.name for p in staging.iterdir()) == ["Applications", "Sfumato.app"]
    link = staging / "Applications"
    assert link.is_symlink() and str(link.readlink()) == "/Applications"
    copied = staging / "Sfumato.app"
    assert (copied / "Contents" / "MacOS" / "Sfumato").read_bytes() == b"\xcf\xfa\xed\xfe"
    assert (copied / "Contents" / "MacOS" / "Sfumato").stat().st_mode & 0o111
    inner = copied / "Contents" / "Frameworks" / "resources"
    assert inner.is_symlink() and str(inner.readlink()) == "../Resources"  # kept as a link, not copied
    # staging again starts clean
    (staging / "leftover").write_text("x")
    assert not (dmg.stage(app, staging) / "leftover").exists()


def test_incomplete_or_missing_app_is_refused(tmp_path: Path) -> None:
    with pytest.raises(dmg.DmgError, match=r"no \.app bundle"):
        dmg.check_app_bundle(tmp_path / "Sfumato.app")
    app = make_app(tmp_path)
    (app / "Contents" / "MacOS" / "Sfumato").unlink()
    with pytest.raises(dmg.DmgError, match="Contents/MacOS/Sfumato missing"):
        dmg.check_app_bundle(app)


def test_without_hdiutil_the_error_says_macos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    app = make_app(tmp_path)
    with pytest.raises(dmg.DmgError, match=r"hdiutil.*only be built and signed on macOS"):
        dmg.build_dmg(app, tmp_path / "out", "0.1.0", signing=dmg.Signing())
    assert not (tmp_path / "out").exists()


def test_adhoc_command_lines(tmp_path: Path) -> None:
    app = tmp_path / "staging" / "Sfumato.app"
    adhoc = dmg.Signing()
    assert dmg.codesign_app_command(app, adhoc) == ["codesign", "--force", "--deep", "-s", "-", str(app)]
    out = tmp_path / "Sfumato-0.1.0-macos-arm64.dmg"
    assert dmg.hdiutil_command(tmp_path / "staging", out) == [
        "hdiutil", "create", "-volname", "Sfumato", "-srcfolder", str(tmp_path / "staging"),
        "-ov", "-format", "UDZO", "-imagekey", "zlib-level=9", str(out),
    ]  # fmt: skip
    assert dmg.notarize_commands(out, adhoc) == []
    assert dmg.dmg_name("0.1.0", "arm64") == "Sfumato-0.1.0-macos-arm64.dmg"


def test_developer_id_signs_with_hardened_runtime_and_notarizes(tmp_path: Path) -> None:
    signing = dmg.Signing.from_env(
        {
            "SFUMATO_CODESIGN_IDENTITY": "Developer ID Application: Example (ABCDE12345)",
            "SFUMATO_NOTARY_APPLE_ID": "dev@example.org",
            "SFUMATO_NOTARY_TEAM_ID": "ABCDE12345",
            "SFUMATO_NOTARY_PASSWORD": "abcd-efgh-ijkl-mnop",
        }
    )
    app = tmp_path / "Sfumato.app"
    cmd = dmg.codesign_app_command(app, signing)
    assert cmd[:2] == ["codesign", "--force"]
    assert cmd[cmd.index("--options") : cmd.index("--options") + 2] == ["--options", "runtime"]
    assert "--timestamp" in cmd
    assert cmd[cmd.index("--entitlements") + 1] == str(dmg.ENTITLEMENTS)
    assert cmd[cmd.index("-s") + 1] == "Developer ID Application: Example (ABCDE12345)"
    out = tmp_path / "x.dmg"
    submit, staple = dmg.notarize_commands(out, signing)
    assert submit[:4] == ["xcrun", "notarytool", "submit", str(out)]
    assert submit[-1] == "--wait" and "--team-id" in submit
    assert staple == ["xcrun", "stapler", "staple", str(out)]


def test_entitlements_allow_loading_the_runtime_installed_later() -> None:
    entitlements = plistlib.loads(dmg.ENTITLEMENTS.read_bytes())
    assert entitlements["com.apple.security.cs.disable-library-validation"] is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SFUMATO_NOTARY_APPLE_ID": "a@b.c"}, "needs all of"),
        ({"SFUMATO_NOTARY_KEYCHAIN_PROFILE": "sfumato"}, "needs a Developer ID"),
    ],
)
def test_half_configured_signing_is_an_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(dmg.DmgError, match=message):
        dmg.Signing.from_env(env)


def test_nothing_configured_means_adhoc() -> None:
    signing = dmg.Signing.from_env({})
    assert signing.adhoc and signing.notary is None
