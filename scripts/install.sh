#!/usr/bin/env bash
# Install Sfumato into ./.venv (system Qt libraries, CPU torch by default) and start it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
exec .venv/bin/sfumato "$@"
