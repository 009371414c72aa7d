"""Models › Model Manager: the catalog with fit badges for this machine, installs with progress
and cancel, remove, verify, repair, and imports of local files and folders: checkpoints, and
LoRAs and textual-inversion embeddings ("Import LoRA or Embedding…", a file or a folder of them,
an AUTOMATIC1111 or ComfyUI install included), which the table lists with their kind.

All model-store work runs in :class:`~sfumato.qt_bridge.model_tasks.ModelTasks`; the dialog shows
its progress signals and awaits each task's outcome in a coroutine on the qasync loop (its own
and those started elsewhere, such as the first-run wizard's downloads). Closing the dialog hides
it: downloads go on and show again when it reopens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sfumato.errors import UserFacingError
from sfumato.model_store import (
    CatalogModel,
    DownloadCancelled,
    DownloadProgress,
    GatedModelError,
    InstalledModel,
    VerifyResult,
)
from sfumato.model_store.adapters import AdapterFile, AdapterImport
from sfumato.qt_bridge import work
from sfumato.qt_bridge.model_tasks import ModelTasks
from sfumato.session.model_state import MANAGED_KINDS, StoreState, hub_sizes, read_state
from sfumato.session.notices import Source, describe_error, notice_from_error
from sfumato.ui.common.model_views import (
    MODEL_STYLE,
    ask_token,
    estimated_download,
    fit_badge,
    hardware_summary,
    progress_bar,
    show_progress,
    size_text,
)
from sfumato.ui.common.notices import NoticeBar
from sfumato.ui.common.questions import ask_yes_no

log = logging.getLogger(__name__)

COLUMNS = ("Model", "Kind", "Fit on this machine", "Runs as", "Size", "Licence", "Status")
COL_MODEL, COL_KIND, COL_FIT, COL_RUNS, COL_SIZE, COL_LICENCE, COL_STATUS = range(len(COLUMNS))
IMPORT_FILTER = "Checkpoints (*.safetensors *.ckpt *.pt *.pth *.bin);;All files (*)"
ADAPTER_FILTER = "LoRAs and embeddings (*.safetensors);;All files (*)"
KIND_NAMES = {"lora": "LoRA", "embedding": "Embedding"}
STATE_TASK, SIZES_TASK, IMPORT_TASK = "_state", "_sizes", "_import"
VERBS = {"install": "", "repair": "Repairing · ", "verify": "Verifying · ", "import": "Importing · "}


@dataclass
class _Row:
    """One table row: a catalog model (installed or not) or another installed model."""

    key: str
    model: CatalogModel | None
    installs: list[InstalledModel] = field(default_factory=list)
    adapter: AdapterFile | None = None
    """An imported LoRA or embedding (its key is ``lora:NAME`` or ``embedding:NAME``)."""

    @property
    def install(self) -> InstalledModel | None:
        """The install that remove/verify/repair act on (the preferred variant)."""
        return self.installs[0] if self.installs else None

    @property
    def managed(self) -> bool:
        """Installed in Sfumato's own cache (so it can be verified and removed)."""
        return self.install is not None and self.install.kind in MANAGED_KINDS

    @property
    def kind(self) -> str:
        """What it is: a checkpoint, a LoRA (the catalog's adapters too) or an embedding."""
        if self.adapter is not None:
            return KIND_NAMES[self.adapter.kind]
        return "LoRA" if self.model is not None and self.model.adapter_for else "Checkpoint"

    @property
    def title(self) -> str:
        """The name shown and used in messages."""
        if self.adapter is not None:
            return self.adapter.name
        return self.model.name if self.model else self.key


class ModelManagerDialog(QDialog):
    """The model manager window. ``ask_token(parent, model, repo_page)`` is the gated-model
    prompt (replaceable in tests). ``reported(key)`` is emitted once the outcome of task ``key``
    (an install, verify, repair, remove or import) has been posted."""

    reported = Signal(str)

    def __init__(self, tasks: ModelTasks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelManager")
        self.setWindowTitle("Model Manager")
        self.setStyleSheet(MODEL_STYLE)
        self.tasks = tasks
        self.ask_token: Callable[[QWidget | None, CatalogModel, str], str | None] = ask_token
        self.state: StoreState | None = None
        self.rows: list[_Row] = []
        self.hub_sizes: dict[str, int] = {}
        self.ops: dict[str, str] = {}
        self.bars: dict[str, QProgressBar] = {}
        self._last_progress: dict[str, DownloadProgress] = {}
        self._reload_again = False

        layout = QVBoxLayout(self)
        self.summary = QLabel("Looking at this machine's hardware…")
        self.summary.setObjectName("hardwareSummary")
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.summary)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(30)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_LICENCE, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_STATUS, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(60)
        self.table.setColumnWidth(COL_LICENCE, 230)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)

        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for name, text, slot in (
            ("install", "Install", self.install_selected),
            ("cancel", "Cancel", self.cancel_selected),
            ("remove", "Remove…", self.remove_selected),
            ("verify", "Verify", self.verify_selected),
            ("repair", "Repair", self.repair_selected),
        ):
            self.buttons[name] = self._button(row, text, slot)
        row.addStretch(1)
        self.buttons["import_file"] = self._button(row, "Import File…", self.import_file)
        self.buttons["import_folder"] = self._button(row, "Import Folder…", self.import_folder)
        adapters = self.buttons["import_adapters"] = QPushButton("Import LoRA or Embedding…")
        adapters.setAutoDefault(False)
        adapters_menu = QMenu(adapters)
        adapters_menu.addAction("A &File…", self.import_adapter_file)
        adapters_menu.addAction("Every One in a F&older…", self.import_adapter_folder)
        adapters.setMenu(adapters_menu)
        row.addWidget(adapters)
        adapters.setToolTip(
            "Copy .safetensors LoRAs and textual-inversion embeddings into Sfumato's store: one file, "
            "or all in a folder (an AUTOMATIC1111 or ComfyUI install: its LoRA and embedding folders)")
        layout.addLayout(row)

        self.notice_bar = NoticeBar(parent=self)
        """The last failure (a download, an import, a check), details on demand."""
        layout.addWidget(self.notice_bar)
        bottom = QHBoxLayout()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        bottom.addWidget(self.status, 1)
        self.import_bar = progress_bar()
        self.import_bar.hide()
        bottom.addWidget(self.import_bar, 1)
        close = self._button(bottom, "Close", self.close)
        close.setAutoDefault(False)
        layout.addLayout(bottom)

        tasks.started.connect(self._follow)
        tasks.progress.connect(self._on_progress)
        tasks.running_changed.connect(self._update_buttons)
        for key in tasks.running():  # started before this window was made (the wizard's)
            self._follow(key)
        self.resize(1240, 640)
        self._update_buttons()
        self.reload()

    def _button(self, layout: QHBoxLayout, text: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.setAutoDefault(False)
        button.clicked.connect(lambda _=False: slot())
        layout.addWidget(button)
        return button

    # ------------------------------------------------------------- loading
    def reload(self) -> None:
        """Re-read hardware, plans and installs in the background, then rebuild the table."""
        if not self.tasks.run(
            STATE_TASK, lambda _r, _c: read_state(self.tasks.manager), self._loaded, self._load_failed
        ):
            self._reload_again = True

    def _loaded(self, state: StoreState) -> None:
        first = self.state is None
        self.state = state
        self.summary.setText(hardware_summary(state.profile))
        self._populate()
        if first:
            ids = [m.id for m in state.catalog.models if not state.installs_of(m)]
            self.tasks.run(SIZES_TASK, lambda _r, _c: hub_sizes(self.tasks.manager, ids), self._sized)
        if self._reload_again:
            self._reload_again = False
            self.reload()

    def _load_failed(self, error: BaseException) -> None:
        message = describe_error(error)[0]
        self.summary.setText(f"The model store could not be read: {message}")
        log.warning("model manager could not load", exc_info=error)

    def _sized(self, sizes: dict[str, int]) -> None:
        self.hub_sizes.update(sizes)
        self._populate()

    def _populate(self) -> None:
        state = self.state
        if state is None:
            return
        selected = self.selected()
        self.rows = [_Row(m.id, m, state.installs_of(m)) for m in state.catalog.models]
        self.rows += [_Row(m.key, None, [m]) for m in state.others()]
        self.rows += [_Row(f"{a.kind}:{a.name}", None, adapter=a) for a in state.adapters]
        self.bars.clear()
        self.table.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            self._fill(i, row, state)
        keys = [r.key for r in self.rows]
        if selected is not None and selected.key in keys:
            self.table.selectRow(keys.index(selected.key))
        self._update_buttons()

    def _fill(self, i: int, row: _Row, state: StoreState) -> None:
        model, install, adapter = row.model, row.install, row.adapter
        name = QTableWidgetItem(row.title)
        if adapter is not None:
            name.setToolTip(f"{adapter.path}\nImported from {adapter.source}" if adapter.source
                            else str(adapter.path))
            fit = QTableWidgetItem(f"for {adapter.label}")
            fit.setToolTip("Applies to models of this family only.")
            runs = QTableWidgetItem("in a prompt by name" if adapter.kind == "embedding"
                                    else "from the Generate panel's LoRAs or <lora:…>")
            known = state.adapter_sizes.get(str(adapter.path))
            size = QTableWidgetItem(size_text(known) if known is not None else "—")
            size.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            licence = QTableWidgetItem("")
        elif model is not None:
            name.setToolTip(f"{model.id} · {model.family.label} · {model.repo}\n{model.notes}".strip())
            plan = state.plans[model.id]
            badge = fit_badge(plan)
            fit = QTableWidgetItem(badge.icon(), badge.label)
            fit.setForeground(QColor(badge.color))
            fit.setToolTip(badge.reason)
            runs = QTableWidgetItem(plan.summary())
            if plan.fits is False:
                runs.setForeground(QColor("#80858f"))
            size = self._size_item(row, plan.variant)
            licence = QTableWidgetItem(f"Gated · {model.licence_name}" if model.gated else model.licence_name)
            licence.setToolTip(
                f"{model.licence_name}\n{model.licence_url}\n"
                + ("Gated: accept the licence on the hub and use a token."
                                           if model.gated else "Not gated.")
            )
            if model.gated:
                licence.setForeground(QColor("#e0b050"))
        else:
            assert install is not None
            name.setToolTip(str(install.path))
            fit = QTableWidgetItem(f"{install.family or 'unknown family'}")
            fit.setToolTip("Not a catalog model: Sfumato uses it as it is.")
            runs = QTableWidgetItem({"local": "imported", "external": "in a registered folder",
                                     "hf-cache": "Hugging Face cache", "hub": "hub repo",
                                     "url": "from a URL"}.get(install.kind, install.kind))
            size = QTableWidgetItem(size_text(install.size))
            licence = QTableWidgetItem("")
        for col, item in ((COL_MODEL, name), (COL_KIND, QTableWidgetItem(row.kind)), (COL_FIT, fit),
                          (COL_RUNS, runs), (COL_SIZE, size), (COL_LICENCE, licence),
                          (COL_STATUS, self._status_item(row))):
            self.table.setItem(i, col, item)
        self.table.removeCellWidget(i, COL_STATUS)
        if self.tasks.is_running(row.key) and self.ops.get(row.key, "install") != "remove":
            self._attach_bar(i, row.key)

    def _size_item(self, row: _Row, variant: str | None) -> QTableWidgetItem:
        assert row.model is not None
        if row.install is not None:
            item = QTableWidgetItem(size_text(row.install.size))
            item.setToolTip("On disk")
        elif row.key in self.hub_sizes:
            item = QTableWidgetItem(size_text(self.hub_sizes[row.key]))
            item.setToolTip("Download size, from the hub")
        else:
            estimate = estimated_download(row.model, variant) if variant else None
            item = QTableWidgetItem(f"≈ {size_text(estimate)}" if estimate else "—")
            item.setToolTip("Estimated from the parameter count; the hub gives the exact size."
                            if estimate else "Known once the hub has been asked.")
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return item

    def _status_item(self, row: _Row) -> QTableWidgetItem:
        install = row.install
        if self.ops.get(row.key) == "remove":
            item = QTableWidgetItem("Removing…")
        elif row.adapter is not None:
            item = QTableWidgetItem("Installed")
            item.setForeground(QColor("#5cb85c"))
        elif install is None:
            item = QTableWidgetItem("Not installed")
            item.setForeground(QColor("#8a8f9a"))
        else:
            variants = ", ".join(m.variant for m in row.installs if m.variant)
            item = QTableWidgetItem(f"Installed ({variants})" if variants else "Installed")
            item.setForeground(QColor("#5cb85c"))
            item.setToolTip("\n".join(str(m.path) for m in row.installs))
        return item

    def _attach_bar(self, i: int, key: str) -> QProgressBar:
        bar = progress_bar()
        self.table.setCellWidget(i, COL_STATUS, bar)
        self.bars[key] = bar
        if key in self._last_progress:
            show_progress(bar, self._last_progress[key], VERBS.get(self.ops.get(key, "install"), ""))
        return bar

    # ------------------------------------------------------------ selection
    def selected(self) -> _Row | None:
        """The selected row, if any."""
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.rows[rows[0].row()] if rows and rows[0].row() < len(self.rows) else None

    def select(self, key: str) -> None:
        """Select the row of catalog id or install key ``key``."""
        for i, row in enumerate(self.rows):
            if row.key == key:
                self.table.selectRow(i)
                return
        raise KeyError(key)

    def _update_buttons(self) -> None:
        row = self.selected()
        busy = row is not None and self.tasks.is_running(row.key)
        op = self.ops.get(row.key) if row is not None else None
        b = self.buttons
        installable = row is not None and row.model is not None and row.install is None
        b["install"].setEnabled(installable and not busy)
        b["cancel"].setEnabled(busy and op in ("install", "repair"))
        b["remove"].setEnabled(row is not None and (row.managed or row.adapter is not None) and not busy)
        b["verify"].setEnabled(row is not None and row.managed and not busy)
        b["repair"].setEnabled(row is not None and row.managed and row.install is not None
                               and row.install.kind in ("catalog", "hub") and not busy)
        importing = self.tasks.is_running(IMPORT_TASK)
        b["import_file"].setEnabled(not importing)
        b["import_folder"].setEnabled(not importing)
        b["import_adapters"].setEnabled(not importing)

    # --------------------------------------------------------------- actions
    def _start(self, row: _Row, op: str, started: bool) -> None:
        if not started:
            return
        self.ops[row.key] = op
        self.status.setText("")
        i = self.rows.index(row)
        if op == "remove":
            self.table.setItem(i, COL_STATUS, self._status_item(row))
        else:
            self._attach_bar(i, row.key)
        self._update_buttons()

    def install_selected(self) -> None:
        """Download the selected catalog model (asking for a token first if it is gated)."""
        row = self.selected()
        if row is None or row.model is None or self.tasks.is_running(row.key):
            return
        model = row.model
        manager = self.tasks.manager
        if model.gated and not manager.hub.token:
            token = self.ask_token(self, model, manager.hub.licence_page(model.repo))
            if not token:
                return
            manager.use_token(token)
        self._start(row, "install", self.tasks.install(row.key, model.id))

    def cancel_selected(self) -> None:
        """Stop the selected row's download; what arrived is kept for the next attempt."""
        row = self.selected()
        if row is not None and self.tasks.cancel(row.key):
            self.status.setText(f"Cancelling {row.title}…")

    def remove_selected(self) -> None:
        """Delete the selected installed model (or imported LoRA or embedding) after asking."""
        row = self.selected()
        if row is not None and row.adapter is not None:
            if ask_yes_no(self, "Remove", f"Delete the {row.kind} {row.title} from Sfumato's store?\n"
                          f"The file it was imported from is not touched."):
                self._start(row, "remove", self.tasks.remove(row.key, row.key))
            return
        if row is None or not row.managed or row.install is None:
            return
        install = row.install
        if ask_yes_no(self, "Remove model",
                      f"Delete {row.title} ({size_text(install.size)}) from the model cache?\n"
                      "You can download it again later."):
            self._start(row, "remove", self.tasks.remove(row.key, install.key))

    def verify_selected(self) -> None:
        """Re-hash the selected model's files."""
        row = self.selected()
        if row is not None and row.managed and row.install is not None:
            self._start(row, "verify", self.tasks.verify(row.key, row.install.key))

    def repair_selected(self) -> None:
        """Re-download whatever of the selected model fails verification."""
        row = self.selected()
        if row is not None and row.managed and row.install is not None:
            self._start(row, "repair", self.tasks.repair(row.key, row.install.key))

    def import_file(self) -> None:
        """Use a local ``.safetensors`` checkpoint (pickle files are refused with the reason)."""
        path, _ = QFileDialog.getOpenFileName(self, "Import a checkpoint", str(Path.home()), IMPORT_FILTER)
        if path:
            self._import(Path(path))

    def import_folder(self) -> None:
        """Use a diffusers folder, or register an A1111/ComfyUI folder in place."""
        path = QFileDialog.getExistingDirectory(self, "Import a model folder", str(Path.home()))
        if path:
            self._import(Path(path))

    def import_adapter_file(self) -> None:
        """Copy a LoRA or embedding file into the store (its family is read from its tensors)."""
        path, _ = QFileDialog.getOpenFileName(self, "Import a LoRA or embedding", str(Path.home()),
                                              ADAPTER_FILTER)
        if path:
            self._import_adapters(Path(path))

    def import_adapter_folder(self) -> None:
        """Copy every LoRA and embedding of a folder (an A1111 or ComfyUI install's) into the store."""
        path = QFileDialog.getExistingDirectory(self, "Import the LoRAs and embeddings of a folder",
                                                str(Path.home()))
        if path:
            self._import_adapters(Path(path))

    def _import_adapters(self, path: Path) -> None:
        def work(report: Any, _cancel: Any) -> list[AdapterImport]:
            return self.tasks.manager.import_adapters(path, on_progress=report)

        if self.tasks.run(IMPORT_TASK, work):
            self.ops[IMPORT_TASK] = "import_adapters"
            self.import_bar.setFormat(f"Importing {path.name}…")
            self.import_bar.show()
            self.status.setText("")
            self._update_buttons()

    def _adapters_imported(self, results: list[AdapterImport]) -> None:
        done = [r.adapter for r in results if r.adapter is not None]
        refused = [r for r in results if r.adapter is None]
        said = [f"{KIND_NAMES[a.kind]} {a.name} (for {a.label})" for a in done]
        if done:
            end = f"; {len(refused)} refused." if refused else "."
            self.status.setText("Imported " + ", ".join(said) + end)
        elif not refused:
            self.status.setText("No LoRA or embedding was found there.")
        else:
            self.status.setText("Nothing was imported.")
        if refused:
            self._tell(UserFacingError(
                refused[0].error if len(refused) == 1
                else f"{len(refused)} files were not imported: {refused[0].error} …",
                "\n".join(f"{r.source}: {r.error}" for r in refused)))

    def _import(self, path: Path) -> None:
        def work(report: Any, _cancel: Any) -> list[InstalledModel]:
            return self.tasks.manager.import_path(path, on_progress=report)

        if self.tasks.run(IMPORT_TASK, work):
            self.ops[IMPORT_TASK] = "import"
            self.import_bar.setFormat(f"Importing {path.name}…")
            self.import_bar.show()
            self.status.setText("")
            self._update_buttons()

    # ------------------------------------------------------------- outcomes
    def _row_index(self, key: str) -> int | None:
        return next((i for i, r in enumerate(self.rows) if r.key == key), None)

    def _follow(self, key: str) -> None:
        """Await task ``key``'s outcome (not the dialog's own reads of the store)."""
        if key == IMPORT_TASK or not key.startswith("_"):
            work.start(self._outcome(key, self.tasks.outcome(key)))

    async def _outcome(self, key: str, outcome: Awaitable[Any]) -> None:
        """Await task ``key``'s ``outcome``, then post how it went (status line, notice bar,
        reload)."""
        try:
            result = await outcome
        except asyncio.CancelledError:
            return  # the tasks shut down (the window is closing): nothing is said
        except DownloadCancelled:
            self._cancelled(key)
        except Exception as error:
            self._failed(key, error)
        else:
            self._finished(key, result)
        self.reported.emit(key)

    def _on_progress(self, key: str, progress: DownloadProgress) -> None:
        self._last_progress[key] = progress
        verb = VERBS.get(self.ops.get(key, "install"), "")
        if key == IMPORT_TASK:
            show_progress(self.import_bar, progress, verb)
            return
        bar = self.bars.get(key)
        if bar is None and (i := self._row_index(key)) is not None and self.ops.get(key) != "remove":
            bar = self._attach_bar(i, key)  # started elsewhere (the first-run wizard)
        if bar is not None:
            show_progress(bar, progress, verb)

    def _done(self, key: str) -> tuple[str, str]:
        op = self.ops.pop(key, "install")
        self._last_progress.pop(key, None)
        self.bars.pop(key, None)
        row = next((r for r in self.rows if r.key == key), None)
        return op, row.title if row is not None else key

    def _finished(self, key: str, result: object) -> None:
        op, title = self._done(key)
        if key == IMPORT_TASK and op == "import_adapters":
            self.import_bar.hide()
            self._adapters_imported(result if isinstance(result, list) else [])
        elif key == IMPORT_TASK:
            self.import_bar.hide()
            models = result if isinstance(result, list) else []
            self.status.setText(
                "Imported " + ", ".join(f"{m.key} ({m.family})" for m in models) if models
                else "The folder was registered, but no checkpoint of a known family is in it.")
        elif op == "verify":
            self._verified(title, result if isinstance(result, list) else [])
        elif op == "remove":
            self.status.setText(f"Removed {title}.")
        else:
            what = "Repaired" if op == "repair" else "Installed"
            size = size_text(result.size) if isinstance(result, InstalledModel) else ""
            self.status.setText(f"{what} {title} ({size}).")
        self.reload()

    def _verified(self, title: str, results: list[VerifyResult]) -> None:
        problems = [p for r in results for p in r.problems]
        if not problems:
            self.status.setText(f"{title}: every file matches its recorded hash.")
            return
        self.status.setText(f"{title}: {len(problems)} file(s) damaged or missing — use Repair.")
        self._tell(UserFacingError(
            f"{title}: {len(problems)} file(s) are damaged or missing. Repair downloads them again.",
            "\n".join(problems)))

    def _failed(self, key: str, error: BaseException) -> None:
        op, title = self._done(key)
        if key == IMPORT_TASK:
            self.import_bar.hide()
        if isinstance(error, GatedModelError):
            self.tasks.manager.use_token(None)  # a typed token that failed is asked for again
        self.status.setText(f"{title}: {op} failed.")
        self.reload()
        self._tell(error)

    def _tell(self, error: BaseException) -> None:
        """Show ``error`` in the window's notice bar."""
        self.notice_bar.show_notice(notice_from_error(error, Source.MODELS))

    def _cancelled(self, key: str) -> None:
        op, title = self._done(key)
        self.status.setText(f"{title}: {op} cancelled. What arrived is kept; Install resumes it.")
        self.reload()
