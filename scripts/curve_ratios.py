#!/usr/bin/env python3
"""Print, per instance of a run folder, how much the validation MSE and the two
self-prediction errors fell between the first and the last evaluation point."""
import csv
import sys
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/mimic")
rows = list(csv.DictReader(open(out / "curves.csv")))
print(f"{'instance':>8} {'epochs':>6} {'val_mse first→last (×fall)':>34} {'‖W_ip−cW_up‖² (×fall)':>28} {'‖W_pi+W_down‖² (×fall)':>28}")
for inst in sorted({r["instance"] for r in rows}, key=int):
    r = [x for x in rows if x["instance"] == inst]
    a, b = r[0], r[-1]

    def fall(k):
        x, y = float(a[k]), float(b[k])
        return f"{x:.3g}→{y:.3g} ({x / y if y else float('inf'):.1f}×)"

    print(f"{inst:>8} {float(b['epoch']):>6g} {fall('val_mse'):>34} {fall('sp_ip'):>28} {fall('sp_pi'):>28}")

# Over all instances: the median and geometric-mean fall, and how many fell at least 10×.
insts = sorted({r["instance"] for r in rows}, key=int)
if len(insts) > 1:
    import math
    import statistics

    for k, label in [("val_mse", "val_mse"), ("sp_ip", "‖W_ip−cW_up‖²"), ("sp_pi", "‖W_pi+W_down‖²")]:
        falls = []
        for inst in insts:
            r = [x for x in rows if x["instance"] == inst]
            x, y = float(r[0][k]), float(r[-1][k])
            falls.append(x / y if y else float("inf"))
        finite = [f for f in falls if math.isfinite(f) and f > 0]
        geo = math.exp(statistics.mean(math.log(f) for f in finite)) if finite else float("nan")
        print(
            f"{label}: median fall {statistics.median(falls):.1f}×, geometric mean {geo:.1f}×, "
            f"{sum(f >= 10 for f in falls)}/{len(falls)} instances fell ≥ 10×"
        )
