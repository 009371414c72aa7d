"""Wording and small widgets shared by the model manager dialog and the first-run wizard:
sizes, fit badges, hardware summaries, download progress bars, the gated-model token prompt."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from sfumato.model_store import CatalogModel, DownloadProgress, HardwareProfile, RunPlan, hardware_tier
from sfumato.model_store.fit import estimate_memory

GIB = 1024**3
MIB = 1024**2

#: Local style for the model windows (tables, progress bars); the app sheet does not cover them.
MODEL_STYLE = """
QTableWidget { background: #1e1f23; alternate-background-color: #24262a; border: 1px solid #17181b;
               gridline-color: #2c2e33; selection-background-color: #3b5b9c; }
QHeaderView::section { background: #34373d; color: #d9dce3; border: none;
                       border-right: 1px solid #2a2c31; padding: 4px 6px; }
QProgressBar { background: #1e1f23; border: 1px solid #44474f; border-radius: 4px;
               text-align: center; color: #ffffff; min-height: 18px; }
QProgressBar::chunk { background: #4a78d6; border-radius: 3px; }
QLabel#hardwareSummary { background: #23252a; border: 1px solid #17181b; border-radius: 6px;
                         padding: 8px 10px; }
"""


def size_text(n: int | None) -> str:
    """``1.9 GiB``, ``312 MiB``, ``2.2 MiB`` or ``—`` when unknown."""
    if n is None:
        return "—"
    if n >= GIB:
        return f"{n / GIB:.1f} GiB"
    if n >= MIB:
        return f"{n / MIB:.1f} MiB" if n < 100 * MIB else f"{n / MIB:.0f} MiB"
    return f"{max(n, 0) / 1024:.0f} KiB"


def duration_text(seconds: float | None) -> str:
    """``0:42`` or ``1:02:03``; ``?`` while unknown."""
    if seconds is None:
        return "?"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def progress_text(p: DownloadProgress) -> str:
    """One line for a progress bar: bytes, rate and time left."""
    if not p.bytes_total:
        return f"{size_text(p.bytes_done)} · {size_text(int(p.rate))}/s"
    parts = [f"{size_text(p.bytes_done)} of {size_text(p.bytes_total)}"]
    if p.finished:
        return parts[0]
    if p.rate > 0:
        parts.append(f"{size_text(int(p.rate))}/s")
    parts.append(f"{duration_text(p.eta)} left")
    return " · ".join(parts)


def estimated_download(model: CatalogModel, variant_name: str) -> int | None:
    """The variant's download size: the catalog's figure, else parameters × bytes per
    parameter of the variant's dtype (``None`` if the family has no parameter counts)."""
    variant = model.variant(variant_name)
    if variant.download_bytes is not None:
        return variant.download_bytes
    estimate = estimate_memory(model.family, variant.dtype)
    return estimate.weights if estimate is not None and model.family.params_millions else None


@dataclass(frozen=True)
class Badge:
    """How a fit is shown: a short label, its colour, and the full reason for the tooltip."""

    label: str
    color: str
    reason: str

    def icon(self) -> QIcon:
        """A filled dot in the badge colour."""
        pixmap = QPixmap(12, 12)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(self.color))
        painter.drawEllipse(1, 1, 10, 10)
        painter.end()
        return QIcon(pixmap)


def fit_badge(plan: RunPlan) -> Badge:
    """Fits / fits with offload / won't fit / unknown, for ``plan`` on this machine."""
    how = plan.summary() + (f" on {plan.device.upper()}" if plan.device != "cpu" else "")
    if plan.fits is None:
        return Badge("Fit unknown", "#8a8f9a", f"{plan.reason}.")
    if plan.fits is False:
        return Badge("Won't fit", "#e06c6c", f"Won't fit: {plan.reason}.")
    if plan.strategy.offloads:
        return Badge("Fits with offload", "#e0b050", f"{how}: {plan.reason}.")
    return Badge("Fits", "#5cb85c", f"{how}: {plan.reason}.")


def hardware_summary(profile: HardwareProfile) -> str:
    """One rich-text paragraph: the GPU (or none), CPU cores, RAM and the starter tier."""
    gpu = profile.best_gpu
    if gpu is None:
        accel = "<b>No GPU found</b> — images are made on the CPU (slowly)"
    else:
        extra = []
        if gpu.compute_capability:
            extra.append(f"compute {gpu.compute_capability}")
        if gpu.driver:
            extra.append(f"driver {gpu.driver}")
        tail = f" ({', '.join(extra)})" if extra else ""
        memory = "shared memory" if gpu.backend == "mps" else "VRAM"
        accel = f"<b>{gpu.name}</b> · {gpu.vram_total / GIB:.1f} GiB {memory}{tail}"
    return (
        f"{accel}<br>{profile.cpu_cores} CPU cores · {profile.ram_total / GIB:.1f} GiB RAM · "
        f"hardware tier <b>{hardware_tier(profile)}</b>"
    )


def progress_bar(parent: QWidget | None = None) -> QProgressBar:
    """A bar that shows text (bytes, rate, time left) over its fill."""
    bar = QProgressBar(parent)
    bar.setRange(0, 1000)
    bar.setTextVisible(True)
    bar.setFormat("Starting…")
    return bar


def show_progress(bar: QProgressBar, p: DownloadProgress, verb: str = "") -> None:
    """Put ``p`` on ``bar`` (busy animation while the total is unknown)."""
    if p.bytes_total:
        bar.setRange(0, 1000)
        bar.setValue(int(1000 * min(p.bytes_done / p.bytes_total, 1.0)))
    else:
        bar.setRange(0, 0)
    text = progress_text(p).replace("%", "%%")
    bar.setFormat(f"{verb}{text}")
    resumed = f"\n{size_text(p.bytes_resumed)} resumed from an earlier attempt" if p.bytes_resumed else ""
    bar.setToolTip(f"{p.file}\nfile {min(p.files_done + 1, p.files_total)} of {p.files_total}{resumed}")


class TokenDialog(QDialog):
    """Asks for a Hugging Face access token for a gated model, with its licence links."""

    def __init__(self, model: CatalogModel, repo_page: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{model.name} needs a token")
        layout = QVBoxLayout(self)
        text = QLabel(
            f"<b>{model.name}</b> is gated: its authors ask you to accept the "
            f"<a href='{model.licence_url}'>{model.licence_name}</a> before downloading.<br><br>"
            f"1. Open <a href='{repo_page}'>{repo_page}</a>, log in and accept the licence.<br>"
            "2. Create a <i>read</i> access token in your hub settings.<br>"
            "3. Paste the token here. It is used for this session only."
        )
        text.setWordWrap(True)
        text.setOpenExternalLinks(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        layout.addWidget(text)
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("hf_…")
        layout.addWidget(self.token_edit)
        ok, cancel = QDialogButtonBox.StandardButton.Ok, QDialogButtonBox.StandardButton.Cancel
        buttons = QDialogButtonBox(ok | cancel)
        buttons.button(ok).setText("Download")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(520, self.sizeHint().height())

    @property
    def token(self) -> str:
        """What was typed, without surrounding spaces."""
        return self.token_edit.text().strip()


def ask_token(parent: QWidget | None, model: CatalogModel, repo_page: str) -> str | None:
    """Show :class:`TokenDialog`; the token, or ``None`` if cancelled or left empty."""
    dialog = TokenDialog(model, repo_page, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.token or None
