"""One notification path: no module of the window opens a message box or writes the status bar's
message itself; notices go through ``ui/common/notices.py`` and questions through
``ui/common/questions.py`` (issue 12 item 5)."""

from __future__ import annotations

import re
from pathlib import Path

import sfumato

PACKAGE = Path(sfumato.__file__).parent
PRESENTERS = {Path("ui/common/notices.py"), Path("ui/common/questions.py")}
DIRECT = re.compile(r"\bQMessageBox\b|\.showMessage\(|\.clearMessage\(|\bQErrorMessage\b")


def direct_calls(root: Path) -> list[str]:
    """``file:line: text`` of every direct message box or status-bar message under ``root``
    (the presenter modules aside)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root)
        if name in PRESENTERS:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if DIRECT.search(line):
                found.append(f"{name.as_posix()}:{number}: {line.strip()}")
    return found


def test_only_the_presenter_modules_open_message_boxes_or_write_the_status_bar() -> None:
    assert direct_calls(PACKAGE) == []


def test_the_check_finds_a_direct_call_outside_the_presenters(tmp_path: Path) -> None:
    (tmp_path / "panel.py").write_text('box = QMessageBox(self)\nself.statusBar().showMessage("hi")\n'
                                       'label.setText("QMessageBoxes")\n', encoding="utf-8")
    (tmp_path / "ui" / "common").mkdir(parents=True)
    (tmp_path / "ui" / "common" / "questions.py").write_text("QMessageBox.question(None)\n", encoding="utf-8")
    assert direct_calls(tmp_path) == ["panel.py:1: box = QMessageBox(self)",
                                      'panel.py:2: self.statusBar().showMessage("hi")']
