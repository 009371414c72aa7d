"""OpenVINO as the CPU backend: the same pipelines with the UNet computed by OpenVINO (pixels
within a stated tolerance of torch's on the tiny SD 1.5 and SDXL, previews and cancel as before),
the converted model cached and reused, the ``cpu_backend`` choice (``torch``, ``openvino``,
``auto``) respected, a missing package said in one line, and LoRA jobs run in torch."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import UNet2DConditionModel

from sfumato.cli import main
from sfumato.cpu_backend import CpuBackend
from sfumato.generation import GenerationRequest, InpaintRequest, Txt2ImgRequest
from sfumato.inference import Engine, MemoryStrategy, openvino_backend, openvino_unet, profile_for
from sfumato.inference.openvino_unet import OpenVINOUNet
from sfumato.inference.tiny_models import build_lora
from sfumato.model_store import InstalledModel, ModelManager, SourceRecord
from sfumato.model_store.fit import RunPlan
from sfumato.settings import Settings, load_settings

if "CI" not in os.environ:  # CI installs it with the test extra: there these tests always run
    pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install -e '.[test]' brings it)")

AMX_CPU = profile_for("cpu", cpu_bfloat16=True)
PLAIN_CPU = profile_for("cpu")

BFLOAT16_MEAN, BFLOAT16_P99, BFLOAT16_MAX = 2.0, 8, 24
"""OpenVINO bf16 against torch bfloat16, in 0–255 levels over a 3-step image: both round to
bfloat16, in different places. Measured on the tiny SD 1.5, SD 1.5 inpainting, SDXL and SDXL
inpainting: mean 0.2–1.2, 99th percentile 3–6, largest 7–17 (the tolerance of bfloat16 against
float32 in ``test_cpu_precision``). On a CPU without bf16, OpenVINO computes in float32 and
torch emulates bfloat16: the same bounds hold."""
FLOAT32_MAX = 2
"""OpenVINO f32 against torch float32: measured at most 1 level apart."""
CONVERTING, COMPILING = "Converting sd15 for OpenVINO (once)…", "Compiling sd15 for OpenVINO…"


# ---------------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def shared_cache(module_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One cache folder for this module's tests that do not count conversions (each tiny model
    is converted once per dtype instead of once per test)."""
    monkeypatch.setenv("SFUMATO_CACHE_DIR", str(module_cache))
    return module_cache


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The class names of the UNets converted from now on."""
    done: list[str] = []
    convert = openvino_unet.convert

    def counting(unet: Any, latent_side: int) -> Any:
        done.append(type(unet).__name__)
        return convert(unet, latent_side)

    monkeypatch.setattr(openvino_unet, "convert", counting)
    return done


@pytest.fixture
def timings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[float, float]]]:
    """``auto`` considers the tiny UNets, and its timed comparison returns the figures a test
    puts in the list (torch seconds, OpenVINO seconds), one pair per comparison, in order."""
    figures: list[tuple[float, float]] = []
    monkeypatch.setattr(openvino_backend, "AUTO_MIN_PARAMETERS", 0)
    monkeypatch.setattr(openvino_backend, "measure", lambda unet, ov_unet, side: figures.pop(0))
    yield figures


def _txt2img(model: Path | str, **changes: Any) -> Txt2ImgRequest:
    values: dict[str, Any] = {"model": str(model), "prompt": "a red apple", "steps": 3, "guidance": 5.0,
                              "seed": 3, "width": 64, "height": 64, **changes}
    return Txt2ImgRequest(**values)


def _inpaint(model: Path, source: np.ndarray) -> InpaintRequest:
    mask = np.zeros(source.shape[:2], np.uint8)
    mask[20:50, 30:70] = 255
    return InpaintRequest(model=str(model), prompt="a red apple", steps=3, guidance=5.0, seed=3,
                          source=source, mask=mask)  # fmt: skip


def _pixels(engine: Engine, request: GenerationRequest, **callbacks: Any) -> np.ndarray:
    return engine.run(request, **callbacks).images[0].full().astype(int)


def _unets(engine: Engine) -> set[str]:
    """The class names of what sits in the ``unet`` slot of the engine's pipelines."""
    loaded = engine._loaded
    assert loaded is not None
    return {type(pipe.unet).__name__ for pipe in loaded.pipes.values()}


def _ir_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "openvino").glob("*/*"))


# ------------------------------------------------------------------------------------ pixels
@pytest.mark.parametrize("profile", [AMX_CPU, PLAIN_CPU], ids=["bfloat16", "float32"])
@pytest.mark.parametrize("name", ["sd15", "sdxl", "sd15-inpaint"])
@pytest.mark.parametrize("task", ["txt2img", "inpaint"])
def test_openvino_gives_torch_pixels_within_the_tolerance(
    profile: Any, name: str, task: str, tiny_models: dict[str, Path], source: np.ndarray, shared_cache: Path
) -> None:
    request = _txt2img(tiny_models[name]) if task == "txt2img" else _inpaint(tiny_models[name], source)
    in_torch = Engine(profile, cpu_backend="torch")
    in_openvino = Engine(profile, cpu_backend="openvino")
    exact = _pixels(in_torch, request)
    fast = _pixels(in_openvino, request)

    assert _unets(in_openvino) == {"OpenVINOUNet"} and _unets(in_torch) == {"UNet2DConditionModel"}
    plan = in_openvino.run_plan
    assert plan is not None and plan.backend is CpuBackend.OPENVINO
    assert plan.compute == f"OpenVINO {profile.dtype}" and plan.precision == plan.compute
    diff = np.abs(fast - exact)
    if profile.dtype == "float32":
        assert diff.max() <= FLOAT32_MAX
    else:
        assert diff.mean() <= BFLOAT16_MEAN and np.percentile(diff, 99) <= BFLOAT16_P99
        assert diff.max() <= BFLOAT16_MAX


def test_sizes_the_upsamplers_cannot_halve_evenly_and_a_batch_without_guidance(
    tiny_models: dict[str, Path], shared_cache: Path
) -> None:
    """Odd latent sides (72×56 px: 9×7 latents) and batch 1 (no classifier-free guidance) run
    through the one converted model."""
    for changes in ({"width": 72, "height": 56}, {"guidance": 1.0}):
        request = _txt2img(tiny_models["sdxl"], **changes)
        exact = _pixels(Engine(PLAIN_CPU, cpu_backend="torch"), request)
        engine = Engine(PLAIN_CPU, cpu_backend="openvino")
        assert np.abs(_pixels(engine, request) - exact).max() <= FLOAT32_MAX
        assert _unets(engine) == {"OpenVINOUNet"}


# ------------------------------------------------------------------------ previews and cancel
def test_previews_and_cancel_work_through_openvino(tiny_models: dict[str, Path], shared_cache: Path) -> None:
    engine = Engine(AMX_CPU, cpu_backend="openvino")
    request = _txt2img(tiny_models["sd15"], steps=4)
    steps: list[tuple[int, int, tuple[int, ...] | None]] = []
    engine.run(request, on_step=lambda p: steps.append((p.step, p.total, None if p.preview is None else
                                                        p.preview.shape)))
    assert [(s, t) for s, t, _ in steps] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert all(shape is not None and shape[2] == 3 for _, _, shape in steps)

    cancel = threading.Event()
    seen: list[int] = []

    def on_step(progress: Any) -> None:
        seen.append(progress.step)
        if progress.step == 2:
            cancel.set()

    result = engine.run(request, on_step=on_step, cancel=cancel)
    assert result.cancelled and not result.images and seen == [1, 2]
    assert _unets(engine) == {"OpenVINOUNet"}
    assert engine.run(request).images  # still usable


# --------------------------------------------------------------------------------- the cache
def test_the_converted_model_is_kept_and_a_second_load_does_not_convert(
    tiny_models: dict[str, Path], conversions: list[str]
) -> None:
    cache = Path(os.environ["SFUMATO_CACHE_DIR"])
    request = _txt2img(tiny_models["sd15"])
    stages: list[str] = []
    first = _pixels(Engine(AMX_CPU, cpu_backend="openvino"), request, on_stage=stages.append)
    assert conversions == ["UNet2DConditionModel"]
    assert stages[1:] == [CONVERTING, COMPILING, "Generating…"]
    assert _ir_files(cache) == ["source.json", "unet.bin", "unet.xml"]

    stages.clear()
    again = _pixels(Engine(AMX_CPU, cpu_backend="openvino"), request, on_stage=stages.append)
    assert conversions == ["UNet2DConditionModel"]  # read from the cache
    assert stages[1:] == [COMPILING, "Generating…"]
    assert np.array_equal(first, again)

    _pixels(Engine(PLAIN_CPU, cpu_backend="openvino"), request)  # float32: another graph
    assert len(conversions) == 2 and len(list((cache / "openvino").iterdir())) == 2


def test_a_changed_model_file_converts_again_and_replaces_the_old_conversion(
    tiny_models: dict[str, Path], conversions: list[str], tmp_path: Path
) -> None:
    import shutil

    model = shutil.copytree(tiny_models["sd15"], tmp_path / "sd15")
    cache = Path(os.environ["SFUMATO_CACHE_DIR"]) / "openvino"
    Engine(PLAIN_CPU, cpu_backend="openvino").run(_txt2img(model))
    before = list(cache.iterdir())
    weights = next((model / "unet").glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    Engine(PLAIN_CPU, cpu_backend="openvino").run(_txt2img(model))
    after = list(cache.iterdir())
    assert len(conversions) == 2 and len(before) == len(after) == 1 and before != after


# ------------------------------------------------------------------------------- the choice
def test_torch_never_converts_and_a_changed_choice_applies_at_the_next_job(
    tiny_models: dict[str, Path], conversions: list[str]
) -> None:
    engine = Engine(AMX_CPU, cpu_backend="torch")
    request = _txt2img(tiny_models["sd15"])
    plain = _pixels(engine, request)
    assert conversions == [] and _unets(engine) == {"UNet2DConditionModel"}
    assert engine.run_plan is not None and engine.run_plan.backend is CpuBackend.TORCH
    base = engine._loaded.base if engine._loaded else None

    engine.cpu_backend = "openvino"
    _pixels(engine, request)
    assert conversions == ["UNet2DConditionModel"] and _unets(engine) == {"OpenVINOUNet"}
    assert engine.run_plan is not None and engine.run_plan.backend is CpuBackend.OPENVINO

    engine.cpu_backend = CpuBackend.TORCH
    assert np.array_equal(_pixels(engine, request), plain)
    assert _unets(engine) == {"UNet2DConditionModel"}
    assert engine._loaded is not None and engine._loaded.base is base  # never reloaded


def test_auto_uses_openvino_when_measured_faster_and_keeps_the_verdict(
    tiny_models: dict[str, Path], conversions: list[str], timings: list[tuple[float, float]]
) -> None:
    timings.append((1.0, 0.5))
    stages: list[str] = []
    engine = Engine(AMX_CPU)  # auto is the default
    engine.run(_txt2img(tiny_models["sd15"]), on_stage=stages.append)
    assert _unets(engine) == {"OpenVINOUNet"} and "Timing OpenVINO against PyTorch on sd15 (once)…" in stages
    folder = next((Path(os.environ["SFUMATO_CACHE_DIR"]) / "openvino").iterdir())
    verdict = json.loads((folder / "choice.json").read_text())
    assert verdict == {"torch_s": 1.0, "openvino_s": 0.5, "threads": torch.get_num_threads()}

    again = Engine(AMX_CPU)
    again.run(_txt2img(tiny_models["sd15"]))
    assert _unets(again) == {"OpenVINOUNet"} and len(conversions) == 1 and timings == []  # not timed again


def test_auto_keeps_torch_when_openvino_is_not_faster_and_keeps_no_conversion(
    tiny_models: dict[str, Path], conversions: list[str], timings: list[tuple[float, float]]
) -> None:
    timings.append((1.0, 0.99))  # within FASTER: not worth a second copy of the weights
    engine = Engine(AMX_CPU, cpu_backend="auto")
    request = _txt2img(tiny_models["sd15"])
    first = _pixels(engine, request)
    assert _unets(engine) == {"UNet2DConditionModel"} and conversions == ["UNet2DConditionModel"]
    assert _ir_files(Path(os.environ["SFUMATO_CACHE_DIR"])) == ["choice.json", "source.json"]

    again = Engine(AMX_CPU, cpu_backend="auto")
    assert np.array_equal(_pixels(again, request), first)
    assert len(conversions) == 1 and _unets(again) == {"UNet2DConditionModel"}  # nothing converted or timed

    asked = Engine(AMX_CPU, cpu_backend="openvino")  # by name it runs anyway
    asked.run(request)
    assert _unets(asked) == {"OpenVINOUNet"} and len(conversions) == 2


def test_auto_leaves_small_unets_in_torch_without_converting(
    tiny_models: dict[str, Path], conversions: list[str]
) -> None:
    engine = Engine(AMX_CPU)
    result = engine.run(_txt2img(tiny_models["sdxl"]))
    assert conversions == [] and _unets(engine) == {"UNet2DConditionModel"} and result.notices == ()


def test_the_setting_and_the_plan_words() -> None:
    assert Settings().cpu_backend == "auto"
    plan = RunPlan(None, None, "cpu", "bfloat16", "bfloat16", MemoryStrategy.FULL, True, "", None)
    assert plan.compute == "bfloat16"
    openvino = dataclasses.replace(plan, backend=CpuBackend.OPENVINO)
    assert openvino.compute == "OpenVINO bfloat16" and openvino.summary() == "OpenVINO bfloat16 · full"
    assert dataclasses.replace(openvino, dtype="float16", vae_dtype="float32").precision == (
        "OpenVINO float16, VAE float32"
    )


@pytest.mark.parametrize(("stored", "read"), [("openvino", "openvino"), ("torch", "torch"), ("fast", "auto")])
def test_the_setting_keeps_a_valid_choice_and_falls_back_to_auto(
    tmp_path: Path, stored: str, read: str
) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": 1, "cpu_backend": stored}))
    assert load_settings(path).cpu_backend == read


# ------------------------------------------------------------------ when OpenVINO cannot run
@pytest.fixture
def no_openvino(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import openvino`` fails as it does where the package is not installed."""
    monkeypatch.setitem(sys.modules, "openvino", None)


def test_openvino_asked_for_without_the_package_says_so_once_and_torch_runs(
    tiny_models: dict[str, Path], no_openvino: None
) -> None:
    request = _txt2img(tiny_models["sd15"])
    engine = Engine(AMX_CPU, cpu_backend="openvino")
    first = engine.run(request)
    assert first.notices == (
        "OpenVINO is not installed (pip install 'sfumato[openvino]'); sd15 runs in PyTorch.",
    )
    assert engine.run(request).notices == ()
    assert np.array_equal(first.images[0].full(), _pixels(Engine(AMX_CPU, cpu_backend="torch"), request))
    assert engine.run_plan is not None and engine.run_plan.backend is CpuBackend.TORCH


def test_auto_without_the_package_says_nothing(
    tiny_models: dict[str, Path], no_openvino: None, timings: list[tuple[float, float]]
) -> None:
    engine = Engine(AMX_CPU)
    assert engine.run(_txt2img(tiny_models["sd15"])).notices == ()
    assert _unets(engine) == {"UNet2DConditionModel"}


def test_the_command_line_takes_the_choice_and_says_when_openvino_is_missing(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = ["generate", "--model", str(tiny_models["sd15"]), "--prompt", "a boat", "--steps", "1",
            "--width", "64", "--height", "64", "--out", str(tmp_path / "out.png")]  # fmt: skip
    with pytest.raises(SystemExit) as exited:
        main([*args, "--cpu-backend", "fast"])
    assert exited.value.code == 2
    assert "error: argument --cpu-backend: invalid choice: 'fast'" in capsys.readouterr().err

    monkeypatch.setitem(sys.modules, "openvino", None)
    assert main([*args, "--cpu-backend", "openvino"]) == 0
    err = capsys.readouterr().err
    assert "note: OpenVINO is not installed (pip install 'sfumato[openvino]'); sd15 runs in PyTorch." in err
    assert (tmp_path / "out.png").is_file()


def test_a_transformer_model_asked_for_by_name_runs_in_torch_with_a_note(
    tiny_models: dict[str, Path],
) -> None:
    result = Engine(AMX_CPU, cpu_backend="openvino").run(_txt2img(tiny_models["sd3"], steps=2))
    assert result.notices == ("OpenVINO runs SD 1.x, 2.x and SDXL UNets; sd3 runs in PyTorch.",)


def test_a_failed_conversion_runs_in_torch_with_a_note_and_auto_does_not_try_again(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch, timings: list[tuple[float, float]]
) -> None:
    tried: list[int] = []

    def failing(unet: Any, latent_side: int) -> Any:
        tried.append(latent_side)
        raise RuntimeError("Cannot convert aten::frobnicate\nmore lines")

    monkeypatch.setattr(openvino_unet, "convert", failing)
    result = Engine(AMX_CPU, cpu_backend="openvino").run(_txt2img(tiny_models["sd15"]))
    note = "OpenVINO could not convert sd15 (Cannot convert aten::frobnicate); it runs in PyTorch."
    assert result.notices == (note,) and result.images and len(tried) == 1

    engine = Engine(AMX_CPU, cpu_backend="auto")
    assert engine.run(_txt2img(tiny_models["sd15"])).notices == () and len(tried) == 1
    assert _unets(engine) == {"UNet2DConditionModel"}


def test_too_little_memory_for_openvino_runs_in_torch_with_a_note(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch, conversions: list[str]
) -> None:
    from sfumato.model_store import hardware

    monkeypatch.setattr(hardware, "read_ram", lambda: (8 * 2**30, 1000))
    result = Engine(AMX_CPU, cpu_backend="openvino").run(_txt2img(tiny_models["sd15"]))
    assert len(result.notices) == 1 and result.notices[0].startswith("OpenVINO needs ~0.0 GiB of free memory")
    assert conversions == []


# ------------------------------------------------------------------------ cancel while preparing
def test_cancel_while_converting_keeps_the_model_in_torch_and_the_next_job_reuses_the_conversion(
    tiny_models: dict[str, Path], conversions: list[str]
) -> None:
    engine = Engine(AMX_CPU, cpu_backend="openvino")
    cancel = threading.Event()

    def on_stage(text: str) -> None:
        if text.startswith("Converting"):
            cancel.set()

    result = engine.run(_txt2img(tiny_models["sd15"]), cancel=cancel, on_stage=on_stage)
    assert result.cancelled and not result.images and engine.model is not None
    assert engine.run_plan is not None and engine.run_plan.backend is CpuBackend.TORCH

    stages: list[str] = []
    assert engine.run(_txt2img(tiny_models["sd15"]), on_stage=stages.append).images
    assert conversions == ["UNet2DConditionModel"] and stages == [COMPILING, "Generating…"]
    assert _unets(engine) == {"OpenVINOUNet"}


# -------------------------------------------------------------------------------------- LoRA
def _install(model_id: str, root: Path, entry: str = "") -> InstalledModel:
    """Record ``root`` (``/entry``) as the store's installed catalog model ``model_id``."""
    variant = "lora" if entry else "fp16"
    record = SourceRecord("main", root, entry, ())
    model = InstalledModel(f"{model_id}@{variant}", "catalog", "sd15", (record,), model_id, variant)
    ModelManager().cache.write(model)
    return model


def test_a_lora_job_runs_in_torch_and_the_next_job_without_it_in_openvino(
    tiny_models: dict[str, Path], tmp_path: Path, conversions: list[str]
) -> None:
    lora = build_lora(tiny_models["sd15"], tmp_path / "lora")
    _install("sd15", tiny_models["sd15"])
    _install("sd15-lcm-lora", lora.parent, lora.name)
    with_lora = _txt2img("sd15-lcm-lora", scheduler="LCM", guidance=1.0)
    without = _txt2img("sd15", scheduler="LCM", guidance=1.0)
    in_torch = Engine(AMX_CPU, cpu_backend="torch")
    engine = Engine(AMX_CPU, cpu_backend="openvino")

    seen: list[set[str]] = []
    first = _pixels(engine, with_lora, on_step=lambda _p: seen.append(_unets(engine)))
    assert conversions == [] and seen[0] == {"UNet2DConditionModel"}  # nothing converted with a LoRA on
    assert engine.run_plan is not None and engine.run_plan.backend is CpuBackend.TORCH
    assert np.array_equal(first, _pixels(in_torch, with_lora))

    plain = _pixels(engine, without)
    assert conversions == ["UNet2DConditionModel"] and _unets(engine) == {"OpenVINOUNet"}
    assert engine.run_plan is not None and engine.run_plan.backend is CpuBackend.OPENVINO
    diff = np.abs(plain - _pixels(in_torch, without))  # converted without the LoRA: the model's pixels
    assert diff.mean() <= BFLOAT16_MEAN and diff.max() <= BFLOAT16_MAX
    assert diff.mean() < np.abs(plain - first).mean() / 2  # nearer them than the LoRA's

    assert np.array_equal(_pixels(engine, with_lora), first)  # torch again, the same pixels
    assert len(conversions) == 1 and engine.run_plan.backend is CpuBackend.TORCH


# ------------------------------------------------------------------------------- the wrapper
class _Request:
    """Stands in for an OpenVINO infer request: records its feeds, answers zeros."""

    def __init__(self) -> None:
        self.feeds: list[dict[str, np.ndarray]] = []

    def infer(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.feeds.append(feed)
        return [np.zeros_like(feed["sample"])]


class _Compiled:
    def __init__(self) -> None:
        self.request = _Request()

    def create_infer_request(self) -> _Request:
        return self.request


@pytest.fixture(scope="module")
def tiny_unet(tiny_models: dict[str, Path]) -> UNet2DConditionModel:
    return UNet2DConditionModel.from_pretrained(tiny_models["sd15"], subfolder="unet").eval()


def test_the_wrapper_answers_as_the_torch_module_and_hands_it_what_it_cannot_take(
    tiny_unet: UNet2DConditionModel,
) -> None:
    compiled = _Compiled()
    wrapper = OpenVINOUNet(tiny_unet, compiled, openvino_unet.traced_inputs(tiny_unet.config))
    sample = torch.randn(2, 4, 8, 8)
    states = torch.randn(2, 77, tiny_unet.config.cross_attention_dim)
    assert wrapper.config is tiny_unet.config and wrapper.dtype == tiny_unet.dtype

    out = wrapper(sample, torch.tensor(10), states, return_dict=False)
    assert isinstance(out, tuple) and torch.equal(out[0], torch.zeros_like(sample))
    feed = compiled.request.feeds[-1]
    assert sorted(feed) == ["encoder_hidden_states", "sample", "timestep"]
    assert feed["timestep"].tolist() == [10, 10]
    assert wrapper(sample, 10, states).sample.dtype == tiny_unet.dtype

    calls = len(compiled.request.feeds)
    with torch.no_grad():
        expected = tiny_unet(sample, 10, states, cross_attention_kwargs={"scale": 0.5}).sample
        got = wrapper(sample, 10, states, cross_attention_kwargs={"scale": 0.5}).sample
    assert torch.equal(got, expected) and len(compiled.request.feeds) == calls  # torch computed it
