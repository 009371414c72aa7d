"""The document lifecycle: new, open, import, paste, drops, save, export, the unsaved-changes
prompt, recent files, the autosave timer and closing (or ending the system session).

Disk work runs on the ``io`` lane (:class:`~sfumato.qt_bridge.work.BackgroundWork`);
while it runs the session is busy and the document read-only, so what is written is what is
shown. The rules without Qt (autosave, where pictures land) live in ``sfumato.session``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QEvent, QObject, QPointF, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QWidget

from sfumato.document.autosave import RecoveryEntry
from sfumato.document.document import Document, new_document
from sfumato.document.image_io import (
    SUPPORTED_IMPORT_SUFFIXES,
    check_image_size,
    export_image,
)
from sfumato.document.ora import load_ora, save_ora
from sfumato.errors import UserFacingError
from sfumato.qt_bridge.images import qimage_to_rgba
from sfumato.qt_bridge.work import BackgroundWork
from sfumato.session.autosave import SessionAutosave
from sfumato.session.canvas_session import UNTITLED, CanvasSession
from sfumato.session.image_import import (
    Arrival,
    add_layers,
    decode_images,
    image_name,
    picture_document,
    placed_layers,
    prepare_arrival,
)
from sfumato.session.jobs import export_metadata
from sfumato.session.notices import Notice, Source
from sfumato.settings import Settings
from sfumato.ui.common.drops import dropped_files
from sfumato.ui.common.questions import SaveChoice, ask_save_changes
from sfumato.ui.files.new_document_dialog import NewDocumentDialog

T = TypeVar("T")
"""What a piece of file work hands to its ``on_done``."""

MAX_RECENT = 10
OPEN_FILTER = "Images and OpenRaster ({})".format(
    " ".join(f"*{s}" for s in (".ora", *SUPPORTED_IMPORT_SUFFIXES)))
IMPORT_FILTER = "Images ({})".format(" ".join(f"*{s}" for s in SUPPORTED_IMPORT_SUFFIXES))
ORA_FILTER = "OpenRaster (*.ora)"
EXPORT_FILTERS = {"PNG image (*.png)": ".png", "JPEG image (*.jpg *.jpeg)": ".jpg",
                  "WebP image (*.webp)": ".webp"}

class FileController(QObject):
    """Opens, saves and closes the session's document for ``window`` (the dialogs' parent,
    which also takes file drops).

    ``view_centre()`` is the document point in the middle of the view (where pasted and
    imported pictures land). ``task_progress(done, total)`` may be emitted from a background
    task's thread (the window's progress bar counts it); ``autosave_failed(message)`` from any
    thread (the autosave writer's): the message then becomes a warning. ``recent_changed``
    follows File › Open Recent. What it tells the person goes to ``session.notices`` as
    :attr:`Source.FILES` (work under way while it runs, errors, "Saved …").
    """

    task_progress = Signal(int, int)
    autosave_failed = Signal(str)
    recent_changed = Signal()

    def __init__(self, session: CanvasSession, settings: Settings, autosave: SessionAutosave,
                 tasks: BackgroundWork, window: QWidget,
                 view_centre: Callable[[], QPointF | None]) -> None:
        super().__init__(window)
        self.session = session
        self.settings = settings
        self.autosave = autosave
        self.tasks = tasks
        self._window = window
        self._view_centre = view_centre
        self._notices = session.notices
        self._working: Notice | None = None  # the "Opening …" notice of the task under way
        self._when_idle: list[Callable[[], None]] = []
        self._close_confirmed = False
        self._session_ending = False
        session.busy.changed.connect(self._busy_changed)
        self.autosave_failed.connect(
            lambda text: self._notices.warn(Source.FILES, f"Autosave failed: {text}"))
        self._autosave_timer = QTimer(self)
        self._autosave_timer.timeout.connect(self.autosave.save_now)
        self._autosave_timer.start(max(5, int(settings.autosave_interval_s)) * 1000)
        window.setAcceptDrops(True)
        window.installEventFilter(self)  # files dropped beside the canvas

    # ------------------------------------------------------------------ busy
    def _busy_changed(self, busy: bool) -> None:
        if not busy and self._working is not None:
            if self._notices.latest(Source.FILES).value is self._working:  # nothing said since
                self._notices.clear(Source.FILES)
            self._working = None
        if not busy and self._when_idle:
            QTimer.singleShot(0, self._run_when_idle)

    def when_idle(self, action: Callable[[], None]) -> None:
        """Run ``action`` now, or once the file being read or written is done."""
        if self.session.busy.value:
            self._when_idle.append(action)
        else:
            action()

    def _run_when_idle(self) -> None:
        while self._when_idle and not self.session.busy.value:
            self._when_idle.pop(0)()

    def _run(self, message: str, work: Callable[[], T], on_done: Callable[[T], object]) -> None:
        """Do ``work`` in the background, then ``on_done(result)`` here; errors are shown."""
        self._working = self._notices.info(Source.FILES, message, ongoing=True)

        def done(result: T) -> None:
            try:
                on_done(result)
            except UserFacingError as exc:
                self._report(exc)

        self.tasks.run("io", work, on_done=done, on_error=self._report)

    def _report(self, error: BaseException) -> None:
        self._notices.report(error, Source.FILES)

    def _start_dir(self) -> str:
        doc = self.session.doc
        if doc is not None and doc.path is not None:
            return str(doc.path.parent)
        recent = self.settings.recent_files
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    # ------------------------------------------------------- unsaved changes
    def confirm_discard(self, then: Callable[[], None]) -> None:
        """Run ``then`` once the user has saved or discarded unsaved changes (or there are none)."""
        doc = self.session.doc
        if doc is None or not doc.modified:
            then()
            return
        answer = ask_save_changes(self._window, "Unsaved changes",
                                  f"Save the changes to “{self.session.title.value}” first?")
        if answer is SaveChoice.DISCARD:
            then()
        elif answer is SaveChoice.SAVE:
            self.save(on_saved=then)

    # ---------------------------------------------------------------- new/open
    def new_document(self) -> None:
        """Ask for a size and start a new document (after the unsaved-changes prompt)."""
        self.confirm_discard(self._ask_new_document)

    def _ask_new_document(self) -> None:
        dialog = NewDocumentDialog(self._window)
        if dialog.exec() != NewDocumentDialog.DialogCode.Accepted:
            return
        width, height = dialog.chosen_size
        try:
            doc = new_document(width, height, background=dialog.background)
        except UserFacingError as exc:
            self._report(exc)
            return
        self.session.show(doc, UNTITLED)

    def open_dialog(self) -> None:
        """File › Open: choose an OpenRaster file or an image."""
        self.confirm_discard(self._ask_open)

    def _ask_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._window, "Open", self._start_dir(), OPEN_FILTER)
        if path:
            self._open_now(Path(path))

    def open_path(self, path: Path) -> None:
        """Open ``path`` (.ora or an image), asking about unsaved changes first."""
        self.confirm_discard(lambda: self._open_now(path))

    def _open_now(self, path: Path) -> None:
        if path.suffix.lower() == ".ora":
            self._run(f"Opening {path.name}…", lambda: load_ora(path),
                      lambda doc: self._opened(doc, path))
        else:
            self._run(f"Opening {path.name}…", lambda: picture_document(path),
                      lambda doc: self._opened(doc, path))

    def _opened(self, doc: Document, path: Path) -> None:
        self.session.show(doc, image_name(path))
        self.remember_recent(path)
        if doc.layers and doc.layers[0].metadata.get("parameters"):
            self._notices.info(Source.FILES, f"“{path.name}” carries generation parameters: Layer › "
                               "Reuse Parameters fills the Generate panel with them.")

    def recover(self, entry: RecoveryEntry) -> None:
        """Open the autosave ``entry`` (read in the background, the status bar saying so).

        Once it is open it moves into this session's autosave and the old one goes; with
        autosave off the old one stays until the next start. If it cannot be read, the error
        shows and the window keeps what it had.
        """
        def opened(doc: Document) -> None:
            self.session.show(doc, entry.title)
            if self.autosave.enabled:
                self.autosave.save_now()  # into this session's folder, before the old autosave goes
                entry.discard()

        self._run(f"Recovering “{entry.title}”…", entry.load, opened)

    # ------------------------------------------------------ import/paste/drop
    def import_dialog(self) -> None:
        """File › Import: add image files as layers in the middle of the view."""
        paths, _ = QFileDialog.getOpenFileNames(self._window, "Import images as layers", self._start_dir(),
                                                IMPORT_FILTER)
        if paths:
            self.import_images([Path(p) for p in paths], self._view_centre())

    def open_dropped(self, paths: Sequence[Path], point: QPointF | None) -> None:
        """Files dropped: an .ora opens; images become layers centred at ``point``.

        Without a document the first image opens as a document of its own size. Files handed
        over while a file is read or written (a recovery at start-up) open once it is done.
        """
        if self.session.busy.value:
            self.when_idle(lambda: self.open_dropped(paths, point))
            return
        ora = [p for p in paths if p.suffix.lower() == ".ora"]
        images = [p for p in paths if p.suffix.lower() != ".ora"]
        if ora:
            self.open_path(ora[0])
            if len(ora) > 1:
                self._notices.info(Source.FILES, "Only one OpenRaster file can be opened at a time.")
            return
        if images:
            self.import_images(images, point)

    def import_images(self, paths: Sequence[Path], point: QPointF | None) -> None:
        """Decode ``paths`` in the background (counting files in the status bar) and add each as
        a layer centred at ``point``; the layers are made there too."""
        paths = list(paths)
        canvas, centre = self._landing_place(point)

        def work() -> Arrival:
            decoded = decode_images(paths, self.task_progress.emit)
            return prepare_arrival([(image_name(path), rgba) for path, rgba in decoded], canvas, centre)

        self._run("Reading images…", work, self._arrived)

    def _landing_place(
            self, point: QPointF | None) -> tuple[tuple[int, int] | None, tuple[float, float] | None]:
        """The open document's size and where pictures arriving at ``point`` are centred."""
        doc = self.session.doc
        if doc is None:
            return None, None
        centre = point or self._view_centre() or QPointF(doc.width / 2, doc.height / 2)
        return (doc.width, doc.height), (centre.x(), centre.y())

    def _arrived(self, arrival: Arrival) -> None:
        """Pictures made ready in the background join the session: a document, then layers."""
        images, layers = arrival.images, arrival.layers
        if arrival.document is not None:
            if self.session.doc is None:
                self.session.show(arrival.document, arrival.title)
            else:  # a document was opened meanwhile: the first picture joins it too
                images = [(arrival.title, arrival.document.layers[0].pixels), *images]
                layers = []
        doc = self.session.doc
        if doc is not None and images:
            if (doc.width, doc.height) != arrival.canvas or len(layers) != len(images):
                layers = placed_layers(images, (doc.width, doc.height), (doc.width / 2, doc.height / 2))
            add_layers(doc, layers)
        errors = arrival.errors
        if errors:
            more = f" ({len(errors) - 1} more could not be read either.)" if len(errors) > 1 else ""
            self._report(UserFacingError(f"{errors[0]}{more}", errors[0].details))

    def paste(self) -> None:
        """Edit › Paste: a clipboard image (or copied image files) as a new layer."""
        clipboard = QGuiApplication.clipboard()
        mime = clipboard.mimeData()
        if mime is not None and mime.hasImage():
            image = clipboard.image()
            if not image.isNull():
                try:
                    check_image_size(image.width(), image.height(), "The pasted image")
                    rgba = qimage_to_rgba(image)
                    canvas, centre = self._landing_place(self._view_centre())
                    self._run("Pasting…", lambda: prepare_arrival([("Pasted image", rgba)], canvas, centre),
                              self._arrived)
                except UserFacingError as exc:
                    self._report(exc)
                return
        if mime is not None and mime.hasUrls():
            paths = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
            if paths:
                self.open_dropped(paths, self._view_centre())
                return
        self._notices.info(Source.FILES, "The clipboard holds no image.")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Files dragged onto the window beside the canvas are taken as dropped in the view's middle."""
        if watched is self._window and isinstance(event, QDragEnterEvent | QDropEvent):
            paths = dropped_files(event)
            if paths:
                event.acceptProposedAction()
                if event.type() == QEvent.Type.Drop:
                    self.open_dropped(paths, self._view_centre())
                return True
        return False

    # ---------------------------------------------------------- save/export
    def save(self, on_saved: Callable[[], None] | None = None) -> None:
        """File › Save: write the document as OpenRaster to its file (asking for one if new)."""
        doc = self.session.doc
        if doc is None:
            return
        if doc.path is None or doc.path.suffix.lower() != ".ora":
            self.save_as(on_saved)
            return
        self._save_to(doc.path, on_saved)

    def save_as(self, on_saved: Callable[[], None] | None = None) -> None:
        """File › Save As: choose an .ora file name and save there."""
        if self.session.doc is None:
            return
        suggested = str(Path(self._start_dir()) / f"{self.session.title.value}.ora")
        path, _ = QFileDialog.getSaveFileName(self._window, "Save as OpenRaster", suggested, ORA_FILTER)
        if not path:
            return
        target = Path(path)
        if target.suffix.lower() != ".ora":
            target = target.with_name(target.name + ".ora")
        self._save_to(target, on_saved)

    def _save_to(self, path: Path, on_saved: Callable[[], None] | None) -> None:
        doc = self.session.doc
        if doc is None:
            return

        def done(_result: object) -> None:
            self.autosave.drop()
            self.session.title.set(image_name(path))
            self.remember_recent(path)
            self.session.saved.emit()
            self._notices.info(Source.FILES, f"Saved {path.name}")
            if on_saved is not None:
                on_saved()

        self._run(f"Saving {path.name}…", lambda: save_ora(doc, path), done)

    def export_dialog(self) -> None:
        """File › Export: write the visible image as PNG, JPEG or WebP."""
        doc = self.session.doc
        if doc is None:
            return
        suggested = str(Path(self._start_dir()) / f"{self.session.title.value}.png")
        path, chosen = QFileDialog.getSaveFileName(self._window, "Export image", suggested,
                                                   ";;".join(EXPORT_FILTERS))
        if not path:
            return
        target = Path(path)
        if target.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
            target = target.with_name(target.name + EXPORT_FILTERS.get(chosen, ".png"))
        metadata = export_metadata(doc)  # the parameters of the result layer on top
        self._run(f"Exporting {target.name}…", lambda: export_image(doc, target, metadata),
                  lambda _r: self._notices.info(Source.FILES, f"Exported {target.name}"))

    # ---------------------------------------------------------- recent files
    def remember_recent(self, path: Path) -> None:
        """Put ``path`` first in File › Open Recent."""
        text = str(path.resolve())
        recent = [p for p in self.settings.recent_files if p != text]
        self.settings.recent_files = [text, *recent][:MAX_RECENT]
        self.recent_changed.emit()

    def forget_recent(self) -> None:
        """Empty File › Open Recent."""
        self.settings.recent_files = []
        self.recent_changed.emit()

    # --------------------------------------------------------------- closing
    def ready_to_close(self) -> bool:
        """Whether the window may close now. While a file is written it may not (a notice
        says so); with unsaved changes the prompt comes first and closes the window after."""
        if self.session.busy.value and not self._session_ending:  # ending waits for the task
            self._notices.info(Source.FILES, "Please wait until the file is written.")
            return False
        doc = self.session.doc
        if not self._close_confirmed and doc is not None and doc.modified:
            self.confirm_discard(self.close_now)
            return False
        return True

    def shutdown(self) -> None:
        """The window closes: stop the autosave timer and the file threads; a clean exit leaves
        no autosave to recover (an ended session keeps it)."""
        self._autosave_timer.stop()
        self.tasks.shutdown()
        if not self._session_ending:
            self.autosave.drop()

    def close_now(self) -> None:
        """Close the window without the unsaved-changes prompt (it was answered already)."""
        self._close_confirmed = True
        self._window.close()

    def commit_session(self) -> None:
        """The system asks for unsaved work to be kept (logout, SIGTERM): autosave it now and
        wait until it is on disk, so the next start offers it."""
        self.autosave.commit()

    def end_session(self) -> None:
        """Close for the system without asking, keeping unsaved work as an autosave (SIGTERM).

        A file being written is finished first; the autosave stays for the next start.
        """
        self.commit_session()
        self._session_ending = True
        self._close_confirmed = True
        self._window.close()

    @property
    def session_ended(self) -> bool:
        """True once :meth:`end_session` closed the window (its autosave is to be kept)."""
        return self._session_ending

