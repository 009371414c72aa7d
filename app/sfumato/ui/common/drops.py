"""What a drag from another program carries: the local files (the canvas and the window accept them)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QDragEnterEvent, QDropEvent


def dropped_files(event: QDragEnterEvent | QDropEvent) -> list[Path]:
    """The local files carried by a drag (empty if it carries none)."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
