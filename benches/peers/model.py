"""Batched peers of pyralnet's full-model Euler step (MODEL.md section 3,
src/microcircuit/full/cpu/instance.rs).

Both peers hold every instance's state with a leading batch dimension B and integrate the
same step in the same order: (1) r0 += dt/tau0 (x - r0), u_tgt likewise; (2) rates from the
old somas (bias unit appended to the presynaptic vectors of W_up and W_ip), dendrites and soma
increments; (3) if plastic, W += dt*eta*Delta (old Delta), then
Delta += dt/tau_w (e r_pre^T - Delta) for every matrix with eta != 0; (4) apply the increments.
Noise is off (pyralnet bench runs without noise). Parameters are shared by all instances
(scalars), the peers' best case; pyralnet keeps them per instance.
"""
import math
import numpy as np


class Params:
    """The parameters of pyralnet's `plastic_batch` (src/bench.rs) unless overridden."""

    def __init__(self, dims=(4, 120, 3), **kw):
        self.dims = list(dims)
        self.gl, self.gb, self.ga, self.gd, self.gsom = 0.1, 1.0, 0.28, 1.0, 0.34
        self.dt, self.tau_w, self.tau0 = 0.1, 30.0, 3.0
        self.t_pattern, self.learning_lag, self.out_lag = 10.0, 0.0, 8.0
        self.bias = 0.5
        n = len(self.dims) - 1
        self.eta_up = [6.1] * (n - 1) + [7.32e-4]
        self.eta_pi = [4.22e-4] * (n - 1)
        self.eta_ip = [1.464e-3] * (n - 1)
        self.eta_down = [0.0] * (n - 1)
        for k, v in kw.items():
            setattr(self, k, v)

    def steps(self):
        return int(round(self.t_pattern / self.dt))

    def _at_least(self, t):
        return max(0, math.ceil(t / self.dt - 1e-6))

    def lag_steps(self):
        return self._at_least(self.learning_lag)

    def out_lag_steps(self):
        return self._at_least(self.out_lag)


def weight_names(dims):
    n = len(dims) - 1
    names = []
    for l in range(n):
        names.append(f"layer{l}.W_up")
        if l < n - 1:
            names += [f"layer{l}.W_down", f"layer{l}.W_pi", f"layer{l}.W_ip"]
    return names


def random_weights(dims, rng, a_up=0.1, a_down=1.0, a_pi=1.0, a_ip=0.1):
    """U(-a, a) weights in pyralnet's npz layout (rows postsynaptic, bias column last)."""
    n = len(dims) - 1
    w = {}
    for l in range(n):
        w[f"layer{l}.W_up"] = rng.uniform(-a_up, a_up, (dims[l + 1], dims[l] + 1))
        if l < n - 1:
            w[f"layer{l}.W_down"] = rng.uniform(-a_down, a_down, (dims[l + 1], dims[l + 2]))
            w[f"layer{l}.W_pi"] = rng.uniform(-a_pi, a_pi, (dims[l + 1], dims[l + 2]))
            w[f"layer{l}.W_ip"] = rng.uniform(-a_ip, a_ip, (dims[l + 2], dims[l + 1] + 1))
    return w


def bench_chunk(batch, n_in, n_out, patterns):
    """The input patterns of pyralnet's `random_chunk` (src/bench.rs): x (P, B, n_in), y (P, B, n_out)."""
    i = np.arange(batch)[None, :, None]
    p = np.arange(patterns)[:, None, None]
    kx = p * n_in + np.arange(n_in)[None, None, :]
    ky = p * n_out + np.arange(n_out)[None, None, :]
    x = ((i * 31 + kx * 17) % 97) / 97.0
    y = np.where((i + ky) % n_out == 0, 1.0, 0.1)
    return x, y
