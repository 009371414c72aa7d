#!/usr/bin/env bash
# Shared by install.sh and test.sh: Qt's system libraries, a .venv, the CPU torch wheel and Sfumato.
# Usage: scripts/setup-env.sh [extra]   (extra: "test" installs the test tools too)
set -euo pipefail
cd "$(dirname "$0")/.."

QT_LIBS="libegl1 libgl1 libfontconfig1 libfreetype6 libglib2.0-0 libx11-6 libxkbcommon0 libdbus-1-3 \
libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-render0 \
libxcb-shape0 libxcb-util1 libxcb-xkb1 libxkbcommon-x11-0"
TEST_LIBS="xvfb xauth nsis"  # nsis: makensis compiles the Windows installer script in tests

if command -v apt-get >/dev/null 2>&1; then
  want="$QT_LIBS"
  [ "${1:-}" = "test" ] && want="$want $TEST_LIBS"
  missing=""
  for p in $want; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "Installing Qt runtime libraries:$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The CPU wheel is the default. GPU users: install the CUDA/ROCm wheel first (README, "GPU setup");
# a torch already present is kept because pyproject asks only for torch>=2.4.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "torch==2.13.0"
if [ "${1:-}" = "test" ]; then
  .venv/bin/python -m pip install -q -e ".[test]"
else
  .venv/bin/python -m pip install -q -e .
fi
