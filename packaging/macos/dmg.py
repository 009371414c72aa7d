"""Build the macOS disk image: ``Sfumato.app`` next to an ``/Applications`` link, signed, in a UDZO DMG.

``build_dmg(app_bundle, out_dir, version)`` is what ``packaging/build.py`` calls; this file is also a CLI::

    python packaging/macos/dmg.py dist/Sfumato.app --out dist --version 0.1.0

Needs macOS (``hdiutil``, ``codesign``, ``ditto``; ``xcrun notarytool``/``stapler`` to notarize).

Signing, chosen by environment variables so build.py needs no options:

* nothing set: an ad-hoc signature (``codesign --force --deep -s -``). The app runs on the machine
  that built it; anyone who downloads it meets Gatekeeper ("cannot be opened because the developer
  cannot be verified": right-click → Open, or ``xattr -dr com.apple.quarantine Sfumato.app``).
* ``SFUMATO_CODESIGN_IDENTITY="Developer ID Application: Name (TEAMID)"`` (the certificate in a
  keychain): a hardened-runtime signature with ``entitlements.plist`` and a secure timestamp; the DMG
  is signed too.
* and, to notarize and staple, either ``SFUMATO_NOTARY_KEYCHAIN_PROFILE`` (made with
  ``xcrun notarytool store-credentials``) or all of ``SFUMATO_NOTARY_APPLE_ID``,
  ``SFUMATO_NOTARY_TEAM_ID``, ``SFUMATO_NOTARY_PASSWORD`` (an app-specific password).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

VOLUME_NAME = "Sfumato"
APP_NAME = "Sfumato.app"
ENTITLEMENTS = Path(__file__).resolve().with_name("entitlements.plist")
ADHOC = "-"


class DmgError(RuntimeError):
    """The disk image could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class Signing:
    """Who signs: ``identity`` "-" is ad-hoc; ``notary`` is the notarytool credential arguments, or None."""

    identity: str = ADHOC
    notary: tuple[str, ...] | None = None

    @property
    def adhoc(self) -> bool:
        return self.identity == ADHOC

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Signing:
        env = os.environ if env is None else env
        identity = env.get("SFUMATO_CODESIGN_IDENTITY", "").strip() or ADHOC
        profile = env.get("SFUMATO_NOTARY_KEYCHAIN_PROFILE", "").strip()
        creds = [env.get(f"SFUMATO_NOTARY_{k}", "").strip() for k in ("APPLE_ID", "TEAM_ID", "PASSWORD")]
        notary: tuple[str, ...] | None = None
        if profile:
            notary = ("--keychain-profile", profile)
        elif all(creds):
            notary = ("--apple-id", creds[0], "--team-id", creds[1], "--password", creds[2])
        elif any(creds):
            raise DmgError(
                "notarization needs all of SFUMATO_NOTARY_APPLE_ID, SFUMATO_NOTARY_TEAM_ID and "
                "SFUMATO_NOTARY_PASSWORD (or SFUMATO_NOTARY_KEYCHAIN_PROFILE)"
            )
        if notary and identity == ADHOC:
            raise DmgError("notarization needs a Developer ID signature: set SFUMATO_CODESIGN_IDENTITY")
        return cls(identity=identity, notary=notary)


def check_app_bundle(app_bundle: Path) -> Path:
    """Raise ``DmgError`` unless ``app_bundle`` looks like a macOS .app with the Sfumato executable."""
    app_bundle = Path(app_bundle)
    if app_bundle.suffix != ".app" or not app_bundle.is_dir():
        raise DmgError(f"no .app bundle at {app_bundle}: build it first (python packaging/build.py on macOS)")
    for rel in ("Contents/Info.plist", "Contents/MacOS/Sfumato"):
        if not (app_bundle / rel).exists():
            raise DmgError(f"{app_bundle} is not a complete app bundle: {rel} missing")
    return app_bundle


def require_tools(*names: str) -> dict[str, str]:
    """Absolute paths of the given macOS tools, or a ``DmgError`` that says they exist only on macOS."""
    found = {name: shutil.which(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise DmgError(
            f"{', '.join(missing)} not found: a DMG can only be built and signed on macOS "
            "(CI builds it on the macos runners of .github/workflows/package.yml)"
        )
    return {name: str(path) for name, path in found.items()}


def stage(app_bundle: Path, staging: Path) -> Path:
    """Lay out the DMG's contents in ``staging``: a copy of the app and a link to /Applications.

    ``ditto`` keeps extended attributes and signatures where it exists (macOS); elsewhere a
    symlink-preserving copy makes the same layout (what the tests look at).
    """
    app_bundle = check_app_bundle(app_bundle)
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    target = staging / APP_NAME
    ditto = shutil.which("ditto")
    if ditto:
        subprocess.run([ditto, str(app_bundle), str(target)], check=True)
    else:
        shutil.copytree(app_bundle, target, symlinks=True)
    (staging / "Applications").symlink_to("/Applications")
    return staging


def codesign_app_command(app: Path, signing: Signing) -> list[str]:
    if signing.adhoc:
        return ["codesign", "--force", "--deep", "-s", ADHOC, str(app)]
    return [
        "codesign", "--force", "--deep", "--timestamp", "--options", "runtime",
        "--entitlements", str(ENTITLEMENTS), "-s", signing.identity, str(app),
    ]  # fmt: skip


def verify_command(app: Path) -> list[str]:
    return ["codesign", "--verify", "--deep", "--strict", "--verbose=2", str(app)]


def hdiutil_command(staging: Path, dmg: Path, volname: str = VOLUME_NAME) -> list[str]:
    return [
        "hdiutil", "create", "-volname", volname, "-srcfolder", str(staging),
        "-ov", "-format", "UDZO", "-imagekey", "zlib-level=9", str(dmg),
    ]  # fmt: skip


def codesign_dmg_command(dmg: Path, signing: Signing) -> list[str]:
    return ["codesign", "--force", "--timestamp", "-s", signing.identity, str(dmg)]


def notarize_commands(dmg: Path, signing: Signing) -> list[list[str]]:
    if not signing.notary:
        return []
    return [
        ["xcrun", "notarytool", "submit", str(dmg), *signing.notary, "--wait"],
        ["xcrun", "stapler", "staple", str(dmg)],
    ]


def dmg_name(version: str, arch: str | None = None) -> str:
    arch = arch or platform.machine() or "unknown"
    return f"Sfumato-{version}-macos-{arch}.dmg"


def _run(cmd: list[str], *, secret: tuple[str, ...] = ()) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        shown = " ".join("***" if part in secret else part for part in cmd)
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise DmgError(f"{shown} failed (exit {proc.returncode}):\n{tail}")


def build_dmg(
    app_bundle: Path,
    out_dir: Path,
    version: str,
    *,
    signing: Signing | None = None,
    arch: str | None = None,
) -> Path:
    """Sign a staged copy of ``app_bundle`` and pack it in ``out_dir``; return the .dmg's path."""
    app_bundle = check_app_bundle(Path(app_bundle).resolve())
    signing = Signing.from_env() if signing is None else signing
    tools = ["hdiutil", "codesign", "ditto"] + (["xcrun"] if signing.notary else [])
    require_tools(*tools)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    dmg = out_dir / dmg_name(version, arch)
    secret = tuple(signing.notary[1::2]) if signing.notary else ()
    with tempfile.TemporaryDirectory(prefix="sfumato-dmg-") as tmp:
        staging = stage(app_bundle, Path(tmp) / "staging")
        app = staging / APP_NAME
        _run(codesign_app_command(app, signing))
        _run(verify_command(app))
        _run(hdiutil_command(staging, dmg))
    if not signing.adhoc:
        _run(codesign_dmg_command(dmg, signing))
        for cmd in notarize_commands(dmg, signing):
            _run(cmd, secret=secret)
    return dmg


def _default_version() -> str:
    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Pack Sfumato.app into a signed DMG (macOS only).")
    parser.add_argument("app", type=Path, nargs="?", default=Path("dist/Sfumato.app"))
    parser.add_argument("--out", type=Path, default=Path("dist"))
    parser.add_argument("--version", default=None, help="default: pyproject.toml's version")
    parser.add_argument("--arch", default=None, help="for the file name (default: this machine's)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        dmg = build_dmg(args.app, args.out, args.version or _default_version(), arch=args.arch)
    except DmgError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{dmg}: {dmg.stat().st_size / 2**20:.1f} MiB in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
