"""PyTorch (CPU, eager) peer: every instance in a leading batch dimension, batched mat-vecs
with torch.bmm (baddbmm for the outer-product low-pass), in-place updates, preallocated buffers,
under torch.inference_mode. See model.py for the step."""
import numpy as np
import torch
from model import weight_names


class TorchNet:
    def __init__(self, p, weights, dtype=torch.float32):
        """weights: list (one per instance) of dicts name -> numpy array (pyralnet npz layout)."""
        self.p, self.dtype = p, dtype
        dims, B = p.dims, len(weights)
        self.n = len(dims) - 1
        st = lambda name: torch.tensor(np.stack([w[name] for w in weights]), dtype=dtype)
        self.W = {k: st(k).contiguous() for k in weight_names(dims)}
        self.D = {k: torch.zeros_like(v) for k, v in self.W.items()}
        z = lambda m: torch.zeros(B, m, dtype=dtype)
        n = self.n
        self.u_p = [z(dims[l + 1]) for l in range(n)]
        self.u_i = [z(dims[l + 2]) for l in range(n - 1)]
        self.r0, self.u_tgt = z(dims[0]), z(dims[-1])
        # pre[l]: presynaptic vector of W_up[l] with the bias column (constant) last
        self.pre = [z(dims[l] + 1) for l in range(n + 1)]
        for v in self.pre:
            v[:, -1] = p.bias
        self.r_i = [z(dims[l + 2]) for l in range(n - 1)]
        self.v_b = [z(dims[l + 1]) for l in range(n)]
        self.v_a = [z(dims[l + 1]) for l in range(n - 1)]
        self.v_down = [z(dims[l + 1]) for l in range(n - 1)]
        self.v_d = [z(dims[l + 2]) for l in range(n - 1)]
        self.du_p = [z(dims[l + 1]) for l in range(n)]
        self.du_i = [z(dims[l + 2]) for l in range(n - 1)]
        self.tmp_p = [z(dims[l + 1]) for l in range(n)]
        self.tmp_i = [z(dims[l + 2]) for l in range(n - 1)]
        self.readout = z(dims[-1])

    @staticmethod
    def _mv(W, x, out):
        torch.bmm(W, x.unsqueeze(2), out=out.unsqueeze(2))

    def _lowpass(self, name, e, pre, eta):
        if eta == 0.0:
            return
        p, W, D = self.p, self.W[name], self.D[name]
        W.add_(D, alpha=p.dt * eta)  # W += dt eta Delta (old Delta)
        # Delta = (1 - kw) Delta + kw e pre^T
        kw = p.dt / p.tau_w
        D.baddbmm_(e.unsqueeze(2), pre.unsqueeze(1), beta=1.0 - kw, alpha=kw)

    def step(self, x, y, nudge, plastic):
        p, n, dims = self.p, self.n, self.p.dims
        k0, dt = p.dt / p.tau0, p.dt
        self.r0.lerp_(x, k0)  # r0 += dt/tau0 (x - r0)
        self.u_tgt.lerp_(y, k0)
        self.pre[0][:, : dims[0]].copy_(self.r0)
        for l in range(n):
            torch.sigmoid(self.u_p[l], out=self.tmp_p[l])
            self.pre[l + 1][:, : dims[l + 1]].copy_(self.tmp_p[l])
        for l in range(n - 1):
            torch.sigmoid(self.u_i[l], out=self.r_i[l])
        for l in range(n):
            u = self.u_p[l]
            self._mv(self.W[f"layer{l}.W_up"], self.pre[l], self.v_b[l])
            du = self.du_p[l]
            if l < n - 1:
                r_above = self.pre[l + 2][:, : dims[l + 2]]
                self._mv(self.W[f"layer{l}.W_down"], r_above.contiguous(), self.v_down[l])
                self._mv(self.W[f"layer{l}.W_pi"], self.r_i[l], self.v_a[l])
                self.v_a[l].add_(self.v_down[l])
                # du = dt (-gl u + gb (vb - u) + ga (va - u)) = dt (gb vb + ga va - (gl+gb+ga) u)
                torch.mul(u, -(p.gl + p.gb + p.ga) * dt, out=du)
                du.add_(self.v_b[l], alpha=p.gb * dt).add_(self.v_a[l], alpha=p.ga * dt)
                self._mv(self.W[f"layer{l}.W_ip"], self.pre[l + 1], self.v_d[l])
                ui, dui = self.u_i[l], self.du_i[l]
                torch.mul(ui, -(p.gl + p.gd + p.gsom) * dt, out=dui)
                dui.add_(self.v_d[l], alpha=p.gd * dt).add_(self.u_p[l + 1], alpha=p.gsom * dt)
            else:
                g = p.gsom if nudge else 0.0
                torch.mul(u, -(p.gl + p.gb + g) * dt, out=du)
                du.add_(self.v_b[l], alpha=p.gb * dt)
                if g:
                    du.add_(self.u_tgt, alpha=g * dt)
        if plastic:
            for l in range(n):
                hidden = l < n - 1
                cb = p.gb / (p.gl + p.gb + (p.ga if hidden else 0.0))
                e = self.tmp_p[l]
                # e = phi(u) - phi(cb v_B): tmp_p holds phi(u) until overwritten here
                e.sub_(torch.sigmoid(self.v_b[l] * cb))
                self._lowpass(f"layer{l}.W_up", e, self.pre[l], p.eta_up[l])
                if not hidden:
                    continue
                ei = self.tmp_i[l]
                torch.sigmoid(self.v_d[l] * (p.gd / (p.gl + p.gd)), out=ei)
                torch.sub(self.r_i[l], ei, out=ei)
                self._lowpass(f"layer{l}.W_ip", ei, self.pre[l + 1], p.eta_ip[l])
                self._lowpass(f"layer{l}.W_pi", self.v_a[l].neg(), self.r_i[l], p.eta_pi[l])
                if p.eta_down[l] != 0.0:
                    ed = self.pre[l + 1][:, : dims[l + 1]] - torch.sigmoid(self.v_down[l])
                    r_above = self.pre[l + 2][:, : dims[l + 2]].contiguous()
                    self._lowpass(f"layer{l}.W_down", ed, r_above, p.eta_down[l])
        for u, du in zip(self.u_p, self.du_p):
            u.add_(du)
        for u, du in zip(self.u_i, self.du_i):
            u.add_(du)

    def run_patterns(self, xs, ys, train=True):
        """xs (P, B, n_in), ys (P, B, n_out) tensors; returns the readouts (P, B, n_out)."""
        p = self.p
        steps, lag, out_lag = p.steps(), p.lag_steps(), p.out_lag_steps()
        learn = train and any(e != 0.0 for e in p.eta_up + p.eta_pi + p.eta_ip + p.eta_down)
        outs = []
        with torch.inference_mode():
            for x, y in zip(xs, ys):
                self.readout.zero_()
                for s in range(steps):
                    self.step(x, y, train, learn and s >= lag)
                    if s >= out_lag:
                        self.readout.add_(self.u_p[-1])
                outs.append(self.readout / max(steps - out_lag, 1))
        return torch.stack(outs)

    def weights(self, i):
        return {k: v[i].double().numpy() for k, v in self.W.items()}

