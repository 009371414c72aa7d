"""Time to first image on the CPU: one SD-Turbo-size 512² image, 1 step, from the Generate click to
its pixels on the canvas, with the VAE and with fast decode (TAESD).

Run ``python tests/benchmarks/bench_first_image.py`` (offscreen unless ``QT_QPA_PLATFORM`` says
otherwise). The model is the SD-Turbo architecture with random weights: SD-Turbo is a distilled SD
2.1, so its UNet, VAE and OpenCLIP-H text encoder are built from the SD 2.x configurations shipped
in ``models/configs/sd2``, its scheduler from the sd-turbo repo's own ``scheduler_config.json``
(EulerDiscreteScheduler, trailing timesteps; recorded in
``tests/fixtures/hub_layouts/stabilityai__sd-turbo.json``), and a real-size TAESD from
``AutoencoderTiny``'s default configuration sits in its ``taesd/`` folder. Weights are saved as the
``fp16`` variant a CPU install downloads (about 2.6 GB, built once under ``--cache``); the engine
loads them in the dtype the planner picks for this CPU (bfloat16 on AMX/AVX512-BF16).

It runs through the window: ``generate()`` as the Generate button calls it, the app's inference
thread, the engine, the results landing on the canvas. The first click loads the model and is
reported apart; then each decoder gets ``--clicks`` clicks, alternating. Per click: the time in
the text encoder, the UNet step, the final decode (VAE or TAESD), the live preview decode, the
rest of the engine (scheduler, pipeline, pasting the region), before the engine starts (capture,
request, thread hand-over), and after it returns (signal to the GUI thread, landing, results
strip, overlay, canvas repaint). Not a test: it prints figures (the median and the fastest of the
clicks: on shared cores the fastest is the closest to an idle machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported

from PySide6.QtWidgets import QApplication

from sfumato.document.document import new_document
from sfumato.settings import Settings
from sfumato.ui.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[2]
SD2_CONFIGS = ROOT / "models" / "configs" / "sd2"
SD_TURBO_LAYOUT = ROOT / "tests" / "fixtures" / "hub_layouts" / "stabilityai__sd-turbo.json"
SIDE = 512


def build_sd_turbo_size(folder: Path) -> Path:
    """The SD-Turbo architecture with random weights, saved as an ``fp16`` diffusers folder with a
    real-size TAESD in ``taesd/`` (built once)."""
    if (folder / "model_index.json").is_file() and (folder / "taesd" / "config.json").is_file():
        return folder
    import torch
    from diffusers import (
        AutoencoderKL,
        AutoencoderTiny,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    from sfumato.inference.tiny_models import clip_tokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(SD2_CONFIGS / "unet"))
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(SD2_CONFIGS / "vae"))
    text = CLIPTextModel(CLIPTextConfig.from_pretrained(SD2_CONFIGS / "text_encoder"))
    configs = json.loads(SD_TURBO_LAYOUT.read_text(encoding="utf-8"))["configs"]
    recorded = configs["scheduler/scheduler_config.json"]
    scheduler_config = {k: v for k, v in recorded.items() if k != "_source"}
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text, tokenizer=clip_tokenizer(), unet=unet,
        scheduler=EulerDiscreteScheduler.from_config(scheduler_config), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.to(torch.float16).save_pretrained(folder, variant="fp16")
    AutoencoderTiny().save_pretrained(folder / "taesd")
    return folder


class Stages:
    """Wall time spent in each hooked call, per click, from any thread."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, float, float]] = []
        self._lock = threading.Lock()

    def hook(self, cls: type, method: str, name: str) -> None:
        original = getattr(cls, method)

        def timed(obj: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(obj, *args, **kwargs)
            finally:
                with self._lock:
                    self.spans.append((name, started, time.perf_counter()))

        setattr(cls, method, timed)

    def take(self) -> list[tuple[str, float, float]]:
        with self._lock:
            spans, self.spans = self.spans, []
        return spans


@contextmanager
def window_on(folder: Path) -> Iterator[tuple[QApplication, MainWindow]]:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(Settings())
    window.resize(1400, 900)
    window.show()
    try:
        yield app, window  # type: ignore[misc]
    finally:
        window.generation.service.shutdown()
        if window.doc is not None:
            window.doc.saved_revision = window.doc.revision
        window.close()


def click(app: QApplication, window: MainWindow, painted: dict[str, float]) -> float:
    """Press Generate and wait until the result is painted on the canvas; the click's time."""
    painted.clear()
    started = time.perf_counter()
    window.generation.generate()
    while "at" not in painted:
        app.processEvents()
        time.sleep(0.0005)
    return started


def breakdown(spans: list[tuple[str, float, float]], clicked: float, painted: float,
              fast: bool) -> dict[str, float]:  # fmt: skip
    """Seconds per stage of one click (see the module docstring)."""
    by_name: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for name, start, end in spans:
        by_name[name].append((start, end))
    run_start, run_end = by_name["engine"][0]
    tiny = sorted(by_name["TAESD"])
    final = tiny[-1:] if fast else []
    previews = tiny[:-1] if fast else tiny
    out = {
        "before the engine (capture, request, hand-over)": run_start - clicked,
        "text encoder": sum(e - s for s, e in by_name["text encoder"]),
        "UNet step": sum(e - s for s, e in by_name["UNet"]),
        "final decode (VAE)": sum(e - s for s, e in by_name["VAE decode"]),
        "final decode (TAESD)": sum(e - s for s, e in final),
        "live preview decode": sum(e - s for s, e in previews),
    }
    inside = sum(out[k] for k in list(out)[1:])
    out["rest of the engine (scheduler, pipeline, paste)"] = (run_end - run_start) - inside
    out["paste onto the canvas (GUI thread)"] = painted - run_end
    out["total, click to pixels"] = painted - clicked
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/sfumato-bench-sd-turbo"))
    parser.add_argument("--clicks", type=int, default=3, help="clicks per decoder after the first")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the app's default)")
    args = parser.parse_args()

    started = time.perf_counter()
    folder = build_sd_turbo_size(args.cache)
    print(f"model ready in {time.perf_counter() - started:.1f} s at {folder}", flush=True)

    from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel
    from transformers import CLIPTextModel

    from sfumato.inference import Engine

    stages = Stages()
    stages.hook(CLIPTextModel, "forward", "text encoder")
    stages.hook(UNet2DConditionModel, "forward", "UNet")
    stages.hook(AutoencoderKL, "decode", "VAE decode")
    stages.hook(AutoencoderTiny, "decode", "TAESD")
    stages.hook(Engine, "run", "engine")
    engines: list[Engine] = []

    def engine() -> Engine:  # on the inference thread
        engines.append(Engine())
        return engines[-1]

    with window_on(folder) as (app, window):
        controller = window.generation
        controller.service.configure(engine, torch_threads=args.threads or None)
        window.set_document(new_document(SIDE, SIDE))
        panel = controller.panel
        panel.use_model_path(folder)
        panel.prompt.setPlainText("a lighthouse on a cliff at dusk")
        panel.steps.setValue(1)
        panel.cfg.setValue(0.0)
        panel.auto_size.setChecked(False)
        panel.width_box.setValue(SIDE)
        panel.height_box.setValue(SIDE)
        panel.seed_lock.setChecked(True)
        painted: dict[str, float] = {}

        def on_finished(*_args: object) -> None:  # the controller took the result in: overlay set
            window.canvas.repaint()
            painted["at"] = time.perf_counter()

        def on_failed(_job: object, message: str, details: str) -> None:
            print("FAILED:", message, details, file=sys.stderr)
            raise SystemExit(1)

        controller.reported.connect(on_finished)
        controller.service.failed.connect(on_failed)

        def run(fast: bool) -> dict[str, float]:
            panel.fast_decode.setChecked(fast)
            stages.take()
            clicked = click(app, window, painted)
            return breakdown(stages.take(), clicked, painted["at"], fast)

        first = run(fast=True)
        plan = engines[0].run_plan
        import torch

        print(f"engine: {plan.precision if plan else '?'}, torch threads {torch.get_num_threads()}, "
              f"cores {os.cpu_count()}; SD-Turbo size at {SIDE}², 1 step, CFG 0")  # fmt: skip
        print(f"first click (model load included): {first['total, click to pixels']:.2f} s")
        results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for _ in range(args.clicks):
            for fast in (False, True):
                results[fast].append(run(fast))
        print(f"\nseconds over {args.clicks} clicks each: median and fastest (the cores are often "
              f"shared; load average now {os.getloadavg()[0]:.2f})")  # fmt: skip
        print(f"{'stage':<52}{'VAE':>8}{'(min)':>8}{'TAESD':>8}{'(min)':>8}")
        for key in results[True][0]:
            cells = []
            for fast in (False, True):
                values = [r[key] for r in results[fast]]
                cells += [statistics.median(values), min(values)]
            print(f"{key:<52}" + "".join(f"{c:8.3f}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
