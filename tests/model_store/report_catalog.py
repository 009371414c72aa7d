"""Print, for every catalog entry's default variant, what a download fetches from the real layout.

Not a test: a report, planned for the 12 GB RTX 3060 the every-entry test uses. For each entry:
the files selected from the repo as its Hub pages list it (``tests/fixtures/hub_layouts``), their
number, their size at real scale from the pages, how many of them no stored page lists (filled
in by :func:`real_hub.assumed_paths`), and the first page the layout came from. Run with
``.venv/bin/python tests/model_store/report_catalog.py``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))

from real_hub import assumed_paths, build_repo, download_bytes, layout
from test_real_catalog import RTX_3060, TINY

from sfumato.model_store import load_catalog
from sfumato.model_store.fit import plan_model
from sfumato.model_store.hub import parse_index, select_files


def main() -> None:
    """Print one row per catalog entry."""
    catalog = load_catalog()
    profile = RTX_3060  # the machine the every-entry test plans downloads for
    with tempfile.TemporaryDirectory() as tmp:
        built: dict[str, Path] = {}
        print(f"{'entry':18} {'variant':8} {'files':>5} {'assumed':>7} {'real size':>10}  layout page")
        for model in catalog.models:
            family = model.family.id
            if family not in built:
                built[family] = TINY[family](Path(tmp) / family)
            variant = model.variant(plan_model(model, profile).variant)
            repo = build_repo(model.repo, built[family])
            index = (
                None
                if variant.layout == "single_file"
                else parse_index(model.repo, repo.files["model_index.json"])
            )
            chosen = select_files(model.repo, list(repo.files), variant, index)
            assumed = set(assumed_paths(model.repo, built[family])) & set(chosen)
            size = download_bytes(model.repo, chosen)
            shown = f"{size / 1e9:.2f} GB" if size else "unknown"
            pages = layout(model.repo)["pages"]
            print(
                f"{model.id:18} {variant.name:8} {len(chosen):5} {len(assumed):7} {shown:>10}  "
                f"{pages[0] if pages else '(no page stored)'}"
            )


if __name__ == "__main__":
    main()
