#!/usr/bin/env bash
# The main job: convert the bundled Fashion-MNIST sample to superpixel graphs, train the
# default model (dirconv), evaluate it, and write results + plots to runs/sample.
# Extra arguments go to `graphcls train` (e.g. `--model gcn` for the classic baseline).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec graphcls train --dataset sample --out runs/sample "$@"
