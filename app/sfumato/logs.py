"""Logging set-up: tracebacks go to a rotating file in the per-user log directory."""

from __future__ import annotations

import logging
import logging.handlers
import sys

from sfumato.paths import log_dir


def setup_logging(verbose: bool = False) -> None:
    """Send records to ``sfumato.log`` (when its folder can be written); with ``verbose`` also to
    stderr."""
    root = logging.getLogger()
    if getattr(root, "_sfumato_configured", False):
        return
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.raiseExceptions = False  # a full disk must not print a traceback for every record
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            log_dir() / "sfumato.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:  # the log folder cannot be written: records reach stderr only with --verbose,
        handler = logging.NullHandler()  # so a command's error stays one line and tracebacks stay out
    handler.setFormatter(fmt)
    root.addHandler(handler)
    if verbose:
        err = logging.StreamHandler(sys.stderr)
        err.setFormatter(fmt)
        root.addHandler(err)
    root._sfumato_configured = True  # type: ignore[attr-defined]  # our mark on the root logger: set up once
