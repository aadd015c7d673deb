#!/usr/bin/env bash
# Experiment B of MODEL.md section 9 (Yin-Yang [4,120,3], self-predicting start, 45 epochs of
# 6000 patterns) with 3 seeds, and the same with learning_lag 0, in one run of 6 instances.
# Usage: scripts/experiment_b.sh [OUT_DIR] [extra pyralnet run flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/experiment_b}
shift || true
cargo build --release --quiet
cfg=$(mktemp --suffix=.json)
trap 'rm -f "$cfg"' EXIT
python3 scripts/config_variant.py configs/yinyang_sps.json "$cfg" name=experiment_b \
  'sweep={"learning_lag": [0.0, 20.0]}'
mkdir -p "$(dirname "$out")"
/usr/bin/time -v ./target/release/pyralnet run "$cfg" --out "$out" "$@" 2> >(tee "$out.log" >&2)
