"""The Python call overhead of pyralnet.run against the same run by the CLI binary of the
same build: median wall time of REPEAT runs each of a smoke config, alternating.

    python benches/python_overhead.py [CONFIG] [REPEAT] [PYRALNET_BIN]
"""

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyralnet

ROOT = Path(__file__).resolve().parents[1]
config = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "configs" / "mimic_smoke.json")
repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 5
binary = sys.argv[3] if len(sys.argv) > 3 else str(ROOT / "target" / "debug" / "pyralnet")

cli, py, inner = [], [], []
for _ in range(repeat):
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        subprocess.run([binary, "run", config, "--out", d + "/o", "--backend", "cpu", "--quiet"], check=True, capture_output=True)
        cli.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    r = pyralnet.run(config, backend="cpu")
    py.append(time.perf_counter() - t0)
    inner.append(r.summary["wall_seconds"])
c, p, w = statistics.median(cli), statistics.median(py), statistics.median(inner)
print(f"{config}: CLI process {c:.3f} s, pyralnet.run {p:.3f} s (run's own wall_seconds {w:.3f} s)")
print(f"pyralnet.run - CLI: {p - c:+.3f} s = {100 * (p - c) / c:+.1f} % of the CLI run")
print(f"pyralnet.run - wall_seconds: {p - w:+.3f} s = {100 * (p - w) / p:.1f} % of the call")
