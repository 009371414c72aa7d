"""The modal windows that wait for a person: questions that need a decision, and Help's reading
windows. Notices never come here (they are :mod:`sfumato.ui.common.notices`'s); this module and
that one are the only ones in ``sfumato.ui`` that open a ``QMessageBox``.
"""

from __future__ import annotations

import enum

from PySide6.QtWidgets import QMessageBox, QWidget


class SaveChoice(enum.Enum):
    """The answer to "save the changes?"."""

    SAVE = "save"
    DISCARD = "discard"
    CANCEL = "cancel"


def ask_save_changes(parent: QWidget | None, title: str, question: str) -> SaveChoice:
    """Ask ``question`` with Save, Discard and Cancel (Save is the default)."""
    buttons = QMessageBox.StandardButton
    answer = QMessageBox.question(parent, title, question, buttons.Save | buttons.Discard | buttons.Cancel,
                                  buttons.Save)
    if answer == buttons.Save:
        return SaveChoice.SAVE
    if answer == buttons.Discard:
        return SaveChoice.DISCARD
    return SaveChoice.CANCEL


def ask_yes_no(parent: QWidget | None, title: str, question: str) -> bool:
    """Ask ``question`` with Yes and No (No is the default); ``True`` for Yes."""
    buttons = QMessageBox.StandardButton
    return QMessageBox.question(parent, title, question, buttons.Yes | buttons.No, buttons.No) == buttons.Yes


def show_reading(parent: QWidget | None, title: str, rich_text: str) -> None:
    """A Help window to read and close (Keyboard Shortcuts)."""
    box = QMessageBox(parent)
    box.setWindowTitle(title)
    box.setText(rich_text)
    box.exec()


def show_about(parent: QWidget | None, title: str, rich_text: str) -> None:
    """Help › About: the application's name and what it does."""
    QMessageBox.about(parent, title, rich_text)
