"""``sfumato runtime status | install | check | remove NAME``: the torch runtime of the packaged app.

``probe-torch [--out FILE]`` (hidden) is the child side of
:func:`sfumato.torch_runtime.check_runtime`: it imports torch and writes one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sfumato.commands.cancellable import run_cancellable
from sfumato.errors import UserFacingError
from sfumato.model_store import HardwareProfile, describe_hardware, probe_hardware
from sfumato.torch_runtime import (
    BackendAdvice,
    active_runtime,
    backend_advice,
    check_runtime,
    choose_variant,
    install_runtime,
    remove_runtime,
)
from sfumato.torch_runtime.layout import current_name, installs, runtime_root
from sfumato.torch_runtime.probe import RuntimeCheck, probe_torch
from sfumato.torch_runtime.progress import RuntimeProgress
from sfumato.torch_runtime.variants import TORCH_VERSION, variant


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``runtime`` and its actions."""
    parser = subparsers.add_parser("runtime", help="the torch build the app uses (packaged app)")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("status", help="active runtime, GPU, the variant for it, and what to do")
    install = actions.add_parser("install", help="install the torch build for this GPU")
    install.add_argument("--variant", help="variant key (cpu, cu128, …; default: chosen for this GPU)")
    install.add_argument(
        "--wheel",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="install this wheel file (repeat for its pinned dependencies); nothing is downloaded",
    )
    install.add_argument("--index", metavar="URL", help="package index to download from")
    install.add_argument("--yes", action="store_true", help="do not ask before downloading")
    actions.add_parser("check", help="import torch in a child process and report the device")
    remove = actions.add_parser("remove", help="delete an installed runtime")
    remove.add_argument("name")
    probe = actions.add_parser("probe-torch", help=argparse.SUPPRESS)
    probe.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run one ``runtime`` action."""
    return {
        "status": _status,
        "install": _install,
        "check": _check,
        "remove": _remove,
        "probe-torch": _probe_torch,
    }[args.action](args)


class _ProgressPrinter:
    """Progress on stderr: one rewritten line on a terminal, else a line per phase change or second."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._last = (0.0, "")

    def __call__(self, p: RuntimeProgress) -> None:
        now = time.monotonic()
        if not self._tty and p.phase == self._last[1] and now - self._last[0] < 1.0:
            return
        self._last = (now, p.phase)
        amount = (
            f" {p.done_bytes / 1024**2:,.0f} / {p.total_bytes / 1024**2:,.0f} MiB" if p.total_bytes else ""
        )
        line = f"{p.phase}: {p.message}{amount}"
        if self._tty:
            sys.stderr.write("\r" + line[:150].ljust(100) + ("\n" if p.phase == "done" else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _status(_args: argparse.Namespace) -> int:
    active = active_runtime()
    where = f" from {active.site_dir}" if active.site_dir else ""
    label = f" ({active.variant})" if active.variant else ""
    print(f"torch: {active.torch_version or 'not installed'}{label}, source {active.source}{where}")
    if active.restart_needed:
        print("  another runtime is installed: restart Sfumato to use it")
    current = current_name()
    found = installs(runtime_root())
    print("installed runtimes:" if found else f"installed runtimes: none (under {runtime_root()})")
    for folder, record in found:
        mark = " (current)" if folder.name == current else ""
        print(f"  {folder.name}: torch {record.torch_version}, {record.backend}{mark}")
    hardware = probe_hardware()
    for line in describe_hardware(hardware):
        print(line)
    choice = choose_variant(hardware)
    print(f"variant for this machine: {choice.variant.key} — {choice.reason}")
    _print_advice(backend_advice(hardware, active, None))
    return 0


def _print_advice(advice: BackendAdvice) -> None:
    print(f"advice: {advice.headline}")
    for line in (advice.detail, advice.how):
        if line:
            print(f"  {line}")


def _install(args: argparse.Namespace) -> int:
    hardware = probe_hardware()
    if not args.wheel:
        _confirm_download(args, hardware)
    printer = _ProgressPrinter()
    result = run_cancellable(
        lambda cancel: install_runtime(
            args.variant,
            wheels=args.wheel,
            index_url=args.index,
            hardware=hardware,
            on_progress=printer,
            cancel=cancel,
        )
    )
    print(f"{result.name}: torch {result.record.torch_version} installed in {result.site_dir}")
    if result.check is not None:
        _print_check(result.check)
    for warning in result.warnings:
        print(f"warning: {warning}")
    return 0


def _confirm_download(args: argparse.Namespace, hardware: HardwareProfile) -> None:
    """Say what will be downloaded; without ``--yes`` ask (or refuse when nobody can answer)."""
    if args.variant:
        chosen, reason = variant(args.variant), "asked for with --variant"
    else:
        choice = choose_variant(hardware)
        chosen, reason = choice.variant, choice.reason
    print(f"torch {TORCH_VERSION}, {chosen.label} build, from {args.index or chosen.index_url}: {reason}")
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise UserFacingError("Downloading PyTorch (up to a few GB) needs confirmation: pass --yes.")
    if input("Download and install it? [y/N] ").strip().lower() not in ("y", "yes"):
        raise UserFacingError("Nothing installed.")


def _check(_args: argparse.Namespace) -> int:
    check = check_runtime()
    _print_check(check)
    _print_advice(backend_advice(probe_hardware(), active_runtime(), check.device_kind))
    return 0


def _print_check(check: RuntimeCheck) -> None:
    device = check.device_name or ("Apple GPU" if check.mps_available else "CPU")
    print(f"torch {check.torch_version} from {check.torch_file}")
    print(
        f"device: {check.device_kind} — {device}" + (f" (sm {check.capability})" if check.capability else "")
    )
    if check.arch_list:
        print(f"built for: {' '.join(check.arch_list)}")


def _remove(args: argparse.Namespace) -> int:
    folder = remove_runtime(args.name)
    print(f"{args.name}: removed ({folder})")
    return 0


def _probe_torch(args: argparse.Namespace) -> int:
    result = json.dumps(probe_torch())
    if args.out:
        args.out.write_text(result, encoding="utf-8")
    else:
        print(result)
    return 0
