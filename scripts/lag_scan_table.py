#!/usr/bin/env python3
"""Prints the learning-lag scan of a finished (or merged) run beside the published numbers of
MODEL.md section 9 (setup B, test accuracy %, 10 seeds), one markdown row per (t_pattern,
reset_deltas) of the run: ours mean ± std over the seeds, then the published row.
Usage: scripts/lag_scan_table.py RUN_DIR   (reads RUN_DIR/summary.csv and RUN_DIR/config.json)"""
import csv, json, os, sys

PUBLISHED = {  # (t_pattern, reset_deltas) -> {lag: (mean, std)}
    (100.0, False): [(63.6, 4.8), (42.7, 9.0), (76.7, 3.5), (89.9, 2.7), (96.7, 0.5), (97.0, 0.8), (97.1, 1.0)],
    (100.0, True): [(63.6, 4.8), (41.2, 11.2), (66.0, 6.4), (87.4, 2.8), (96.0, 1.4), (96.6, 1.0), (96.7, 1.0)],
    (50.0, False): [(61.6, 4.2), (53.0, 11.3), (59.3, 2.5), (85.0, 2.9), (95.0, 1.3), (96.3, 1.2), (96.4, 1.2)],
    (200.0, False): [(61.3, 7.3), (47.0, 9.1), (82.3, 3.6), (94.6, 1.7), (96.4, 1.1), (96.8, 0.7), (96.6, 0.8)],
}
LAGS = [0.0, 4.6, 10.7, 15.3, 19.8, 22.9, 29.0]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    run = sys.argv[1]
    path = os.path.join(run, "summary.csv")
    if not os.path.isfile(path):
        sys.exit(f"error: {path} not found (is the run finished, or its shards merged?)")
    cfg = json.load(open(os.path.join(run, "config.json")))
    base_t = float(cfg["params"]["t_pattern"])
    base_reset = bool(cfg["params"].get("reset_deltas", False))
    rows = list(csv.DictReader(open(path)))
    if not rows or "learning_lag" not in rows[0]:
        sys.exit(f"error: {path} has no learning_lag column: not a learning-lag scan")
    ours = {}
    for r in rows:
        t = float(r.get("t_pattern", base_t))
        reset = r.get("reset_deltas", str(base_reset)).strip().lower() in ("true", "1")
        lag = float(r["learning_lag"])
        mean, std = r.get("test_acc_mean", ""), r.get("test_acc_std", "")
        n = r.get("n_seeds", "")
        cell = "diverged" if mean in ("", "diverged", "nan") else f"{100 * float(mean):.1f} ± {100 * float(std or 0):.1f}"
        ours.setdefault((t, reset), {})[lag] = (cell, n)
    print("| t_pattern | reset_deltas | | " + " | ".join(f"{l:g}" for l in LAGS) + " ms |")
    print("|" + "---|" * (len(LAGS) + 3))
    for key in sorted(ours):
        t, reset = key
        got = ours[key]
        n = {v[1] for v in got.values()}
        label = f"ours ({'/'.join(sorted(n))} seeds)"
        print(f"| {t:g} | {'yes' if reset else 'no'} | {label} | "
              + " | ".join(got.get(l, ("–", ""))[0] for l in LAGS) + " |")
        if key in PUBLISHED:
            print(f"| {t:g} | {'yes' if reset else 'no'} | published (10 seeds) | "
                  + " | ".join(f"{m} ± {s}" for m, s in PUBLISHED[key]) + " |")


if __name__ == "__main__":
    main()
