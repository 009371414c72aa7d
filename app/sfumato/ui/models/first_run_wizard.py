"""The first-run wizard: proposes the starter models for this machine, downloads the ones the
person picks with progress, or lets them skip. It is a non-modal window over the main window,
so painting can start at once; closing it in any way counts as done (see ``model_services``)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from sfumato.model_store import CatalogModel, DownloadProgress, GatedModelError, RunPlan, hardware_tier
from sfumato.qt_bridge.model_tasks import ModelTasks
from sfumato.session.model_state import StoreState, hub_sizes
from sfumato.session.notices import Source, notice_from_error
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

SIZES_TASK = "_wizard_sizes"

TIER_WHY = {
    "cpu": "No GPU was found, so these models run on the CPU. The few-step ones come first: "
           "SD-Turbo paints a 512² image in seconds; a 30-step SD 1.5 image takes about a minute "
           "where the CPU has bfloat16, about two minutes where it has not.",
    "mps": "Apple silicon shares its memory between CPU and GPU; these models fit in the part "
           "Metal can use.",
    "gpu-6gb": "With this much video memory, SD 1.5 runs on the GPU and SDXL fits by moving "
               "parts of it to RAM while it works.",
    "gpu-8gb": "This GPU runs SD 1.5 and SDXL; the larger models move parts to RAM while they work.",
    "gpu-12gb": "This GPU runs SDXL and Stable Diffusion 3.5 Medium.",
    "gpu-16gb": "This GPU runs SDXL, Stable Diffusion 3.5 Medium and FLUX.1 [schnell].",
    "gpu-24gb": "This GPU has room for the FLUX.1 models.",
}


class _Choice(QFrame):
    """One proposed model: a checkbox, why it was picked, and its progress bar."""

    def __init__(self, model: CatalogModel, plan: RunPlan, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model, self.plan = model, plan
        self.setObjectName("starterChoice")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        self.check = QCheckBox(model.name)
        self.check.setChecked(not model.gated)
        font = self.check.font()
        font.setBold(True)
        self.check.setFont(font)
        layout.addWidget(self.check)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextFormat(Qt.TextFormat.RichText)
        self.detail.setOpenExternalLinks(True)
        layout.addWidget(self.detail)
        self.bar: QProgressBar = progress_bar()
        self.bar.hide()
        layout.addWidget(self.bar)
        self.download_size: int | None = None
        self.set_size(estimated_download(model, plan.variant) if plan.variant else None, exact=False)

    def set_size(self, size: int | None, *, exact: bool) -> None:
        """Show the download size (estimated, or exact from the hub)."""
        self.download_size = size
        badge = fit_badge(self.plan)
        size_part = (f"{size_text(size) if exact else '≈ ' + size_text(size)} to download"
                     if size else "download size unknown")
        gated = (f" · <span style='color:#e0b050'>gated: needs a hub token and accepting the "
                 f"<a href='{self.model.licence_url}'>{self.model.licence_name}</a></span>"
                 if self.model.gated else f" · {self.model.licence_name}")
        self.detail.setText(
            f"<span style='color:{badge.color}'>●</span> {badge.reason} "
            f"<br><span style='color:#8a8f9a'>{size_part}{gated}</span>")


class FirstRunWizard(QDialog):
    """Proposes ``plans`` (the starter set for ``state.profile``) and downloads the picked ones.

    ``ask_token`` is the gated-model prompt (replaceable in tests). ``set_up_runtime``, given
    when no PyTorch runtime is installed (the packaged app's first start), puts a first step on
    top whose button calls it (it opens the Backend dialog).
    """

    def __init__(self, tasks: ModelTasks, state: StoreState, plans: list[RunPlan],
                 parent: QWidget | None = None, *,
                 set_up_runtime: Callable[[], None] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunWizard")
        self.setWindowTitle("Welcome to Sfumato")
        self.setStyleSheet(MODEL_STYLE + "QFrame#starterChoice, QFrame#runtimeStep { background: #23252a; "
                           "border-radius: 6px; }")
        self.setModal(False)
        self.tasks = tasks
        self.ask_token: Callable[[QWidget | None, CatalogModel, str], str | None] = ask_token
        self.choices = [_Choice(state.catalog.get(p.model_id), p) for p in plans if p.model_id is not None]
        self._by_id = {c.model.id: c for c in self.choices}
        self.downloading: set[str] = set()
        self.installed: list[str] = []

        layout = QVBoxLayout(self)
        self.runtime_button: QPushButton | None = None
        if set_up_runtime is not None:
            layout.addWidget(self._runtime_step(set_up_runtime))
        title = QLabel("<h2>Pick your first models</h2>")
        layout.addWidget(title)
        summary = QLabel(hardware_summary(state.profile))
        summary.setObjectName("hardwareSummary")
        layout.addWidget(summary)
        tier = hardware_tier(state.profile)
        why = QLabel(
            (TIER_WHY.get(tier, "") + " " if plans else
             "None of the starter models fits this machine's memory. ")
            + "You can add or remove models at any time in Models › Model Manager.")
        why.setWordWrap(True)
        layout.addWidget(why)
        self.why = why

        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        for choice in self.choices:
            choice.check.toggled.connect(self._update_buttons)
            column.addWidget(choice)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(box)
        layout.addWidget(scroll, 1)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.notice_bar = NoticeBar(parent=self)
        """Why the last download failed (details on demand)."""
        layout.addWidget(self.notice_bar)
        row = QHBoxLayout()
        row.addStretch(1)
        self.skip_button = QPushButton("Skip for now")
        self.skip_button.clicked.connect(self.reject)
        row.addWidget(self.skip_button)
        self.download_button = QPushButton("Download selected")
        self.download_button.setDefault(True)
        self.download_button.clicked.connect(self.download)
        row.addWidget(self.download_button)
        layout.addLayout(row)

        tasks.progress.connect(self._on_progress)
        tasks.finished.connect(self._on_finished)
        tasks.failed.connect(self._on_failed)
        tasks.cancelled.connect(self._on_cancelled)
        self.resize(640, 560)
        self._update_buttons()
        ids = [c.model.id for c in self.choices]
        if ids:
            tasks.run(SIZES_TASK, lambda _r, _c: hub_sizes(tasks.manager, ids), self._sized)

    def _runtime_step(self, set_up_runtime: Callable[[], None]) -> QFrame:
        step = QFrame()
        step.setObjectName("runtimeStep")
        row = QHBoxLayout(step)
        row.setContentsMargins(10, 8, 10, 8)
        text = QLabel("<b>First: PyTorch for this computer.</b> Sfumato needs a PyTorch runtime to make "
                      "images, and none is installed yet.")
        text.setWordWrap(True)
        row.addWidget(text, 1)
        self.runtime_button = QPushButton("Set up PyTorch…")
        self.runtime_button.clicked.connect(lambda: set_up_runtime())
        row.addWidget(self.runtime_button)
        return step

    def selected(self) -> list[str]:
        """Catalog ids of the ticked models."""
        return [c.model.id for c in self.choices if c.check.isChecked()]

    def _sized(self, sizes: dict[str, int]) -> None:
        for model_id, size in sizes.items():
            if model_id in self._by_id:
                self._by_id[model_id].set_size(size, exact=True)
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = bool(self.downloading)
        picked = [c for c in self.choices if c.check.isChecked() and c.model.id not in self.installed]
        known = [c.download_size for c in picked if c.download_size]
        total = f" (≈ {size_text(sum(known))})" if known and len(known) == len(picked) else ""
        self.download_button.setText(f"Download selected{total}")
        self.download_button.setEnabled(bool(picked) and not busy)
        if busy:
            self.skip_button.setText("Close")
            self.skip_button.setToolTip("Downloads go on in the background (Models › Model Manager).")
        elif self.installed:
            self.skip_button.setText("Start painting")
        for choice in self.choices:
            choice.check.setEnabled(not busy and choice.model.id not in self.installed)

    def download(self) -> None:
        """Start downloading every ticked model (asking for a token for gated ones)."""
        manager = self.tasks.manager
        for model_id in self.selected():
            choice = self._by_id[model_id]
            if model_id in self.installed or self.tasks.is_running(model_id):
                continue
            if choice.model.gated and not manager.hub.token:
                token = self.ask_token(self, choice.model, manager.hub.licence_page(choice.model.repo))
                if not token:
                    choice.check.setChecked(False)
                    continue
                manager.use_token(token)
            if self.tasks.install(model_id, model_id):
                self.downloading.add(model_id)
                choice.bar.setFormat("Starting…")
                choice.bar.show()
        self.status.setText("Downloading… you can close this window; downloads go on." if self.downloading
                            else "")
        self._update_buttons()

    def _on_progress(self, key: str, progress: DownloadProgress) -> None:
        if key in self.downloading:
            show_progress(self._by_id[key].bar, progress)

    def _on_finished(self, key: str, _result: object) -> None:
        if key not in self.downloading:
            return
        self.downloading.discard(key)
        self.installed.append(key)
        choice = self._by_id[key]
        choice.bar.setRange(0, 1)
        choice.bar.setValue(1)
        choice.bar.setFormat("Installed")
        self._after_one()

    def _on_failed(self, key: str, error: BaseException) -> None:
        if key not in self.downloading:
            return
        self.downloading.discard(key)
        if isinstance(error, GatedModelError):
            self.tasks.manager.use_token(None)  # a typed token that failed is asked for again
        self._by_id[key].bar.setFormat("Failed — see the message")
        self._after_one()
        self.notice_bar.show_notice(notice_from_error(error, Source.MODELS))

    def _on_cancelled(self, key: str) -> None:
        if key in self.downloading:
            self.downloading.discard(key)
            self._by_id[key].bar.setFormat("Cancelled — Install in the Model Manager resumes it")
            self._after_one()

    def _after_one(self) -> None:
        if not self.downloading:
            names = [self._by_id[k].model.name for k in self.installed]
            self.status.setText(f"Ready: {', '.join(names)}." if names else "Nothing was installed.")
        self._update_buttons()
