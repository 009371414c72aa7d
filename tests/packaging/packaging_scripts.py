"""Loading the scripts under ``packaging/`` in tests.

``packaging`` is also PyPA's package, so the scripts are loaded by path, never imported as
``packaging.<name>``; the folder of the script is on ``sys.path`` while it loads (``build.py`` imports
``spec_support`` beside it).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"


def load_script(relative: str) -> ModuleType:
    """The module of ``packaging/<relative>`` (e.g. ``linux/deb.py``), registered as ``sfumato_test_…``."""
    path = PACKAGING / relative
    name = "sfumato_test_" + relative.removesuffix(".py").replace("/", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module
