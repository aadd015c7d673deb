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
python3 - "$cfg" "$epochs" "$seeds" <<'PY'
import json, sys
c = json.load(open("configs/mimic.json"))
c["name"] = "experiment_a"
c["protocol"]["epochs"] = int(sys.argv[2])
c["protocol"]["eval_every"] = 1000
if int(sys.argv[3]) > 0:
    c["seeds"] = list(range(int(sys.argv[3])))
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
./target/release/pyralnet run "$cfg" --out "$out" --force
python3 scripts/curve_ratios.py "$out"
