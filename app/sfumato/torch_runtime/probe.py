"""Import torch in a child process and report what it can do, so a broken build never takes the app down.

:func:`check_runtime` starts ``sfumato runtime probe-torch --out FILE`` (``python -m sfumato …``
in a Python install, the app executable itself when frozen) with the runtime to test activated;
the child calls :func:`probe_torch` and writes one JSON object to FILE (a file, not stdout: a
windowed executable may have no usable stdout, and libraries may print). A crash, a hang or
garbage becomes a :class:`RuntimeCheckError`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sfumato.paths import is_frozen
from sfumato.torch_runtime.errors import RuntimeCheckError

PROBE_TIMEOUT_S = 180.0
"""A cold CUDA torch import on Windows can take tens of seconds; more than this is a hang."""


@dataclass(frozen=True)
class RuntimeCheck:
    """What the child process found after ``import torch``."""

    torch_version: str
    torch_file: str
    cuda_available: bool = False
    device_name: str | None = None
    capability: str | None = None
    arch_list: tuple[str, ...] = field(default_factory=tuple)
    mps_available: bool = False
    hip_version: str | None = None
    cuda_version: str | None = None

    @property
    def device_kind(self) -> str:
        """``cuda``, ``rocm``, ``mps`` or ``cpu``: where generation will run with this torch."""
        if self.cuda_available:
            return "rocm" if self.hip_version else "cuda"
        return "mps" if self.mps_available else "cpu"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuntimeCheck:
        """Rebuild a check from the child's JSON line."""
        return cls(
            torch_version=str(data["torch_version"]),
            torch_file=str(data["torch_file"]),
            cuda_available=bool(data.get("cuda_available")),
            device_name=data.get("device_name"),
            capability=data.get("capability"),
            arch_list=tuple(data.get("arch_list") or ()),
            mps_available=bool(data.get("mps_available")),
            hip_version=data.get("hip_version"),
            cuda_version=data.get("cuda_version"),
        )


def probe_torch() -> dict[str, Any]:
    """Import torch here and describe it (runs in the child process)."""
    import torch

    cuda = bool(torch.cuda.is_available())
    capability = None
    if cuda:
        major, minor = torch.cuda.get_device_capability(0)
        capability = f"{major}.{minor}"
    mps = getattr(torch.backends, "mps", None)
    return {
        "torch_version": str(torch.__version__),
        "torch_file": str(torch.__file__),
        "cuda_available": cuda,
        "device_name": torch.cuda.get_device_name(0) if cuda else None,
        "capability": capability,
        "arch_list": list(torch.cuda.get_arch_list()),
        "mps_available": bool(mps is not None and mps.is_available()),
        "hip_version": torch.version.hip,
        "cuda_version": torch.version.cuda,
    }


def probe_command(out: Path) -> list[str]:
    """The command line of the probe child writing to ``out`` (the frozen executable is its own launcher)."""
    launcher = [sys.executable] if is_frozen() else [sys.executable, "-m", "sfumato"]
    return [*launcher, "runtime", "probe-torch", "--out", str(out)]


def check_runtime(site_dir: Path | None = None, timeout: float = PROBE_TIMEOUT_S) -> RuntimeCheck:
    """Import torch in a child process and report it.

    ``site_dir``: test that runtime site folder; ``None``: whatever the app would use (the current
    runtime when frozen or with ``SFUMATO_USE_RUNTIME=1``, else the environment's torch).
    """
    env = dict(os.environ)
    if site_dir is not None:
        env["SFUMATO_RUNTIME_SITE"] = str(site_dir)
    with tempfile.TemporaryDirectory(prefix="sfumato-probe-") as folder:
        out = Path(folder) / "probe.json"
        try:
            done = subprocess.run(
                probe_command(out), capture_output=True, text=True, timeout=timeout, env=env, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeCheckError(
                f"Importing torch did not finish within {timeout:g} s; the runtime seems broken.",
                details=_tail(exc.stderr),
            ) from exc
        except OSError as exc:
            raise RuntimeCheckError(f"The torch check could not start ({exc}).") from exc
        if done.returncode != 0 or not out.is_file():
            reason = _last_line(done.stderr) or f"exit status {done.returncode}"
            raise RuntimeCheckError(f"Importing torch failed: {reason}", details=_tail(done.stderr))
        try:
            return RuntimeCheck.from_dict(json.loads(out.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            raise RuntimeCheckError(f"The torch check wrote an unreadable result ({exc}).") from exc


def arch_warning(check: RuntimeCheck, capability: str | None, gpu_name: str = "the GPU") -> str | None:
    """A warning when the build has no kernels for a CUDA GPU of ``capability`` (``"6.1"``).

    Kernels built for ``sm_XY`` run on capability X.y with y ≥ Y; PTX (``compute_XY``) is compiled
    by the driver for any capability ≥ X.Y. ROCm builds and empty arch lists are not judged.
    """
    if not capability or check.hip_version or not check.arch_list:
        return None
    try:
        major, minor = (int(p) for p in capability.split(".", 1))
    except ValueError:
        return None
    for arch in check.arch_list:
        kind, _, digits = arch.partition("_")
        if not digits.isdigit():
            continue
        a_major, a_minor = int(digits[:-1]), int(digits[-1])
        if kind == "sm" and a_major == major and a_minor <= minor:
            return None
        if kind == "compute" and (a_major, a_minor) <= (major, minor):
            return None
    return (
        f"torch {check.torch_version} has no kernels for {gpu_name} (sm_{major}{minor}); it is built "
        f"for {' '.join(check.arch_list)}. GPU generation will fail: install another CUDA variant."
    )


def _tail(text: str | bytes | None, lines: int = 30) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "\n".join((text or "").splitlines()[-lines:])


def _last_line(text: str | None) -> str:
    rows = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return rows[-1] if rows else ""
