"""The running job's progress (loading stages, step count, time left, Cancel), the Generate
panel's notice bar (what the engine noted about the last job, the last error), and the queue."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sfumato.generation.jobs import JobState
from sfumato.qt_bridge.inference_thread import GenerationJob
from sfumato.session.notices import NoticeBoard, Source
from sfumato.ui.common.notices import NoticeBar


def format_seconds(seconds: float) -> str:
    """``42 s`` or ``3 min 05 s``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    return f"{whole // 60} min {whole % 60:02d} s"


class _JobRow(QWidget):
    """One queued or running job with its cancel button.

    The label's width is ignored by the layout (its text is elided in the middle to the room it
    gets, keeping the mode and the state; the full label is the tooltip), so a long prompt never
    widens the dock and refits the canvas.
    """

    def __init__(self, job: GenerationJob, cancel: SignalInstance) -> None:
        super().__init__()
        self.job = job
        self._text = ""
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.label.setObjectName("jobLabel")
        self.label.setToolTip(job.label)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("✕")
        self.cancel_button.setToolTip("Cancel this job")
        self.cancel_button.clicked.connect(lambda: cancel.emit(job))
        layout.addWidget(self.label, 1)
        layout.addWidget(self.cancel_button)
        self.show_state()

    def show_state(self) -> None:
        """Say whether the job runs or waits (a no-op when that did not change)."""
        state = "running" if self.job.state is JobState.RUNNING else "queued"
        text = f"{self.job.label} — {state}"
        if text != self._text:
            self._text = text
            self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        metrics = self.label.fontMetrics()
        self.label.setText(metrics.elidedText(self._text, Qt.TextElideMode.ElideMiddle, self.label.width()))

    @property
    def text(self) -> str:
        """The whole line (the label shows it elided to its width)."""
        return self._text


class GenerationProgress(QWidget):
    """Shows what the inference thread does.

    ``cancel_requested(job)`` asks to cancel a job (the running one from the Cancel button,
    any job from its queue row). ``notice_bar`` shows the Generate panel's notices on
    ``notices``.
    """

    cancel_requested = Signal(object)

    def __init__(self, notices: NoticeBoard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("generationProgress")
        self._running: GenerationJob | None = None
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.bar.setFormat("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current step, or once the model has loaded (Esc)")
        self.cancel_button.clicked.connect(self._cancel_running)
        self.status = QLabel()
        self.status.setObjectName("generationStatus")
        self.status.setWordWrap(True)
        self.notice_bar = NoticeBar(notices, Source.GENERATE)
        self.queue_title = QLabel("Queue")
        self.queue_title.setObjectName("optionCaption")
        self._rows = QVBoxLayout()
        self._rows.setSpacing(2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 0, 8, 8)
        layout.setSpacing(4)
        bar_row = QHBoxLayout()
        bar_row.addWidget(self.bar, 1)
        bar_row.addWidget(self.cancel_button)
        layout.addLayout(bar_row)
        layout.addWidget(self.status)
        layout.addWidget(self.notice_bar)
        layout.addWidget(self.queue_title)
        layout.addLayout(self._rows)
        self.set_jobs([])

    # --------------------------------------------------------------- running
    def job_started(self, job: GenerationJob) -> None:
        """A job began: an indeterminate bar until its first step."""
        self._running = job
        self.bar.setRange(0, 0)
        self.bar.setFormat("Starting…")
        self.status.setText(job.label)

    def job_stage(self, job: GenerationJob, text: str) -> None:
        """The job is doing something without steps: ``text`` says what ("Loading sdxl-turbo…").

        The bar stays indeterminate (it shows no text then), so the status line says it.
        """
        if job is self._running:
            self.bar.setRange(0, 0)
            self.bar.setFormat(text)
            self.status.setText(text)
            self.status.setToolTip(job.label)

    def job_stopping(self, job: GenerationJob) -> None:
        """Cancel was asked for the running job: say when it will stop."""
        if job is not self._running:
            return
        if job.step == 0 and job.stage:  # a stage cannot be interrupted: it stops when it ends
            self.status.setText(f"{job.stage.rstrip('…')} — then stopping…")
        else:
            self.status.setText("Stopping after this step…")

    def job_progress(self, job: GenerationJob) -> None:
        """Show ``job``'s step count and the time left."""
        if job is not self._running:
            return
        self.bar.setRange(0, max(1, job.total))
        self.bar.setValue(job.step)
        left = job.seconds_left()
        suffix = f" — {format_seconds(left)} left" if left is not None and job.step < job.total else ""
        self.bar.setFormat(f"Step {job.step} / {job.total}{suffix}")
        self.status.setText(job.label)
        self.status.setToolTip("")

    def job_ended(self, job: GenerationJob, text: str) -> None:
        """The running job is over; ``text`` says how it ended (a job that ended while another
        runs, one cancelled in the queue or handled after the next began, leaves it be)."""
        if job is self._running:
            self._running = None
            self.bar.setRange(0, 1)
            self.bar.setValue(1 if job.state is JobState.DONE else 0)
            self.bar.setFormat(text)
        elif self._running is not None:
            return
        self.status.setText(text)
        self.cancel_button.setEnabled(False)

    def _cancel_running(self) -> None:
        job = self._running
        if job is not None:
            self.cancel_requested.emit(job)
            self.job_stopping(job)

    # ----------------------------------------------------------------- queue
    def set_jobs(self, jobs: list[GenerationJob]) -> None:
        """Show ``jobs`` (queued and running), each with its own cancel button.

        Only what changed is touched: rows of jobs that left are removed, rows of new jobs are
        added, and a row whose job moved on (queued → running) changes its text; the rest stay
        as they are, so a submit costs one new row however long the queue is.
        """
        shown = len(jobs) > 1
        wanted = {id(job) for job in jobs}
        rows = {}
        for old in self.rows():
            if id(old.job) in wanted:
                rows[id(old.job)] = old
            else:
                self._rows.removeWidget(old)
                old.deleteLater()
        for position, job in enumerate(jobs):
            row = rows.get(id(job))
            if row is None:
                row = _JobRow(job, self.cancel_requested)
                self._rows.insertWidget(position, row)  # the layout shows it from the event loop
                if not shown:
                    row.hide()  # explicitly, so the layout does not show it
                continue
            if self._rows.indexOf(row) != position:
                self._rows.removeWidget(row)
                self._rows.insertWidget(position, row)
            row.show_state()
            if row.isHidden() == shown:
                row.setVisible(shown)
        if self.queue_title.isHidden() == shown:
            self.queue_title.setVisible(shown)
        self.cancel_button.setEnabled(self._running is not None and not self._running.state.is_final)

    def rows(self) -> list[_JobRow]:
        """The queue's rows (for tests and keyboard access)."""
        out = []
        for i in range(self._rows.count()):
            item = self._rows.itemAt(i)
            widget = item.widget() if item is not None else None
            if isinstance(widget, _JobRow):
                out.append(widget)
        return out
