"""The ``sfumato`` launcher: headless commands go to :mod:`sfumato.cli`, anything else opens the window."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the CLI when the first word is a headless command, otherwise start the GUI.

    Options may come first (``sfumato --verbose generate …`` or ``sfumato --verbose file.ora``);
    ``-h``/``--help`` with no command lists the headless commands.
    """
    from sfumato.torch_runtime import activate

    activate()  # before anything imports torch: the packaged app's torch lives in a runtime folder
    args = list(sys.argv[1:] if argv is None else argv)
    from sfumato.cli import HEADLESS_COMMANDS

    words = [a for a in args if not a.startswith("-")]
    wants_help = not words and any(a in ("-h", "--help") for a in args)
    if wants_help or (words and words[0] in HEADLESS_COMMANDS):
        from sfumato.cli import main as cli_main

        return cli_main(args)
    from sfumato.ui.app import run_app

    return run_app(args)


if __name__ == "__main__":
    sys.exit(main())
