#!/usr/bin/env bash
# The main job: convert the bundled Fashion-MNIST sample to superpixel graphs,
# train the default GCN, evaluate it, and write results + plots to runs/sample.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec graphcls train --dataset sample --graph superpixels --model gcn --out runs/sample "$@"
