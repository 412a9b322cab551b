#!/usr/bin/env bash
# Installs everything (scripts/install.sh), then runs the whole test suite: Python and the
# VS Code extension. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
PY=${PYTHON:-python3}
"$PY" -m ruff check .
export TRITON_INTERPRET=1
"$PY" -m pytest
if [ -f vscode-client/package.json ]; then
    (cd vscode-client && npm ci --no-audit --no-fund && npm run check && npm test)
fi
