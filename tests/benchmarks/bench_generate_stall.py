"""GUI stall while a generation runs: an SD 1.5-size model of random weights at 512² on the CPU.

Run ``python tests/benchmarks/bench_generate_stall.py`` (offscreen unless ``QT_QPA_PLATFORM`` says
otherwise). The model has the real SD 1.5 UNet, VAE and CLIP-L text encoder configurations with
random weights (built once, no download, cached under ``--cache``); it runs in the app's own
inference thread, through the window's Generate path, so step previews are drawn on the canvas
as in use. A QTimer probe on the GUI thread fires every 5 ms and records how late each tick is;
the p50/p99 lateness is the stall a person would feel. Target: p99 < 16 ms. Not a test: it
prints figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported

import numpy as np
from PySide6.QtCore import QElapsedTimer, Qt, QTimer
from PySide6.QtWidgets import QApplication

from sfumato.document.document import new_document
from sfumato.settings import Settings
from sfumato.ui.main_window import MainWindow

PROBE_MS = 5


def build_sd15_size(folder: Path) -> Path:
    """An SD 1.5-shaped diffusers pipeline with random weights (about 4 GB in float32)."""
    if (folder / "model_index.json").is_file():
        return folder
    import torch
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from sfumato.inference.tiny_models import clip_tokenizer, sd_scheduler

    torch.manual_seed(0)
    tokenizer = clip_tokenizer()
    unet = UNet2DConditionModel(  # the configuration of runwayml/stable-diffusion-v1-5's UNet
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                          "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32,
    )
    vae = AutoencoderKL(  # SD 1.5's VAE configuration
        in_channels=3, out_channels=3, latent_channels=4, sample_size=512, layers_per_block=2,
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32,
    )
    text = CLIPTextModel(CLIPTextConfig(  # CLIP ViT-L/14's text tower (small vocabulary: char tokens)
        vocab_size=len(tokenizer), hidden_size=768, intermediate_size=3072, num_attention_heads=12,
        num_hidden_layers=12, max_position_embeddings=77, projection_dim=768, bos_token_id=0,
        eos_token_id=1, pad_token_id=1, hidden_act="quick_gelu"))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
                                   scheduler=sd_scheduler(), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class Probe:
    """A 5 ms QTimer on the GUI thread; lateness = time since the previous tick − 5 ms."""

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.samples: list[tuple[float, float]] = []  # (time s, lateness ms)
        self._last = 0
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.clock.start()
        self._last = self.clock.nsecsElapsed()
        self.timer.start()

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed()
        self.samples.append((now / 1e9, max(0.0, (now - self._last) / 1e6 - PROBE_MS)))
        self._last = now

    def between(self, start: float, end: float) -> list[float]:
        return [late for t, late in self.samples if start <= t <= end]


def report(name: str, late: list[float]) -> None:
    if not late:
        print(f"{name:<28} (no samples)")
        return
    print(f"{name:<28} n={len(late):>6}  p50 {statistics.median(late):6.2f} ms  "
          f"p99 {percentile(late, 99):6.2f} ms  max {max(late):7.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/sfumato-bench-sd15"))
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the app's default)")
    args = parser.parse_args()

    started = time.perf_counter()
    folder = build_sd15_size(args.cache)
    print(f"model ready in {time.perf_counter() - started:.1f} s at {folder}", flush=True)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(Settings())
    window.resize(1600, 1000)
    window.show()
    controller = window.generation
    worker: dict[str, int] = {}

    def engine() -> object:  # on the inference thread, after it has set its torch thread count
        import torch

        from sfumato.inference import Engine

        worker["threads"] = torch.get_num_threads()
        return Engine()

    controller.service.configure(engine, torch_threads=args.threads or None)
    doc = new_document(args.size, args.size)
    window.session.show(doc)
    panel = controller.panel
    panel.use_model_path(folder)
    panel.prompt.setPlainText("a lighthouse on a cliff at dusk")
    panel.steps.setValue(args.steps)
    panel.cfg.setValue(7.0)
    panel.auto_size.setChecked(False)
    panel.width_box.setValue(args.size)
    panel.height_box.setValue(args.size)
    panel.seed_lock.setChecked(True)

    probe = Probe()
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        marks.setdefault(name, probe.clock.nsecsElapsed() / 1e9)

    service = controller.service
    service.started.connect(lambda _job: mark("started"))
    service.progress.connect(lambda job, step, total, _p: mark("first step") if step == 1 else None)
    service.progress.connect(lambda job, step, total, _p: mark("last step") if step == total else None)
    done = {"flag": False}

    def finish(*_args: object) -> None:
        mark("ended")
        done["flag"] = True

    service.finished.connect(finish)
    service.failed.connect(lambda _job, message, details: (print("FAILED", message, details), finish()))
    probe.start()
    idle_until = time.perf_counter() + 1.0
    while time.perf_counter() < idle_until:
        app.processEvents()
        time.sleep(0.0005)
    mark("idle end")
    controller.generate()
    while not done["flag"]:
        app.processEvents()
        time.sleep(0.0005)
    QApplication.processEvents()
    probe.timer.stop()

    print(f"torch threads on the inference thread: {worker.get('threads')}, cores: {os.cpu_count()}")
    job_time = marks["ended"] - marks["started"]
    sampling = marks.get("last step", marks["ended"]) - marks.get("first step", marks["started"])
    print(f"job: {job_time:.1f} s ({args.steps} steps at {args.size}², sampling {sampling:.1f} s)")
    report("idle (1 s before)", probe.between(0, marks["idle end"]))
    report("whole job (load→result)", probe.between(marks["started"], marks["ended"]))
    if "first step" in marks:
        report("sampling + decode", probe.between(marks["first step"], marks["ended"]))
    window.session.doc.saved_revision = window.session.doc.revision  # type: ignore[union-attr]
    window.close()
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
