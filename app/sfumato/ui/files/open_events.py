"""Files the desktop asks the running app to open (macOS Finder double-click, "Open With", dock drop).

On macOS these arrive as ``QFileOpenEvent`` on the application object rather than on the command
line; they are handled like files dropped on the window.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QFileOpenEvent


class FileOpenHandler(QObject):
    """An application event filter that hands ``QFileOpenEvent`` files to ``open_files(paths,
    None)``, as a drop without a position would (``parent`` owns the filter)."""

    def __init__(self, open_files: Callable[[list[Path], None], None], parent: QObject) -> None:
        super().__init__(parent)
        self._open_files = open_files

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Open the file of a file-open event; every other event passes through."""
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent):
            path = Path(event.file())
            if path.name:
                self._open_files([path], None)
                return True
        return super().eventFilter(watched, event)
