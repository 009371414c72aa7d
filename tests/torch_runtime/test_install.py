"""Installing wheel files into a runtime folder: dependencies, damage, interruption, the child check."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from fake_wheels import build_wheel, fake_dep, fake_torch

from sfumato.model_store import DownloadCancelled, GpuInfo, HardwareProfile
from sfumato.torch_runtime import check_runtime, install_runtime, remove_runtime
from sfumato.torch_runtime.errors import DependencyError, RuntimeCheckError, TorchRuntimeError, WheelError
from sfumato.torch_runtime.layout import current_install, current_name, runtime_root
from sfumato.torch_runtime.probe import RuntimeCheck, arch_warning

CPU_ONLY = HardwareProfile(cpu_cores=2, ram_total=16 * 1024**3)
PASCAL = HardwareProfile(
    cpu_cores=8,
    ram_total=32 * 1024**3,
    gpus=(GpuInfo("cuda", "NVIDIA GeForce GTX 1080", 8 * 1024**3, compute_capability="6.1"),),
)
CU128_ARCHS = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]


def test_a_torch_wheel_and_its_pinned_dependency_become_the_current_runtime(
    wheel_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TORCH_CUDA", json.dumps({"capability": "8.6", "arch_list": CU128_ARCHS}))
    torch = fake_torch(wheel_dir, "2.13.0+cu128", ["nvidia-foo-cu12==12.8.1; python_version >= '3'"])
    dep = fake_dep(wheel_dir, "nvidia-foo-cu12", "12.8.1")
    result = install_runtime(wheels=[torch, dep], hardware=CPU_ONLY)

    assert current_name() == result.name == "torch-2.13.0-cu128"
    _, record = current_install()  # type: ignore[misc]
    assert record.variant == "cu128" and record.backend == "cuda" and record.torch_version == "2.13.0+cu128"
    assert {w.name for w in record.wheels} == {"torch", "nvidia-foo-cu12"}
    assert all(len(w.sha256) == 64 for w in record.wheels)
    assert (result.site_dir / "torch" / "__init__.py").is_file()
    assert (result.site_dir / "nvidia_foo_cu12" / "__init__.py").is_file()
    assert result.check is not None and Path(result.check.torch_file).is_relative_to(result.site_dir)
    assert result.check.device_kind == "cuda" and result.warnings == ()
    assert not list(runtime_root().glob(".staging-*"))


def test_a_pinned_dependency_missing_from_the_wheels_is_named(wheel_dir: Path) -> None:
    torch = fake_torch(
        wheel_dir, "2.13.0+cu128", ["nvidia-foo-cu12==12.8.1", "nvidia-bar==1.0; extra == 'x'"]
    )
    with pytest.raises(DependencyError, match=r"nvidia-foo-cu12==12\.8\.1") as err:
        install_runtime(wheels=[torch], hardware=CPU_ONLY, verify=False)
    assert "nvidia-bar" not in str(err.value)  # extras are never installed
    assert current_name() is None


def test_a_pinned_dependency_at_another_version_is_missing(wheel_dir: Path) -> None:
    torch = fake_torch(wheel_dir, "2.13.0+cu128", ["nvidia-foo-cu12==12.8.1"])
    dep = fake_dep(wheel_dir, "nvidia-foo-cu12", "12.6.0")
    with pytest.raises(DependencyError, match=r"nvidia-foo-cu12==12\.8\.1"):
        install_runtime(wheels=[torch, dep], hardware=CPU_ONLY, verify=False)


def test_unpinned_requirements_must_be_met_by_the_app(wheel_dir: Path) -> None:
    ok = fake_torch(wheel_dir / "ok", requires=["packaging>=20", "filelock"])
    install_runtime(wheels=[ok], hardware=CPU_ONLY, verify=False)
    bad = fake_torch(wheel_dir / "bad", requires=["packaging>=999", "no-such-package-xyz", "filelock"])
    with pytest.raises(DependencyError) as err:
        install_runtime(wheels=[bad], hardware=CPU_ONLY, verify=False)
    assert "packaging>=999" in str(err.value) and "no-such-package-xyz" in str(err.value)
    assert "filelock" not in str(err.value)


def test_wheels_for_another_platform_or_not_wheels_are_refused(wheel_dir: Path, tmp_path: Path) -> None:
    foreign = fake_torch(wheel_dir, tag="cp27-cp27m-win32")
    with pytest.raises(WheelError, match="another Python or platform"):
        install_runtime(wheels=[foreign], hardware=CPU_ONLY, verify=False)
    not_a_wheel = tmp_path / "torch.zip"
    not_a_wheel.write_bytes(b"PK")
    with pytest.raises(WheelError, match="not a wheel"):
        install_runtime(wheels=[not_a_wheel], hardware=CPU_ONLY, verify=False)
    dep = fake_dep(wheel_dir, "nvidia-foo", "1.0")
    with pytest.raises(WheelError, match="No torch wheel"):
        install_runtime(wheels=[dep], hardware=CPU_ONLY, verify=False)


def test_a_damaged_wheel_or_an_interrupted_install_keeps_the_previous_runtime(wheel_dir: Path) -> None:
    first = install_runtime(
        wheels=[fake_torch(wheel_dir / "a", "2.13.0+cpu")], hardware=CPU_ONLY, verify=False
    )
    stale = runtime_root() / ".staging-crashed"  # what a killed install leaves behind
    (stale / "site").mkdir(parents=True)

    torch = fake_torch(wheel_dir / "b", "2.13.0+cu128", ["nvidia-foo==1.0"])
    damaged = build_wheel(
        wheel_dir / "b",
        "nvidia-foo",
        "1.0",
        {"nvidia_foo/__init__.py": "x = 1\n"},
        corrupt="nvidia_foo/__init__.py",
    )
    with pytest.raises(WheelError, match=r"nvidia[-_]foo"):
        install_runtime(wheels=[torch, damaged], hardware=CPU_ONLY, verify=False)

    assert current_name() == first.name
    assert (first.site_dir / "torch" / "__init__.py").is_file()
    assert [p.name for p in runtime_root().iterdir() if p.name.startswith(".staging")] == []


def test_a_torch_that_crashes_on_import_is_not_switched_to(wheel_dir: Path) -> None:
    first = install_runtime(wheels=[fake_torch(wheel_dir / "a")], hardware=CPU_ONLY, verify=False)
    broken = fake_torch(
        wheel_dir / "b", "2.13.0+cu128", on_import="raise ImportError('libcudart.so.12: cannot open')"
    )
    with pytest.raises(RuntimeCheckError, match="libcudart") as err:
        install_runtime(wheels=[broken], hardware=CPU_ONLY)
    assert "previous one is kept" in str(err.value) and "Traceback" in err.value.details
    assert current_name() == first.name
    assert sorted(p.name for p in runtime_root().iterdir() if not p.name.startswith(".")) == [
        "current",
        first.name,
    ]


def test_a_hanging_import_times_out_and_the_parent_survives(wheel_dir: Path) -> None:
    install_runtime(
        wheels=[fake_torch(wheel_dir, on_import="import time; time.sleep(60)")],
        hardware=CPU_ONLY,
        verify=False,
    )
    folder, _ = current_install()  # type: ignore[misc]
    with pytest.raises(RuntimeCheckError, match="did not finish within 3 s"):
        check_runtime(folder / "site", timeout=3)


def test_a_pascal_card_gets_a_warning_from_a_build_without_its_kernels(
    wheel_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TORCH_CUDA", json.dumps({"capability": "6.1", "arch_list": CU128_ARCHS}))
    result = install_runtime(wheels=[fake_torch(wheel_dir, "2.13.0+cu128")], hardware=PASCAL)
    (warning,) = result.warnings
    assert "sm_61" in warning and "GTX 1080" in warning
    assert current_name() == result.name  # installed anyway: it still runs on the CPU


@pytest.mark.parametrize(
    ("capability", "archs", "fits"),
    [
        ("8.6", ["sm_75", "sm_80", "sm_86"], True),
        ("8.9", ["sm_80", "sm_86", "sm_90"], True),  # sm_86 kernels run on 8.9
        ("12.0", ["sm_75", "sm_90", "compute_90"], True),  # PTX is compiled by the driver
        ("12.0", ["sm_75", "sm_80", "sm_90"], False),
        ("6.1", ["sm_75", "sm_120"], False),
        ("6.1", ["sm_50", "sm_60", "sm_70"], True),
        ("7.0", ["sm_75"], False),
    ],
)
def test_arch_lists_are_judged_like_the_cuda_driver_does(
    capability: str, archs: list[str], fits: bool
) -> None:
    check = RuntimeCheck("2.13.0+cu128", "/x/torch/__init__.py", True, "GPU", capability, tuple(archs))
    assert (arch_warning(check, capability) is None) is fits


def test_a_new_install_replaces_the_old_one_and_remove_deletes_it(wheel_dir: Path) -> None:
    first = install_runtime(wheels=[fake_torch(wheel_dir / "a")], hardware=CPU_ONLY, verify=False)
    second = install_runtime(wheels=[fake_torch(wheel_dir / "b")], hardware=CPU_ONLY, verify=False)
    assert second.name == f"{first.name}-2"  # the first one may be in use by a running app
    assert current_name() == second.name and not first.site_dir.exists()  # … but it was not: pruned
    remove_runtime(second.name)
    assert current_name() is None and current_install() is None
    with pytest.raises(TorchRuntimeError, match="No runtime called"):
        remove_runtime(second.name)


def test_an_unknown_variant_is_refused(wheel_dir: Path) -> None:
    with pytest.raises(TorchRuntimeError, match="Unknown runtime variant 'cu999'"):
        install_runtime("cu999", wheels=[fake_torch(wheel_dir)], hardware=CPU_ONLY, verify=False)


def test_console_scripts_are_not_written_but_entry_points_stay(wheel_dir: Path) -> None:
    scripts = "[console_scripts]\ntorchrun = torch.distributed.run:main\n"
    result = install_runtime(
        wheels=[fake_torch(wheel_dir, entry_points=scripts)], hardware=CPU_ONLY, verify=False
    )
    assert not (result.site_dir.parent / "bin").exists()
    assert (result.site_dir / "torch-2.13.0+cpu.dist-info" / "entry_points.txt").read_text() == scripts


def test_a_cancel_while_unpacking_keeps_the_previous_runtime(wheel_dir: Path) -> None:
    first = install_runtime(wheels=[fake_torch(wheel_dir / "a")], hardware=CPU_ONLY, verify=False)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DownloadCancelled):
        install_runtime(wheels=[fake_torch(wheel_dir / "b")], hardware=CPU_ONLY, verify=False, cancel=cancel)
    assert current_name() == first.name and not list(runtime_root().glob(".staging-*"))
