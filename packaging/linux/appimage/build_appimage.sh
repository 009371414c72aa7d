#!/bin/bash
# Wrap the PyInstaller one-folder bundle as an AppImage:
#
#   APPIMAGETOOL=/path/to/appimagetool packaging/linux/appimage/build_appimage.sh [BUNDLE [OUT]]
#   packaging/linux/appimage/build_appimage.sh --appdir-only [BUNDLE [OUT]]    # AppDir, no appimagetool
#
# BUNDLE defaults to dist/Sfumato, OUT to dist. Writes OUT/Sfumato.AppDir and, with appimagetool,
# OUT/Sfumato-<version>-x86_64.AppImage. The version comes from $SFUMATO_VERSION or pyproject.toml.
#
# NOT BUILT HERE: the .AppImage file itself has never been produced on the development machine.
# appimagetool is not in Debian and it needs the AppImage type-2 runtime, which has to be downloaded;
# the machine this was written on has no such download. The AppDir this script makes WAS built and
# checked there (AppRun --smoke from the AppDir, desktop-file-validate); the CI workflow
# (.github/workflows/package.yml, Linux job) downloads a pinned, sha256-checked appimagetool and runs
# this script with APPIMAGETOOL set. To keep appimagetool from fetching the runtime itself at build
# time, point APPIMAGE_RUNTIME_FILE at a downloaded, checked runtime-x86_64 (passed as --runtime-file).
#
# AppDir layout:
#   AppRun                         exec "$APPDIR/usr/lib/sfumato/sfumato" "$@"
#   sfumato.desktop, sfumato.png, .DirIcon      (what appimagetool and desktop integrators read)
#   usr/lib/sfumato/               the bundle
#   usr/bin/sfumato                -> ../lib/sfumato/sfumato
#   usr/share/applications/sfumato.desktop, usr/share/icons/hicolor/…, usr/share/metainfo/org.sfumato.Sfumato.metainfo.xml
# Like the .deb, the image carries no torch (the app installs it per user) and relies on the host for
# libGL/libEGL, libxcb and fontconfig's configuration, as every AppImage does (see depends.txt).
set -euo pipefail

APPDIR_ONLY=0
if [ "${1:-}" = --appdir-only ]; then APPDIR_ONLY=1; shift; fi
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
BUNDLE=$(realpath "${1:-$REPO/dist/Sfumato}")
OUT=$(realpath -m "${2:-$REPO/dist}")
ARCH=${ARCH:-$(uname -m)}
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi

[ -x "$BUNDLE/sfumato" ] || { echo "build_appimage.sh: $BUNDLE/sfumato is not an executable bundle" >&2; exit 2; }
VERSION=${SFUMATO_VERSION:-$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO/pyproject.toml" | head -1)}

APPDIR="$OUT/Sfumato.AppDir"
rm -rf "$APPDIR"
mkdir -p "$APPDIR/usr/lib" "$APPDIR/usr/bin"
cp -a "$BUNDLE" "$APPDIR/usr/lib/sfumato"
# bytecode a smoke run left in the bundle: the build machine's, not the image's to ship
find "$APPDIR/usr/lib/sfumato" -name __pycache__ -type d -prune -exec rm -rf {} +
ln -s ../lib/sfumato/sfumato "$APPDIR/usr/bin/sfumato"
[ -x "$BUNDLE/sfumato-cli" ] && ln -s ../lib/sfumato/sfumato-cli "$APPDIR/usr/bin/sfumato-cli"

cat > "$APPDIR/AppRun" <<'EOF'
#!/bin/sh
# AppImage entry point: the runtime mounts the image and starts this with $APPDIR set.
APPDIR=${APPDIR:-$(dirname "$(readlink -f "$0")")}
exec "$APPDIR/usr/lib/sfumato/sfumato" "$@"
EOF
chmod 755 "$APPDIR/AppRun"

# the desktop entry, icons and AppStream file: the same text the .deb ships (packaging/linux/deb.py)
"$PYTHON" - "$APPDIR" "$VERSION" "$REPO" <<'EOF'
import importlib.util, shutil, sys, tempfile
from pathlib import Path
appdir, version, repo = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
spec = importlib.util.spec_from_file_location("sfumato_deb", repo / "packaging/linux/deb.py")
deb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(deb)
share = appdir / "usr/share"
(share / "applications").mkdir(parents=True)
desktop = deb.desktop_entry() + f"X-AppImage-Version={version}\n"
(share / "applications/sfumato.desktop").write_text(desktop)
(appdir / "sfumato.desktop").write_text(desktop)
with tempfile.TemporaryDirectory() as tmp:
    for size, png in deb.render_icons(deb.ICON_SVG, Path(tmp)).items():
        d = share / f"icons/hicolor/{size}x{size}/apps"
        d.mkdir(parents=True)
        shutil.copyfile(png, d / "sfumato.png")
(share / "icons/hicolor/scalable/apps").mkdir(parents=True)
shutil.copyfile(deb.ICON_SVG, share / "icons/hicolor/scalable/apps/sfumato.svg")
shutil.copyfile(share / "icons/hicolor/256x256/apps/sfumato.png", appdir / "sfumato.png")
(share / "metainfo").mkdir(parents=True)
# named after the AppStream component id, as appstreamcli validate-tree wants
(share / f"metainfo/{deb.APPSTREAM_ID}.metainfo.xml").write_text(deb.metainfo_xml(deb.debian_version(version)))
EOF
ln -s sfumato.png "$APPDIR/.DirIcon"
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$APPDIR/sfumato.desktop"; fi
echo "AppDir: $APPDIR ($(du -sm "$APPDIR" | cut -f1) MiB)"

if [ "$APPDIR_ONLY" = 1 ]; then exit 0; fi
TOOL=${APPIMAGETOOL:-$(command -v appimagetool || true)}
if [ -z "$TOOL" ]; then
    echo "build_appimage.sh: no appimagetool (set APPIMAGETOOL, or pass --appdir-only for the AppDir alone)" >&2
    exit 3
fi
TARGET="$OUT/Sfumato-$VERSION-$ARCH.AppImage"
RUNTIME_ARGS=()
[ -n "${APPIMAGE_RUNTIME_FILE:-}" ] && RUNTIME_ARGS=(--runtime-file "$APPIMAGE_RUNTIME_FILE")
# the workflow sets APPIMAGE_EXTRACT_AND_RUN=1 because hosted runners have no FUSE
ARCH="$ARCH" "$TOOL" "${RUNTIME_ARGS[@]}" "$APPDIR" "$TARGET"
chmod 755 "$TARGET"
echo "AppImage: $TARGET ($(du -m "$TARGET" | cut -f1) MiB)"
