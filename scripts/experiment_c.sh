#!/usr/bin/env bash
# Experiment C of MODEL.md section 9 (Yin-Yang [4,120,3], random start, η_pi 4.22e-4, 50 epochs
# of 6000 patterns; published 97.2 ± 1.1 % test accuracy) with 5 seeds, in one run of 5 instances.
# Resumable: run it again with --resume after a stop.
# Usage: scripts/experiment_c.sh [OUT_DIR] [extra pyralnet run flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/experiment_c}
shift || true
cargo build --release --quiet
cfg=$(mktemp --suffix=.json)
trap 'rm -f "$cfg"' EXIT
python3 scripts/config_variant.py configs/yinyang_random.json "$cfg" name=experiment_c \
  'seeds=[0,1,2,3,4]'
mkdir -p "$(dirname "$out")"
/usr/bin/time -v ./target/release/pyralnet run "$cfg" --out "$out" "$@" 2> >(tee -a "$out.log" >&2)
