"""The torch runtime: which torch build the app uses, and installing the one that fits the GPU.

The packaged app ships without torch. On first run it installs the torch wheel that fits the
user's GPU into ``<data_dir>/runtime/`` (see :mod:`sfumato.torch_runtime.layout`), and
:func:`activate`, called first thing by ``sfumato.__main__``, puts it on ``sys.path``. In a Python
install torch comes from the environment and nothing is fetched.

:func:`activate` must not import anything that looks for torch (transformers, diffusers and
huggingface_hub remember at import time whether torch exists), so this package loads its
installer half — and the model store it uses — only when one of those names is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sfumato.torch_runtime.activation import ActiveRuntime, activate, active_runtime

if TYPE_CHECKING:
    from sfumato.torch_runtime.advice import BackendAdvice, backend_advice, pip_command
    from sfumato.torch_runtime.choice import RuntimeChoice, choose_variant
    from sfumato.torch_runtime.install import InstallResult, remove_runtime
    from sfumato.torch_runtime.probe import RuntimeCheck, check_runtime
    from sfumato.torch_runtime.progress import RuntimeProgress
    from sfumato.torch_runtime.provision import install_runtime

_LAZY = {
    "BackendAdvice": "advice",
    "backend_advice": "advice",
    "pip_command": "advice",
    "RuntimeChoice": "choice",
    "choose_variant": "choice",
    "InstallResult": "install",
    "remove_runtime": "install",
    "RuntimeCheck": "probe",
    "check_runtime": "probe",
    "RuntimeProgress": "progress",
    "install_runtime": "provision",
}

__all__ = [
    "ActiveRuntime",
    "BackendAdvice",
    "InstallResult",
    "RuntimeCheck",
    "RuntimeChoice",
    "RuntimeProgress",
    "activate",
    "active_runtime",
    "backend_advice",
    "check_runtime",
    "choose_variant",
    "install_runtime",
    "pip_command",
    "remove_runtime",
]


def __getattr__(name: str) -> Any:
    """Import the installer half on first use of one of its names."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
