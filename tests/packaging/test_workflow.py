"""The hosted-runner packaging workflow: it parses, covers three systems, keeps secrets out of scripts.

It only runs on GitHub; here we check its shape (actionlint and shellcheck were run on it by hand).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "package.yml"


@pytest.fixture(scope="module")
def job() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return data["jobs"]["package"]


def test_one_job_per_system(job: dict) -> None:
    oses = [entry["os"] for entry in job["strategy"]["matrix"]["include"]]
    assert any(os.startswith("ubuntu-") for os in oses)
    assert any(os.startswith("windows-") for os in oses)
    assert any(os.startswith("macos-") for os in oses)
    assert job["strategy"]["fail-fast"] is False


def test_every_installer_kind_is_uploaded(job: dict) -> None:
    upload = next(
        step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/upload-artifact")
    )
    paths = upload["with"]["path"]
    for pattern in ("*.deb", "*.AppImage", "*.exe", "*.dmg", "build-report.json"):
        assert pattern in paths


def test_secrets_reach_scripts_only_through_env(job: dict) -> None:
    for step in job["steps"]:
        assert not re.search(r"\$\{\{\s*(secrets|vars)\.", step.get("run", "")), step.get("name")


def test_appimagetool_is_checked_against_a_configured_hash(job: dict) -> None:
    step = next(step for step in job["steps"] if "appimagetool" in step.get("run", ""))
    assert "sha256sum --check" in step["run"]
    assert step["env"]["APPIMAGETOOL_SHA256"] == "${{ vars.APPIMAGETOOL_SHA256 }}"
