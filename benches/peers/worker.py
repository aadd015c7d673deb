"""One peer at one thread count, kept alive across measurements: reads a batch size per line on
stdin, answers `rate cpu_fraction` (instance-steps/s; process CPU time / wall time). Measures as
pyralnet's `throughput` (src/bench.rs) does: the bench workload (model.Params), chunks of
clamp(4096/B, 1, 64) patterns of 100 steps of its `random_chunk` input, one warm-up chunk
excluded (it also compiles, for JAX), then whole chunks until at least --seconds have passed."""
import argparse, os, sys, time
ap = argparse.ArgumentParser()
ap.add_argument("--peer", required=True, choices=["torch", "jax"])
ap.add_argument("--threads", type=int, required=True)
ap.add_argument("--seconds", type=float, default=2.0)
a = ap.parse_args()
os.environ["OMP_NUM_THREADS"] = str(a.threads)
if a.peer == "jax" and a.threads < len(os.sched_getaffinity(0)):
    # XLA's CPU client sizes its thread pools from the cores it may use; its flags alone left
    # it using 2 cores at "1 thread", so the worker is pinned to the first --threads cores.
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: a.threads])
import numpy as np
from model import Params, random_weights, bench_chunk

p = Params()
if a.peer == "torch":
    import torch
    torch.set_num_threads(a.threads)
    from peer_torch import TorchNet as Net
    to = lambda v: torch.tensor(v, dtype=torch.float32)
else:
    from peer_jax import JaxNet as Net
    to = lambda v: np.asarray(v, np.float32)
nets = {}
for line in sys.stdin:
    n = int(line)
    patterns = min(max(4096 // n, 1), 64)
    if n not in nets:
        rng = np.random.default_rng(n)
        nets[n] = Net(p, [random_weights(p.dims, rng) for _ in range(n)])
    net = nets[n]
    x, y = bench_chunk(n, p.dims[0], p.dims[-1], patterns)
    x, y = to(x), to(y)
    net.run_patterns(x, y)
    per_chunk = n * patterns * p.steps()
    t0, c0, steps = time.perf_counter(), time.process_time(), 0
    while time.perf_counter() - t0 < a.seconds or steps == 0:
        net.run_patterns(x, y)
        steps += per_chunk
    wall = time.perf_counter() - t0
    print(f"{steps / wall} {(time.process_time() - c0) / wall}", flush=True)
