"""Build the packaged Sfumato, smoke-test it, and wrap it in this platform's installer — one command.

    .venv/bin/python packaging/build.py                     # build + smoke + installer
    .venv/bin/python packaging/build.py --skip-build        # smoke-test (and wrap) the existing dist/
    .venv/bin/python packaging/build.py --torch-wheel torch-2.13.0+cpu-….whl --no-installer

Steps:

1. PyInstaller on ``packaging/sfumato.spec`` → ``dist/Sfumato/`` (and ``dist/Sfumato.app`` on macOS),
   a one-folder bundle *without* torch. Build time, size and file count are recorded.
2. Smoke test, in throw-away ``SFUMATO_{DATA,CONFIG,CACHE,LOG}_DIR`` folders: install a torch wheel
   into the bundle's runtime folder with ``sfumato-cli runtime install --wheel … --yes`` (the same
   path a user's first run takes, offline), then run ``sfumato --smoke`` — which opens the main window,
   generates with a tiny SD 1.5 through the GUI's own path and exits 0 — once offscreen and once on a
   real display server (Xvfb via ``xvfb-run`` on Linux; the desktop session on Windows/macOS). The time
   from launch to the ``smoke: window shown`` line is measured from outside. Any failure stops the
   script with a non-zero status and the child's output.
3. The installer for this platform, if its builder is in the tree: ``packaging/linux/deb.py``
   (``build_deb``), ``packaging/windows/nsis.py`` (``build_nsis``), ``packaging/macos/dmg.py``
   (``build_dmg``).

A summary table is printed and written as JSON to ``dist/build-report.json``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import spec_support  # noqa: E402

SPEC = HERE / "sfumato.spec"
APP_NAME = "Sfumato"
IS_WIN = sys.platform == "win32"
IS_MAC = sys.platform == "darwin"
WHEEL_DIR = Path("/opt/wheels")
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
SMOKE_TIMEOUT_S = 420
INSTALL_TIMEOUT_S = 900
TAIL_LINES = 80

INSTALLERS = {
    # platform → (builder file, function name, what it wraps)
    "linux": (HERE / "linux" / "deb.py", "build_deb", "bundle"),
    "win32": (HERE / "windows" / "nsis.py", "build_nsis", "bundle"),
    "darwin": (HERE / "macos" / "dmg.py", "build_dmg", "app"),
}


class BuildFailed(RuntimeError):
    """A step failed; the message says which and shows the output that matters."""


# --------------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class Layout:
    """Where the built bundle's pieces are on this platform."""

    dist: Path

    @property
    def bundle(self) -> Path:
        """The one-folder bundle (what the .deb and the NSIS installer carry)."""
        return self.dist / APP_NAME

    @property
    def app(self) -> Path:
        """macOS: ``Sfumato.app``; elsewhere the bundle folder."""
        return self.dist / f"{APP_NAME}.app" if IS_MAC else self.bundle

    @property
    def exe_dir(self) -> Path:
        """The folder the executables are in (inside the .app on macOS, so the .app is what is tested)."""
        return self.app / "Contents" / "MacOS" if IS_MAC else self.bundle

    @property
    def gui(self) -> Path:
        """The windowed executable."""
        return self.exe_dir / ("Sfumato.exe" if IS_WIN else "Sfumato" if IS_MAC else "sfumato")

    @property
    def cli(self) -> Path:
        """The console executable: headless commands; the smoke test on Windows (no stdout in the GUI)."""
        return self.exe_dir / ("sfumato-cli.exe" if IS_WIN else "sfumato-cli")

    @property
    def smoke_exe(self) -> Path:
        """What ``--smoke`` runs on: the GUI executable, except on Windows."""
        return self.cli if IS_WIN else self.gui


def tree_size(folder: Path) -> tuple[int, int]:
    """``(bytes, files)`` of the regular files under ``folder`` (symlinks are not followed, hard links
    count once)."""
    total = count = 0
    seen: set[tuple[int, int]] = set()
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root, name)
            if path.is_symlink():
                continue
            info = path.stat()
            count += 1
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            total += info.st_size
    return total, count


def torch_in_bundle(bundle: Path) -> list[str]:
    """Paths in ``bundle`` that belong to torch (the bundle must ship without it)."""
    found = []
    for root, dirs, files in os.walk(bundle):
        for name in [*dirs, *files]:
            if name in spec_support.TORCH_PACKAGES or spec_support._TORCH_DIST_INFO.match(name):
                found.append(str(Path(root, name).relative_to(bundle)))
    return found


# ---------------------------------------------------------------------------- processes
def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.splitlines()[-lines:])


def run_logged(argv: Sequence[str], log_file: Path, *, env: dict[str, str] | None = None,
               timeout: float | None = None, what: str) -> float:
    """Run ``argv`` with its output in ``log_file``; return the seconds it took, or raise BuildFailed."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log_file.open("w", encoding="utf-8", errors="replace") as out:
        try:
            done = subprocess.run(list(argv), stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout,
                                  cwd=ROOT, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BuildFailed(f"{what}: no result after {timeout:.0f} s\n"
                              f"{tail(log_file.read_text(errors='replace'))}") from exc
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise BuildFailed(f"{what} failed (exit status {done.returncode}); the end of {log_file}:\n"
                          f"{tail(log_file.read_text(errors='replace'))}")
    return seconds


@dataclass
class SmokeResult:
    """One smoke run seen from outside."""

    label: str
    returncode: int
    seconds_total: float
    seconds_to_window: float | None
    report: dict[str, Any] | None
    output: list[str] = field(default_factory=list)


def parse_smoke(lines: Sequence[str]) -> dict[str, Any] | None:
    """The JSON of the ``smoke: {...}`` line, if the output has one."""
    for line in lines:
        if line.startswith("smoke: {"):
            return json.loads(line.removeprefix("smoke: "))
    return None


def run_smoke(label: str, argv: Sequence[str], env: dict[str, str], timeout: float = SMOKE_TIMEOUT_S
              ) -> SmokeResult:
    """Start ``argv``; time the ``smoke: window shown`` line as it arrives and wait for the exit."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                            text=True, encoding="utf-8", errors="replace", bufsize=1)
    lines: queue.Queue[tuple[float, str | None]] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put((time.perf_counter(), line.rstrip("\n")))
        lines.put((time.perf_counter(), None))

    threading.Thread(target=read, daemon=True).start()
    output: list[str] = []
    shown_at: float | None = None
    deadline = started + timeout
    while True:
        try:
            at, line = lines.get(timeout=max(0.1, deadline - time.perf_counter()))
        except queue.Empty:
            proc.kill()
            proc.wait()
            output.append(f"[build.py: killed after {timeout:.0f} s]")
            break
        if line is None:
            break
        output.append(line)
        if shown_at is None and line.strip() == "smoke: window shown":
            shown_at = at
    returncode = proc.wait()
    total = time.perf_counter() - started
    try:
        report = parse_smoke(output)
    except json.JSONDecodeError:
        report = None
    to_window = None if shown_at is None else shown_at - started
    return SmokeResult(label, returncode, total, to_window, report, output)


def check_smoke(result: SmokeResult, runtime_root: Path) -> None:
    """Raise BuildFailed unless the run passed, with torch from the runtime folder, not the bundle."""
    problems = []
    if result.returncode != 0:
        problems.append(f"exit status {result.returncode}")
    if result.seconds_to_window is None:
        problems.append("no 'smoke: window shown' line")
    report = result.report
    if report is None:
        problems.append("no 'smoke: {...}' report line")
    else:
        if not report.get("ok"):
            problems.append("the report does not say ok")
        if not report.get("frozen"):
            problems.append("the smoke ran outside the bundle (frozen is false)")
        torch_file = Path(str(report.get("torch_file", "")))
        try:
            torch_file.resolve().relative_to(runtime_root.resolve())
        except ValueError:
            problems.append(f"torch was imported from {torch_file}, "
                            f"not from the runtime folder {runtime_root}")
    if problems:
        raise BuildFailed(f"smoke ({result.label}) failed: {'; '.join(problems)}. Its output:\n"
                          + "\n".join(result.output[-TAIL_LINES:]))


# ------------------------------------------------------------------------------- torch wheel
def venv_torch_version() -> str | None:
    """The torch version installed next to this Python (the one the bundle was analysed with)."""
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def find_torch_wheel(version: str, folder: Path = WHEEL_DIR) -> Path | None:
    """A torch wheel for ``version`` in ``folder`` that fits this interpreter, if there is one."""
    if not folder.is_dir():
        return None
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    base = version.split("+")[0]
    for pattern in (f"torch-{version}-*.whl", f"torch-{version}*.whl", f"torch-{base}*.whl"):
        wheels = sorted(p for p in folder.glob(pattern) if f"-{tag}-" in p.name)
        if wheels:
            return wheels[-1]
    return None


def download_torch_wheel(version: str, dest: Path) -> Path:
    """``pip download`` the CPU torch wheel for ``version`` into ``dest``."""
    base = version.split("+")[0]
    dest.mkdir(parents=True, exist_ok=True)
    run_logged([sys.executable, "-m", "pip", "download", f"torch=={base}", "--no-deps", "--only-binary=:all:",
                "--index-url", TORCH_INDEX, "-d", str(dest)], dest / "pip-download.log",
               what=f"downloading torch {base} from {TORCH_INDEX}")
    wheel = find_torch_wheel(version, dest) or find_torch_wheel(base, dest)
    if wheel is None:
        raise BuildFailed(f"pip download left no torch wheel in {dest}")
    return wheel


def torch_wheel(requested: Path | None) -> Path:
    """The wheel the smoke test installs: ``--torch-wheel``, else /opt/wheels, else a download."""
    if requested is not None:
        if not requested.is_file():
            raise BuildFailed(f"--torch-wheel {requested}: no such file")
        return requested
    version = venv_torch_version()
    if version is None:
        raise BuildFailed("torch is not installed next to this Python, so its version is unknown: "
                          "pass --torch-wheel FILE")
    return find_torch_wheel(version) or download_torch_wheel(version, ROOT / "build" / "wheels")


# --------------------------------------------------------------------------------- steps
def build_bundle(layout: Layout, log_dir: Path) -> dict[str, Any]:
    """Run PyInstaller on the spec; return its figures."""
    print(f"build: PyInstaller {SPEC.relative_to(ROOT)} → {layout.bundle.relative_to(ROOT)} "
          f"(log: {(log_dir / 'pyinstaller.log').relative_to(ROOT)}) …", flush=True)
    seconds = run_logged([sys.executable, "-m", "PyInstaller", "--noconfirm", "--distpath", str(layout.dist),
                          "--workpath", str(ROOT / "build"), str(SPEC)], log_dir / "pyinstaller.log",
                         what="PyInstaller")
    print(f"build: done in {seconds:.0f} s", flush=True)
    return {"build_s": round(seconds, 1)}


def smoke_env(user_root: Path) -> dict[str, str]:
    """The bundle's environment: this one without Python/venv settings, with fresh user folders."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "QT_PLUGIN_PATH",
                        "QT_QPA_PLATFORM_PLUGIN_PATH", "SFUMATO_USE_RUNTIME", "SFUMATO_RUNTIME_SITE",
                        "SFUMATO_CATALOG_DIR")}
    for name in ("DATA", "CONFIG", "CACHE", "LOG"):
        env[f"SFUMATO_{name}_DIR"] = str(user_root / name.lower())
    env["HF_HUB_OFFLINE"] = "1"
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    env["TMPDIR"] = str(user_root / "tmp")
    (user_root / "tmp").mkdir(parents=True, exist_ok=True)
    return env


def display_runs(layout: Layout) -> list[tuple[str, list[str], dict[str, str]]]:
    """``(label, argv, extra env)`` of each smoke run for this platform."""
    exe = str(layout.smoke_exe)
    runs = [("offscreen", [exe, "--smoke"], {"QT_QPA_PLATFORM": "offscreen"})]
    if sys.platform.startswith("linux"):
        xvfb = shutil.which("xvfb-run")
        if xvfb is None:
            raise BuildFailed("xvfb-run is missing: apt-get install xvfb xauth (or pass --skip-smoke)")
        runs.append(("xvfb", [xvfb, "-a", "-s", "-screen 0 1280x800x24", exe, "--smoke"],
                     {"QT_QPA_PLATFORM": "xcb"}))
    else:  # the runner's own desktop session (the windows / cocoa platform plugin)
        runs.append(("desktop", [exe, "--smoke"], {"QT_QPA_PLATFORM": ""}))
    return runs


def smoke_test(layout: Layout, wheel: Path, log_dir: Path) -> dict[str, Any]:
    """Install torch into the bundle's runtime, then smoke-test the bundle offscreen and on a display."""
    figures: dict[str, Any] = {"torch_wheel": str(wheel)}
    left = torch_in_bundle(layout.app)
    if left:
        raise BuildFailed(f"the bundle still carries torch: {left[:5]}")
    with tempfile.TemporaryDirectory(prefix="sfumato-smoke-") as tmp:
        user = Path(tmp)
        env = smoke_env(user)
        print(f"smoke: installing {wheel.name} into the bundle's runtime folder …", flush=True)
        seconds = run_logged([str(layout.cli), "runtime", "install", "--wheel", str(wheel), "--yes"],
                             log_dir / "runtime-install.log", env=env, timeout=INSTALL_TIMEOUT_S,
                             what="sfumato-cli runtime install")
        runtime_root = user / "data" / "runtime"
        runtime_bytes, runtime_files = tree_size(runtime_root) if runtime_root.is_dir() else (0, 0)
        figures.update({"runtime_install_s": round(seconds, 1), "runtime_mb": round(runtime_bytes / 2**20, 1),
                        "runtime_files": runtime_files})
        print(f"smoke: runtime installed in {seconds:.0f} s ({runtime_bytes / 2**20:.0f} MB)", flush=True)
        for label, argv, extra in display_runs(layout):
            run_env = {**env, **extra}
            if not run_env.get("QT_QPA_PLATFORM"):
                run_env.pop("QT_QPA_PLATFORM", None)
            print(f"smoke: {label}: {' '.join(argv)} …", flush=True)
            result = run_smoke(label, argv, run_env)
            (log_dir / f"smoke-{label}.log").write_text("\n".join(result.output) + "\n", encoding="utf-8")
            check_smoke(result, runtime_root)
            report = result.report or {}
            figures[f"smoke_{label}"] = {
                "launch_to_window_s": round(result.seconds_to_window or 0.0, 3),
                "launch_to_exit_s": round(result.seconds_total, 3),
                "report": report,
            }
            print(f"smoke: {label}: window after {result.seconds_to_window:.2f} s, generated in "
                  f"{report.get('seconds_to_generate')} s on {report.get('backend')} "
                  f"({report.get('device')}), torch {report.get('torch')} from {report.get('torch_file')}",
                  flush=True)
    return figures


def load_builder(path: Path, function: str) -> Callable[..., Path] | None:
    """``function`` from the installer builder at ``path``, or None if that file is not in the tree yet."""
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"sfumato_packaging_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    builder = getattr(module, function, None)
    if builder is None:
        raise BuildFailed(f"{path.relative_to(ROOT)} has no {function}()")
    return builder


def build_installer(layout: Layout, version: str) -> dict[str, Any]:
    """This platform's installer from the bundle, if its builder exists."""
    key = "linux" if sys.platform.startswith("linux") else sys.platform
    if key not in INSTALLERS:
        print(f"installer: none for {sys.platform}", flush=True)
        return {"installer": None}
    path, function, carries = INSTALLERS[key]
    builder = load_builder(path, function)
    if builder is None:
        print(f"installer: skipped — {path.relative_to(ROOT)} is not there yet", flush=True)
        return {"installer": None, "installer_skipped": f"{path.relative_to(ROOT)} missing"}
    payload = layout.app if carries == "app" else layout.bundle
    print(f"installer: {path.relative_to(ROOT)}:{function}({payload.relative_to(ROOT)}) …", flush=True)
    started = time.perf_counter()
    try:
        made = Path(builder(payload, layout.dist, version))
    except Exception as exc:
        raise BuildFailed(f"{function} failed: {type(exc).__name__}: {exc}") from exc
    seconds = time.perf_counter() - started
    print(f"installer: {made} ({made.stat().st_size / 2**20:.0f} MB) in {seconds:.0f} s", flush=True)
    return {"installer": str(made), "installer_mb": round(made.stat().st_size / 2**20, 1),
            "installer_s": round(seconds, 1)}


# ------------------------------------------------------------------------------- summary
def summary_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The figures worth a line each, formatted."""
    def fmt(value: Any, unit: str = "") -> str:
        if value is None:
            return "—"
        return f"{value:.2f}{unit}" if isinstance(value, float) else f"{value}{unit}"

    rows = [("build", fmt(report.get("build_s"), " s")),
            ("bundle size", fmt(report.get("bundle_mb"), " MB")),
            ("bundle files", fmt(report.get("bundle_files"))),
            ("torch runtime (installed)", fmt(report.get("runtime_mb"), " MB")),
            ("runtime install", fmt(report.get("runtime_install_s"), " s"))]
    for key, value in report.items():
        if key.startswith("smoke_") and isinstance(value, dict):
            label = key.removeprefix("smoke_")
            inner = value.get("report", {})
            rows.append((f"launch → window ({label})", fmt(value.get("launch_to_window_s"), " s")))
            rows.append((f"  in-process, from start ({label})", fmt(inner.get("seconds_to_window"), " s")))
            rows.append((f"generation ({label})", fmt(inner.get("seconds_to_generate"), " s")))
    rows.append(("installer", fmt(report.get("installer"))))
    rows.append(("installer size", fmt(report.get("installer_mb"), " MB")))
    return rows


def print_summary(report: dict[str, Any]) -> None:
    rows = summary_rows(report)
    width = max(len(name) for name, _ in rows)
    print("\n" + "=" * (width + 30))
    verdict = "OK" if report.get("ok") else "FAILED"
    print(f"Sfumato {report.get('version')} on {report.get('platform')}: {verdict}")
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")
    print("=" * (width + 30), flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build the packaged Sfumato (PyInstaller, without torch), smoke-test it with a torch "
                    "runtime installed from a wheel, and build this platform's installer.")
    parser.add_argument("--skip-build", action="store_true", help="reuse the bundle already in dist/")
    parser.add_argument("--skip-smoke", action="store_true", help="do not start the bundle")
    parser.add_argument("--no-installer", action="store_true", help="do not build the .deb / .exe / .dmg")
    parser.add_argument("--torch-wheel", type=Path, default=None,
                        help="torch wheel the smoke test installs into the runtime (default: "
                             f"{WHEEL_DIR}/torch-<venv's torch version>*.whl, else pip download "
                             f"from {TORCH_INDEX})")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    layout = Layout(args.dist.resolve())
    version = spec_support.project_version()
    log_dir = ROOT / "build" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"version": version, "platform": f"{platform.system()} {platform.machine()}",
                              "python": platform.python_version(), "ok": False}
    started = time.perf_counter()
    try:
        if not args.skip_build:
            report.update(build_bundle(layout, log_dir))
        if not layout.bundle.is_dir():
            raise BuildFailed(f"no bundle at {layout.bundle}: run without --skip-build")
        size, files = tree_size(layout.app)
        report.update({"bundle": str(layout.app), "bundle_mb": round(size / 2**20, 1), "bundle_files": files})
        if not args.skip_smoke:
            report.update(smoke_test(layout, torch_wheel(args.torch_wheel), log_dir))
        if not args.no_installer:
            report.update(build_installer(layout, version))
        report["ok"] = True
    except BuildFailed as exc:
        report["error"] = str(exc)
        print(f"\nBUILD FAILED: {exc}", file=sys.stderr, flush=True)
    finally:
        report["total_s"] = round(time.perf_counter() - started, 1)
        layout.dist.mkdir(parents=True, exist_ok=True)
        (layout.dist / "build-report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print_summary(report)
        print(f"report: {layout.dist / 'build-report.json'}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
