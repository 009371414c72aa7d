"""``sfumato runtime status | install | check | remove NAME``: the torch runtime of the packaged app.

``probe-torch`` (hidden) is the child side of :func:`sfumato.torch_runtime.check_runtime`: it
imports torch and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sfumato.model_store import describe_hardware, probe_hardware
from sfumato.torch_runtime import active_runtime, check_runtime, install_runtime, remove_runtime
from sfumato.torch_runtime.layout import current_name, installs, runtime_root
from sfumato.torch_runtime.probe import RuntimeCheck, probe_torch
from sfumato.torch_runtime.progress import RuntimeProgress


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
    actions.add_parser("probe-torch", help=argparse.SUPPRESS)
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


def _progress(p: RuntimeProgress) -> None:
    if p.total_bytes:
        print(
            f"{p.phase}: {p.message} ({p.done_bytes / 1024**2:,.0f} / {p.total_bytes / 1024**2:,.0f} MiB)",
            file=sys.stderr,
        )
    else:
        print(f"{p.phase}: {p.message}", file=sys.stderr)


def _status(_args: argparse.Namespace) -> int:
    active = active_runtime()
    where = f" from {active.site_dir}" if active.site_dir else ""
    variant = f" ({active.variant})" if active.variant else ""
    print(f"torch: {active.torch_version or 'not installed'}{variant}, source {active.source}{where}")
    if active.restart_needed:
        print("  another runtime is installed: restart Sfumato to use it")
    current = current_name()
    found = installs(runtime_root())
    print("installed runtimes:" if found else f"installed runtimes: none (under {runtime_root()})")
    for folder, record in found:
        mark = " (current)" if folder.name == current else ""
        print(f"  {folder.name}: torch {record.torch_version}, {record.backend}{mark}")
    for line in describe_hardware(probe_hardware()):
        print(line)
    return 0


def _install(args: argparse.Namespace) -> int:
    result = install_runtime(args.variant, wheels=args.wheel, index_url=args.index, on_progress=_progress)
    print(f"{result.name}: torch {result.record.torch_version} installed in {result.site_dir}")
    if result.check is not None:
        _print_check(result.check)
    for warning in result.warnings:
        print(f"warning: {warning}")
    return 0


def _check(_args: argparse.Namespace) -> int:
    _print_check(check_runtime())
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


def _probe_torch(_args: argparse.Namespace) -> int:
    print(json.dumps(probe_torch()))
    return 0
