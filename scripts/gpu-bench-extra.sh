#!/usr/bin/env bash
# Device checks of this project beyond /work/shared/device/gpu-bench.sh, which runs this script as
# `scripts/gpu-bench-extra.sh BIN OUT` (stdout into OUT/extra.txt) within 120 s: the steady model's
# kernels on [784,500,10] (docs/gpu.md section 2.3.1 predicts, on an H100, 7.3e4-1.3e5
# patterns/s for blocks at batch 6 and 3.2e5-3.9e5 at batch 64; rows 6e4-1.8e5 at batch 64), and
# `pyralnet check` of the steady smoke config with each kernel forced.
set -u
B=${1:-.devbin/pyralnet}
"$B" devices --dims 784,500,10
for k in blocks rows; do
  timeout 40 "$B" bench --model steady --backend gpu --gpu-kernel "$k" --dims 784,500,10 \
    --batch 6,64 --seconds 2
done
for k in blocks rows; do
  timeout 15 "$B" check configs/yinyang_steady_smoke.json --patterns 5 --gpu-kernel "$k"
  echo "exit $? for steady check --gpu-kernel $k"
done
