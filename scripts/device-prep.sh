#!/usr/bin/env bash
# Prepares, on this machine (no GPU, Rust toolchain), what a lent GPU machine (the `device` tool's
# `run`: no Rust toolchain, no Vulkan loader, 64 MiB carried) needs for this project's device
# checks, so that a session spends its device minutes measuring:
#   .devbin/pyralnet          the release binary, stripped (unstripped it is > 64 MiB)
#   .devbin/gpu-bench.sh      ../shared/device/gpu-bench.sh (../shared does not travel)
#   .devbin/pyralnet-debug    the debug binary the CLI tests call, stripped
#   .devbin/test-*            the GPU test binaries (tests/gpu.rs, gpu_steady.rs, gclusteron_gpu.rs),
#                             stripped, and .devbin/manifest_dir (the path they were built in)
#   .gl/*.deb                 the Vulkan loader packages (the device README's recipe)
# Then, on the device (each a `run` with carry [".devbin", ".gl"]):
#   bash .devbin/gpu-bench.sh                (timeout_s 580; runs scripts/gpu-bench-extra.sh)
#   bash scripts/device-tests.sh             (timeout_s 300; the GPU tests on the real GPU)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .devbin
cargo build --release --locked
cp target/release/pyralnet .devbin/pyralnet
strip .devbin/pyralnet
cp ../shared/device/gpu-bench.sh .devbin/
# the test binaries, by the paths cargo reports
cargo test --locked --no-run --test gpu --test gpu_steady --test gclusteron_gpu \
  --message-format=json 2>/dev/null |
  python3 -c '
import json, sys, shutil
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        shutil.copy(m["executable"], ".devbin/test-" + m["target"]["name"])
        print("test binary", m["target"]["name"])
'
cp target/debug/pyralnet .devbin/pyralnet-debug
strip .devbin/pyralnet-debug .devbin/test-*
pwd > .devbin/manifest_dir
if ! ls .gl/*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq
  # shellcheck disable=SC2086
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh .devbin .gl
total=$(du -sbc .devbin .gl | tail -1 | cut -f1)
if [ "$total" -gt $((60 << 20)) ]; then
  echo "warning: .devbin and .gl hold $total bytes, the device carries 64 MiB in all" >&2
fi
