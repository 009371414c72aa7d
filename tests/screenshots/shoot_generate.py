"""Screenshots of Generate: an inpaint in progress (live preview, progress bar) and the results strip.

Run under Xvfb from the repository root::

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python tests/screenshots/shoot_generate.py

It paints a small landscape, masks the hilltop, and inpaints it with a tiny random-weight
SD 1.5 built on the spot (so the generated pixels are noise: the point is the interface).
The screen is captured with ImageMagick's ``import -window root`` into
``resources/screenshots/inpaint-progress.png`` and ``resources/screenshots/results-strip.png``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from sfumato.document.document import Document, new_document
from sfumato.document.layers import LayerKind
from sfumato.session.tools import CanvasTool
from sfumato.settings import Settings
from sfumato.ui.app import dark_palette
from sfumato.ui.common.resources import stylesheet
from sfumato.ui.main_window import MainWindow

OUT = Path(__file__).resolve().parents[2] / "resources" / "screenshots"


def landscape(width: int, height: int) -> np.ndarray:
    """A painted-looking evening landscape: sky gradient, sun, two hills, a lake."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    t = y / height
    sky = np.stack([70 + 170 * t, 90 + 90 * t, 160 - 40 * t], axis=2)
    sun = np.exp(-(((x - width * 0.68) ** 2 + (y - height * 0.36) ** 2) / (2 * (height * 0.07) ** 2)))
    img = sky + sun[..., None] * np.array([255, 190, 110]) * 0.9
    far = height * (0.58 + 0.05 * np.sin(x / width * 7.0))
    near = height * (0.70 + 0.08 * np.sin(x / width * 3.2 + 1.3))
    img = np.where((y > far)[..., None], np.array([70, 80, 110]) + 10 * np.sin(x / 9)[..., None], img)
    img = np.where((y > near)[..., None], np.array([48, 96, 62]) + (y - near)[..., None] * 0.25, img)
    lake = (y > height * 0.86) & (np.abs(x - width * 0.3) < width * 0.22)
    img = np.where(lake[..., None], np.array([80, 120, 170]) + 12 * np.sin(y / 3)[..., None], img)
    noise = np.random.default_rng(3).normal(0, 3, img.shape)
    rgba = np.empty((height, width, 4), np.uint8)
    rgba[..., :3] = np.clip(img + noise, 0, 255)
    rgba[..., 3] = 255
    return rgba


def build_document() -> Document:
    doc = new_document(768, 512)
    doc.layers[0].pixels[...] = landscape(768, 512)
    mask = doc.add_layer(LayerKind.MASK, "Hilltop mask")
    y, x = np.mgrid[0:512, 0:768]
    blob = ((x - 520) / 95.0) ** 2 + ((y - 300) / 70.0) ** 2 < 1.0
    mask.pixels[blob] = 255
    doc.notify_pixels(mask, doc.rect)  # written by hand: tell the document, as strokes do
    doc.saved_revision = doc.revision
    return doc


def capture(name: str) -> None:
    subprocess.run(["import", "-window", "root", str(OUT / name)], check=True)
    print("wrote", OUT / name, flush=True)


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(stylesheet())
    from sfumato.inference.tiny_models import build_sd15

    models = Path(tempfile.mkdtemp())
    model = build_sd15(models / "sd15-tiny-random")
    window = MainWindow(Settings())
    window.setGeometry(0, 0, 1600, 1000)
    window.show()
    window.session.show(build_document(), "evening-hills")
    window.session.tool.set(CanvasTool.MASK_BRUSH)  # as just after painting the mask
    gen = window.generation
    gen.service.configure(torch_threads=1)
    panel = gen.panel
    panel.use_model_path(model)
    panel.prompt.setPlainText("a red lighthouse on the hilltop, warm evening light, oil painting")
    panel.negative.setPlainText("blurry, text, watermark")
    panel.steps.setValue(60)
    panel.seed.setValue(20261123)
    panel.seed_lock.setChecked(True)
    panel.auto_size.setChecked(False)
    panel.width_box.setValue(384)
    panel.height_box.setValue(384)
    panel.batch.setValue(4)
    panel.strength.setValue(0.85)
    state = {"shot": False}

    def on_progress(job: object, step: int, total: int, _preview: object) -> None:
        if step == total // 2 and not state["shot"]:
            state["shot"] = True
            QTimer.singleShot(150, lambda: capture("inpaint-progress.png"))

    def on_finished(*_args: object) -> None:
        gen.strip.step(+1)
        QTimer.singleShot(600, lambda: (capture("results-strip.png"), finish()))

    def finish() -> None:
        gen.discard()
        window.session.doc.saved_revision = window.session.doc.revision  # type: ignore[union-attr]
        window.close()
        app.quit()

    gen.service.progress.connect(on_progress)
    gen.reported.connect(on_finished)  # the controller has taken the results in
    gen.service.failed.connect(lambda _job, message, details: (print(message, details), app.quit()))
    QTimer.singleShot(1500, gen.generate)
    app.exec()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
