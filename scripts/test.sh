#!/usr/bin/env bash
# The one test command: the direction of imports between the rooms of src/
# (scripts/check_layers.py), the Rust tests (the full model's GPU tests at three subgroup
# widths), then the Python package (python/) built into a venv
# with maturin (debug build, sharing target/ with cargo) and its pytest tests, which compare
# it with the binary the Rust tests just built.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/check_layers.py
cargo test --locked
# The full model's GPU tests again with lavapipe's subgroups 4 and 16 lanes wide instead of 8
# (its subgroups are as wide as its vectors): the register kernel's column sums take the
# workgroup tree where [4,120,3]'s rows do not fit a subgroup, and with 16 lanes its butterfly
# runs a plain level after the transpose levels, as on 32-lane GPUs. Other drivers ignore it.
for bits in 128 512; do
  LP_NATIVE_VECTOR_WIDTH=$bits cargo test --locked --test gpu
done
VENV="${PYRALNET_VENV:-$PWD/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q "maturin>=1.5,<2" numpy pytest
# shellcheck disable=SC1091
source "$VENV/bin/activate"
(cd python && maturin develop --locked --quiet)
python -m pytest -q python/tests
