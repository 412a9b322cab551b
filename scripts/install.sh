#!/usr/bin/env bash
# Installs codepager and everything its tests need on a fresh machine (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# torch first: the CPU build of 2.13.0 lies on this machine's disk; a bare `torch` requirement
# with no torch installed would download a multi-GB CUDA build.
if ! "$PY" -c "import torch" 2>/dev/null; then
    "$PY" -m pip install -q torch==2.13.0
fi
"$PY" -m pip install -q -e ".[dev]"
