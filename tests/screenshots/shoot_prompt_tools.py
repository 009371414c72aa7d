"""A screenshot of the Generate panel's prompt tools: the syntax hint, the live prompt check, a
LoRA at its weight, the variation seed under Extra, Subtle and Strong.

Run under Xvfb from the repository root::

    xvfb-run -s "-screen 0 1600x1200x24" .venv/bin/python tests/screenshots/shoot_prompt_tools.py

(A taller screen than the other shots, so the whole panel shows without scrolling.)

A tiny random-weight SD 1.5 and a LoRA made for it are built on the spot and the LoRA is
imported into a temporary model store (the user's own folders are not touched). The screen is
captured with ImageMagick's ``import -window root`` into
``resources/screenshots/generate-prompt-tools.png``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(tempfile.mkdtemp())
for _name in ("CONFIG", "DATA", "CACHE", "LOG"):  # before Sfumato reads where its folders are
    os.environ[f"SFUMATO_{_name}_DIR"] = str(ROOT / _name.lower())

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from shoot_generate import build_document, capture  # noqa: E402

from sfumato.settings import Settings  # noqa: E402
from sfumato.ui.app import dark_palette  # noqa: E402
from sfumato.ui.common.resources import stylesheet  # noqa: E402
from sfumato.ui.main_window import MainWindow  # noqa: E402


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(stylesheet())
    from sfumato.inference.tiny_models import build_lora, build_sd15
    from sfumato.model_store import ModelManager

    model = build_sd15(ROOT / "models" / "sd15-tiny-random")
    lora = Path(shutil.copy(build_lora(model, ROOT / "made"), ROOT / "ink-wash.safetensors"))
    ModelManager().import_adapters(lora)
    window = MainWindow(Settings())
    window.setGeometry(0, 0, 1600, 1200)
    window.show()
    window.session.show(build_document(), "evening-hills")
    panel = window.generation.panel
    panel.use_model_path(model)
    panel.prompt.setPlainText("a red lighthouse on the hilltop, (warm evening light:1.2), oil painting "
                              "<lora:watercolor-v2:0.6>")
    panel.negative.setPlainText("blurry, text, watermark")
    panel.seed.setValue(20261123)
    panel.seed_lock.setChecked(True)
    panel.extra.setChecked(True)
    panel.variation_seed.setValue(815)
    panel.variation_strength.setValue(0.2)
    panel.batch.setValue(4)

    def add_lora() -> None:
        if not panel.loras.offered():
            QTimer.singleShot(200, add_lora)  # the LoRAs are still being listed
            return
        panel.loras.add("ink-wash", 0.8)
        # the panel grew (a LoRA row, Extra open) after the window made its split: give it its height
        window.resizeDocks([window.generate_dock, window.layers_dock],
                           [window.generate_dock.sizeHint().height(), 300], Qt.Orientation.Vertical)
        QTimer.singleShot(800, shoot)

    def shoot() -> None:
        capture("generate-prompt-tools.png")
        window.session.doc.saved_revision = window.session.doc.revision  # type: ignore[union-attr]
        window.close()
        app.quit()

    QTimer.singleShot(1500, add_lora)
    app.exec()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
