#!/usr/bin/env python3
"""Print, per instance of a run folder, how much the validation MSE and the self-prediction
errors (as weight distances, and on the data when curves.csv has them) fell between the first
and the last evaluation point; with several instances also the median, geometric mean and how
many fell at least 10x."""
import csv
import math
import statistics
import sys
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/mimic")
rows = list(csv.DictReader(open(out / "curves.csv")))
columns = [
    ("val_mse", "val_mse"),
    ("sp_ip", "‖W_ip−cW_up‖²"),
    ("sp_pi", "‖W_pi+W_down‖²"),
    ("sp_ip_data", "‖(W_ip−cW_up)r‖² on data"),
    ("sp_pi_data", "‖(W_pi+W_down)r‖² on data"),
]
columns = [(k, label) for k, label in columns if rows and rows[0].get(k)]
insts = sorted({r["instance"] for r in rows}, key=int)


def ends(inst, k):
    r = [x for x in rows if x["instance"] == inst]
    return float(r[0][k]), float(r[-1][k]), float(r[-1]["epoch"])


print(f"{'instance':>8} {'epochs':>6} " + " ".join(f"{label + ' (×fall)':>34}" for _, label in columns))
for inst in insts:
    cells = []
    for k, _ in columns:
        x, y, epoch = ends(inst, k)
        cells.append(f"{x:.3g}→{y:.3g} ({x / y if y else float('inf'):.1f}×)")
    print(f"{inst:>8} {epoch:>6g} " + " ".join(f"{c:>34}" for c in cells))

if len(insts) > 1:
    for k, label in columns:
        falls = []
        for inst in insts:
            x, y, _ = ends(inst, k)
            falls.append(x / y if y else float("inf"))
        finite = [f for f in falls if math.isfinite(f) and f > 0]
        geo = math.exp(statistics.mean(math.log(f) for f in finite)) if finite else float("nan")
        print(
            f"{label}: median fall {statistics.median(falls):.1f}×, geometric mean {geo:.1f}×, "
            f"{sum(f >= 10 for f in falls)}/{len(falls)} instances fell ≥ 10×"
        )
