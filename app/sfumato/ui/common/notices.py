"""The one widget family that presents notices (:class:`~sfumato.session.notices.Notice`).

* :class:`NoticeBar`: a line inside the panel a notice belongs to (the Generate panel, the Model
  Manager, the first-run wizard, the runtime installer): severity mark, message, "Details…"
  when there are details, and ✕ to dismiss. It binds to a source's latest notice on a
  :class:`~sfumato.session.notices.NoticeBoard`, or is shown to directly by a window that has no
  session (:meth:`NoticeBar.show_notice`).
* :class:`StatusNotices`: the status bar's notice field for every source without a bar of its own.
  Information goes after a while; a warning, an error or work under way stays until the next
  notice, its source clears it, or ✕.
* :func:`show_details`: the details view, opened on demand only ("Details…").

Nothing else in ``sfumato.ui`` opens a message box for a notice or writes the status bar's
message (a test greps for it); a question that needs a decision is
:mod:`sfumato.ui.common.questions`'s.
"""

from __future__ import annotations

from collections.abc import Collection

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMessageBox, QSizePolicy, QToolButton, QWidget

from sfumato.session.notices import Notice, NoticeBoard, Severity, Source

MARKS = {Severity.INFO: "ℹ", Severity.WARNING: "⚠", Severity.ERROR: "⚠"}
"""The mark in front of a notice's message."""
STATUS_MS = {Severity.INFO: 5000, Severity.WARNING: 0, Severity.ERROR: 0}
"""How long the status bar shows a notice of each severity (0: until the next one or ✕)."""
_ICONS = {Severity.INFO: QMessageBox.Icon.Information, Severity.WARNING: QMessageBox.Icon.Warning,
          Severity.ERROR: QMessageBox.Icon.Warning}
_TITLES = {Source.APP: "Sfumato", Source.CANVAS: "Canvas", Source.FILES: "Files", Source.LAYERS: "Layers",
           Source.GENERATE: "Generate", Source.RESULTS: "Results", Source.MODELS: "Models",
           Source.BACKEND: "Processing backend"}


def show_details(parent: QWidget | None, notice: Notice) -> None:
    """The details view: ``notice``'s message with its details (modal, opened on request)."""
    box = QMessageBox(_ICONS[notice.severity], _TITLES[notice.source], notice.message,
                      QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("noticeDetails")
    if notice.details:
        box.setDetailedText(notice.details)
    box.exec()


class _NoticeLine(QFrame):
    """Mark, message, "Details…" and ✕ for one notice at a time (hidden without one)."""

    def __init__(self, name: str, wrap: bool, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.notice: Notice | None = None
        """The notice shown now, if any."""
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 2, 2)
        layout.setSpacing(6)
        self.mark = QLabel()
        self.mark.setObjectName("noticeMark")
        self.message = QLabel()
        self.message.setObjectName("noticeMessage")
        self.message.setWordWrap(wrap)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if not wrap:
            self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.details_button = QToolButton()
        self.details_button.setText("Details…")
        self.details_button.setObjectName("noticeDetailsButton")
        self.details_button.clicked.connect(self.open_details)
        self.dismiss_button = QToolButton()
        self.dismiss_button.setText("✕")
        self.dismiss_button.setToolTip("Dismiss")
        self.dismiss_button.clicked.connect(self.dismiss)
        align = Qt.AlignmentFlag.AlignTop
        layout.addWidget(self.mark, 0, align)
        layout.addWidget(self.message, 1)
        layout.addWidget(self.details_button, 0, align)
        layout.addWidget(self.dismiss_button, 0, align)
        self.hide()

    def show_notice(self, notice: Notice | None) -> None:
        """Show ``notice`` (``None`` hides the line)."""
        self.notice = notice
        if notice is None:
            self.message.clear()
            self.hide()
            return
        self.setProperty("severity", notice.severity.value)  # the stylesheet colours by it
        self.style().unpolish(self)
        self.style().polish(self)
        self.mark.setText(MARKS[notice.severity])
        self.message.setText(notice.message)
        self.message.setToolTip(notice.message)
        self.details_button.setVisible(bool(notice.details))
        self.show()

    def open_details(self) -> None:
        """Open the details view of the notice shown."""
        if self.notice is not None:
            show_details(self.window(), self.notice)

    def dismiss(self) -> None:
        """Hide the notice shown."""
        self.show_notice(None)


class NoticeBar(_NoticeLine):
    """The inline notice line of one panel.

    With ``board`` and ``source`` it shows that source's latest notice and dismissing clears it
    on the board; without, the panel calls :meth:`show_notice` itself.
    """

    def __init__(self, board: NoticeBoard | None = None, source: Source | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__("noticeBar", True, parent)
        self._board = board
        self._source = source
        if board is not None and source is not None:
            board.latest(source).bind(self.show_notice)

    def dismiss(self) -> None:
        """Hide the notice (and take it back from the board it came from)."""
        if self._board is not None and self._source is not None:
            self._board.clear(self._source)
        else:
            super().dismiss()


class StatusNotices(_NoticeLine):
    """The status bar's notice field: every notice posted on ``board`` whose source is not in
    ``inline`` (those have a :class:`NoticeBar` in their panel), for :data:`STATUS_MS`."""

    def __init__(self, board: NoticeBoard, inline: Collection[Source] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__("statusNotices", False, parent)
        self._inline = frozenset(inline)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        board.posted.connect(self._posted)
        board.cleared.connect(self._cleared)

    def _posted(self, notice: Notice) -> None:
        if notice.source in self._inline:
            return
        self.show_notice(notice)
        self._timer.stop()
        if STATUS_MS[notice.severity] and not notice.ongoing:
            self._timer.start(STATUS_MS[notice.severity])

    def _cleared(self, source: Source) -> None:
        if self.notice is not None and self.notice.source is source:
            self.dismiss()

    def text(self) -> str:
        """The message shown now ("" when none is)."""
        return self.message.text() if self.notice is not None else ""
