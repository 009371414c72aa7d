"""The start-up offer to recover documents left behind by a crash."""

from __future__ import annotations

import datetime as dt

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sfumato.document.autosave import RecoveryEntry


def describe_entry(entry: RecoveryEntry) -> str:
    """One line: title, size and when it was autosaved."""
    when = dt.datetime.fromtimestamp(entry.saved_at).strftime("%Y-%m-%d %H:%M")
    size = f"{entry.width} × {entry.height}, " if entry.width and entry.height else ""
    origin = f" — from {entry.source_path}" if entry.source_path else ""
    return f"{entry.title}  ({size}autosaved {when}){origin}"


class RecoveryDialog(QDialog):
    """Lists recoverable autosaves (newest first, the first one selected).

    *Recover* opens the selected one (the others stay for the next start), *Discard All*
    deletes them all, *Later* keeps them. After ``exec()``, :attr:`choice` is ``"recover"``,
    ``"discard"`` or ``"later"``.
    """

    def __init__(self, entries: list[RecoveryEntry], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Recover unsaved work")
        self.entries = entries
        self.choice = "later"
        self.list = QListWidget()
        for entry in entries:
            self.list.addItem(QListWidgetItem(describe_entry(entry)))
        self.list.setCurrentRow(0)
        buttons = QDialogButtonBox()
        recover = buttons.addButton("Recover", QDialogButtonBox.ButtonRole.AcceptRole)
        discard = buttons.addButton("Discard All", QDialogButtonBox.ButtonRole.DestructiveRole)
        later = buttons.addButton("Later", QDialogButtonBox.ButtonRole.RejectRole)
        recover.clicked.connect(lambda: self._finish("recover"))
        discard.clicked.connect(lambda: self._finish("discard"))
        later.clicked.connect(lambda: self._finish("later"))
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Sfumato did not close normally last time. "
                                "These documents had unsaved changes:"))
        layout.addWidget(self.list)
        layout.addWidget(buttons)
        self.resize(560, 260)

    def selected(self) -> RecoveryEntry | None:
        """The entry to recover."""
        row = self.list.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def _finish(self, choice: str) -> None:
        self.choice = choice
        if choice == "later":
            self.reject()
        else:
            self.accept()
