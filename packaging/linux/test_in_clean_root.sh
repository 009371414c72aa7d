#!/bin/bash
# Install a Sfumato .deb on a fresh Debian 12 (debootstrap minbase) and launch it.
#
#   sudo packaging/linux/test_in_clean_root.sh dist/sfumato_0.1.0_amd64.deb
#
# Steps: (1) debootstrap bookworm minbase once into $SFUMATO_ROOT_BASE (cached in /tmp; ~40 s),
# (2) copy it to a throw-away $SFUMATO_ROOT, so every run starts from the same clean root,
# (3) `apt-get install ./sfumato_*.deb` in it — this must pull every Depends from the mirror,
# (4) check /usr/bin/sfumato, desktop-file-validate, the OpenRaster association,
# (5) as an ordinary user: `sfumato runtime install --wheel TORCH.whl --yes`, then
#     `QT_QPA_PLATFORM=offscreen sfumato --smoke`, (6) install xvfb and run the smoke on a real X
#     server with xvfb-run. xvfb comes after the offscreen smoke on purpose: it pulls X and GL
#     libraries that would hide a missing Depends.
# Needs root (debootstrap, chroot, mount). Mounts are undone on exit (trap), also after a failure.
# Env: SFUMATO_TORCH_WHEEL (default /opt/wheels/torch-2.13.0+cpu-…whl; "none" skips the runtime
# step and the smoke, for a stand-in bundle without one), SFUMATO_MIRROR, SFUMATO_XVFB=0 to skip (6),
# SFUMATO_KEEP_ROOT=1 to leave the installed root for inspection.
set -euo pipefail

DEB=$(realpath "${1:?usage: $0 DEB_FILE}")
BASE=${SFUMATO_ROOT_BASE:-/tmp/sfumato-root-base}
ROOT=${SFUMATO_ROOT:-/tmp/sfumato-root}
MIRROR=${SFUMATO_MIRROR:-http://deb.debian.org/debian}
WHEEL=${SFUMATO_TORCH_WHEEL:-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}
XVFB=${SFUMATO_XVFB:-1}
USER_NAME=tester

log() { printf '\n== %s [%s]\n' "$*" "$(date -u +%T)"; }
now() { date +%s.%N; }
# run a command, prefixing each output line with the seconds since it started (stdout+stderr)
timed() {
    local t0=$EPOCHREALTIME line
    "$@" 2>&1 | while IFS= read -r line; do
        printf '[+%6.2fs] %s\n' "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" "$line"
    done
}
shown_at() { sed -n 's/^\[+ *\([0-9.]*\)s\] smoke: window shown.*/\1/p' "$1" | head -1; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap, chroot, mount)" >&2; exit 2; }
[ -f "$DEB" ] || { echo "no such file: $DEB" >&2; exit 2; }
case "$ROOT" in /|/tmp|/tmp/) echo "refusing ROOT=$ROOT" >&2; exit 2;; esac

umount_all() {
    # innermost first; lazy as a last resort so a stuck process cannot keep the host's mounts
    local m
    for m in $(findmnt -rn -o TARGET | grep -E "^$ROOT(/|$)" | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m"
    done
}
cleanup() {
    local rc=$?
    umount_all
    if [ "${SFUMATO_KEEP_ROOT:-0}" != 1 ] && [ -d "$ROOT" ]; then
        rm -rf --one-file-system "$ROOT"
    fi
    [ $rc = 0 ] && echo "CLEAN-ROOT TEST PASSED" || echo "CLEAN-ROOT TEST FAILED (exit $rc)"
}
trap cleanup EXIT

# 1. the cached base root
if [ ! -e "$BASE/.sfumato-base-complete" ]; then
    log "debootstrap bookworm minbase into $BASE (cached for later runs)"
    rm -rf --one-file-system "$BASE.tmp"
    t=$(now)
    debootstrap --variant=minbase bookworm "$BASE.tmp" "$MIRROR"
    rm -rf --one-file-system "$BASE"
    mv "$BASE.tmp" "$BASE"
    touch "$BASE/.sfumato-base-complete"
    echo "debootstrap: $(secs "$t" "$(now)") s"
fi

# 2. a fresh copy; never delete through a mount point
umount_all
if findmnt -rn -o TARGET | grep -qE "^$ROOT(/|$)"; then echo "still mounted under $ROOT" >&2; exit 1; fi
rm -rf --one-file-system "$ROOT"
cp -a "$BASE" "$ROOT"
mount -t proc proc "$ROOT/proc"
mount -t sysfs -o ro sysfs "$ROOT/sys"
mount -t tmpfs -o mode=1777 tmpfs "$ROOT/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$ROOT/dev/pts"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
echo "deb $MIRROR bookworm main" > "$ROOT/etc/apt/sources.list"
in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
as_user() {
    chroot --userspec="$USER_NAME:$USER_NAME" "$ROOT" env -i PATH=/usr/bin:/bin HOME="/home/$USER_NAME" \
        USER="$USER_NAME" LANG=C.UTF-8 XDG_RUNTIME_DIR="/tmp/xdg-$USER_NAME" "$@"
}

# 3. install
log "apt-get install ./$(basename "$DEB")"
cp "$DEB" "$ROOT/tmp/"
in_root apt-get update -q
in_root apt-get clean
size_before=$(du -smx "$ROOT" | cut -f1); pkgs_before=$(in_root dpkg-query -f '.\n' -W | wc -l)
t=$(now)
in_root apt-get install -y -q "/tmp/$(basename "$DEB")"
INSTALL_S=$(secs "$t" "$(now)")
in_root apt-get clean
GREW="$(( $(du -smx "$ROOT" | cut -f1) - size_before )) MiB, $(( $(in_root dpkg-query -f '.\n' -W | wc -l) - pkgs_before )) packages"
in_root dpkg -s sfumato | grep -E '^(Status|Version|Installed-Size):'
echo "the install added $GREW (sfumato and its Depends/Recommends)"

# 4. what the package put on the system
log "files"
test -L "$ROOT/usr/bin/sfumato"
[ "$(readlink "$ROOT/usr/bin/sfumato")" = /opt/sfumato/sfumato ]
test -x "$ROOT/opt/sfumato/sfumato"
in_root sh -c 'command -v sfumato'
ls "$ROOT/usr/share/icons/hicolor/"*/apps/sfumato.* | sed "s|^$ROOT||"
in_root apt-get install -y -q --no-install-recommends desktop-file-utils xdg-utils shared-mime-info >/dev/null
in_root desktop-file-validate /usr/share/applications/sfumato.desktop && echo "desktop-file-validate: ok"
in_root update-desktop-database -q /usr/share/applications
grep -q 'image/openraster=.*sfumato.desktop' "$ROOT/usr/share/applications/mimeinfo.cache" && echo "mimeinfo.cache: image/openraster -> sfumato.desktop"
grep -q '^[0-9]*:image/openraster:\*\.ora$' "$ROOT/usr/share/mime/globs2" && echo "shared-mime-info: *.ora is image/openraster"

# 5. run it as a user: the torch runtime goes into the user's data folder, /opt stays read-only
in_root useradd -m -s /bin/bash "$USER_NAME"
uid=$(in_root id -u "$USER_NAME"); gid=$(in_root id -g "$USER_NAME")
install -d -m 700 -o "$uid" -g "$gid" "$ROOT/tmp/xdg-$USER_NAME"
printf 'xdg-mime query default image/openraster: '; as_user xdg-mime query default image/openraster
touch "$ROOT/tmp/installed.stamp"
if [ "$WHEEL" != none ]; then
    log "sfumato runtime install --wheel $(basename "$WHEEL") --yes"
    cp "$WHEEL" "$ROOT/tmp/"
    t=$(now)
    as_user sfumato runtime install --wheel "/tmp/$(basename "$WHEEL")" --yes
    RUNTIME_S=$(secs "$t" "$(now)")
fi
log "QT_QPA_PLATFORM=offscreen sfumato --smoke"
t=$(now)
timed as_user env QT_QPA_PLATFORM=offscreen sfumato --smoke | tee "$ROOT/tmp/smoke-offscreen.log"
SMOKE_S=$(secs "$t" "$(now)")
SHOWN_S=$(shown_at "$ROOT/tmp/smoke-offscreen.log")
if [ -n "$(find "$ROOT/opt/sfumato" -newer "$ROOT/tmp/installed.stamp" -print -quit)" ]; then
    echo "the app wrote into /opt/sfumato:" >&2; find "$ROOT/opt/sfumato" -newer "$ROOT/tmp/installed.stamp" >&2; exit 1
fi
echo "nothing written under /opt/sfumato; the user's files: $(as_user sh -c 'cd && find . -type f | wc -l') under /home/$USER_NAME"

# 6. on a real X server
if [ "$XVFB" = 1 ]; then
    log "xvfb-run sfumato --smoke"
    in_root apt-get install -y -q --no-install-recommends xvfb xauth >/dev/null
    t=$(now)
    timed as_user xvfb-run -a -s "-screen 0 1280x800x24" sfumato --smoke | tee "$ROOT/tmp/smoke-xvfb.log"
    XVFB_S=$(secs "$t" "$(now)")
    XVFB_SHOWN_S=$(shown_at "$ROOT/tmp/smoke-xvfb.log")
fi

log "figures"
echo "deb size:            $(stat -c %s "$DEB" | awk '{printf "%.1f MB", $1/1e6}')"
echo "installed size:      $(in_root dpkg-query -f '${Installed-Size}' -W sfumato | awk '{printf "%.0f MiB", $1/1024}') (sfumato alone); with its dependencies +$GREW on minbase"
echo "apt-get install:     ${INSTALL_S} s (with downloads of the Depends)"
[ -n "${RUNTIME_S:-}" ] && echo "runtime install:     ${RUNTIME_S} s"
echo "offscreen smoke:     ${SMOKE_S} s launch to exit; window shown at ${SHOWN_S:-?} s"
[ -n "${XVFB_S:-}" ] && echo "xvfb smoke:          ${XVFB_S} s launch to exit (incl. Xvfb start); window shown at ${XVFB_SHOWN_S:-?} s"
exit 0
