"""The ``sfumato`` launcher: headless commands go to :mod:`sfumato.cli`, anything else opens the window."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the CLI for ``generate``/``models``, otherwise start the GUI."""
    args = list(sys.argv[1:] if argv is None else argv)
    from sfumato.cli import HEADLESS_COMMANDS

    if args and (args[0] in HEADLESS_COMMANDS or args[0] in ("-h", "--help", "--verbose")):
        from sfumato.cli import main as cli_main

        return cli_main(args)
    from sfumato.ui.app import run_app

    return run_app(args)


if __name__ == "__main__":
    sys.exit(main())
