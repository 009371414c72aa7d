"""The real torch 2.13.0 CPU wheel, installed through install_runtime and imported from the runtime."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sfumato.model_store import HardwareProfile
from sfumato.torch_runtime import check_runtime, install_runtime

REAL_WHEEL = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")


@pytest.mark.slow
@pytest.mark.skipif(not REAL_WHEEL.is_file(), reason=f"{REAL_WHEEL} is not on this machine")
def test_the_real_cpu_wheel_installs_and_torch_loads_from_the_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = time.monotonic()
    result = install_runtime(
        wheels=[REAL_WHEEL], hardware=HardwareProfile(cpu_cores=2, ram_total=8 * 1024**3)
    )
    installed = time.monotonic() - started
    assert result.record.variant == "cpu" and result.record.torch_version == "2.13.0+cpu"
    assert result.check is not None and Path(result.check.torch_file).is_relative_to(result.site_dir)

    monkeypatch.setenv("SFUMATO_USE_RUNTIME", "1")  # what the app will use: runtime/current
    check = check_runtime()
    assert Path(check.torch_file).is_relative_to(result.site_dir)
    assert (check.torch_version, check.device_kind) == ("2.13.0+cpu", "cpu")
    checked = time.monotonic() - started - installed
    print(f"\nreal wheel: install with its child check {installed:.1f} s, another check {checked:.1f} s")
