#!/usr/bin/env python3
"""Checks each peer against pyralnet: the same initial weights (--init-weights), a csv task in
file order (shuffle off), noise off, every pathway plastic (W_up, W_pi, W_ip and W_down), a
learning lag; three instances with different initial weights run as one batch in the peers
and as three pyralnet runs. Fails (exit 1) when any weight matrix of any instance differs by
more than --tol (max|a-b|/max|b|, f32). Usage: check.py [--pyralnet PATH] [--peers torch,jax]"""
import argparse, json, os, subprocess, sys, tempfile
import numpy as np
from model import Params, random_weights, weight_names

ap = argparse.ArgumentParser()
ap.add_argument("--pyralnet", default="target/release/pyralnet")
ap.add_argument("--peers", default="torch,jax")
ap.add_argument("--patterns", type=int, default=5)
ap.add_argument("--tol", type=float, default=1e-5)
a = ap.parse_args()

dims, B = [4, 120, 3], 3
p = Params(dims, t_pattern=20.0, learning_lag=2.0, out_lag=16.0,
           eta_pi=[4.22e-4], eta_ip=[1.464e-3], eta_down=[1e-3])
rng = np.random.default_rng(7)
x = rng.uniform(0, 1, (a.patterns, dims[0]))
labels = rng.integers(0, dims[-1], a.patterns)
y = np.full((a.patterns, dims[-1]), 0.1)
y[np.arange(a.patterns), labels] = 1.0
inits = [random_weights(dims, rng) for _ in range(B)]

tmp = tempfile.mkdtemp(prefix="peers_check_")
csv = os.path.join(tmp, "train.csv")
with open(csv, "w") as f:
    for xi, li in zip(x, labels):
        f.write(",".join(repr(float(v)) for v in xi) + f",{li}\n")
cfg = {
    "name": "peers_check", "model": "full", "precision": "f32",
    "network": {"dims": dims, "phi": {"name": "sigmoid"}, "bias": True},
    "params": {k: getattr(p, k) for k in ["gl", "gb", "ga", "gd", "gsom", "dt", "tau_w", "tau0",
               "t_pattern", "learning_lag", "out_lag", "bias", "eta_up", "eta_pi", "eta_ip", "eta_down"]},
    "task": {"name": "csv", "train": csv, "validation": csv, "test": csv},
    "targets": {"u_high": 1.0, "u_low": 0.1},
    # the peers start the stimulus filters at 0 (pyralnet's default starts them at the first
    # pattern, as the seed code does)
    "protocol": {"epochs": 1, "shuffle": False, "eval_at_start": False, "filter_start": "zero"},
    "seeds": [0],
}
cfg["params"]["noise"] = 0.0
with open(os.path.join(tmp, "config.json"), "w") as f:
    json.dump(cfg, f)
ref = []
for i, w in enumerate(inits):
    npz = os.path.join(tmp, f"init{i}.npz")
    np.savez(npz, **w)
    out = os.path.join(tmp, f"out{i}")
    subprocess.run([a.pyralnet, "run", os.path.join(tmp, "config.json"), "--out", out,
                    "--init-weights", npz, "--backend", "cpu", "--precision", "f32",
                    "--threads", "1", "--quiet"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with np.load(os.path.join(out, "weights", "instance_0.npz")) as z:
        ref.append({k: z[k] for k in weight_names(dims)})

def peer(name):
    if name == "torch":
        import torch
        from peer_torch import TorchNet
        net = TorchNet(p, inits)
        xs = torch.tensor(np.repeat(x[:, None], B, 1), dtype=torch.float32)
        ys = torch.tensor(np.repeat(y[:, None], B, 1), dtype=torch.float32)
    else:
        from peer_jax import JaxNet
        net = JaxNet(p, inits)
        xs, ys = np.repeat(x[:, None], B, 1), np.repeat(y[:, None], B, 1)
    net.run_patterns(xs, ys, train=True)
    return [net.weights(i) for i in range(B)]

failed = False
for name in a.peers.split(","):
    got = peer(name)
    worst, worst_change = 0.0, 0.0
    for i in range(B):
        for k in weight_names(dims):
            r, g, w0 = ref[i][k], got[i][k], inits[i][k]
            dev = np.abs(g - r).max() / np.abs(r).max()
            moved = np.abs(r - w0).max()
            if moved == 0.0:
                print(f"FAIL {name}: instance {i} {k} did not change in pyralnet: the check tests nothing")
                failed = True
            worst = max(worst, dev)
            worst_change = max(worst_change, np.abs((g - w0) - (r - w0)).max() / max(moved, 1e-300))
            if not dev <= a.tol:
                print(f"FAIL {name}: instance {i} {k}: max|a-b|/max|b| = {dev:.3e} > {a.tol:g}")
                failed = True
    print(f"{name}: {a.patterns} patterns x {p.steps()} steps, {B} instances, worst weight deviation "
          f"{worst:.3e} (tol {a.tol:g}); worst deviation of the weight change {worst_change:.3e}")
if failed:
    sys.exit(1)
print("check passed")
