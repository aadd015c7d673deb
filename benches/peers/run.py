#!/usr/bin/env python3
"""Runs the peers and `pyralnet bench` alternately at every batch size and thread count and
writes one markdown table of instance-steps/s with the ratio pyralnet / best peer.
Each (batch, threads) cell is measured --repeats times, the backends alternating in a rotating
order; the table shows the best of the repeats (the least disturbed on a shared machine).
Usage: run.py [--pyralnet target/release/pyralnet] [--quick] [--out FILE]"""
import argparse, os, re, subprocess, sys, time
here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("--pyralnet", default="target/release/pyralnet")
ap.add_argument("--peers", default="torch,jax")
ap.add_argument("--batch", default="1,16,256,1024,4096")
ap.add_argument("--threads", default="1,2")
ap.add_argument("--seconds", type=float, default=2.0)
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--quick", action="store_true", help="1 repeat of 1 s")
ap.add_argument("--out", default=None, help="also write the table here")
a = ap.parse_args()
if a.quick:
    a.repeats, a.seconds = 1, 1.0
batches = [int(b) for b in a.batch.split(",")]
threads = [int(t) for t in a.threads.split(",")]
peers = a.peers.split(",") if a.peers else []
if not os.access(a.pyralnet, os.X_OK):
    sys.exit(f"error: --pyralnet {a.pyralnet} is not an executable")

workers = {}
for pe in peers:
    for t in threads:
        workers[(pe, t)] = subprocess.Popen(
            [sys.executable, os.path.join(here, "worker.py"), "--peer", pe, "--threads", str(t),
             "--seconds", str(a.seconds)], cwd=here, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)

def measure(backend, n, t):
    if backend == "pyralnet":
        out = subprocess.run([a.pyralnet, "bench", "--backend", "cpu", "--dims", "4,120,3",
                              "--precision", "f32", "--batch", str(n), "--threads", str(t),
                              "--cpu-kernel", "auto", "--seconds", str(a.seconds)], check=True,
                             capture_output=True, text=True).stdout
        m = re.search(rf"^cpu-f32 \S+ \({t} threads?\)\s+{n}\s+(\S+)", out, re.M)
        if not m:
            sys.exit(f"error: cannot read the rate from pyralnet bench output:\n{out}")
        return float(m.group(1)), None
    w = workers[(backend, t)]
    w.stdin.write(f"{n}\n"); w.stdin.flush()
    line = w.stdout.readline()
    if not line:
        sys.exit(f"error: the {backend} worker ({t} threads) died")
    rate, cpu = map(float, line.split())
    return rate, cpu

backends = ["pyralnet"] + peers
best, cpu_use = {}, {}
start = time.time()
for r in range(a.repeats):
    for n in batches:
        for t in threads:
            order = backends[r % len(backends):] + backends[:r % len(backends)]
            for b in order:
                rate, cpu = measure(b, n, t)
                key = (b, n, t)
                best[key] = max(best.get(key, 0.0), rate)
                if cpu is not None:
                    cpu_use[key] = max(cpu_use.get(key, 0.0), cpu)
                print(f"repeat {r} {b:8s} batch {n:5d} threads {t}: {rate:.4e} inst-steps/s"
                      + (f" (cpu {cpu:.2f} cores)" if cpu is not None else ""), file=sys.stderr, flush=True)
for w in workers.values():
    w.stdin.close(); w.wait()

hdr = "| batch | threads | pyralnet | " + " | ".join(peers) + " | pyralnet / best peer |"
lines = [hdr, "|" + "---|" * (hdr.count("|") - 1)]
for n in batches:
    for t in threads:
        pr = best[("pyralnet", n, t)]
        cells = [f"{best[(pe, n, t)]:.3e}" for pe in peers]
        bp = max((best[(pe, n, t)] for pe in peers), default=None)
        ratio = f"**{pr / bp:.2f}×**" if bp else "-"
        lines.append(f"| {n} | {t} | {pr:.3e} | " + " | ".join(cells) + f" | {ratio} |")
table = "\n".join(lines)
print(table)
print(f"\n{a.repeats} repeat(s) of {a.seconds} s per cell, best of the repeats; total {time.time() - start:.0f} s."
      + (" Peer CPU use (cores, max): " + ", ".join(f"{b} b{n} t{t} {c:.2f}" for (b, n, t), c in sorted(cpu_use.items())) if cpu_use else ""))
if a.out:
    with open(a.out, "w") as f:
        f.write(table + "\n")
