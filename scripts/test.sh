#!/usr/bin/env bash
# The one test command: the direction of imports between the rooms of src/
# (scripts/check_layers.py), the Rust tests, then the Python package (python/) built into a venv
# with maturin (debug build, sharing target/ with cargo) and its pytest tests, which compare
# it with the binary the Rust tests just built.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/check_layers.py
cargo test --locked
VENV="${PYRALNET_VENV:-$PWD/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q "maturin>=1.5,<2" numpy pytest
# shellcheck disable=SC1091
source "$VENV/bin/activate"
(cd python && maturin develop --locked --quiet)
python -m pytest -q python/tests
