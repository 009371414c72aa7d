"""``sfumato models list | doctor | download ID | verify [ID] | remove ID | import PATH``.

``import`` takes a checkpoint (``.safetensors`` or a diffusers folder), a LoRA or an embedding
file, or a folder (an AUTOMATIC1111 or ComfyUI install: its checkpoints are registered in place,
its LoRAs and embeddings copied into the store); ``remove lora:NAME`` / ``embedding:NAME``
removes an installed LoRA or embedding.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from sfumato.commands.cancellable import run_cancellable
from sfumato.model_store import (
    AdapterFile,
    DownloadProgress,
    InstalledModel,
    ModelManager,
    ModelStoreError,
    describe_hardware,
    hardware_tier,
    starter_set,
)
from sfumato.model_store.checkpoint_family import PICKLE_SUFFIXES, adapter_kind, tensor_shapes

GIB = 1024**3


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``models`` and its actions."""
    parser = subparsers.add_parser("models", help="list, download, verify and import models")
    parser.add_argument("--cache-dir", type=Path, help="model cache folder (default: the user cache)")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="catalog with fit for this machine, and what is installed")
    actions.add_parser("doctor", help="hardware profile, tier, starter set and cache state")
    download = actions.add_parser("download", help="download a catalog id, hub repo (org/name) or URL")
    download.add_argument("ref", metavar="ID")
    download.add_argument("--variant", help="catalog variant (default: the one chosen for this machine)")
    download.add_argument("--file", help="one .safetensors file of a hub repo instead of a diffusers folder")
    download.add_argument("--revision", default="main", help="hub revision for repo ids")
    download.add_argument("--sha256", help="expected sha256 (required for plain URLs)")
    verify = actions.add_parser("verify", help="re-hash installed files")
    verify.add_argument("ref", metavar="ID", nargs="?")
    verify.add_argument("--repair", action="store_true", help="re-download files that fail")
    remove = actions.add_parser("remove", help="delete an installed model from the cache")
    remove.add_argument("ref", metavar="ID")
    imp = actions.add_parser(
        "import",
        help="use a local checkpoint, diffusers folder or A1111/ComfyUI folder; install LoRAs and embeddings",
    )
    imp.add_argument("path", type=Path)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run one ``models`` action."""
    manager = ModelManager(args.cache_dir)
    return {
        "list": _list,
        "doctor": _doctor,
        "download": _download,
        "verify": _verify,
        "remove": _remove,
        "import": _import,
    }[args.action](manager, args)


def _mib(n: float) -> str:
    return f"{n / 1024**2:,.1f} MiB" if n < GIB else f"{n / GIB:,.2f} GiB"


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class _ProgressPrinter:
    """Writes progress to stderr: one rewritten line on a terminal, a line a second otherwise."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, p: DownloadProgress) -> None:
        now = time.monotonic()
        if not (self._tty or p.finished or now - self._last >= 1.0):
            return
        self._last = now
        total = _mib(p.bytes_total) if p.bytes_total else "?"
        line = (
            f"{p.model}: {_mib(p.bytes_done)} / {total}  {_mib(p.rate)}/s  ETA {_eta(p.eta)}  "
            f"files {p.files_done}/{p.files_total}"
        )
        if self._tty:
            sys.stderr.write("\r" + line[:150].ljust(100) + ("\n" if p.finished else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _list(manager: ModelManager, _args: argparse.Namespace) -> int:
    installed = manager.installed()
    by_id = {m.model_id: m for m in installed if m.model_id}
    print(f"catalog (tier {hardware_tier(manager.profile)}):")
    for model in manager.catalog.models:
        plan = manager.plan(model.id)
        fit = {True: "fits", False: "will not fit", None: "fit unknown"}[plan.fits]
        mark = "installed" if model.id in by_id else ""
        gated = " gated" if model.gated else ""
        print(f"  {model.id:18} {model.name:40} {fit:12} {plan.summary()}{gated} {mark}")
        if plan.fits is False:
            print(f"  {'':18} {plan.reason}")
    decoders = manager.catalog.preview_decoders
    if decoders:
        print("preview decoders (sharper live previews, optional):")
    installed_decoders = {m.model_id for m in manager.preview_decoders()}
    for decoder in decoders:
        mark = "installed" if decoder.id in installed_decoders else ""
        print(f"  {decoder.id:18} {decoder.name:40} {', '.join(decoder.families)} {mark}")
    adapters = manager.adapters.installed()
    print("installed:" if installed or adapters else "installed: nothing yet (`sfumato models download ID`)")
    for install in installed:
        print(
            f"  {install.key:30} {install.kind:9} {install.family or '?':16} {_mib(install.size):>12}  "
            f"{install.path}"
        )
    for adapter in adapters:  # LoRAs and embeddings, by the names prompts use
        size = _mib(adapter.path.stat().st_size)
        print(f"  {adapter.name:30} {adapter.kind:9} {adapter.family or '?':16} {size:>12}  {adapter.path}")
    return 0


def _doctor(manager: ModelManager, _args: argparse.Namespace) -> int:
    for line in describe_hardware(manager.profile):
        print(line)
    print(f"cache: {manager.cache.root} ({_mib(manager.free_space())} free)")
    print(f"partial downloads: {_mib(manager.cache.staged_bytes())}")
    print("starter set:")
    for plan in starter_set(manager.catalog, manager.profile):
        print(f"  {plan.model_id:18} {plan.summary()}: {plan.reason}")
    return 0


def _download(manager: ModelManager, args: argparse.Namespace) -> int:
    printer = _ProgressPrinter()

    def work(cancel: threading.Event) -> InstalledModel:
        if args.ref.startswith(("https://", "http://")):
            if not args.sha256:
                raise ModelStoreError("A plain URL needs --sha256 so the file can be verified.")
            return manager.install_url(args.ref, args.sha256, on_progress=printer, cancel=cancel)
        return manager.install(
            args.ref,
            variant=args.variant,
            file=args.file,
            revision=args.revision,
            on_progress=printer,
            cancel=cancel,
        )

    model = run_cancellable(work)
    print(f"{model.key}: installed at {model.path}")
    return 0


def _verify(manager: ModelManager, args: argparse.Namespace) -> int:
    results = manager.verify(args.ref, on_progress=_ProgressPrinter())
    bad = 0
    for result in results:
        print(f"{result.key}: {'ok' if result.ok else 'FAILED'}")
        for problem in result.problems:
            print(f"  {problem}")
        if not result.ok:
            bad += 1
            if args.repair:
                _repair(manager, result.key)
                print(f"{result.key}: repaired")
                bad -= 1
    if not results:
        print("nothing installed to verify")
    return 1 if bad else 0


def _repair(manager: ModelManager, key: str) -> None:
    """Fetch again what failed verification in ``key``; Ctrl-C cancels, keeping what arrived."""

    def work(cancel: threading.Event) -> None:
        manager.repair(key, on_progress=_ProgressPrinter(), cancel=cancel)

    run_cancellable(work)


def _remove(manager: ModelManager, args: argparse.Namespace) -> int:
    removed = manager.remove(args.ref)
    print(f"{removed.name if isinstance(removed, AdapterFile) else removed.key}: removed")
    return 0


def _import(manager: ModelManager, args: argparse.Namespace) -> int:
    path = args.path.expanduser()
    if path.is_file() and _is_adapter(path):
        (result,) = manager.import_adapters(path, on_progress=_ProgressPrinter())
        if result.adapter is None:
            raise ModelStoreError(result.error)
        _print_adapter(result.adapter)
        return 0
    models = manager.import_path(path, on_progress=_ProgressPrinter())
    for model in models:
        print(f"{model.key}: {model.family} at {model.path}")
    folder = path.is_dir() and not (path / "model_index.json").is_file()
    results = manager.import_adapters(path, on_progress=_ProgressPrinter()) if folder else []
    for result in results:
        if result.adapter is not None:
            _print_adapter(result.adapter)
        else:
            print(f"{result.source}: not imported: {result.error}")
    if not models and not any(r.adapter for r in results):
        print(f"{args.path}: registered, but no checkpoint, LoRA or embedding of a known family is in it")
    return 0


def _is_adapter(path: Path) -> bool:
    """Whether ``path`` is a LoRA or an embedding (a pickle is not: the model import refuses
    it with the message every pickle gets)."""
    if path.suffix.lower() in PICKLE_SUFFIXES or path.suffix.lower() != ".safetensors":
        return False
    try:
        return adapter_kind(tensor_shapes(path)) is not None
    except ModelStoreError:
        return False  # unreadable: the model import says why


def _print_adapter(adapter: AdapterFile) -> None:
    trigger = f"<lora:{adapter.name}:1>" if adapter.kind == "lora" else f"the word {adapter.name}"
    print(f"{adapter.kind} {adapter.name}: for {adapter.label}, used by {trigger}, at {adapter.path}")
