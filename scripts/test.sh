#!/usr/bin/env bash
# Run the whole test suite: lint, import contracts, types, then pytest (offscreen Qt, tiny models, local HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh test
export QT_QPA_PLATFORM=offscreen
.venv/bin/ruff check .
.venv/bin/lint-imports
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
