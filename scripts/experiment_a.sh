#!/usr/bin/env bash
# Experiment A of MODEL.md section 9: mimic [2,3,2], softplus, random start.
# Usage: scripts/experiment_a.sh [OUT_DIR] [EPOCHS] [SEEDS]
#   (the published protocol is 10 epochs; SEEDS defaults to the config's 3)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/experiment_a}
epochs=${2:-10}
seeds=${3:-0}
cargo build --release --quiet
cfg=$(mktemp --suffix=.json)
trap 'rm -f "$cfg"' EXIT
seeds_arg=()
if [ "$seeds" -gt 0 ]; then seeds_arg=("seeds=$(python3 -c "print(list(range($seeds)))")"); fi
python3 scripts/config_variant.py configs/mimic.json "$cfg" name=experiment_a \
  protocol.epochs="$epochs" protocol.eval_every=1000 "${seeds_arg[@]}"
./target/release/pyralnet run "$cfg" --out "$out" --force
python3 scripts/curve_ratios.py "$out"
