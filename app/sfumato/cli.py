"""Headless command line: ``sfumato generate …``, ``sfumato models …`` and ``sfumato runtime …``.

Each sub-command lives in :mod:`sfumato.commands` and exposes ``add_parser(subparsers)`` and
``run(args) -> int``. Bad input exits 2 with one ``error: …`` line on stderr; the traceback goes
to the log (or to stderr with ``--verbose``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from sfumato.errors import UserFacingError
from sfumato.logs import setup_logging

log = logging.getLogger(__name__)

HEADLESS_COMMANDS = ("generate", "models", "runtime")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse prints usage + exits 2; keep it one line
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``sfumato`` argument parser with every headless sub-command."""
    from sfumato.commands import generate, models, runtime

    parser = _Parser(prog="sfumato", description="Sfumato headless commands")
    parser.add_argument("--verbose", action="store_true", help="tracebacks and debug log on stderr")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    generate.add_parser(sub)
    models.add_parser(sub)
    runtime.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one headless command and return its exit status."""
    args = build_parser().parse_args(argv)
    setup_logging(verbose=args.verbose)
    try:
        return int(args.run(args))
    except UserFacingError as exc:
        log.exception("command failed")
        if args.verbose:
            import traceback

            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
