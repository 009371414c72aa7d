# PyInstaller runtime hook (packaging/sfumato.spec): let Python cache bytecode again.
#
# The bootloader turns bytecode writing off, which is right for the bundle itself (its modules come
# from the PYZ archive), but torch is imported from source files in the per-user runtime folder
# (sfumato.torch_runtime): without a __pycache__ there, every start recompiles torch (~7 s here).
# Writing is attempted only next to .py files imported from the file system, and failures to write
# (a read-only folder) are ignored by Python.
import sys

sys.dont_write_bytecode = False
