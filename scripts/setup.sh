#!/usr/bin/env bash
# Install pyg_graphcls and its test tools into the current Python.
# CPU by default (torch pinned to the CPU build this machine class ships);
# set TORCH_SPEC (e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124")
# for a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c "import torch" 2>/dev/null; then
  "$PY" -m pip install -q ${TORCH_SPEC:-torch==2.13.0}
fi
"$PY" -m pip install -q -e ".[test]"
