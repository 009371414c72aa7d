"""Files the desktop asks the running app to open (macOS Finder double-click, "Open With", dock drop).

On macOS these arrive as ``QFileOpenEvent`` on the application object rather than on the command
line; they are handled like files dropped on the window.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QFileOpenEvent

from sfumato.ui.main_window import MainWindow


class FileOpenHandler(QObject):
    """An application event filter that opens ``QFileOpenEvent`` files in ``window``."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Open the file of a file-open event; every other event passes through."""
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent):
            path = Path(event.file())
            if path.name:
                self._window.open_dropped([path], None)
                return True
        return super().eventFilter(watched, event)
