//! One steady-state instance: relaxation sweeps and the big plasticity step (see the module
//! docs of [`crate::microcircuit::steady`] for the exact order).

use crate::microcircuit::backend::PatternKind;
use crate::microcircuit::full::cpu::State;
use crate::microcircuit::{InstanceParams, Mat, Shape, Transfer, Weights};
use crate::num::Real;

/// Per-instance constants in precision `F` (the GPU backend uploads the f32 ones, so both
/// start from bit-identical factors).
#[derive(Clone, Debug)]
pub(crate) struct Coef<F> {
    pub(crate) gl: F,
    pub(crate) gb: F,
    pub(crate) ga: F,
    pub(crate) gd: F,
    pub(crate) gsom: F,
    pub(crate) bias: F,
    /// `g_B/(g_l+g_B+g_A)`, `g_B/(g_l+g_B)`, `g_D/(g_l+g_D)`: dendritic prediction factors.
    pub(crate) c_hidden: F,
    pub(crate) c_output: F,
    pub(crate) c_inter: F,
    /// `a = dT/(τ_w + dT)`, `dT = (t_pattern − learning_lag)/n_exposures`.
    pub(crate) a: F,
    /// `dT·η` per layer for W_up, W_pi, W_ip, W_down.
    pub(crate) eta_up: Vec<F>,
    pub(crate) eta_pi: Vec<F>,
    pub(crate) eta_ip: Vec<F>,
    pub(crate) eta_down: Vec<F>,
}

impl<F: Real> Coef<F> {
    pub(crate) fn new(p: &InstanceParams) -> Self {
        let d_t = (p.t_pattern - p.learning_lag) / p.n_exposures as f64;
        let scaled = |etas: &[f64]| etas.iter().map(|&e| F::of(d_t * e)).collect();
        Coef {
            gl: F::of(p.gl),
            gb: F::of(p.gb),
            ga: F::of(p.ga),
            gd: F::of(p.gd),
            gsom: F::of(p.gsom),
            bias: F::of(p.bias),
            c_hidden: F::of(p.c_hidden()),
            c_output: F::of(p.c_output()),
            c_inter: F::of(p.c_inter()),
            a: F::of(d_t / (p.tau_w + d_t)),
            eta_up: scaled(&p.eta_up),
            eta_pi: scaled(&p.eta_pi),
            eta_ip: scaled(&p.eta_ip),
            eta_down: scaled(&p.eta_down),
        }
    }

    pub(crate) fn any_plastic(&self) -> bool {
        [&self.eta_up, &self.eta_pi, &self.eta_ip, &self.eta_down]
            .iter()
            .any(|v| v.iter().any(|&e| e != F::zero()))
    }
}

/// How a steady-state instance computes its matrix products (`pyralnet bench --model steady`
/// measures both). Both give bit-identical results (`tests/steady.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SteadyKernel {
    /// The original kernel: [`Mat::matvec`] row by row, every dendrite recomputed whenever the
    /// sweep order names it, the plasticity update as a separate pass over W and Δ.
    Reference,
    /// For large networks: matrix–vector products four rows at a time (vectorised along the
    /// rows, multiversioned), `v_B[0] = W_up[0]·x` computed once per pattern and exposure (its
    /// input and weights do not change while relaxing), and W_up[0]'s plasticity update fused
    /// with the next pattern's (or exposure's) `W_up[0]·x`, so W_up[0] and its Δ are streamed
    /// once per pattern.
    #[default]
    Blocked,
}

/// One steady-state instance: weights, Δ, the relaxed potentials and work buffers.
#[derive(Clone, Debug)]
pub struct SteadyInstance<F> {
    pub shape: Shape,
    pub phi: Transfer,
    pub params: InstanceParams,
    pub w: Weights<F>,
    /// Low-pass filtered plasticity terms, one per weight matrix.
    pub delta: Weights<F>,
    /// Pyramidal somas `u^P`, one vector per layer with neurons.
    pub u_p: Vec<Vec<F>>,
    /// Interneuron somas `u^I`, one vector per hidden layer.
    pub u_i: Vec<Vec<F>>,
    /// Basal potentials `v_B` per layer, as the last relaxation or plasticity step left them
    /// (the plasticity step recomputes every dendrite from the relaxed somas).
    pub v_b: Vec<Vec<F>>,
    /// Apical potentials `v_A` per hidden layer (as `v_b`).
    pub v_a: Vec<Vec<F>>,
    /// Interneuron dendrites `v_D` per hidden layer (as `v_b`).
    pub v_d: Vec<Vec<F>>,
    /// `pre[l]`: presynaptic vector of `W_up[l]`, i.e. `[r_0, b]` for `l = 0` and
    /// `[φ(u^P[l-1]), b]` above (the bias entry only with a bias unit).
    pre: Vec<Vec<F>>,
    /// `φ(u^I[l])`.
    r_i: Vec<Vec<F>>,
    /// `W_down[l]·φ(u^P[l+1])`, kept for the top-down rule.
    v_down: Vec<Vec<F>>,
    /// Nudging target of the output layer.
    tgt: Vec<F>,
    e: Vec<F>,
    k: Coef<F>,
    /// Which kernel computes the products.
    kernel: SteadyKernel,
    /// `v_b[0] == W_up[0]·pre[0]` for the current weights and stimulus (blocked kernel only;
    /// never true outside `run_pattern` / `run_patterns`, so changing `w` between calls is safe).
    vb0_valid: bool,
    /// The next stimulus in precision F (with the bias entry), for the fused update.
    next0: Vec<F>,
}

impl<F: Real> SteadyInstance<F> {
    /// An instance with the given weights, zero potentials and Δ.
    pub fn new(shape: Shape, phi: Transfer, params: InstanceParams, w: &Weights<f64>) -> Self {
        let n = shape.n_layers();
        let pyr = |l: usize| vec![F::zero(); shape.n_pyr(l)];
        let inter = |l: usize| vec![F::zero(); shape.n_inter(l)];
        let k = Coef::new(&params);
        let mut pre: Vec<Vec<F>> = (0..=n)
            .map(|l| vec![F::zero(); shape.with_bias(shape.dims[l])])
            .collect();
        if shape.bias {
            for (l, v) in pre.iter_mut().enumerate() {
                v[shape.dims[l]] = k.bias;
            }
        }
        let widest = shape.dims.iter().copied().max().unwrap_or(0);
        SteadyInstance {
            next0: pre[0].clone(),
            kernel: SteadyKernel::default(),
            vb0_valid: false,
            w: w.cast(),
            delta: Weights::zeros(&shape),
            u_p: (0..n).map(pyr).collect(),
            u_i: (0..n - 1).map(inter).collect(),
            v_b: (0..n).map(pyr).collect(),
            v_a: (0..n - 1).map(pyr).collect(),
            v_d: (0..n - 1).map(inter).collect(),
            pre,
            r_i: (0..n - 1).map(inter).collect(),
            v_down: (0..n - 1).map(pyr).collect(),
            tgt: vec![F::zero(); shape.n_out()],
            e: vec![F::zero(); widest],
            k,
            shape,
            phi,
            params,
        }
    }

    /// Selects the kernel (the default is [`SteadyKernel::Blocked`]).
    pub fn with_kernel(mut self, kernel: SteadyKernel) -> Self {
        self.kernel = kernel;
        self.vb0_valid = false;
        self
    }

    pub fn kernel(&self) -> SteadyKernel {
        self.kernel
    }

    /// Presents one pattern `(x, y)` and writes the output somas of the last relaxation into
    /// `readout`. Training patterns: `n_exposures` times relax (output nudged towards `y`) and
    /// take one plasticity step; then, with `reset_deltas`, zero every Δ. Evaluation patterns:
    /// relax once without output nudging, learn nothing.
    pub fn run_pattern(&mut self, x: &[f64], y: &[f64], kind: PatternKind, readout: &mut [f64]) {
        self.vb0_valid = false;
        self.pattern(x, y, kind, readout, None);
        self.vb0_valid = false;
    }

    /// [`SteadyInstance::run_pattern`] for every pattern of `x` (patterns × n_in) and `y`
    /// (patterns × n_out) in turn; returns the readouts (patterns × n_out). The same result as
    /// calling `run_pattern` pattern by pattern, bit for bit; the blocked kernel fuses each
    /// pattern's last W_up[0] update with the next pattern's `W_up[0]·x`.
    pub fn run_patterns(&mut self, x: &[f64], y: &[f64], kind: PatternKind) -> Vec<f64> {
        let (n_in, n_out) = (self.shape.n_in(), self.shape.n_out());
        let patterns = x.len() / n_in;
        let mut out = vec![0.0; patterns * n_out];
        self.vb0_valid = false;
        for (p, readout) in out.chunks_exact_mut(n_out).enumerate() {
            let next = (p + 1 < patterns).then(|| &x[(p + 1) * n_in..(p + 2) * n_in]);
            self.pattern(
                &x[p * n_in..(p + 1) * n_in],
                &y[p * n_out..(p + 1) * n_out],
                kind,
                readout,
                next,
            );
        }
        self.vb0_valid = false;
        out
    }

    /// One pattern; `next` is the following pattern's stimulus, if any (for the fused update).
    fn pattern(
        &mut self,
        x: &[f64],
        y: &[f64],
        kind: PatternKind,
        readout: &mut [f64],
        next: Option<&[f64]>,
    ) {
        let train = kind == PatternKind::Train;
        self.set_stimulus(x, y);
        let learn = train && self.k.any_plastic();
        let exposures = if learn { self.params.n_exposures } else { 1 };
        for e in 0..exposures {
            self.relax_inner(train);
            for (r, u) in readout.iter_mut().zip(self.u_p.last().unwrap()) {
                *r = u.f64();
            }
            if learn {
                let fuse = if e + 1 < exposures { Some(x) } else { next };
                self.plasticity_inner(fuse);
            }
        }
        if train && self.params.reset_deltas {
            self.delta.fill_zero();
        }
    }

    /// `out = m·x` with the instance's kernel (bit-identical either way).
    fn mv(kernel: SteadyKernel, m: &Mat<F>, x: &[F], out: &mut [F]) {
        match kernel {
            SteadyKernel::Reference => m.matvec(x, out),
            SteadyKernel::Blocked => super::kernels::matvec(m, x, out),
        }
    }

    /// The instance's state for a checkpoint, widened to f64: weights, Δ, the somas of the last
    /// relaxation and the last stimulus as `r0` / `u_tgt` (`step` is 0: nothing here is keyed
    /// by time steps). Only weights and Δ carry over to the next pattern.
    pub fn snapshot(&self) -> State<f64> {
        let vecs = |v: &[Vec<F>]| -> Vec<Vec<f64>> {
            v.iter()
                .map(|x| x.iter().map(|a| a.f64()).collect())
                .collect()
        };
        let n_in = self.shape.n_in();
        State {
            w: self.w.cast(),
            delta: self.delta.cast(),
            u_p: vecs(&self.u_p),
            u_i: vecs(&self.u_i),
            r0: self.pre[0][..n_in].iter().map(|a| a.f64()).collect(),
            u_tgt: self.tgt.iter().map(|a| a.f64()).collect(),
            step: 0,
        }
    }

    /// Puts the instance back into a state taken by [`SteadyInstance::snapshot`] (rates are
    /// recomputed from the somas).
    pub fn restore(&mut self, st: &State<f64>) {
        self.vb0_valid = false;
        self.w = st.w.cast();
        self.delta = st.delta.cast();
        let copy = |dst: &mut Vec<Vec<F>>, src: &[Vec<f64>]| {
            for (d, s) in dst.iter_mut().zip(src) {
                for (a, &b) in d.iter_mut().zip(s) {
                    *a = F::of(b);
                }
            }
        };
        copy(&mut self.u_p, &st.u_p);
        copy(&mut self.u_i, &st.u_i);
        self.set_stimulus(&st.r0, &st.u_tgt);
        for l in 0..self.shape.n_layers() {
            let m = self.shape.n_pyr(l);
            self.phi
                .apply_slice(&self.u_p[l], &mut self.pre[l + 1][..m]);
        }
        for (u, r) in self.u_i.iter().zip(&mut self.r_i) {
            self.phi.apply_slice(u, r);
        }
    }

    /// Sets `r_0 = x` and the output target `u_tgt = y`.
    pub fn set_stimulus(&mut self, x: &[f64], y: &[f64]) {
        for (d, &v) in self.pre[0].iter_mut().zip(x) {
            let v = F::of(v);
            // `!=` is also true for NaN, so a NaN input never keeps a cached v_B[0].
            if *d != v {
                self.vb0_valid = false;
            }
            *d = v;
        }
        for (d, &v) in self.tgt.iter_mut().zip(y) {
            *d = F::of(v);
        }
    }

    /// Relaxes the potentials with `n_passes` passes (module docs), each up then down through
    /// every layer: pass 1's up sweep without apical input or interneuron nudging, its down
    /// sweep and every later pass as usual. `nudge` switches the output nudging towards the
    /// target.
    pub fn relax(&mut self, nudge: bool) {
        self.vb0_valid = false;
        self.relax_inner(nudge);
        self.vb0_valid = false;
    }

    fn relax_inner(&mut self, nudge: bool) {
        let n = self.shape.n_layers();
        for pass in 0..self.params.n_passes {
            for l in 0..n {
                self.up_layer(l, pass == 0, nudge);
            }
            for l in (0..n - 1).rev() {
                self.down_layer(l);
            }
        }
    }

    /// Up-sweep update of layer `l`: basal input from below, then the pyramidal somas, then (hidden
    /// layers) the interneurons. `first`: pass 1, no apical input and no interneuron nudging.
    fn up_layer(&mut self, l: usize, first: bool, nudge: bool) {
        let k = &self.k;
        let m = self.shape.n_pyr(l);
        let lw = &self.w.layers[l];
        let (below, above) = self.pre.split_at_mut(l + 1);
        if l > 0 || !self.vb0_valid {
            Self::mv(self.kernel, &lw.up, &below[l], &mut self.v_b[l]);
            if l == 0 {
                // W_up[0] and pre[0] stay put while relaxing: later passes reuse v_B[0]
                self.vb0_valid = self.kernel == SteadyKernel::Blocked;
            }
        }
        if !self.shape.is_hidden(l) {
            // output: (g_B v_B + g_som u_tgt)/(g_l+g_B+g_som), or g_B v_B/(g_l+g_B)
            for ((u, &vb), &t) in self.u_p[l].iter_mut().zip(&self.v_b[l]).zip(&self.tgt) {
                *u = if nudge {
                    (k.gb * vb + k.gsom * t) / (k.gl + k.gb + k.gsom)
                } else {
                    k.c_output * vb
                };
            }
            self.phi.apply_slice(&self.u_p[l], &mut above[0][..m]);
            return;
        }
        if first {
            self.v_a[l].iter_mut().for_each(|v| *v = F::zero());
        } else {
            apical(
                self.kernel,
                lw,
                &above[1],
                &self.r_i[l],
                &mut self.v_down[l],
                &mut self.v_a[l],
            );
        }
        pyramidal(k, &self.v_b[l], &self.v_a[l], &mut self.u_p[l]);
        self.phi.apply_slice(&self.u_p[l], &mut above[0][..m]);
        Self::mv(
            self.kernel,
            lw.ip.as_ref().unwrap(),
            &above[0],
            &mut self.v_d[l],
        );
        let u_above = (!first).then(|| &self.u_p[l + 1][..]);
        interneuron(k, &self.v_d[l], u_above, &mut self.u_i[l]);
        self.phi.apply_slice(&self.u_i[l], &mut self.r_i[l]);
    }

    /// Down-sweep update of hidden layer `l`: interneurons (nudged by the new `u^P[l+1]`), then
    /// the apical potentials and the pyramidal somas. `v_D[l]` and `v_B[l]` are current.
    fn down_layer(&mut self, l: usize) {
        let k = &self.k;
        let m = self.shape.n_pyr(l);
        let lw = &self.w.layers[l];
        interneuron(k, &self.v_d[l], Some(&self.u_p[l + 1]), &mut self.u_i[l]);
        self.phi.apply_slice(&self.u_i[l], &mut self.r_i[l]);
        apical(
            self.kernel,
            lw,
            &self.pre[l + 2],
            &self.r_i[l],
            &mut self.v_down[l],
            &mut self.v_a[l],
        );
        pyramidal(k, &self.v_b[l], &self.v_a[l], &mut self.u_p[l]);
        self.phi
            .apply_slice(&self.u_p[l], &mut self.pre[l + 1][..m]);
    }

    /// Recomputes every dendrite from the current somas (section 2): `v_B[l] = W_up[l]·pre[l]`,
    /// `v_A[l] = W_down[l]·φ(u^P[l+1]) + W_pi[l]·φ(u^I[l])`, `v_D[l] = W_ip[l]·pre[l+1]`.
    fn dendrites_from_somas(&mut self) {
        for l in 0..self.shape.n_layers() {
            let lw = &self.w.layers[l];
            if l > 0 || !self.vb0_valid {
                Self::mv(self.kernel, &lw.up, &self.pre[l], &mut self.v_b[l]);
            }
            if self.shape.is_hidden(l) {
                apical(
                    self.kernel,
                    lw,
                    &self.pre[l + 2],
                    &self.r_i[l],
                    &mut self.v_down[l],
                    &mut self.v_a[l],
                );
                Self::mv(
                    self.kernel,
                    lw.ip.as_ref().unwrap(),
                    &self.pre[l + 1],
                    &mut self.v_d[l],
                );
            }
        }
    }

    /// One plasticity step from the relaxed state: dendrites recomputed from the somas, then for
    /// every matrix with η ≠ 0 `steady_update` with the error of section 2:
    /// forward `e = φ(u^P) − φ(c v_B)` (c = `g_B/(g_l+g_B+g_A)` hidden, `g_B/(g_l+g_B)` output),
    /// pre `pre[l]`; pyramidal → interneuron `e = φ(u^I) − φ(g_D/(g_l+g_D) v_D)`, pre
    /// `pre[l+1]`; interneuron → pyramidal `e = −v_A`, pre `φ(u^I)`; top-down
    /// `e = φ(u^P[l]) − φ(W_down φ(u^P[l+1]))`, pre `φ(u^P[l+1])`.
    pub fn plasticity_step(&mut self) {
        self.vb0_valid = false;
        self.plasticity_inner(None);
        self.vb0_valid = false;
    }

    /// [`SteadyInstance::plasticity_step`]; with the blocked kernel and `next = Some(x)`, the
    /// W_up[0] update also computes `v_B[0] = W_up[0]·x` for the stimulus x that comes next
    /// and stores x as the stimulus (the next `set_stimulus(x, …)` then keeps v_B[0]).
    fn plasticity_inner(&mut self, next: Option<&[f64]>) {
        self.dendrites_from_somas();
        let n_in = self.shape.n_in();
        let SteadyInstance {
            shape,
            phi,
            w,
            delta,
            pre,
            r_i,
            v_b,
            v_a,
            v_d,
            v_down,
            e,
            k,
            kernel,
            vb0_valid,
            next0,
            ..
        } = self;
        for l in 0..shape.n_layers() {
            let hidden = shape.is_hidden(l);
            let (lw, ld) = (&mut w.layers[l], &mut delta.layers[l]);
            let m = shape.n_pyr(l);
            if k.eta_up[l] != F::zero() {
                let c = if hidden { k.c_hidden } else { k.c_output };
                for i in 0..m {
                    e[i] = pre[l + 1][i] - phi.apply(c * v_b[l][i]);
                }
                match (*kernel, next) {
                    (SteadyKernel::Reference, _) => {
                        steady_update(&mut lw.up, &mut ld.up, &e[..m], &pre[l], k.a, k.eta_up[l])
                    }
                    (SteadyKernel::Blocked, Some(x)) if l == 0 => {
                        for (d, &v) in next0.iter_mut().zip(x) {
                            *d = F::of(v);
                        }
                        let fused = Some((&next0[..], &mut v_b[0][..]));
                        let (wm, dm) = (&mut lw.up, &mut ld.up);
                        super::kernels::update(wm, dm, &e[..m], &pre[0], k.a, k.eta_up[0], fused);
                        pre[0][..n_in].copy_from_slice(&next0[..n_in]);
                        *vb0_valid = true;
                    }
                    (SteadyKernel::Blocked, _) => {
                        let (wm, dm) = (&mut lw.up, &mut ld.up);
                        super::kernels::update(wm, dm, &e[..m], &pre[l], k.a, k.eta_up[l], None);
                        if l == 0 {
                            *vb0_valid = false;
                        }
                    }
                }
            }
            if !hidden {
                continue;
            }
            let mi = shape.n_inter(l);
            if k.eta_ip[l] != F::zero() {
                for j in 0..mi {
                    e[j] = r_i[l][j] - phi.apply(k.c_inter * v_d[l][j]);
                }
                let (wm, dm) = (lw.ip.as_mut().unwrap(), ld.ip.as_mut().unwrap());
                steady_update(wm, dm, &e[..mi], &pre[l + 1], k.a, k.eta_ip[l]);
            }
            if k.eta_pi[l] != F::zero() {
                for i in 0..m {
                    e[i] = -v_a[l][i];
                }
                let (wm, dm) = (lw.pi.as_mut().unwrap(), ld.pi.as_mut().unwrap());
                steady_update(wm, dm, &e[..m], &r_i[l], k.a, k.eta_pi[l]);
            }
            if k.eta_down[l] != F::zero() {
                for i in 0..m {
                    e[i] = pre[l + 1][i] - phi.apply(v_down[l][i]);
                }
                let (wm, dm) = (lw.down.as_mut().unwrap(), ld.down.as_mut().unwrap());
                steady_update(wm, dm, &e[..m], &pre[l + 2], k.a, k.eta_down[l]);
            }
        }
    }
}

/// `v_A = W_down · φ(u^P[l+1]) + W_pi · φ(u^I[l])`; `v_down` keeps the first term.
fn apical<F: Real>(
    kernel: SteadyKernel,
    lw: &crate::microcircuit::LayerWeights<F>,
    r_above: &[F],
    r_i: &[F],
    v_down: &mut [F],
    v_a: &mut [F],
) {
    SteadyInstance::<F>::mv(kernel, lw.down.as_ref().unwrap(), r_above, v_down);
    SteadyInstance::<F>::mv(kernel, lw.pi.as_ref().unwrap(), r_i, v_a);
    for (a, &d) in v_a.iter_mut().zip(v_down.iter()) {
        *a = *a + d;
    }
}

/// Hidden pyramidal fixed point `u = (g_B v_B + g_A v_A)/(g_l+g_B+g_A)`.
fn pyramidal<F: Real>(k: &Coef<F>, v_b: &[F], v_a: &[F], u: &mut [F]) {
    let den = k.gl + k.gb + k.ga;
    for ((u, &b), &a) in u.iter_mut().zip(v_b).zip(v_a) {
        *u = (k.gb * b + k.ga * a) / den;
    }
}

/// Interneuron fixed point `u = (g_D v_D + g_som u^P[l+1])/(g_l+g_D+g_som)`, or
/// `g_D v_D/(g_l+g_D)` without nudging (`u_above = None`).
fn interneuron<F: Real>(k: &Coef<F>, v_d: &[F], u_above: Option<&[F]>, u: &mut [F]) {
    match u_above {
        Some(up) => {
            let den = k.gl + k.gd + k.gsom;
            for ((u, &d), &a) in u.iter_mut().zip(v_d).zip(up) {
                *u = (k.gd * d + k.gsom * a) / den;
            }
        }
        None => {
            for (u, &d) in u.iter_mut().zip(v_d) {
                *u = k.c_inter * d;
            }
        }
    }
}

/// The discretised low-pass plasticity step of section 7 for one matrix:
/// `Δ = (1−a)·Δ + a·e r_preᵀ`, then `W += eta_dt·Δ` with the **new** Δ (`eta_dt = dT·η`).
/// `pre` may be longer than the matrix has columns.
fn steady_update<F: Real>(w: &mut Mat<F>, delta: &mut Mat<F>, e: &[F], pre: &[F], a: F, eta_dt: F) {
    let cols = w.cols;
    let pre = &pre[..cols];
    let keep = F::one() - a;
    for ((w_row, d_row), &ei) in w
        .data
        .chunks_exact_mut(cols)
        .zip(delta.data.chunks_exact_mut(cols))
        .zip(e)
    {
        let ae = a * ei;
        for ((wv, dv), &rj) in w_row.iter_mut().zip(d_row.iter_mut()).zip(pre) {
            let d = keep * *dv + ae * rj;
            *dv = d;
            *wv = *wv + eta_dt * d;
        }
    }
}
