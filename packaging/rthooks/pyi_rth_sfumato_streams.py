# PyInstaller runtime hook (packaging/sfumato.spec): a windowed executable has no stdout/stderr.
#
# On Windows (and for a macOS .app started from Finder) sys.stdout and sys.stderr are None in the
# windowed Sfumato executable. Libraries write progress bars and warnings there anyway (tqdm's bars
# while diffusers loads a pipeline end in "'NoneType' object has no attribute 'write'"), so give them
# a sink; the app's own log goes to its log file (sfumato.logs).
import os
import sys

if sys.stdout is None:
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115  (lives as long as the process)
if sys.stderr is None:
    sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
