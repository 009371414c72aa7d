"""The Generate panel's LoRAs: which installed LoRAs each job applies, at which weight.

"Add LoRA" offers the installed LoRAs made for the chosen model's family (imported ones and the
catalog's LCM-LoRA and Hyper-SD adapters); each row has a weight box and a remove button. A
LoRA kept from an earlier model that is made for another family stays in the list, marked, and
is left out of the jobs until a model of its family is chosen again. The list's LoRAs go into
the request's ``loras``; the prompt's ``<lora:name:weight>`` tags apply on top of them and stay
in the text, which is where a reused picture's LoRAs are (adding them here too would apply
them twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sfumato.generation.requests import MAX_LORA_WEIGHT, LoraUse
from sfumato.session.model_choices import loras_for

if TYPE_CHECKING:
    from sfumato.model_store.adapters import AdapterFile

NO_LORAS = "No LoRA installed for this model: Models › Model Manager › Import LoRA or Embedding…"


class _LoraRow(QWidget):
    """One LoRA of the list: its name, its weight, remove."""

    def __init__(self, name: str, weight: float, list_: LoraList) -> None:
        super().__init__()
        self.name = name
        self.label = QLabel(name)
        self.label.setObjectName("loraName")
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.weight = QDoubleSpinBox()
        self.weight.setRange(-MAX_LORA_WEIGHT, MAX_LORA_WEIGHT)
        self.weight.setSingleStep(0.05)
        self.weight.setDecimals(2)
        self.weight.setValue(weight)
        self.weight.setToolTip("How strongly it applies: 1 as trained, 0 not at all, below 0 the opposite")
        self.weight.valueChanged.connect(lambda _v: list_.changed.emit())
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setAutoRaise(True)
        self.remove.setToolTip(f"Take {name} out of the list")
        self.remove.clicked.connect(lambda: list_.remove(name))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.weight)
        layout.addWidget(self.remove)
        self.fits = True

    def show_fit(self, adapter: AdapterFile | None, fits: bool) -> None:
        """Mark the row as applying to the chosen model or not (``adapter``: what is installed
        under its name, if known)."""
        self.fits = fits
        self.label.setEnabled(fits)
        if fits:
            where = f"\n{adapter.path}" if adapter is not None else ""
            self.label.setText(self.name)
            self.label.setToolTip(f"{self.name}{where}")
        else:
            made_for = f"made for {adapter.label}" if adapter is not None else "not installed"
            self.label.setText(f"{self.name} — {made_for}, left out")
            self.label.setToolTip(f"{self.name} is {made_for}: jobs with this model run without it.")


class LoraList(QWidget):
    """The LoRAs each job applies. ``changed`` fires when one is added, removed or reweighted."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._installed: list[AdapterFile] | None = None
        self._family: str | None = None
        self._rows: list[_LoraRow] = []
        self.add_button = QToolButton()
        self.add_button.setObjectName("addLora")
        self.add_button.setText("Add LoRA")
        self.add_button.setToolTip("Apply an installed LoRA to the next jobs")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_menu = QMenu(self.add_button)
        self.add_menu.aboutToShow.connect(self._fill_menu)
        self.add_button.setMenu(self.add_menu)
        self._rows_box = QVBoxLayout()
        self._rows_box.setContentsMargins(0, 0, 0, 0)
        self._rows_box.setSpacing(2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(self._rows_box)
        header = QHBoxLayout()
        header.addWidget(self.add_button)
        header.addStretch(1)
        layout.addLayout(header)

    # ----------------------------------------------------------------- state
    def set_installed(self, loras: Sequence[AdapterFile]) -> None:
        """The installed LoRAs (every family), listed in the background."""
        self._installed = list(loras)
        self._show_fits()

    def set_model_family(self, family: str | None) -> None:
        """The chosen model's family: what "Add LoRA" offers and which rows apply."""
        self._family = family
        self._show_fits()

    def offered(self) -> list[AdapterFile]:
        """The installed LoRAs for the chosen model that are not in the list yet."""
        if self._installed is None:
            return []
        taken = {row.name for row in self._rows}
        return [a for a in loras_for(self._installed, self._family) if a.name not in taken]

    @property
    def listed(self) -> bool:
        """Whether the installed LoRAs have been listed yet."""
        return self._installed is not None

    def has_lora(self, name: str) -> bool:
        """Whether a LoRA called ``name`` is installed (as far as the last listing knows)."""
        return any(a.name.casefold() == name.casefold() for a in self._installed or ())

    # ----------------------------------------------------------------- edits
    def add(self, name: str, weight: float = 1.0) -> None:
        """Put LoRA ``name`` in the list at ``weight`` (a second add of it sets its weight)."""
        row = next((r for r in self._rows if r.name == name), None)
        if row is not None:
            row.weight.setValue(weight)
            return
        row = _LoraRow(name, weight, self)
        self._rows.append(row)
        self._rows_box.addWidget(row)
        self._show_fits()
        self.changed.emit()

    def remove(self, name: str) -> None:
        """Take LoRA ``name`` out of the list."""
        row = next((r for r in self._rows if r.name == name), None)
        if row is None:
            return
        self._rows.remove(row)
        self._rows_box.removeWidget(row)
        row.deleteLater()
        self.changed.emit()

    def set_entries(self, entries: Sequence[tuple[str, float]]) -> None:
        """Show exactly ``entries`` (name, weight), as remembered in the settings."""
        for row in list(self._rows):
            self._rows.remove(row)
            self._rows_box.removeWidget(row)
            row.deleteLater()
        for name, weight in entries:
            self.add(name, weight)

    def entries(self) -> list[tuple[str, float]]:
        """Every row as (name, weight), those left out included (for the settings)."""
        return [(row.name, round(row.weight.value(), 3)) for row in self._rows]

    def uses(self) -> tuple[LoraUse, ...]:
        """The LoRAs a job with the chosen model applies (rows left out are not in it)."""
        return tuple(LoraUse(row.name, round(row.weight.value(), 3)) for row in self._rows if row.fits)

    # --------------------------------------------------------------- showing
    def _fill_menu(self) -> None:
        self.add_menu.clear()
        offered = self.offered()
        if self._installed is None:
            self.add_menu.addAction("Listing the installed LoRAs…").setEnabled(False)
        elif not offered:
            self.add_menu.addAction(NO_LORAS).setEnabled(False)
        for adapter in offered:
            action = self.add_menu.addAction(adapter.name, partial(self.add, adapter.name))
            action.setToolTip(str(adapter.path))

    def _show_fits(self) -> None:
        installed = {a.name: a for a in self._installed or ()}
        fitting = {a.name for a in loras_for(list(installed.values()), self._family)}
        for row in self._rows:
            adapter = installed.get(row.name)
            known = self._installed is not None
            row.show_fit(adapter, not known or row.name in fitting)
