#!/usr/bin/env bash
# Runs one of the seed's scans (or any config in configs/) and draws its figures.
# Usage: scripts/reproduce.sh NAME [extra pyralnet run flags]
#   NAME: scan_learning_lag, scan_tau0, scan_tau_w, scan_eta_pi, scan_learning_lag_reduced,
#         or any configs/NAME.json (a *_smoke variant runs in seconds).
# Outputs go to out/NAME; an interrupted run continues where it stopped when started again.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/reproduce.sh NAME [pyralnet run flags]}
shift
cfg=configs/$name.json
[ -f "$cfg" ] || { echo "no config $cfg; choose one of: $(ls configs | sed 's/\.json$//' | tr '\n' ' ')" >&2; exit 2; }
cargo build --release --quiet
bin=./target/release/pyralnet
out=out/$name
if [ -d "$out/checkpoint" ] || [ -f "$out/config.json" ] && [ ! -f "$out/summary.json" ]; then
  "$bin" run "$cfg" --out "$out" --resume "$@"
elif [ ! -f "$out/summary.json" ]; then
  "$bin" run "$cfg" --out "$out" "$@"
fi
"$bin" plot "$out"
echo "results: $out/summary.csv, figures: $out/plots/"
