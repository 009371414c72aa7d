"""The status-bar field names OpenVINO when it computes the loaded model's UNet."""

from __future__ import annotations

import dataclasses

from backend_helpers import CPU_ENVIRONMENT, FINE

from sfumato.cpu_backend import CpuBackend
from sfumato.inference.device import plan_family, profile_for
from sfumato.ui.backend.monitor import describe_backend

AMX_CPU = profile_for("cpu", ram_bytes=16 * 2**30, cpu_bfloat16=True)


def test_the_field_names_openvino_when_it_runs_the_model_and_torch_stays_unnamed() -> None:
    plan = plan_family(AMX_CPU, "sd15")
    torch = describe_backend(CPU_ENVIRONMENT, AMX_CPU, FINE, plan=plan)
    assert torch.text == "CPU · bfloat16"
    openvino = describe_backend(CPU_ENVIRONMENT, AMX_CPU, FINE,
                                plan=dataclasses.replace(plan, backend=CpuBackend.OPENVINO))
    assert openvino.text == "CPU · OpenVINO bfloat16"
    assert "The loaded model runs in OpenVINO bfloat16." in openvino.tooltip
