"""Starting the GUI: Qt application, asyncio loop (qasync), logging, crash handling, recovery."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import qasync
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from sfumato.document.autosave import AutosaveWriter, find_recoverable
from sfumato.errors import UserFacingError
from sfumato.logs import setup_logging
from sfumato.paths import data_dir
from sfumato.settings import load_settings
from sfumato.ui import error_dialog
from sfumato.ui.file_open_events import FileOpenHandler
from sfumato.ui.main_window import MainWindow
from sfumato.ui.recovery_dialog import RecoveryDialog
from sfumato.ui.resources import resource_path, stylesheet

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


def install_excepthook(parent: QWidget) -> None:
    """Log unexpected exceptions with their traceback and show the user one short message."""
    showing = threading.Event()

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        log.critical("unhandled exception\n%s", "".join(traceback.format_exception(kind, value, tb)))
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        if showing.is_set() or threading.current_thread() is not threading.main_thread():
            return
        showing.set()
        try:
            error_dialog.show_error(parent, value)
        finally:
            showing.clear()

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        log.critical("unhandled exception in thread %s", args.thread.name if args.thread else "?",
                     exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    sys.excepthook = hook
    threading.excepthook = thread_hook


def offer_recovery(window: MainWindow, directory: Path) -> None:
    """If a previous session died with unsaved documents, offer to reopen one."""
    entries = find_recoverable(directory)
    if not entries:
        return
    dialog = RecoveryDialog(entries, window)
    dialog.exec()
    if dialog.choice == "discard":
        for entry in entries:
            entry.discard()
    elif dialog.choice == "recover" and (entry := dialog.selected()) is not None:
        try:
            doc = entry.load()
        except UserFacingError as exc:
            window.show_error(exc)
            return
        window.set_document(doc, entry.title)
        window.autosave_now()  # into this session's folder, before the old autosave goes
        entry.discard()


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
            window.autosave_failed.emit(error_dialog.describe(exc)[0])

    writer = AutosaveWriter(directory, on_error=autosave_failed)
    window = MainWindow(settings, writer)
    install_excepthook(window)
    app.installEventFilter(FileOpenHandler(window))  # macOS hands double-clicked .ora files over here
    window.show()
    smoke = None
    if args.smoke:  # no recovery dialog, no first-run wizard, no files: the smoke run only
        from sfumato.ui import smoke as smoke_mode

        smoke = smoke_mode.start(window)

    def offer_first_run() -> None:
        # the model store pulls in huggingface_hub (~0.5 s of imports on this thread): only
        # once the window has been on screen for a moment, never on the launch path
        from sfumato.ui.model_services import services_for

        services_for(window).offer_first_run()

    def start() -> None:
        offer_recovery(window, directory)
        QTimer.singleShot(FIRST_RUN_DELAY_MS, offer_first_run)
        files = [p for p in args.files if p.exists()]
        missing = [p for p in args.files if not p.exists()]
        if files:
            window.open_dropped(files, None)
        if missing:
            QMessageBox.warning(window, "Sfumato", f"“{missing[0]}” does not exist.")

    if smoke is None:
        QTimer.singleShot(0, start)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    try:
        with loop:
            loop.run_until_complete(closed.wait())
    finally:
        writer.close()
    if smoke is not None:
        return smoke.exit_code
    log.info("Sfumato closed normally")
    return 0
