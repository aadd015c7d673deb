#!/usr/bin/env bash
# Experiment D of MODEL.md section 9: the steady-state model on Yin-Yang [4,120,3] from the
# self-predicting start (configs/yinyang_steady.json, 45 epochs of 6000 patterns), 10 seeds,
# without and with reset_deltas, in one run of 20 instances (about a minute on 2 cores).
# Usage: scripts/experiment_d.sh [OUT_DIR] [extra pyralnet run flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/experiment_d}
shift || true
cargo build --release --quiet
cfg=$(mktemp --suffix=.json)
trap 'rm -f "$cfg"' EXIT
python3 scripts/config_variant.py configs/yinyang_steady.json "$cfg" name=experiment_d \
  'seeds=[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]' 'sweep={"reset_deltas": [false, true]}'
./target/release/pyralnet run "$cfg" --out "$out" --force "$@"
