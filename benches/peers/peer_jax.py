"""JAX peer: the single-instance step written once, vmapped over instances, a pattern's steps
in lax.scan, a chunk of patterns in an outer lax.scan, all under one jax.jit. See model.py."""
import jax
import jax.numpy as jnp
import numpy as np
from model import weight_names


def make_run(p, train=True):
    dims, n = p.dims, len(p.dims) - 1
    dt, kw, k0 = p.dt, p.dt / p.tau_w, p.dt / p.tau0
    steps, lag, out_lag = p.steps(), p.lag_steps(), p.out_lag_steps()
    sig = jax.nn.sigmoid
    with_bias = lambda r: jnp.concatenate([r, jnp.full((1,), p.bias, r.dtype)])
    learn = train and any(e != 0.0 for e in p.eta_up + p.eta_pi + p.eta_ip + p.eta_down)

    def step(carry, s, x, y, plastic):
        W, D, u_p, u_i, r0, ut, ro = carry
        r0 = r0 + k0 * (x - r0)
        ut = ut + k0 * (y - ut)
        rates = [r0] + [sig(u) for u in u_p]
        pre = [with_bias(r) for r in rates]
        r_i = [sig(u) for u in u_i]
        du_p, du_i, v_b, v_a, v_d, v_down = [], [], [], [], [], []
        for l in range(n):
            u = u_p[l]
            v_b.append(W[f"layer{l}.W_up"] @ pre[l])
            if l < n - 1:
                v_down.append(W[f"layer{l}.W_down"] @ rates[l + 2])
                v_a.append(v_down[l] + W[f"layer{l}.W_pi"] @ r_i[l])
                du_p.append(dt * (-p.gl * u + p.gb * (v_b[l] - u) + p.ga * (v_a[l] - u)))
                v_d.append(W[f"layer{l}.W_ip"] @ pre[l + 1])
                ui = u_i[l]
                du_i.append(dt * (-p.gl * ui + p.gd * (v_d[l] - ui) + p.gsom * (u_p[l + 1] - ui)))
            else:
                g = p.gsom if train else 0.0
                du_p.append(dt * (-p.gl * u + p.gb * (v_b[l] - u) + g * (ut - u)))
        if plastic:
            W, D = dict(W), dict(D)

            def lowpass(name, e, r, eta):
                if eta != 0.0:
                    W[name] = W[name] + (dt * eta) * D[name]
                    D[name] = D[name] + kw * (jnp.outer(e, r) - D[name])

            for l in range(n):
                hidden = l < n - 1
                cb = p.gb / (p.gl + p.gb + (p.ga if hidden else 0.0))
                lowpass(f"layer{l}.W_up", rates[l + 1] - sig(cb * v_b[l]), pre[l], p.eta_up[l])
                if hidden:
                    e_ip = r_i[l] - sig(p.gd / (p.gl + p.gd) * v_d[l])
                    lowpass(f"layer{l}.W_ip", e_ip, pre[l + 1], p.eta_ip[l])
                    lowpass(f"layer{l}.W_pi", -v_a[l], r_i[l], p.eta_pi[l])
                    e_dn = rates[l + 1] - sig(v_down[l])
                    lowpass(f"layer{l}.W_down", e_dn, rates[l + 2], p.eta_down[l])
        u_p = [u + d for u, d in zip(u_p, du_p)]
        u_i = [u + d for u, d in zip(u_i, du_i)]
        ro = ro + jnp.where(s >= out_lag, u_p[-1], 0.0)
        return (W, D, u_p, u_i, r0, ut, ro)

    def pattern(carry, xy):
        x, y = xy
        W, D, u_p, u_i, r0, ut, _ = carry
        carry = (W, D, u_p, u_i, r0, ut, jnp.zeros_like(u_p[-1]))
        for lo, hi, plastic in [(0, lag if learn else steps, False), (lag if learn else steps, steps, True)]:
            if hi > lo:
                body = lambda c, s, plastic=plastic: (step(c, s, x, y, plastic), None)
                carry, _ = jax.lax.scan(body, carry, jnp.arange(lo, hi))
        ro = carry[-1] / max(steps - out_lag, 1)
        return carry, ro

    def run_one(carry, xs, ys):
        return jax.lax.scan(pattern, carry, (xs, ys))

    # instances on axis 0 of every state array; xs, ys (P, B, n): instances on axis 1
    return jax.jit(jax.vmap(run_one, in_axes=(0, 1, 1), out_axes=(0, 1)))


class JaxNet:
    def __init__(self, p, weights, dtype=jnp.float32):
        self.p, dims, n, B = p, p.dims, len(p.dims) - 1, len(weights)
        W = {k: jnp.asarray(np.stack([w[k] for w in weights]), dtype) for k in weight_names(dims)}
        D = {k: jnp.zeros_like(v) for k, v in W.items()}
        z = lambda m: jnp.zeros((B, m), dtype)
        self.carry = (W, D, [z(dims[l + 1]) for l in range(n)], [z(dims[l + 2]) for l in range(n - 1)],
                      z(dims[0]), z(dims[-1]), z(dims[-1]))
        self.dtype = dtype
        self._run = {True: make_run(p, True), False: make_run(p, False)}

    def run_patterns(self, xs, ys, train=True):
        xs, ys = jnp.asarray(xs, self.dtype), jnp.asarray(ys, self.dtype)
        carry, ro = self._run[train](self.carry, xs, ys)
        if train:
            self.carry = carry
        return jax.block_until_ready(ro)

    def weights(self, i):
        return {k: np.asarray(v[i], np.float64) for k, v in self.carry[0].items()}
