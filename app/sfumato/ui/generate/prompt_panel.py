"""The prompt and parameters panel: what to generate, with which model and settings.

Every value is kept in ``settings.generation`` as it changes, so the panel opens as it was
left. Picking another model applies that model's defaults (steps, CFG, scheduler, size) — from
its catalog entry when it is one, else from its family: SDXL Turbo gets one step and no CFG,
FLUX.1 [dev] CFG 3.5, and so on. FLUX.1 takes no negative prompt, so the field is disabled for
it; and when strength × steps would run no step, a line says how many steps will run instead.
"Fast decode" (off by default) has the final image decoded by the tiny decoder the live previews
use (TAESD) rather than the VAE.

Under the prompt, one line sums up the prompt syntax, and a live check (a moment after typing
stops) says what a Generate press would fail with (a malformed prompt, with its column) or what
the model would not do (weights a plain-text model ignores, a ``<lora:…>`` tag whose LoRA is not
installed). The LoRA list applies installed LoRAs at their weights; "Extra" under the seed holds
A1111's variation seed for text-to-image; "Subtle" and "Strong" make variations at Fooocus's
strengths. :meth:`PromptPanel.reuse` fills the fields from a picture's parameters, and a PNG
dropped on the panel asks for that (``reuse_requested``).
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sfumato.errors import UserFacingError
from sfumato.generation.prompt_syntax import SYNTAX_HINT
from sfumato.generation.requests import STRONG_VARIATION, SUBTLE_VARIATION, steps_for_strength
from sfumato.session.jobs import Parameters
from sfumato.session.model_choices import ModelChoice, base_family, family_defaults, local_choice
from sfumato.session.parameter_reuse import ReusePlan
from sfumato.session.prompt_check import check_prompts
from sfumato.settings import Settings
from sfumato.ui.common.drops import dropped_files
from sfumato.ui.common.resources import icon
from sfumato.ui.generate.lora_list import LoraList

log = logging.getLogger(__name__)

MAX_UI_SEED = 2**31 - 1  # QSpinBox holds a signed 32-bit value
MODEL_DEFAULT_SCHEDULER = "Model default"
NEGATIVE_PLACEHOLDER = "What to avoid (optional)"
NEGATIVE_NEEDS_CFG = "What to avoid (used only with CFG above 1)"
NO_NEGATIVE = "FLUX.1 takes no negative prompt"
CHECK_DELAY_MS = 300  # the prompt is checked this long after typing stops


def takes_negative_prompt(family: str | None) -> bool:
    """Whether models of ``family`` use a negative prompt: FLUX.1 is guidance-distilled and runs
    no unconditional pass for one to steer."""
    return not (base_family(family) or "").startswith("flux")


def _text_box(placeholder: str, lines: int) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setPlaceholderText(placeholder)
    box.setTabChangesFocus(True)
    height = box.fontMetrics().lineSpacing() * lines + 14
    box.setFixedHeight(height)
    return box


class PromptPanel(QWidget):
    """Prompt, negative prompt, model, LoRAs, strength, steps, CFG, scheduler, seed (and variation
    seed), size, batch, fast decode.

    ``generate_requested`` fires from Generate, ``variations_requested(strength)`` from Subtle
    and Strong; ``model_chosen(choice)`` when the model changes; ``reuse_requested(path)`` when a
    picture is dropped on the panel; ``refused(error)`` when a chosen file or folder is not a
    model it can use (the Generate panel's notice bar says why).
    """

    generate_requested = Signal()
    variations_requested = Signal(float)
    model_chosen = Signal(object)
    refused = Signal(object)
    reuse_requested = Signal(object)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("promptPanel")
        # its own height, always: the progress lines under it grow and must not squeeze the fields
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._settings = settings
        self._choices: list[ModelChoice] = []
        self._restoring = True

        self.prompt = _text_box("Describe what to paint…", 4)
        self.prompt.setObjectName("promptEdit")
        self.prompt.setToolTip(f"Prompt syntax: {SYNTAX_HINT}")
        self.syntax_hint = QLabel(SYNTAX_HINT)
        self.syntax_hint.setObjectName("optionCaption")
        self.syntax_hint.setWordWrap(True)
        self.prompt_check = QLabel()
        self.prompt_check.setObjectName("promptCheck")
        self.prompt_check.setWordWrap(True)
        self.prompt_check.hide()
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(CHECK_DELAY_MS)
        self._check_timer.timeout.connect(self.check_prompt)
        self.negative = _text_box(NEGATIVE_PLACEHOLDER, 2)
        self.negative_note = QLabel(f"{NO_NEGATIVE}; what is written here is kept for other models.")
        self.negative_note.setObjectName("optionCaption")
        self.negative_note.setWordWrap(True)
        self.negative_note.hide()

        self.model = QComboBox()
        self.model.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.model.setPlaceholderText("No model installed")
        self.browse = QToolButton()
        self.browse.setText("…")
        self.browse.setToolTip("Use a local diffusers folder or .safetensors file")
        self.browse.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        browse_menu = QMenu(self.browse)
        browse_menu.addAction("Diffusers Model &Folder…", lambda: self._browse(folder=True))
        browse_menu.addAction("&Checkpoint File (.safetensors)…", lambda: self._browse(folder=False))
        self.browse.setMenu(browse_menu)

        self.loras = LoraList()

        self.mode_label = QLabel()
        self.mode_label.setObjectName("modeLabel")
        self.mode_label.setWordWrap(True)

        self.strength = QDoubleSpinBox()
        self.strength.setRange(0.05, 1.0)
        self.strength.setSingleStep(0.05)
        self.strength.setValue(0.75)
        self.strength.setToolTip("How much may change: low keeps close to the canvas, 1 repaints freely")
        self.steps = QSpinBox()
        self.steps.setRange(1, 150)
        self.steps.setValue(25)
        self.cfg = QDoubleSpinBox()
        self.cfg.setRange(0.0, 30.0)
        self.cfg.setSingleStep(0.5)
        self.cfg.setDecimals(1)
        self.cfg.setValue(7.0)
        self.cfg.setToolTip("Prompt guidance (CFG): 0 for distilled turbo models")
        self.scheduler = QComboBox()
        self.steps_hint = QLabel()
        self.steps_hint.setObjectName("stepsHint")
        self.steps_hint.setWordWrap(True)
        self.steps_hint.hide()

        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_UI_SEED)
        self.seed.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.dice = QToolButton()
        self.dice.setIcon(icon("dice"))
        self.dice.setToolTip("A new random seed")
        self.dice.clicked.connect(self.roll_seed)
        self.seed_lock = QCheckBox("Lock")
        self.seed_lock.setToolTip("Keep this seed for the next generations (otherwise each gets a new one)")
        self.extra = QToolButton()
        self.extra.setText("Extra")
        self.extra.setCheckable(True)
        self.extra.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.extra.setArrowType(Qt.ArrowType.RightArrow)
        self.extra.setToolTip("A variation seed, for small changes of the same composition (text-to-image; "
                              "used only while this is open, as A1111's Extra)")
        self.variation_seed = QSpinBox()
        self.variation_seed.setRange(-1, MAX_UI_SEED)
        self.variation_seed.setSpecialValueText("Random")
        self.variation_seed.setValue(-1)
        self.variation_seed.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.variation_seed.setToolTip("The second seed whose noise each image is blended towards "
                                       "(Random: a new one each time)")
        self.variation_dice = QToolButton()
        self.variation_dice.setIcon(icon("dice"))
        self.variation_dice.setToolTip("A new random variation seed")
        self.variation_dice.clicked.connect(
            lambda: self.variation_seed.setValue(secrets.randbelow(MAX_UI_SEED + 1)))
        self.variation_strength = QDoubleSpinBox()
        self.variation_strength.setRange(0.0, 1.0)
        self.variation_strength.setSingleStep(0.05)
        self.variation_strength.setDecimals(2)
        self.variation_strength.setToolTip("How far towards the variation seed's noise: 0 none, "
                                           "0.1–0.3 small changes of the same picture, 1 that seed's picture")
        self.variation_row = QWidget()
        variation = QHBoxLayout(self.variation_row)
        variation.setContentsMargins(0, 0, 0, 0)
        variation.addWidget(self.variation_seed, 1)
        variation.addWidget(self.variation_dice)
        variation.addWidget(QLabel("by"))
        variation.addWidget(self.variation_strength)
        self.variation_caption = QLabel("Variation")
        self.extra.toggled.connect(self._show_extra)

        self.auto_size = QCheckBox("Auto")
        self.auto_size.setToolTip("Follow the canvas shape at the model's native size")
        self.auto_size.setChecked(True)
        self.width_box = QSpinBox()
        self.height_box = QSpinBox()
        for box in (self.width_box, self.height_box):
            box.setRange(64, 4096)
            box.setSingleStep(64)
            box.setValue(512)
        self.auto_size.toggled.connect(self._auto_size_toggled)
        self.batch = QSpinBox()
        self.batch.setRange(1, 8)
        self.batch.setToolTip("How many images each Generate makes")
        self.fast_decode = QCheckBox("Fast decode (TAESD)")
        self.fast_decode.setToolTip(
            "Decode the final image with the tiny decoder that makes the live previews instead of "
            "the VAE: several times faster on a CPU, a little softer. Needs the model's TAESD "
            "(Models › Model Manager…); without it the VAE decodes."
        )

        self.match_colours = QCheckBox("Match colours")
        self.match_colours.setChecked(True)
        self.match_colours.setToolTip(
            "Inpaint and outpaint: shift the new pixels' colours to those of the picture around the "
            "region as it is pasted back, so no seam shows. Off: the model's colours as they came.")

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generateButton")
        self.generate_button.setToolTip("Generate (Ctrl+Enter); while a job runs, the next one queues")
        self.generate_button.clicked.connect(self.generate_requested)
        self.subtle_button = QPushButton("Subtle")
        self.subtle_button.setObjectName("subtleButton")
        self.subtle_button.setToolTip(
            f"Variations of the image, or of the selected region, that keep its composition and "
            f"colours (strength {SUBTLE_VARIATION:g}; Batch says how many)")
        self.subtle_button.clicked.connect(lambda: self.variations_requested.emit(SUBTLE_VARIATION))
        self.strong_button = QPushButton("Strong")
        self.strong_button.setObjectName("strongButton")
        self.strong_button.setToolTip(
            f"Variations that keep only the broad layout (strength {STRONG_VARIATION:g}; Batch says "
            "how many)")
        self.strong_button.clicked.connect(lambda: self.variations_requested.emit(STRONG_VARIATION))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addWidget(self.prompt)
        layout.addWidget(self.syntax_hint)
        layout.addWidget(self.prompt_check)
        layout.addWidget(self.negative)
        layout.addWidget(self.negative_note)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.browse)
        layout.addLayout(model_row)
        layout.addWidget(self.loras)
        layout.addWidget(self.mode_label)
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(4)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for row, pairs in enumerate(((("Strength", self.strength), ("Steps", self.steps)),
                                     (("CFG", self.cfg), ("Batch", self.batch)))):
            for column, (caption, widget) in enumerate(pairs):
                grid.addWidget(QLabel(caption), row, 2 * column, right)
                grid.addWidget(widget, row, 2 * column + 1)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.dice)
        seed_row.addWidget(self.seed_lock)
        seed_row.addWidget(self.extra)
        size_row = QHBoxLayout()
        size_row.addWidget(self.auto_size)
        size_row.addWidget(self.width_box, 1)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_box, 1)
        rows: list[tuple[str | QLabel, QWidget | QLayout]] = [
            ("Scheduler", self.scheduler), ("Seed", seed_row), (self.variation_caption, self.variation_row),
            ("Size", size_row), ("Decode", self.fast_decode),
            ("Paste back", self.match_colours)]
        for row, (label, item) in enumerate(rows, start=2):
            grid.addWidget(label if isinstance(label, QLabel) else QLabel(label), row, 0, right)
            if isinstance(item, QWidget):
                grid.addWidget(item, row, 1, 1, 3)
            else:
                grid.addLayout(item, row, 1, 1, 3)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        layout.addLayout(grid)
        layout.addWidget(self.steps_hint)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 2)
        buttons.addWidget(self.subtle_button, 1)
        buttons.addWidget(self.strong_button, 1)
        layout.addLayout(buttons)

        self.model.currentIndexChanged.connect(self._model_index_changed)
        for signal in (self.prompt.textChanged, self.negative.textChanged, self.strength.valueChanged,
                       self.steps.valueChanged, self.cfg.valueChanged, self.scheduler.currentIndexChanged,
                       self.seed.valueChanged, self.seed_lock.toggled, self.auto_size.toggled,
                       self.width_box.valueChanged, self.height_box.valueChanged, self.batch.valueChanged,
                       self.fast_decode.toggled, self.loras.changed, self.variation_seed.valueChanged,
                       self.variation_strength.valueChanged, self.extra.toggled,
                       self.match_colours.toggled):
            signal.connect(self._store)
        for signal in (self.steps.valueChanged, self.strength.valueChanged):
            signal.connect(self._show_steps_hint)
        for signal in (self.prompt.textChanged, self.negative.textChanged, self.seed.valueChanged):
            signal.connect(self._check_timer.start)
        self.cfg.valueChanged.connect(self._show_negative)
        self.setAcceptDrops(True)
        self._restore()
        self._auto_size_toggled(self.auto_size.isChecked())
        self._show_extra(self.extra.isChecked())
        self._show_negative()
        self._show_steps_hint()
        self.loras.set_model_family(self.current_model.family if self.current_model else None)
        self.check_prompt()

    # ------------------------------------------------------------------ models
    @property
    def current_model(self) -> ModelChoice | None:
        """The chosen model, if any."""
        index = self.model.currentIndex()
        return self._choices[index] if 0 <= index < len(self._choices) else None

    def set_models(self, choices: list[ModelChoice]) -> None:
        """Offer ``choices``, keeping the current (or the remembered) model selected."""
        wanted = self.current_model.path if self.current_model else self._settings.generation.get("model")
        extra = [c for c in self._choices if c.path == wanted and all(o.path != c.path for o in choices)]
        self._choices = list(choices) + extra
        with QSignalBlocker(self.model):
            self.model.clear()
            for choice in self._choices:
                self.model.addItem(choice.label, choice.path)
                self.model.setItemData(self.model.count() - 1, choice.path, Qt.ItemDataRole.ToolTipRole)
            index = next((i for i, c in enumerate(self._choices) if c.path == wanted), 0 if choices else -1)
            self.model.setCurrentIndex(index)
        self._show_schedulers(keep=self._settings.generation.get("scheduler", ""))
        if wanted is None and self.current_model is not None:
            self._apply_defaults(self.current_model)
        self._show_negative()
        self._model_family_changed()
        self._store()

    def use_model_path(self, path: Path) -> ModelChoice:
        """Choose the model at ``path`` (a folder or a .safetensors file), applying its defaults.

        Raises a :class:`~sfumato.model_store.ModelStoreError` if it is not a usable model.
        """
        choice = local_choice(path)
        existing = next((i for i, c in enumerate(self._choices) if c.path == choice.path), None)
        if existing is None:
            self._choices.append(choice)
            self.model.addItem(choice.label, choice.path)
            existing = len(self._choices) - 1
        if self.model.currentIndex() == existing:
            self._model_index_changed(existing)
        else:
            self.model.setCurrentIndex(existing)
        return choice

    def _browse(self, folder: bool) -> None:
        if folder:
            path = QFileDialog.getExistingDirectory(self, "Choose a diffusers model folder")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a checkpoint", "",
                                                  "Checkpoints (*.safetensors)")
        if not path:
            return
        try:
            self.use_model_path(Path(path))
        except UserFacingError as exc:  # the model store's errors: not a model it knows
            self.refused.emit(exc)

    def _model_index_changed(self, _index: int) -> None:
        choice = self.current_model
        if choice is None:
            return
        self._show_schedulers(keep="")
        self._apply_defaults(choice)
        self._show_negative()
        self._model_family_changed()
        self._store()
        self.model_chosen.emit(choice)

    def _model_family_changed(self) -> None:
        choice = self.current_model
        self.loras.set_model_family(choice.family if choice is not None else None)
        self.check_prompt()

    def set_loras(self, loras: list[Any]) -> None:
        """The installed LoRAs (:class:`~sfumato.model_store.adapters.AdapterFile`, every family),
        listed in the background: what "Add LoRA" offers, and what the prompt check knows."""
        self.loras.set_installed(loras)
        self.check_prompt()

    def _apply_defaults(self, choice: ModelChoice) -> None:
        d = choice.defaults
        self.steps.setValue(d.steps)
        self.cfg.setValue(d.cfg)
        index = self.scheduler.findText(d.scheduler) if d.scheduler else 0
        self.scheduler.setCurrentIndex(max(0, index))
        if self.auto_size.isChecked():
            self.width_box.setValue(d.size)
            self.height_box.setValue(d.size)

    def _show_schedulers(self, keep: str) -> None:
        choice = self.current_model
        offered = choice.schedulers if choice is not None else ()
        current = keep or self.scheduler.currentText()
        with QSignalBlocker(self.scheduler):
            self.scheduler.clear()
            self.scheduler.addItem(MODEL_DEFAULT_SCHEDULER)
            self.scheduler.addItems(list(offered))
            self.scheduler.setCurrentIndex(max(0, self.scheduler.findText(current)))

    def _show_negative(self, *_args: object) -> None:
        """Disable the negative prompt for a model that takes none; say when CFG leaves it unused."""
        choice = self.current_model
        takes = takes_negative_prompt(choice.family if choice is not None else None)
        self.negative.setEnabled(takes)
        self.negative_note.setVisible(not takes)
        if not takes:
            self.negative.setPlaceholderText(NO_NEGATIVE)
            self.negative.setToolTip(f"{NO_NEGATIVE}: its guidance is distilled into the model.")
        else:
            used = self.cfg.value() > 1
            self.negative.setPlaceholderText(NEGATIVE_PLACEHOLDER if used else NEGATIVE_NEEDS_CFG)
            self.negative.setToolTip("Steers away from what it names when CFG is above 1.")

    def _show_steps_hint(self, *_args: object) -> None:
        """Say how many steps image-to-image and inpaint will run when strength × steps is below one."""
        steps, strength = self.steps.value(), round(self.strength.value(), 3)
        needed = steps_for_strength(steps, strength)
        self.steps_hint.setVisible(needed > steps)
        if needed > steps:
            self.steps_hint.setText(
                f"At strength {strength:g}, {steps} step{'s' if steps != 1 else ''} would run none: "
                f"img2img and inpaint will run {needed} steps."
            )

    # ----------------------------------------------------------- prompt check
    def check_prompt(self) -> None:
        """Say under the prompt what a Generate press would fail with, or what the model ignores
        or lacks (the timer calls this a moment after typing stops)."""
        self._check_timer.stop()
        choice = self.current_model
        negative = self.negative.toPlainText() if self.negative.isEnabled() else ""

        def has_lora(name: str) -> bool:
            return self.loras.has_lora(name) or Path(name).expanduser().is_file()

        check = check_prompts(self.prompt.toPlainText(), negative, self.seed.value(),
                              choice.family if choice is not None else None,
                              has_lora if self.loras.listed else None)
        if check.error is not None:
            self.prompt_check.setText(f"⚠ {check.error}")
            self.prompt_check.setProperty("severity", "error")
        else:
            self.prompt_check.setText("\n".join(f"ℹ {notice}" for notice in check.notices))
            self.prompt_check.setProperty("severity", "info")
        self.prompt_check.style().polish(self.prompt_check)
        self.prompt_check.setVisible(check.error is not None or bool(check.notices))

    def _show_extra(self, shown: bool) -> None:
        self.extra.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.variation_row.setVisible(shown)
        self.variation_caption.setVisible(shown)

    # ------------------------------------------------------------------ reuse
    def reuse(self, plan: ReusePlan) -> tuple[str, ...]:
        """Fill the fields from a picture's parameters: its model first when it is installed (so
        that model's defaults do not overwrite them), then every field the picture gives; the
        seed is locked so the next Generate uses it. The prompt keeps its ``<lora:…>`` tags: they
        apply those LoRAs (the list is left as it is). Returns what the panel could not take."""
        r = plan.reused
        notes: list[str] = []
        if plan.model is not None:
            existing = next((i for i, c in enumerate(self._choices) if c.path == plan.model.path), None)
            if existing is None:
                self._choices.append(plan.model)
                self.model.addItem(plan.model.label, plan.model.path)
                existing = len(self._choices) - 1
            self.model.setCurrentIndex(existing)
        self.prompt.setPlainText(r.prompt)
        self.negative.setPlainText(r.negative_prompt)
        if r.seed is not None and r.seed > MAX_UI_SEED:
            notes.append(f"Seed {r.seed} is above the largest the seed box holds ({MAX_UI_SEED}); the "
                         "seed was left as it was.")
        elif r.seed is not None:
            self.seed.setValue(r.seed)
            self.seed_lock.setChecked(True)
        if r.steps is not None:
            self.steps.setValue(r.steps)
        if r.guidance is not None:
            self.cfg.setValue(r.guidance)
        if r.scheduler is not None:
            index = self.scheduler.findText(r.scheduler)
            if index < 0:
                notes.append(f"This model does not offer the scheduler {r.scheduler}; its default is used.")
            self.scheduler.setCurrentIndex(max(0, index))
        if r.size is not None:
            self.auto_size.setChecked(False)
            self.width_box.setValue(r.size[0])
            self.height_box.setValue(r.size[1])
        if r.strength is not None:
            self.strength.setValue(r.strength)
        if r.count is not None:
            self.batch.setValue(r.count)
        self.fast_decode.setChecked(r.fast_decode)
        self.match_colours.setChecked(r.match_colours)
        if r.variation_strength is not None:
            self.extra.setChecked(r.variation_strength > 0)
            self.variation_strength.setValue(r.variation_strength)
            if r.variation_seed is not None and r.variation_seed > MAX_UI_SEED:
                notes.append(f"Variation seed {r.variation_seed} is above the largest the box holds "
                             f"({MAX_UI_SEED}); it was left as it was.")
            elif r.variation_seed is not None:
                self.variation_seed.setValue(r.variation_seed)
        self.check_prompt()
        return tuple(notes)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Take a dragged PNG (to reuse its parameters)."""
        if any(path.suffix.lower() == ".png" for path in dropped_files(event)):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        """A PNG dropped here: ask for its parameters to fill the panel (``reuse_requested``)."""
        png = next((path for path in dropped_files(event) if path.suffix.lower() == ".png"), None)
        if png is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.reuse_requested.emit(png)

    # ------------------------------------------------------------------- seed
    def roll_seed(self) -> int:
        """Put a new random seed in the seed box and return it."""
        value = secrets.randbelow(MAX_UI_SEED + 1)
        self.seed.setValue(value)
        return value

    def take_seed(self) -> int:
        """The seed for the next Generate: the shown one if locked, else a new random one."""
        return self.seed.value() if self.seed_lock.isChecked() else self.roll_seed()

    # ----------------------------------------------------------------- values
    def set_mode_text(self, text: str) -> None:
        """Show which mode Generate will run."""
        self.mode_label.setText(text)

    def native_size(self) -> int:
        """The chosen model's native side (512 without a model)."""
        choice = self.current_model
        return choice.defaults.size if choice is not None else 512

    def parameters(self) -> Parameters:
        """The values for one Generate press (taking a new seed unless it is locked)."""
        scheduler = self.scheduler.currentText()
        return Parameters(
            prompt=self.prompt.toPlainText().strip(),
            negative_prompt=self.negative.toPlainText().strip() if self.negative.isEnabled() else "",
            model=self.current_model,
            strength=round(self.strength.value(), 3),
            steps=self.steps.value(),
            cfg=round(self.cfg.value(), 2),
            scheduler="" if scheduler == MODEL_DEFAULT_SCHEDULER else scheduler,
            seed=self.take_seed(),
            batch=self.batch.value(),
            size=None if self.auto_size.isChecked() else (self.width_box.value(), self.height_box.value()),
            fast_decode=self.fast_decode.isChecked(),
            match_colours=self.match_colours.isChecked(),
            loras=self.loras.uses(),
            variation_seed=self.variation_seed.value(),
            variation_strength=round(self.variation_strength.value(), 3) if self.extra.isChecked() else 0.0,
        )

    def _auto_size_toggled(self, auto: bool) -> None:
        self.width_box.setEnabled(not auto)
        self.height_box.setEnabled(not auto)

    # ------------------------------------------------------------ persistence
    def _store(self, *_args: object) -> None:
        if self._restoring:
            return
        choice = self.current_model
        self._settings.generation.update({
            "prompt": self.prompt.toPlainText(),
            "negative_prompt": self.negative.toPlainText(),
            "model": choice.path if choice is not None else None,
            "model_label": choice.label if choice is not None else None,
            "model_family": choice.family if choice is not None else None,
            "strength": self.strength.value(),
            "steps": self.steps.value(),
            "cfg": self.cfg.value(),
            "scheduler": "" if self.scheduler.currentIndex() <= 0 else self.scheduler.currentText(),
            "seed": self.seed.value(),
            "seed_locked": self.seed_lock.isChecked(),
            "auto_size": self.auto_size.isChecked(),
            "width": self.width_box.value(),
            "height": self.height_box.value(),
            "batch": self.batch.value(),
            "fast_decode": self.fast_decode.isChecked(),
            "match_colours": self.match_colours.isChecked(),
            "loras": [{"name": name, "weight": weight} for name, weight in self.loras.entries()],
            "variation_seed": self.variation_seed.value(),
            "variation_strength": self.variation_strength.value(),
            "extra": self.extra.isChecked(),
        })

    def _restore(self) -> None:
        """Show the values kept in the settings (anything missing or odd keeps its default)."""
        saved: dict[str, Any] = self._settings.generation
        self._restoring = True
        try:
            self.prompt.setPlainText(str(saved.get("prompt", "")))
            self.negative.setPlainText(str(saved.get("negative_prompt", "")))
            for box, key in ((self.strength, "strength"), (self.steps, "steps"), (self.cfg, "cfg"),
                             (self.seed, "seed"), (self.width_box, "width"),
                             (self.height_box, "height"), (self.batch, "batch"),
                             (self.variation_seed, "variation_seed"),
                             (self.variation_strength, "variation_strength")):
                value = saved.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    if isinstance(box, QSpinBox):
                        box.setValue(int(value))
                    else:
                        box.setValue(float(value))
            self.seed_lock.setChecked(bool(saved.get("seed_locked", False)))
            self.auto_size.setChecked(bool(saved.get("auto_size", True)))
            self.fast_decode.setChecked(saved.get("fast_decode") is True)
            self.match_colours.setChecked(saved.get("match_colours") is not False)
            self.extra.setChecked(saved.get("extra") is True)
            self.loras.set_entries(_saved_loras(saved.get("loras")))
            model = saved.get("model")
            if isinstance(model, str) and model and Path(model).exists():
                # from what was remembered: reading the model (and importing the model store)
                # would delay the window
                family = saved.get("model_family") if isinstance(saved.get("model_family"), str) else None
                label = saved.get("model_label")
                label = label if isinstance(label, str) and label else Path(model).name
                self._choices = [ModelChoice(label, model, family, family_defaults(family, label))]
                with QSignalBlocker(self.model):  # keep the remembered steps, CFG, …
                    self.model.addItem(label, model)
                    self.model.setCurrentIndex(0)
            self._show_schedulers(keep=str(saved.get("scheduler", "")))
        finally:
            self._restoring = False


def _saved_loras(value: object) -> list[tuple[str, float]]:
    """The LoRA list kept in the settings (entries that are not a name and a weight are dropped)."""
    entries = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"].strip():
            weight = item.get("weight", 1.0)
            if isinstance(weight, int | float) and not isinstance(weight, bool):
                entries.append((item["name"], float(weight)))
    return entries
