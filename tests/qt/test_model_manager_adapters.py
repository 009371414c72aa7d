"""Models › Model Manager › Import LoRA or Embedding…: a LoRA file or a folder of them is copied
into the store and listed with its kind; a file that is neither is refused with the reason."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from generate_helpers import tiny_sd_fixture
from model_helpers import CPU_16GB, offline_manager
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot
from qt_helpers import Dialogs

from sfumato.model_store import ModelManager
from sfumato.qt_bridge.model_tasks import ModelTasks
from sfumato.ui.models.manager_dialog import COL_FIT, COL_KIND, COL_STATUS, ModelManagerDialog

__all__ = ["tiny_sd_fixture"]

TIMEOUT = 10_000


@pytest.fixture
def dialog(qtbot: QtBot, tmp_path: Path, dialogs: Dialogs) -> Iterator[ModelManagerDialog]:
    tasks = ModelTasks(offline_manager(tmp_path / "cache", CPU_16GB))
    opened = ModelManagerDialog(tasks)
    qtbot.addWidget(opened)
    opened.show()
    qtbot.waitUntil(lambda: opened.state is not None and not tasks.running(), timeout=TIMEOUT)
    yield opened
    tasks.shutdown()


def cell(dialog: ModelManagerDialog, key: str, col: int) -> str:
    i = next(i for i, r in enumerate(dialog.rows) if r.key == key)
    item = dialog.table.item(i, col)
    return item.text() if item is not None else ""


def imported(qtbot: QtBot, dialog: ModelManagerDialog) -> object:
    """Wait for the import task to finish and the dialog to have posted its outcome."""
    def about_import(key: str, *_: object) -> bool:
        return key == "_import"

    return qtbot.waitSignals([dialog.tasks.finished, dialog.reported], timeout=TIMEOUT,
                             order="simple", check_params_cbs=[about_import, about_import])


def import_file(qtbot: QtBot, dialog: ModelManagerDialog, dialogs: Dialogs, path: Path) -> None:
    dialogs.file_answers.append(str(path))
    with imported(qtbot, dialog):
        dialog.buttons["import_adapters"].menu().actions()[0].trigger()  # A File…


def test_importing_a_lora_file_lists_it_with_its_kind_and_it_can_be_removed(
        qtbot: QtBot, dialog: ModelManagerDialog, dialogs: Dialogs, tiny_sd: Path, tmp_path: Path) -> None:
    from sfumato.inference.tiny_models import build_lora

    lora = Path(shutil.copy(build_lora(tiny_sd, tmp_path / "made"), tmp_path / "ink-wash.safetensors"))
    import_file(qtbot, dialog, dialogs, lora)
    assert dialog.status.text() == "Imported LoRA ink-wash (for SD 1.x)."
    qtbot.waitUntil(lambda: any(r.key == "lora:ink-wash" for r in dialog.rows), timeout=TIMEOUT)
    assert cell(dialog, "lora:ink-wash", COL_KIND) == "LoRA"
    assert cell(dialog, "lora:ink-wash", COL_FIT) == "for SD 1.x"
    assert cell(dialog, "lora:ink-wash", COL_STATUS) == "Installed"
    assert cell(dialog, "sd15", COL_KIND) == "Checkpoint"
    manager: ModelManager = dialog.tasks.manager
    assert [a.name for a in manager.loras("sd15")] == ["ink-wash"]

    dialog.select("lora:ink-wash")
    assert dialog.buttons["remove"].isEnabled() and not dialog.buttons["verify"].isEnabled()
    dialogs.question_answer = dialogs.question_answer.Yes
    with qtbot.waitSignal(dialog.tasks.finished, timeout=TIMEOUT):
        dialog.buttons["remove"].click()
    qtbot.waitUntil(lambda: all(r.key != "lora:ink-wash" for r in dialog.rows), timeout=TIMEOUT)
    assert manager.loras() == [] and lora.is_file()  # the file it came from is kept


def test_a_folder_is_imported_its_loras_in_a_checkpoint_left_out_an_unusable_embedding_refused(
        qtbot: QtBot, dialog: ModelManagerDialog, dialogs: Dialogs, tiny_sd: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from sfumato.inference.tiny_models import build_embedding, build_lora

    webui = tmp_path / "webui"  # an AUTOMATIC1111 install's layout: models/Lora, embeddings
    (webui / "models" / "Lora").mkdir(parents=True)
    (webui / "embeddings").mkdir()
    shutil.copy(build_lora(tiny_sd, tmp_path / "made"), webui / "models" / "Lora" / "ink-wash.safetensors")
    unet = next((tiny_sd / "unet").glob("*.safetensors"))
    shutil.copy(unet, webui / "models" / "Lora" / "a-unet.safetensors")
    build_embedding(tiny_sd, webui / "embeddings" / "tiny-word.safetensors")  # 32 wide: no real family
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(webui))
    with imported(qtbot, dialog):
        dialog.buttons["import_adapters"].menu().actions()[1].trigger()  # Every One in a Folder…
    assert dialog.status.text() == "Imported LoRA ink-wash (for SD 1.x); 1 refused."
    notice = dialog.notice_bar.notice  # said in the window's notice bar, not in a modal box
    assert notice is not None and dialogs.messages == []
    assert notice.message.startswith("tiny-word.safetensors: an embedding of 32-wide vectors")
    qtbot.waitUntil(lambda: any(r.key == "lora:ink-wash" for r in dialog.rows), timeout=TIMEOUT)
    assert all(r.key not in ("lora:a-unet", "embedding:tiny-word") for r in dialog.rows)


def test_a_file_that_is_neither_is_refused_with_the_reason(
        qtbot: QtBot, dialog: ModelManagerDialog, dialogs: Dialogs, tiny_sd: Path) -> None:
    unet = next((tiny_sd / "unet").glob("*.safetensors"))
    import_file(qtbot, dialog, dialogs, unet)
    assert dialog.status.text() == "Nothing was imported."
    notice = dialog.notice_bar.notice
    assert notice is not None
    assert notice.message == f"{unet.name} is neither a LoRA nor a textual-inversion embedding."
