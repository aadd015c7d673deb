#!/usr/bin/env bash
# Device checks of this project beyond /work/shared/device/gpu-bench.sh, which runs this script as
# `scripts/gpu-bench-extra.sh BIN OUT` (stdout into OUT/extra.txt) within 120 s:
# - the register kernel (forced) at 4, 2 and 1 hidden cells per thread (docs/gpu.md section 3.1
#   predicts 1.2e9 / 0.84-1.1e9 / 8.1e8 instance-steps/s on an H100 for [4,120,3] at batch 2048,
#   1.4e9 / 1.1e9 / 8.1e8 at 16384, W_down0 frozen as the bench runs it) beside the resident
#   kernel (the GPU default for that shape), and `pyralnet check` with it forced: its subgroup
#   butterfly has run only on lavapipe's 4-, 8- and 16-lane subgroups;
# - the steady model's kernels on [784,500,10] (section 2.3.1 predicts, on an H100,
#   7.3e4-1.3e5 patterns/s for blocks at batch 6 and 3.2e5-3.9e5 at batch 64; rows 6e4-1.8e5 at
#   batch 64), and `pyralnet check` of the steady smoke config with each kernel forced.
set -u
B=${1:-.devbin/pyralnet}
"$B" devices --dims 4,120,3
for p in 4 2 1; do
  timeout 12 "$B" bench --backend gpu --gpu-kernel register --register-cells "$p" --dims 4,120,3 \
    --batch 2048,16384 --precision f32 --t-pattern 100 --seconds 1
done
timeout 15 "$B" bench --backend gpu --gpu-kernel resident --dims 4,120,3 --batch 2048,16384 \
  --precision f32 --t-pattern 100 --seconds 1
timeout 15 "$B" check configs/yinyang_sps_smoke.json --patterns 20 --gpu-kernel register
echo "exit $? for check --gpu-kernel register"
"$B" devices --dims 784,500,10
for k in blocks rows; do
  timeout 15 "$B" bench --model steady --backend gpu --gpu-kernel "$k" --dims 784,500,10 \
    --batch 6,64 --seconds 1
done
for k in blocks rows; do
  timeout 10 "$B" check configs/yinyang_steady_smoke.json --patterns 5 --gpu-kernel "$k"
  echo "exit $? for steady check --gpu-kernel $k"
done
