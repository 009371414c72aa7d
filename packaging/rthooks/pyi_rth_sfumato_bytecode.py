# PyInstaller runtime hook (packaging/sfumato.spec): let Python cache bytecode again, outside the bundle.
#
# The bootloader turns bytecode writing off, which is right for the bundle itself (its modules come
# from the PYZ archive), but torch is imported from source files in the per-user runtime folder
# (sfumato.torch_runtime): without a __pycache__ there, every start recompiles torch (~7 s here).
# Files inside the bundle are never cached: transformers executes its own __init__.py from the file
# system (direct_transformers_import), and the bundle must stay as installed (read-only /opt, an
# uninstaller that removes only what it put there).
import importlib.machinery
import os
import sys

_bundle = os.path.normcase(os.path.abspath(getattr(sys, "_MEIPASS", "") or "")) + os.sep
_loader = importlib.machinery.SourceFileLoader
_cache_bytecode = getattr(_loader, "_cache_bytecode", None)

if _cache_bytecode is not None and _bundle != os.sep:

    def _cache_outside_bundle(self, source_path, bytecode_path, data):
        if os.path.normcase(os.path.abspath(source_path)).startswith(_bundle):
            return None
        return _cache_bytecode(self, source_path, bytecode_path, data)

    _loader._cache_bytecode = _cache_outside_bundle
    sys.dont_write_bytecode = False
