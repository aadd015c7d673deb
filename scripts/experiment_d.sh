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
python3 - "$cfg" <<'PY'
import json, sys
c = json.load(open("configs/yinyang_steady.json"))
c["name"] = "experiment_d"
c["seeds"] = list(range(10))
c["sweep"] = {"reset_deltas": [False, True]}
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
./target/release/pyralnet run "$cfg" --out "$out" --force "$@"
