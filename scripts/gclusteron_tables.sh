#!/usr/bin/env bash
# Reproduces the G-clusteron tables of GCLUSTERON.md section 5 (and the figures of the README):
#   XOR convergence (5.3), Fashion-MNIST all-vs-all / one-vs-rest / one-vs-all with the
#   logistic-regression baseline, the r x eta_l sweep of the location rule, the toy demos,
#   and the MNIST tables 5.1 / 5.2 when the MNIST IDX files are in data/mnist/.
# Usage: scripts/gclusteron_tables.sh [--smoke] [extra pyralnet run flags]
#   --smoke runs the *_smoke variants (seconds; what CI runs). Outputs go to out/<config>.
set -euo pipefail
cd "$(dirname "$0")/.."
suffix=""
if [ "${1:-}" = "--smoke" ]; then suffix="_smoke"; shift; fi
cargo build --release --quiet
bin=./target/release/pyralnet
# per-class copies of the one-vs-all configs live next to them (relative data paths stay valid)
trap 'rm -f configs/.gc_*_ova_[0-9].json' EXIT

run() { # run CONFIG_NAME [OUT_NAME]: run configs/CONFIG_NAME.json into out/OUT_NAME once
  local cfg=configs/$1.json out=out/${2:-$1}
  [ -f "$out/summary.json" ] || "$bin" run "$cfg" --out "$out" --backend cpu --force "${@:3}"
  "$bin" plot "$out" > /dev/null
}

one_vs_all() { # one_vs_all CONFIG_NAME: every positive class 0..9 from the class-0 config
  local base=$1
  shift
  for d in 0 1 2 3 4 5 6 7 8 9; do
    sed "s/\"positive_class\": 0/\"positive_class\": $d/" "configs/$base.json" > "configs/.${base}_$d.json"
    run ".${base}_$d" "${base}_class$d" "$@"
  done
}

run "gc_xor$suffix" "gc_xor$suffix" "$@"
run "gc_fashion_softmax$suffix" "gc_fashion_softmax$suffix" "$@"
run "gc_fashion_ovr$suffix" "gc_fashion_ovr$suffix" "$@"
run "gc_fashion_sweep_r_eta$suffix" "gc_fashion_sweep_r_eta$suffix" "$@"
if [ -z "$suffix" ]; then
  one_vs_all gc_fashion_ova "$@"
else
  run gc_fashion_ova_smoke gc_fashion_ova_smoke "$@"
fi
"$bin" gc-toy --out "out/gc_toy$suffix"
if ls data/mnist/train-images-idx3-ubyte* > /dev/null 2>&1 && [ -z "$suffix" ]; then
  run gc_mnist_softmax gc_mnist_softmax "$@"
  run gc_mnist_ovr gc_mnist_ovr "$@"
  one_vs_all gc_mnist_ova "$@"
else
  echo "MNIST tables skipped (smoke run, or no MNIST IDX files in data/mnist/)"
fi
echo "results: out/gc_*/summary.json (points, convergence, logreg), figures: out/gc_*/plots/"
