"""Starting the GUI: Qt application, asyncio loop (qasync), logging, crash handling, recovery.

A start never fails for want of a folder: when autosave, the settings or the model cache cannot
be written (no permission, no file locks, a full disk), the window opens anyway and says once
what is off and where to fix it. SIGTERM, SIGHUP and the session manager's commit request
autosave the open document first; what they leave is offered on the next start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

from PySide6.QtCore import QObject, QSocketNotifier, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette, QSessionManager
from PySide6.QtWidgets import QApplication, QWidget

from sfumato.document.autosave import AutosaveError, AutosaveWriter, find_recoverable
from sfumato.logs import setup_logging
from sfumato.paths import cache_dir, config_dir, data_dir, folder_problem
from sfumato.qt_bridge import work
from sfumato.session.notices import Notice, NoticeBoard, Source, describe_error
from sfumato.settings import Settings, load_settings
from sfumato.ui.common.resources import resource_path, stylesheet
from sfumato.ui.files.controller import FileController
from sfumato.ui.files.open_events import FileOpenHandler
from sfumato.ui.files.recovery_dialog import RecoveryDialog
from sfumato.ui.main_window import MainWindow

log = logging.getLogger(__name__)


def autosave_dir() -> Path:
    """Where autosaves live (per user)."""
    return data_dir() / "autosave"


def dark_palette() -> QPalette:
    """The colours behind the style sheet, for widgets it does not reach."""
    palette = QPalette()
    colors = {
        QPalette.ColorRole.Window: 0x2A2C31, QPalette.ColorRole.WindowText: 0xD9DCE3,
        QPalette.ColorRole.Base: 0x1E1F23, QPalette.ColorRole.AlternateBase: 0x26282C,
        QPalette.ColorRole.Text: 0xD9DCE3, QPalette.ColorRole.Button: 0x34373D,
        QPalette.ColorRole.ButtonText: 0xD9DCE3, QPalette.ColorRole.Highlight: 0x5B8DEF,
        QPalette.ColorRole.HighlightedText: 0xFFFFFF, QPalette.ColorRole.ToolTipBase: 0x1E1F23,
        QPalette.ColorRole.ToolTipText: 0xD9DCE3, QPalette.ColorRole.PlaceholderText: 0x80858F,
        QPalette.ColorRole.Link: 0x7FA8F5,
    }
    for role, rgb in colors.items():
        palette.setColor(role, QColor(rgb))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(0x646873))
    return palette


def install_excepthook(notices: NoticeBoard) -> None:
    """Log unexpected exceptions with their traceback and tell the user one short message (an
    error notice on ``notices``; the details on demand)."""

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        log.critical("unhandled exception\n%s", "".join(traceback.format_exception(kind, value, tb)))
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        if threading.current_thread() is threading.main_thread():
            notices.error(Source.APP, *describe_error(value))  # logged above, with its traceback

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        log.critical("unhandled exception in thread %s", args.thread.name if args.thread else "?",
                     exc_info=args.exc_value)  # the exception carries its traceback

    sys.excepthook = hook
    threading.excepthook = thread_hook


def offer_recovery(files: FileController, parent: QWidget, directory: Path) -> None:
    """If a previous session died with unsaved documents, offer (over ``parent``) to reopen one.

    A recovered document moves into this session's autosave; with autosave off its old
    autosave stays until the next start, so nothing is lost before it is saved.
    """
    entries = find_recoverable(directory)
    if not entries:
        return
    dialog = RecoveryDialog(entries, parent)
    dialog.exec()
    if dialog.choice == "discard":
        for entry in entries:
            entry.discard()
    elif dialog.choice == "recover" and (chosen := dialog.selected()) is not None:
        files.recover(chosen)  # read in the background


@dataclass(frozen=True)
class StartupProblem:
    """Something a start could not set up: ``feature`` (``autosave``, ``settings``, ``models``)
    and one sentence saying what is off, why, and where to fix it."""

    feature: str
    message: str


def start_autosave(directory: Path, on_error: Callable[[Exception], None]
                   ) -> tuple[AutosaveWriter | None, StartupProblem | None]:
    """The session's autosave writer, or ``None`` and why autosave is off."""
    try:
        return AutosaveWriter(directory, on_error=on_error, executor=work.Lane("autosave")), None
    except AutosaveError as exc:
        log.warning("%s (%s)", exc, exc.details)
        return None, StartupProblem("autosave", f"{exc} Fix that, or set SFUMATO_DATA_DIR to another "
                                                "folder.")


def model_cache_root(settings: Settings) -> Path:
    """Where the model manager keeps its models (the setting, else the per-user cache)."""
    return Path(settings.model_cache_dir) if settings.model_cache_dir else cache_dir() / "models"


def folder_problems(settings: Settings) -> list[StartupProblem]:
    """The settings and model cache folders that cannot be written, each with what it turns off."""
    problems = []
    folder = config_dir()
    if (reason := folder_problem(folder)) is not None:
        problems.append(StartupProblem(
            "settings", f"Settings will not be kept: {reason} ({folder}). Fix that, or set "
                        "SFUMATO_CONFIG_DIR to another folder."))
    folder = model_cache_root(settings)
    if (reason := folder_problem(folder)) is not None:
        problems.append(StartupProblem(
            "models", f"Models cannot be downloaded or installed: {reason} ({folder}). Fix that, or "
                      "set SFUMATO_CACHE_DIR (or model_cache_dir in settings.json) to another folder."))
    return problems


def show_startup_problems(notices: NoticeBoard, problems: Sequence[StartupProblem]) -> Notice:
    """Say once, without blocking the window, what is off and where to fix it: one warning (the
    only problem's words, or a line saying there are several, each in the details)."""
    for problem in problems:
        log.warning("start: %s", problem.message)
    if len(problems) == 1:
        return notices.warn(Source.APP, problems[0].message)
    return notices.warn(Source.APP, f"Sfumato started, but {len(problems)} things are off.",
                        "\n\n".join(problem.message for problem in problems))


#: Signals that end the session from outside (``kill``, a logout, a closed terminal).
SESSION_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class SessionEndWatcher(QObject):
    """Autosaves before the system ends the session.

    SIGTERM and SIGHUP close the window through :meth:`FileController.end_session` (the autosave is
    kept for the next start); the session manager's commit request (logout) autosaves and waits
    until it is written. Python runs signal handlers only between bytecodes, which never happens
    while Qt waits for events, so the C-level handler's wake-up byte (``signal.set_wakeup_fd``)
    arrives on a socket that Qt watches.
    """

    def __init__(self, files: FileController) -> None:
        super().__init__(files)
        self._files = files
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno())
        self._previous = {number: signal.signal(number, _note_signal) for number in SESSION_SIGNALS}
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._woken)
        app = QGuiApplication.instance()
        self._app = app if isinstance(app, QGuiApplication) else None
        if self._app is not None:
            self._app.commitDataRequest.connect(self.commit)

    def commit(self, _manager: QSessionManager | None = None) -> None:
        """The session manager asks for unsaved work to be kept (a logout)."""
        log.info("the session is ending: autosaving")
        self._files.commit_session()

    def _woken(self) -> None:
        try:
            received = self._reader.recv(64)
        except BlockingIOError:
            return
        numbers = [number for number in received if number in SESSION_SIGNALS]
        if numbers and not self._files.session_ended:
            log.info("%s received: autosaving and closing", signal.Signals(numbers[0]).name)
            self._files.end_session()
            QApplication.exit(0)

    def close(self) -> None:
        """Give the signals and the wake-up descriptor back to what had them before."""
        if self._app is not None:
            self._app.commitDataRequest.disconnect(self.commit)
        self._notifier.setEnabled(False)
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._reader.close()
        self._writer.close()


def _note_signal(_number: int, _frame: FrameType | None) -> None:
    """Replaces the default action (ending the process); the wake-up byte does the work."""


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sfumato", description="Sfumato: paint with Stable Diffusion")
    parser.add_argument("files", nargs="*", type=Path, help="an .ora file or images to open")
    parser.add_argument("--verbose", action="store_true", help="debug log on stderr")
    # packaging check (sfumato.ui.smoke): open the window, generate with a tiny model, exit 0 or 1
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    args, _qt_args = parser.parse_known_args(list(argv))
    return args


FIRST_RUN_DELAY_MS = 800


def run_app(argv: Sequence[str]) -> int:
    """Open the main window and run until it closes; returns the exit status."""
    args = _parse(argv)
    setup_logging(verbose=args.verbose)
    QApplication.setApplicationName("Sfumato")
    QApplication.setOrganizationName("Sfumato")
    QApplication.setDesktopFileName("sfumato")  # Wayland app id and the .desktop file the packages install
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "sfumato", *argv])
    assert isinstance(app, QApplication)
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(stylesheet())
    app.setWindowIcon(QIcon(str(resource_path("icons", "sfumato.svg"))))

    settings = load_settings()
    directory = autosave_dir()

    window: MainWindow | None = None

    def autosave_failed(exc: Exception) -> None:  # on the writer thread; the signal crosses over
        if window is not None:
            window.files.autosave_failed.emit(describe_error(exc)[0])

    writer, autosave_problem = start_autosave(directory, autosave_failed)
    window = MainWindow(settings, writer)
    install_excepthook(window.session.notices)
    watcher = SessionEndWatcher(window.files)
    # macOS hands double-clicked .ora files over here
    app.installEventFilter(FileOpenHandler(window.files.open_dropped, window))
    window.show()
    smoke = None
    if args.smoke:  # no recovery dialog, no first-run wizard, no files: the smoke run only
        from sfumato.ui import smoke as smoke_mode

        smoke = smoke_mode.start(window, window.session, window.generation, window.tasks)

    def offer_first_run() -> None:
        # the model store pulls in huggingface_hub (~0.5 s of imports on this thread): only
        # once the window has been on screen for a moment, never on the launch path
        window.model_services().offer_first_run()

    def start() -> None:
        problems = [autosave_problem] if autosave_problem is not None else []
        problems += folder_problems(settings)
        if problems:
            show_startup_problems(window.session.notices, problems)
        offer_recovery(window.files, window, directory)
        if not any(problem.feature == "models" for problem in problems):
            QTimer.singleShot(FIRST_RUN_DELAY_MS, offer_first_run)
        files = [p for p in args.files if p.exists()]
        missing = [p for p in args.files if not p.exists()]
        if files:
            window.files.open_dropped(files, None)
        if missing:
            window.session.notices.error(Source.FILES, f"“{missing[0]}” does not exist.")

    if smoke is None:
        QTimer.singleShot(0, start)
    loop = work.event_loop()
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    try:
        with closing(loop):  # run_until_complete has stopped it, however it ended
            loop.run_until_complete(closed.wait())
    finally:
        watcher.close()
        if writer is not None:
            writer.close(keep=window.files.session_ended)
        work.shutdown_lanes()
    if smoke is not None:
        return smoke.exit_code
    if window.files.session_ended:
        log.info("Sfumato closed for the system; unsaved changes are kept for the next start")
    else:
        log.info("Sfumato closed normally")
    return 0
