"""The app icon for each platform, rendered from ``resources/icons/sfumato.svg`` at build time.

Qt's SVG renderer draws the icon offscreen at every size the formats want; Pillow writes them
as a Windows ``.ico`` (16–256 px), a macOS ``.icns`` (16–1024 px) and PNGs (the Linux menus
and the window icon use the SVG or the 256/512 px PNG). The spec calls it as a script, in its
own process, so that no QGuiApplication lives inside PyInstaller::

    python packaging/icons.py OUT_DIR        # writes OUT_DIR/sfumato.{ico,icns,png} + sfumato-<N>.png
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "resources" / "icons" / "sfumato.svg"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)
PNG_SIZES = (16, 32, 48, 64, 128, 256, 512)


def render(svg: Path, sizes: tuple[int, ...]) -> dict[int, Image.Image]:
    """``svg`` drawn square at each size, as RGBA Pillow images (antialiased, transparent)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QIODevice
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not an SVG Qt can draw")
    images = {}
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(0)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        images[size] = Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGBA")
    return images


def make_icons(out_dir: Path, svg: Path = SVG) -> dict[str, Path]:
    """Write ``sfumato.ico``, ``sfumato.icns``, ``sfumato.png`` (256 px) and ``sfumato-<N>.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images = render(svg, tuple(sorted(set(ICO_SIZES + ICNS_SIZES + PNG_SIZES))))
    written = {}
    ico = out_dir / "sfumato.ico"
    largest = images[max(ICO_SIZES)]
    largest.save(ico, format="ICO", sizes=[(s, s) for s in ICO_SIZES],
                 append_images=[images[s] for s in ICO_SIZES if s != max(ICO_SIZES)])
    written["ico"] = ico
    icns = out_dir / "sfumato.icns"
    images[max(ICNS_SIZES)].save(icns, format="ICNS",
                                 append_images=[images[s] for s in ICNS_SIZES if s != max(ICNS_SIZES)])
    written["icns"] = icns
    for size in PNG_SIZES:
        images[size].save(out_dir / f"sfumato-{size}.png")
    png = out_dir / "sfumato.png"
    images[256].save(png)
    written["png"] = png
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--svg", type=Path, default=SVG)
    args = parser.parse_args(argv)
    for kind, path in make_icons(args.out_dir, args.svg).items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
