"""Build the Sfumato .deb from a PyInstaller one-folder bundle.

    build_deb(bundle, out_dir, version) -> Path          (called by packaging/build.py)
    python packaging/linux/deb.py BUNDLE_DIR OUT_DIR --version X
    python packaging/linux/deb.py --regen-depends BUNDLE_DIR [--also DIR ...]

Layout of the package:

    /opt/sfumato/                      the bundle, as PyInstaller made it (root-owned, read-only to users;
                                       torch is installed per user by `sfumato runtime install`, never here)
    /usr/bin/sfumato                   -> /opt/sfumato/sfumato  (and sfumato-cli when the bundle has it)
    /usr/share/applications/sfumato.desktop
    /usr/share/icons/hicolor/{16..512}/apps/sfumato.png, scalable/apps/sfumato.svg
    /usr/share/metainfo/org.sfumato.Sfumato.metainfo.xml (AppStream; file name = component id)
    /usr/share/doc/sfumato/{copyright,changelog.gz}, /usr/share/man/man1/sfumato.1.gz

No maintainer scripts: the desktop database, icon cache and MIME cache are refreshed by the dpkg
triggers of desktop-file-utils, hicolor-icon-theme/gtk and shared-mime-info. image/openraster is
already defined by Debian's shared-mime-info (freedesktop.org.xml, glob *.ora, zip magic), so the
package only references it from the .desktop file and ships no MIME definition of its own.

Depends comes from packaging/linux/depends.txt, which --regen-depends derives from the bundle:
`ldd` over every ELF (with the bundle's _internal on LD_LIBRARY_PATH), the libraries that resolve
outside the bundle mapped to packages with `dpkg -S`, plus a short baseline of packages that ldd
cannot see (data the bundled libraries read: fonts/fontconfig config, xkb keymaps; the GL/EGL
libraries PyInstaller deliberately leaves out; the xcb libraries Qt's xcb plugin needs). build_deb
re-derives the list each time and adds (with a warning) anything the checked-in file lacks.
"""

from __future__ import annotations

import argparse
import filecmp
import fnmatch
import gzip
import hashlib
import io
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEPENDS_FILE = HERE / "depends.txt"
ICON_SVG = REPO / "resources" / "icons" / "sfumato.svg"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)

PACKAGE = "sfumato"
INSTALL_DIR = "opt/sfumato"
# No public address exists yet: .invalid is the reserved placeholder domain. Set SFUMATO_DEB_MAINTAINER
# ("Name <mail>") for a release.
MAINTAINER = os.environ.get("SFUMATO_DEB_MAINTAINER", "Sfumato contributors <packaging@sfumato.invalid>")
APPSTREAM_ID = "org.sfumato.Sfumato"  # the macOS bundle id in packaging/sfumato.spec
SUMMARY = "paint with Stable Diffusion: layers, masks, inpainting, outpainting"
DESCRIPTION = """\
Sfumato is a desktop painting application with Stable Diffusion inside.
Paint on layers, select or mask a region and let a diffusion model fill it,
extend the canvas outwards, and keep every result as an editable layer.
Documents are saved as OpenRaster (.ora).
.
The package holds the application and its Qt runtime. PyTorch is not
included: on first start Sfumato installs the PyTorch build that fits the
computer's GPU (CUDA, ROCm or CPU) into the user's own data folder."""

MIME_TYPES = ("image/openraster", "image/png", "image/jpeg", "image/webp")
# Qt on xcb sets WM_CLASS to (argv[0] basename, QCoreApplication::applicationName()) = ("sfumato",
# "Sfumato"); the class part is what StartupWMClass is matched against. On Wayland the app id is
# QGuiApplication::desktopFileName(), which app/sfumato/ui/app.py sets to "sfumato".
WM_CLASS = "Sfumato"

# --- Depends derivation -----------------------------------------------------------------------------

# Packages ldd cannot see, each with the reason it is needed. Verified to exist in Debian 12.
BASELINE: dict[str, str] = {
    "libgl1": "libGL.so.1: PyInstaller never bundles it (it must match the system's GL driver)",
    "libegl1": "libEGL.so.1: as libGL; QtGui links it",
    "libfontconfig1": "pulls fontconfig-config and a font: the bundled libfontconfig reads /etc/fonts",
    "libfreetype6": "font rasteriser used through the bundled fontconfig/harfbuzz",
    "libxkbcommon0": "pulls xkb-data: the keymaps the bundled libxkbcommon reads at runtime",
    "libxkbcommon-x11-0": "xcb platform plugin keyboard handling",
    "libdbus-1-3": "QtDBus; portals, accessibility and the global menu talk over D-Bus",
    "libglib2.0-0": "Qt's event dispatcher and network-information plugins",
    "libx11-6": "xcb platform plugin",
    "libx11-xcb1": "xcb platform plugin",
    "libxcb1": "xcb platform plugin (PyInstaller leaves libxcb.so.1 to the system)",
    "libxcb-cursor0": "xcb platform plugin: required since Qt 6.5",
    "libxcb-icccm4": "xcb platform plugin",
    "libxcb-image0": "xcb platform plugin",
    "libxcb-keysyms1": "xcb platform plugin",
    "libxcb-randr0": "xcb platform plugin",
    "libxcb-render-util0": "xcb platform plugin",
    "libxcb-render0": "xcb platform plugin",
    "libxcb-shape0": "xcb platform plugin",
    "libxcb-shm0": "xcb platform plugin",
    "libxcb-sync1": "xcb platform plugin",
    "libxcb-util1": "xcb platform plugin",
    "libxcb-xfixes0": "xcb platform plugin",
    "libxcb-xinerama0": "xcb platform plugin (multi-screen)",
    "libxcb-xkb1": "xcb platform plugin",
    "libstdc++6": "the per-user torch runtime links the system libstdc++ (manylinux wheel)",
    "libgcc-s1": "the per-user torch runtime links the system libgcc_s (manylinux wheel)",
}

# Bundle files that are optional plugins: Qt keeps working when they fail to load (Wayland falls back
# to xcb, the GTK theme to Fusion's), so what only they need goes to Recommends/Suggests.
OPTIONAL_ELF_GLOBS: dict[str, str] = {
    "*/plugins/platformthemes/libqgtk3.so": "Suggests",
    "*/plugins/platforms/libqwayland*.so": "Recommends",
    "*/plugins/wayland-*/*": "Recommends",
    "*/libQt6WaylandClient.so*": "Recommends",
    "*/libQt6WaylandEglClientHwIntegration.so*": "Recommends",
    "*/libQt6Wl*.so*": "Recommends",
    "*/plugins/platforms/libqeglfs*.so": "Suggests",
    "*/plugins/platforms/libqvkkhrdisplay.so": "Suggests",
    "*/plugins/platforms/libqlinuxfb.so": "Suggests",
    "*/plugins/egldeviceintegrations/*": "Suggests",
    "*/libQt6EglFs*.so*": "Suggests",
    "*/plugins/generic/*": "Suggests",
    "*/plugins/networkinformation/*": "Suggests",
}

# Sonames that no installed package provides on the machine deriving the list (dpkg -S cannot map
# them); named by Debian's library package policy and checked with `apt-cache show` when derived.
KNOWN_SONAMES: dict[str, str] = {
    "libgtk-3.so.0": "libgtk-3-0",
    "libgdk-3.so.0": "libgtk-3-0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    "libwayland-client.so.0": "libwayland-client0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libvulkan.so.1": "libvulkan1",
    "libdrm.so.2": "libdrm2",
    "libgbm.so.1": "libgbm1",
    "libxcb.so.1": "libxcb1",
}

FIELD_ORDER = ("Depends", "Recommends", "Suggests")


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def find_elfs(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p))


def _ldd(path: Path, env: dict[str, str]) -> list[tuple[str, str | None]]:
    """(soname, resolved path or None when not found) for every library ldd lists."""
    proc = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env, check=False)
    libs: list[tuple[str, str | None]] = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if "=>" not in line:
            continue  # the vdso, the dynamic loader, "statically linked"
        soname, _, rest = line.partition("=>")
        rest = rest.strip()
        if rest.startswith("not found"):
            libs.append((soname.strip(), None))
        else:
            libs.append((soname.strip(), rest.split(" (")[0].strip()))
    return libs


def _glibc_needed(path: Path) -> tuple[int, ...]:
    if not shutil.which("readelf"):
        return ()  # binutils missing: no version floor for libc6
    proc = subprocess.run(["readelf", "-V", "--wide", str(path)], capture_output=True, text=True, check=False)
    versions = [
        tuple(int(x) for x in m.group(1).split("."))
        for m in re.finditer(r"Name: GLIBC_(\d+(?:\.\d+)+)", proc.stdout)
    ]
    return max(versions, default=())


def _dpkg_owner(path: str) -> str | None:
    candidates = [path, os.path.realpath(path)]
    for c in list(candidates):
        candidates.append(c[4:] if c.startswith("/usr/") else "/usr" + c)
    for c in candidates:
        proc = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True, check=False)
        for line in proc.stdout.splitlines():
            if line.startswith("diversion by"):
                continue
            pkg = line.split(":", 1)[0].split(",")[0].strip()
            if pkg:
                return pkg
    return None


def _apt_has(package: str) -> bool:
    if not shutil.which("apt-cache"):
        return True
    proc = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", package], capture_output=True, check=False
    )
    return proc.returncode == 0 and bool(proc.stdout.strip())


class Dep:
    """One line of depends.txt. A plain class, not a dataclass: build.py loads this file by path
    without registering it in sys.modules, which dataclasses need."""

    def __init__(self, field: str, package: str, version: str = "") -> None:
        self.field = field
        self.package = package
        self.version = version  # e.g. ">= 2.34"
        self.reasons: set[str] = set()

    def spec(self) -> str:
        return f"{self.package} ({self.version})" if self.version else self.package


def derive_depends(bundle: Path, also: Sequence[Path] = (), baseline: bool = True) -> dict[str, Dep]:
    """Packages the bundle (and `also`, e.g. the torch package folder) needs from the system."""
    bundle = bundle.resolve()
    if not (shutil.which("ldd") and shutil.which("dpkg")):
        print("deb.py: WARNING: no ldd/dpkg here; Depends is depends.txt as checked in", file=sys.stderr)
        return {}
    roots = [bundle, *(p.resolve() for p in also)]
    elfs = [(root, p) for root in roots for p in find_elfs(root)]
    lib_dirs = sorted({str(p.parent) for _, p in elfs if ".so" in p.name})
    internal = bundle / "_internal"
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join([str(internal), *lib_dirs])

    def scan(item: tuple[Path, Path]):
        _root, p = item
        return p, _ldd(p, env), _glibc_needed(p)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(scan, elfs))

    inside = tuple(str(r) + os.sep for r in roots)
    needed: dict[str, tuple[str | None, set[str], set[str]]] = {}  # soname -> (path, fields, needers)
    glibc: tuple[int, ...] = ()
    for p, libs, gv in results:
        glibc = max(glibc, gv)
        rel = str(p)
        fld = "Depends"
        for pattern, optional_field in OPTIONAL_ELF_GLOBS.items():
            if fnmatch.fnmatch(rel, pattern):
                fld = optional_field
                break
        for soname, resolved in libs:
            if resolved and os.path.realpath(resolved).startswith(inside):
                continue
            if resolved is None and any((Path(d) / soname).exists() for d in lib_dirs):
                continue
            path, fields, needers = needed.setdefault(soname, (resolved, set(), set()))
            if path is None and resolved:
                needed[soname] = (resolved, fields, needers)
            fields.add(fld)
            needers.add(p.name)

    deps: dict[str, Dep] = {}
    rank = {f: i for i, f in enumerate(FIELD_ORDER)}
    for soname, (path, fields, needers) in sorted(needed.items()):
        pkg = _dpkg_owner(path) if path else None
        if pkg is None:
            pkg = KNOWN_SONAMES.get(soname)
            if pkg is None or not _apt_has(pkg):
                raise SystemExit(
                    f"deb.py: cannot map {soname} (needed by {sorted(needers)[:3]}) to a package; "
                    "add it to KNOWN_SONAMES"
                )
        fld = min(fields, key=rank.__getitem__)
        dep = deps.setdefault(pkg, Dep(fld, pkg))
        if rank[fld] < rank[dep.field]:
            dep.field = fld
        who = ", ".join(sorted(needers)[:2]) + (f" +{len(needers) - 2}" if len(needers) > 2 else "")
        dep.reasons.add(f"{soname} ({who})")
    if glibc and "libc6" in deps:
        deps["libc6"].version = ">= " + ".".join(map(str, glibc))
    if baseline:
        for pkg, why in BASELINE.items():
            dep = deps.setdefault(pkg, Dep("Depends", pkg))
            dep.field = "Depends"
            dep.reasons.add(why if not dep.reasons else "also baseline")
    return deps


def render_depends(deps: dict[str, Dep], source: str) -> str:
    lines = [
        "# Runtime packages of the Sfumato .deb: FIELD  PACKAGE [(VERSION)]  # why",
        "# Derived, not guessed: regenerate after the bundle changes with",
        "#   .venv/bin/python packaging/linux/deb.py --regen-depends dist/Sfumato \\",
        "#       --also .venv/lib/python3.11/site-packages/torch",
        "# (ldd over every ELF with _internal on LD_LIBRARY_PATH, libraries outside the bundle mapped",
        "# with dpkg -S on Debian 12, plus deb.py's BASELINE). Edit BASELINE / OPTIONAL_ELF_GLOBS in deb.py,",
        "# not this file, so the next regeneration keeps the change.",
        f"# derived from: {source}",
        "",
    ]
    for fld in FIELD_ORDER:
        for dep in sorted((d for d in deps.values() if d.field == fld), key=lambda d: d.package):
            lines.append(f"{fld:<11} {dep.spec():<28} # {'; '.join(sorted(dep.reasons))}")
    return "\n".join(lines) + "\n"


def parse_depends(text: str) -> dict[str, Dep]:
    deps: dict[str, Dep] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fld, spec = line.split(None, 1)
        m = re.fullmatch(r"([a-z0-9][a-z0-9+.-]+)\s*(?:\((.+)\))?", spec.strip())
        if fld not in FIELD_ORDER or not m:
            raise ValueError(f"depends.txt: cannot read {raw!r}")
        deps[m.group(1)] = Dep(fld, m.group(1), (m.group(2) or "").strip())
    return deps


def regen_depends(bundle: Path, also: Sequence[Path] = (), out: Path = DEPENDS_FILE) -> Path:
    deps = derive_depends(bundle, also)
    names = [str(bundle)] + [str(a) for a in also]
    out.write_text(render_depends(deps, " + ".join(_short(n) for n in names)))
    return out


def _short(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return path


def _merge_depends(checked_in: dict[str, Dep], derived: dict[str, Dep]) -> dict[str, Dep]:
    merged = {k: Dep(v.field, v.package, v.version) for k, v in checked_in.items()}
    rank = {f: i for i, f in enumerate(FIELD_ORDER)}
    stale = []
    for name, dep in derived.items():
        have = merged.get(name)
        if have is None or rank[dep.field] < rank[have.field]:
            stale.append(f"{dep.field}: {dep.spec()}")
            merged[name] = Dep(dep.field, dep.package, dep.version)
        elif dep.version:
            # a version floor (libc6 >= the newest GLIBC_ symbol) belongs to the binaries being packaged,
            # e.g. a bundle built on Ubuntu 22.04 needs 2.35 where the checked-in Debian 12 one says 2.36
            have.version = dep.version
    if stale:
        print(
            "deb.py: WARNING: the bundle needs packages depends.txt lacks; added them, regenerate the file "
            "with --regen-depends:\n  " + "\n  ".join(stale),
            file=sys.stderr,
        )
    return merged


# --- package content -----------------------------------------------------------------------------------


def desktop_entry(exec_name: str = PACKAGE) -> str:
    return textwrap.dedent(f"""\
        [Desktop Entry]
        Type=Application
        Name=Sfumato
        GenericName=Painting Program
        Comment=Paint with Stable Diffusion: layers, masks, inpainting, outpainting
        Exec={exec_name} %F
        Icon={PACKAGE}
        Terminal=false
        Categories=Graphics;2DGraphics;RasterGraphics;
        MimeType={";".join(MIME_TYPES)};
        Keywords=paint;painting;drawing;stable diffusion;inpainting;outpainting;AI;image generation;
        StartupNotify=true
        StartupWMClass={WM_CLASS}
        """)


def metainfo_xml(version: str) -> str:
    mimes = "".join(f"\n    <mediatype>{m}</mediatype>" for m in MIME_TYPES)
    return textwrap.dedent("""\
        <?xml version="1.0" encoding="UTF-8"?>
        <component type="desktop-application">
          <id>{appstream_id}</id>
          <metadata_license>CC0-1.0</metadata_license>
          <project_license>Apache-2.0</project_license>
          <name>Sfumato</name>
          <summary>Paint with Stable Diffusion</summary>
          <description>
            <p>Sfumato is a desktop painting application with Stable Diffusion inside: paint on layers,
            mask a region and let a diffusion model fill it, extend the canvas outwards, and keep every
            result as an editable layer. Documents are saved as OpenRaster.</p>
          </description>
          <launchable type="desktop-id">sfumato.desktop</launchable>
          <categories>
            <category>Graphics</category>
            <category>2DGraphics</category>
            <category>RasterGraphics</category>
          </categories>
          <provides>
            <binary>sfumato</binary>{mimes}
          </provides>
          <releases>
            <release version="{version}" date="{date}"/>
          </releases>
          <content_rating type="oars-1.1"/>
        </component>
        """).format(appstream_id=APPSTREAM_ID, version=version, mimes=mimes, date=_release_date())


def _release_date() -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))))


COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Sfumato
Comment: /opt/sfumato holds a PyInstaller bundle: the Python 3.11 runtime (PSF-2.0), Qt 6 and
 PySide6 (LGPL-3.0, replaceable shared libraries under /opt/sfumato/_internal/PySide6/Qt), and the
 Python packages listed with their own licence files in /opt/sfumato/_internal/*.dist-info.
 PyTorch is not shipped; the app installs it per user.

Files: *
Copyright: 2026 Sfumato contributors
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
"""

MANPAGE = """\
.TH SFUMATO 1 "" "sfumato {version}" "User Commands"
.SH NAME
sfumato \\- paint with Stable Diffusion
.SH SYNOPSIS
.B sfumato
[\\fIFILE\\fR...]
.br
.B sfumato runtime install
[\\fB\\-\\-wheel\\fR \\fIFILE\\fR] [\\fB\\-\\-yes\\fR]
.SH DESCRIPTION
Sfumato is a painting application with Stable Diffusion inside. Without arguments it opens an
empty canvas; \\fIFILE\\fR may be an OpenRaster (.ora) document or PNG, JPEG or WebP images.
.PP
PyTorch is not part of the package: \\fBsfumato runtime install\\fR puts the build that fits the
GPU into the user's data folder (the app offers this on first start).
.SH OPTIONS
.TP
.B \\-\\-verbose
debug log on standard error
.TP
.B \\-\\-help
list every option and command
"""


def _gz(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(data)
    return buf.getvalue()


def changelog(version: str) -> str:
    date = time.strftime(
        "%a, %d %b %Y %H:%M:%S +0000", time.gmtime(int(os.environ.get("SOURCE_DATE_EPOCH", time.time())))
    )
    return (
        f"{PACKAGE} ({version}) unstable; urgency=medium\n\n"
        f"  * Release {version}; see the project's README for changes.\n\n"
        f" -- {MAINTAINER}  {date}\n"
    )


_RENDER_SCRIPT = r"""
import sys
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer
app = QGuiApplication(["render"])
renderer = QSvgRenderer(sys.argv[1])
if not renderer.isValid():
    sys.exit("invalid svg")
for item in sys.argv[3:]:
    size = int(item)
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(f"{sys.argv[2]}/{size}.png"):
        sys.exit(f"cannot write {size}.png")
"""


def render_icons(svg: Path, out: Path, sizes: Iterable[int] = ICON_SIZES) -> dict[int, Path]:
    """PNG per size from the SVG: Qt's QSvgRenderer offscreen, rsvg-convert when PySide6 is missing."""
    out.mkdir(parents=True, exist_ok=True)
    sizes = list(sizes)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-c", _RENDER_SCRIPT, str(svg), str(out), *map(str, sizes)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        if not shutil.which("rsvg-convert"):
            raise RuntimeError(
                f"cannot render {svg}: PySide6 failed ({proc.stderr.strip()[-300:]}) "
                "and rsvg-convert is not installed"
            )
        for size in sizes:
            subprocess.run(
                ["rsvg-convert", "-w", str(size), "-h", str(size), "-o", str(out / f"{size}.png"), str(svg)],
                check=True,
            )
    return {size: out / f"{size}.png" for size in sizes}


def _normalise_modes(root: Path) -> None:
    """Directories 0755, executables 0755, everything else 0644 (users must not write into /opt)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                continue
            executable = st.st_mode & 0o111 and not (name.endswith(".so") or ".so." in name)
            os.chmod(p, 0o755 if executable else 0o644)


def _link_identical_executables(main: Path) -> list[str]:
    """PyInstaller writes sfumato and sfumato-cli as two byte-identical ~55 MB files (each carries the
    whole PYZ); on Linux they are the same console program, so the package holds one inode, twice."""
    linked = []
    for other in sorted(main.parent.iterdir()):
        if other == main or not other.is_file() or other.is_symlink():
            continue
        if other.stat().st_size == main.stat().st_size and filecmp.cmp(main, other, shallow=False):
            other.unlink()
            os.link(main, other)
            linked.append(other.name)
    return linked


def _installed_size_kib(root: Path) -> int:
    """What dpkg-gencontrol computes: 1 KiB per directory and symlink, each file rounded up to KiB
    (a hard-linked file once)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath).name == "DEBIAN" and Path(dirpath).parent == root:
            dirnames[:] = []
            continue
        total += 1
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_nlink > 1 and not stat.S_ISLNK(st.st_mode):
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += 1 if stat.S_ISLNK(st.st_mode) else (st.st_size + 1023) // 1024
    return total


def _md5sums(root: Path) -> str:
    lines = []
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d != "DEBIAN"]
        for name in sorted(filenames):
            p = Path(dirpath, name)
            if p.is_symlink():
                continue
            h = hashlib.md5()
            with p.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            lines.append(f"{h.hexdigest()}  {p.relative_to(root)}")
    return "\n".join(sorted(lines, key=lambda s: s[34:])) + "\n"


def deb_architecture() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def debian_version(version: str) -> str:
    """PEP 440 → Debian: 0.2.0rc1 → 0.2.0~rc1 (sorts before 0.2.0); '+' local parts are kept."""
    v = re.sub(r"(\d)(a|b|rc|dev)(\d*)", r"\1~\2\3", version.lstrip("v"))
    v = v.replace(".dev", "~dev").replace("-", "~")
    if not re.fullmatch(r"[0-9][A-Za-z0-9.+~]*", v):
        raise ValueError(f"not a usable package version: {version!r}")
    return v


def build_deb(
    bundle: Path,
    out_dir: Path,
    version: str,
    *,
    depends_file: Path = DEPENDS_FILE,
    derive: bool = True,
    icon_svg: Path = ICON_SVG,
) -> Path:
    """Build out_dir/sfumato_<version>_<arch>.deb from a PyInstaller one-folder bundle; returns its path."""
    t0 = time.monotonic()
    bundle = Path(bundle).resolve()
    out_dir = Path(out_dir)
    main_exe = bundle / PACKAGE
    if not (main_exe.is_file() and os.access(main_exe, os.X_OK)):
        raise FileNotFoundError(f"{main_exe}: the bundle has no executable 'sfumato'")
    if not shutil.which("dpkg-deb"):
        raise RuntimeError("dpkg-deb is not installed (apt-get install dpkg)")
    version = debian_version(version)
    arch = deb_architecture()

    deps = parse_depends(depends_file.read_text()) if depends_file.exists() else {}
    if derive:
        deps = _merge_depends(deps, derive_depends(bundle))

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sfumato-deb-") as tmp:
        root = Path(tmp) / "root"
        opt = root / INSTALL_DIR
        # __pycache__: left in the bundle when build.py's smoke ran it (sources transformers imports
        # as files); the build machine's bytecode is not the package's to ship
        shutil.copytree(bundle, opt, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        _link_identical_executables(opt / PACKAGE)
        usr = root / "usr"
        (usr / "bin").mkdir(parents=True)
        for exe in (PACKAGE, f"{PACKAGE}-cli"):
            if (opt / exe).is_file():
                (usr / "bin" / exe).symlink_to(f"/{INSTALL_DIR}/{exe}")

        share = usr / "share"
        (share / "applications").mkdir(parents=True)
        (share / "applications" / f"{PACKAGE}.desktop").write_text(desktop_entry())
        icons = share / "icons" / "hicolor"
        rendered = render_icons(icon_svg, Path(tmp) / "icons")
        for size, png in rendered.items():
            d = icons / f"{size}x{size}" / "apps"
            d.mkdir(parents=True)
            shutil.copyfile(png, d / f"{PACKAGE}.png")
        (icons / "scalable" / "apps").mkdir(parents=True)
        shutil.copyfile(icon_svg, icons / "scalable" / "apps" / f"{PACKAGE}.svg")
        (share / "metainfo").mkdir(parents=True)
        (share / "metainfo" / f"{APPSTREAM_ID}.metainfo.xml").write_text(metainfo_xml(version))
        doc = share / "doc" / PACKAGE
        doc.mkdir(parents=True)
        (doc / "copyright").write_text(COPYRIGHT)
        (doc / "changelog.gz").write_bytes(_gz(changelog(version).encode()))
        (share / "man" / "man1").mkdir(parents=True)
        (share / "man" / "man1" / f"{PACKAGE}.1.gz").write_bytes(
            _gz(MANPAGE.format(version=version).encode())
        )
        if (opt / f"{PACKAGE}-cli").is_file():
            (share / "man" / "man1" / f"{PACKAGE}-cli.1.gz").symlink_to(f"{PACKAGE}.1.gz")
        overrides = share / "lintian" / "overrides"
        overrides.mkdir(parents=True)
        (overrides / PACKAGE).write_text(LINTIAN_OVERRIDES)

        _normalise_modes(root)
        debian = root / "DEBIAN"
        debian.mkdir(mode=0o755)
        fields = {
            "Package": PACKAGE,
            "Version": version,
            "Architecture": arch,
            "Maintainer": MAINTAINER,
            "Installed-Size": str(_installed_size_kib(root)),
        }
        for fld in FIELD_ORDER:
            specs = [d.spec() for d in sorted(deps.values(), key=lambda d: d.package) if d.field == fld]
            if specs:
                fields[fld] = ", ".join(specs)
        fields.update({"Section": "graphics", "Priority": "optional"})
        control = "".join(f"{k}: {v}\n" for k, v in fields.items())
        control += f"Description: {SUMMARY}\n"
        control += "".join(f" {line}\n" if line != "." else " .\n" for line in DESCRIPTION.splitlines())
        (debian / "control").write_text(control)
        (debian / "md5sums").write_text(_md5sums(root))
        for f in debian.iterdir():
            f.chmod(0o644)

        deb = out_dir / f"{PACKAGE}_{version}_{arch}.deb"
        env = dict(os.environ)
        env.setdefault("SOURCE_DATE_EPOCH", str(int(time.time())))
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zzstd", "--build", str(root), str(deb)],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
    print(
        f"deb.py: {deb} ({deb.stat().st_size / 1e6:.1f} MB, "
        f"installed {int(fields['Installed-Size']) / 1024:.0f} MiB) "
        f"in {time.monotonic() - t0:.1f} s"
    )
    return deb


# Lintian tags that follow from shipping a PyInstaller bundle in /opt; everything else is fixed.
# Not overridable and not a defect: lintian 2.116 (bookworm) calls zstd members "malformed-deb-archive",
# though bookworm's dpkg and apt install them (Ubuntu has used zstd since 21.10).
LINTIAN_OVERRIDES = """\
# A self-contained PyInstaller bundle under /opt, by design (FHS: add-on application software).
sfumato: dir-or-file-in-opt [opt/sfumato/*]
# Its private copies of Python, Qt and their libraries are not system shared libraries.
sfumato: embedded-library *[opt/sfumato/_internal/*]
sfumato: shared-library-lacks-prerequisites [opt/sfumato/_internal/*]
sfumato: library-not-linked-against-libc [opt/sfumato/_internal/*]
sfumato: unstripped-binary-or-object [opt/sfumato/*]
sfumato: hardening-no-fortify-functions [opt/sfumato/*]
sfumato: spelling-error-in-binary *[opt/sfumato/*]
# The bundled CPython was built with pyenv; its RUNPATH names the build machine's prefix, which does
# not exist on users' machines (and is root-only), so the loader skips it and uses $ORIGIN/_internal.
sfumato: custom-library-search-path RUNPATH /root/.pyenv/* [opt/sfumato/_internal/*]
# Python modules collected as source (transformers reads them) keep their "#!/usr/bin/env python" line.
sfumato: script-not-executable [opt/sfumato/_internal/*.py]
sfumato: unusual-interpreter python [opt/sfumato/_internal/*.py]
# The wheels' licence files stay beside their packages, as their licences ask.
sfumato: extra-license-file [opt/sfumato/_internal/*]
sfumato: package-contains-documentation-outside-usr-share-doc [opt/sfumato/_internal/*]
# PyInstaller's bootloader is a prebuilt non-PIE executable.
sfumato: hardening-no-pie [opt/sfumato/*]
# The bundled util-linux libraries mention sensible-pager in strings; Sfumato never runs it.
sfumato: missing-depends-on-sensible-utils sensible-pager [opt/sfumato/_internal/*]
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path, help="the PyInstaller one-folder bundle (dist/Sfumato)")
    parser.add_argument("out_dir", type=Path, nargs="?", help="where the .deb goes")
    parser.add_argument("--version", help="package version (default: pyproject.toml's)")
    parser.add_argument(
        "--regen-depends", action="store_true", help=f"rewrite {_short(str(DEPENDS_FILE))} from the bundle"
    )
    parser.add_argument(
        "--also",
        type=Path,
        action="append",
        default=[],
        help="with --regen-depends: more ELF folders the installed app loads (the torch package)",
    )
    parser.add_argument(
        "--no-derive", action="store_true", help="use depends.txt as it is, without re-deriving"
    )
    args = parser.parse_args(argv)
    if args.regen_depends:
        print(regen_depends(args.bundle, args.also).read_text(), end="")
        return 0
    if args.out_dir is None:
        parser.error("OUT_DIR is required")
    version = args.version or _pyproject_version()
    build_deb(args.bundle, args.out_dir, version, derive=not args.no_derive)
    return 0


def _pyproject_version() -> str:
    m = re.search(r'^version\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    if not m:
        raise SystemExit("no version in pyproject.toml; pass --version")
    return m.group(1)


if __name__ == "__main__":
    sys.exit(main())
