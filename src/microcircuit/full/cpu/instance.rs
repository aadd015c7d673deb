//! One network instance on the CPU: the Euler step in the reference order and the pattern loop,
//! for the reference kernel (matrices row-major) and the vector kernel (matrices stored along
//! their longer axis, [`Layout::LongAxis`]); both compute the same bits.

use super::layout::{self, transpose_marked, Layout, Transposed};
use super::{error_slice, phi_slice, Consts, CpuReal, State};
use crate::microcircuit::backend::PatternKind;
use crate::microcircuit::{noise, InstanceParams, Shape, Transfer, Weights};
use crate::num::Real;

/// `(v_B, v_A, v_D)` per layer.
pub type Dendrites<'a, F> = (&'a [Vec<F>], &'a [Vec<F>], &'a [Vec<F>]);

/// Work buffers of one Euler step (no allocation in the hot loop).
#[derive(Clone, Debug)]
struct Scratch<F> {
    /// `pre[l]`: presynaptic vector of `W_up[l]` (rates of the layer below plus bias);
    /// `pre[l+1]` is also the rate vector `φ(u^P[l])` of layer `l`.
    pre: Vec<Vec<F>>,
    /// `φ(u^I[l])`.
    r_i: Vec<Vec<F>>,
    v_b: Vec<Vec<F>>,
    /// `W_down · φ(u^P[l+1])`.
    v_down: Vec<Vec<F>>,
    /// `v_A = W_down · φ(u^P[l+1]) + W_pi · φ(u^I[l])`.
    v_a: Vec<Vec<F>>,
    v_d: Vec<Vec<F>>,
    du_p: Vec<Vec<F>>,
    du_i: Vec<Vec<F>>,
    e: Vec<F>,
    x: Vec<F>,
    y: Vec<F>,
}

impl<F: Real> Scratch<F> {
    fn new(shape: &Shape) -> Self {
        let n = shape.n_layers();
        let pyr = |l: usize| vec![F::zero(); shape.n_pyr(l)];
        let inter = |l: usize| vec![F::zero(); shape.n_inter(l)];
        let widest = shape.dims.iter().copied().max().unwrap_or(0) + 1;
        Scratch {
            pre: (0..=n)
                .map(|l| vec![F::zero(); shape.with_bias(shape.dims[l])])
                .collect(),
            r_i: (0..n - 1).map(inter).collect(),
            v_b: (0..n).map(pyr).collect(),
            v_down: (0..n - 1).map(pyr).collect(),
            v_a: (0..n - 1).map(pyr).collect(),
            v_d: (0..n - 1).map(inter).collect(),
            du_p: (0..n).map(pyr).collect(),
            du_i: (0..n - 1).map(inter).collect(),
            e: vec![F::zero(); widest],
            x: vec![F::zero(); shape.n_in()],
            y: vec![F::zero(); shape.n_out()],
        }
    }
}

/// One instance: its shape, φ, parameters, state and work buffers.
#[derive(Clone, Debug)]
pub struct Instance<F> {
    pub shape: Shape,
    pub phi: Transfer,
    pub params: InstanceParams,
    pub c: Consts<F>,
    /// The state, its W and Δ stored in [`Instance::layout`] (the standard row-major layout for
    /// [`Layout::RowMajor`]; [`Instance::snapshot`] gives it for every layout).
    pub state: State<F>,
    layout: Layout,
    /// Which matrices `state` holds transposed.
    transposed: Vec<Transposed>,
    scr: Scratch<F>,
}

impl<F: CpuReal> Instance<F> {
    /// An instance at rest (zero potentials and Δ) with the given weights, row-major (the
    /// reference kernel).
    pub fn new(shape: Shape, phi: Transfer, params: InstanceParams, w: &Weights<f64>) -> Self {
        Self::with_layout(shape, phi, params, w, Layout::RowMajor)
    }

    /// An instance at rest with the given weights stored in `layout`.
    pub fn with_layout(
        shape: Shape,
        phi: Transfer,
        params: InstanceParams,
        w: &Weights<f64>,
        layout: Layout,
    ) -> Self {
        let transposed = layout.plan(w);
        let mut state = State::new(&shape, w.cast());
        state.w = transpose_marked(&state.w, &transposed);
        state.delta = transpose_marked(&state.delta, &transposed);
        Instance {
            c: Consts::new(&params),
            scr: Scratch::new(&shape),
            shape,
            phi,
            params,
            state,
            layout,
            transposed,
        }
    }

    /// The storage order of the matrices.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The state with W and Δ in the standard row-major layout.
    pub fn snapshot(&self) -> State<F> {
        let mut st = self.state.clone();
        if self.layout != Layout::RowMajor {
            st.w = transpose_marked(&st.w, &self.transposed);
            st.delta = transpose_marked(&st.delta, &self.transposed);
        }
        st
    }

    /// The weights in the standard row-major layout.
    pub fn weights(&self) -> Weights<F> {
        transpose_marked(&self.state.w, &self.transposed)
    }

    /// Replaces the state by `st` (standard layout).
    pub fn restore(&mut self, st: State<F>) {
        self.state = st;
        if self.layout != Layout::RowMajor {
            self.state.w = transpose_marked(&self.state.w, &self.transposed);
            self.state.delta = transpose_marked(&self.state.delta, &self.transposed);
        }
    }

    /// Whether any pathway has a non-zero learning rate (pathways with η = 0 are not plastic
    /// and their Δ stays 0: W would not change either way).
    fn any_plastic(&self) -> bool {
        let c = &self.c;
        [&c.eta_dt_up, &c.eta_dt_pi, &c.eta_dt_ip, &c.eta_dt_down]
            .iter()
            .any(|v| v.iter().any(|&e| e != F::zero()))
    }

    /// Runs one pattern `(x, y)` for `round(t_pattern/dt)` steps and writes into `readout` the
    /// mean output soma over the steps with index `≥ out_lag/dt` (soma values after each step).
    /// Plasticity is on for training patterns at step indices `≥ learning_lag/dt`; outside it W
    /// and Δ are frozen. With `reset_deltas`, every Δ is zeroed after a training pattern.
    /// `record(step_index, state)` is called after every step.
    pub fn run_pattern(
        &mut self,
        x: &[f64],
        y: &[f64],
        kind: PatternKind,
        readout: &mut [f64],
        mut record: impl FnMut(usize, &State<F>),
    ) {
        let p = &self.params;
        let (steps, lag, out_lag) = (p.steps_per_pattern(), p.lag_steps(), p.out_lag_steps());
        let train = kind == PatternKind::Train;
        let learn = train && self.any_plastic();
        self.set_stimulus(x, y);
        readout.iter_mut().for_each(|r| *r = 0.0);
        for s in 0..steps {
            self.step(train, learn && s >= lag, train);
            if s >= out_lag {
                for (r, u) in readout.iter_mut().zip(self.state.u_p.last().unwrap()) {
                    *r += u.f64();
                }
            }
            record(s, &self.state);
        }
        let n = steps.saturating_sub(out_lag).max(1) as f64;
        readout.iter_mut().for_each(|r| *r /= n);
        if train && self.params.reset_deltas {
            self.state.delta.fill_zero();
        }
    }

    /// One forward-Euler step of MODEL.md section 3 with the stimulus held in the scratch
    /// buffers `x`, `y`: (1) filter the stimulus, (2) dendrites and soma increments from the old
    /// somas, (3) if `plastic`, `W += dt·η·Δ` then `Δ += dt/τ_w (e rᵀ − Δ)` for every plastic
    /// matrix, (4) apply the soma increments. `nudge` switches the output nudging, `noisy` the
    /// noise.
    pub fn step(&mut self, nudge: bool, plastic: bool, noisy: bool) {
        step(self, nudge, plastic, noisy);
    }

    /// Sets the held stimulus for direct calls of [`Instance::step`].
    pub fn set_stimulus(&mut self, x: &[f64], y: &[f64]) {
        for (d, &v) in self.scr.x.iter_mut().zip(x) {
            *d = F::of(v);
        }
        for (d, &v) in self.scr.y.iter_mut().zip(y) {
            *d = F::of(v);
        }
    }

    /// The dendritic potentials `(v_B, v_A, v_D)` of the last step, per layer (for tests and
    /// traces).
    pub fn dendrites(&self) -> Dendrites<'_, F> {
        (&self.scr.v_b, &self.scr.v_a, &self.scr.v_d)
    }
}

/// One forward-Euler step of MODEL.md section 3 (see [`Instance::step`]), compiled for AVX-512,
/// AVX2+FMA and the baseline; the best the CPU has runs (the arithmetic is the same on each:
/// no instruction set changes a result).
// The layer loops index several arrays by the layer, like the equations.
#[allow(clippy::needless_range_loop)]
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn step<F: CpuReal>(inst: &mut Instance<F>, nudge: bool, plastic: bool, noisy: bool) {
    let Instance {
        shape,
        phi,
        c,
        state: st,
        scr: s,
        params,
        transposed: tr,
        ..
    } = inst;
    let n = shape.n_layers();
    let bias = shape.bias;

    // (1) stimulus filter: r_0 += dt/τ0 (x − r_0); u_tgt += dt/τ0 (y − u_tgt)
    for (r, &x) in st.r0.iter_mut().zip(&s.x) {
        *r = *r + c.k0 * (x - *r);
    }
    for (u, &y) in st.u_tgt.iter_mut().zip(&s.y) {
        *u = *u + c.k0 * (y - *u);
    }

    // (2) rates of every layer from the old somas, with the bias unit appended
    let n0 = shape.n_in();
    s.pre[0][..n0].copy_from_slice(&st.r0);
    for l in 0..n {
        let m = shape.n_pyr(l);
        phi_slice(phi, &st.u_p[l], &mut s.pre[l + 1][..m]);
    }
    if bias {
        for (l, pre) in s.pre.iter_mut().enumerate() {
            pre[shape.dims[l]] = c.bias;
        }
    }
    for l in 0..n - 1 {
        phi_slice(phi, &st.u_i[l], &mut s.r_i[l]);
    }

    // (2) dendrites and soma increments
    for l in 0..n {
        let (lw, t) = (&st.w.layers[l], tr[l]);
        layout::matvec(&lw.up, t.up, &s.pre[l], &mut s.v_b[l]);
        let u = &st.u_p[l];
        if shape.is_hidden(l) {
            // v_A = W_down · φ(u^P[l+1]) + W_pi · φ(u^I[l])
            let (down, pi) = (lw.down.as_ref().unwrap(), lw.pi.as_ref().unwrap());
            layout::matvec(down, t.down, &s.pre[l + 2], &mut s.v_down[l]);
            layout::matvec(pi, t.pi, &s.r_i[l], &mut s.v_a[l]);
            for (va, &vd) in s.v_a[l].iter_mut().zip(&s.v_down[l]) {
                *va = *va + vd;
            }
            // du^P = dt (−g_l u + g_B (v_B − u) + g_A (v_A − u))
            for (((du, &u), &vb), &va) in s.du_p[l].iter_mut().zip(u).zip(&s.v_b[l]).zip(&s.v_a[l])
            {
                *du = c.dt * (-c.gl * u + c.gb * (vb - u) + c.ga * (va - u));
            }
            // v_D = W_ip · φ(u^P[l]) (+ bias);
            // du^I = dt (−g_l u^I + g_D (v_D − u^I) + g_som (u^P[l+1] − u^I))
            let ip = lw.ip.as_ref().unwrap();
            layout::matvec(ip, t.ip, &s.pre[l + 1], &mut s.v_d[l]);
            let ui = &st.u_i[l];
            let above = &st.u_p[l + 1];
            for j in 0..ui.len() {
                s.du_i[l][j] = c.dt
                    * (-c.gl * ui[j] + c.gd * (s.v_d[l][j] - ui[j]) + c.gsom * (above[j] - ui[j]));
            }
        } else {
            // du^P = dt (−g_l u + g_B (v_B − u) + g_som (u_tgt − u)), nudging on training patterns
            let g_nudge = if nudge { c.gsom } else { F::zero() };
            for (((du, &u), &vb), &ut) in s.du_p[l].iter_mut().zip(u).zip(&s.v_b[l]).zip(&st.u_tgt)
            {
                *du = c.dt * (-c.gl * u + c.gb * (vb - u) + g_nudge * (ut - u));
            }
        }
    }
    if noisy && c.noise_amp != F::zero() {
        add_noise(params.seed, st.step, c.noise_amp, &mut s.du_p, &mut s.du_i);
    }

    // (3) plasticity with e and r from step (2)
    if plastic {
        for l in 0..n {
            let hidden = shape.is_hidden(l);
            let lw = &mut st.w.layers[l];
            let ld = &mut st.delta.layers[l];
            let t = tr[l];
            let m = shape.n_pyr(l);
            // forward: e = φ(u^P) − φ(v̂_B), v̂_B = c · v_B
            if c.eta_dt_up[l] != F::zero() {
                let cb = if hidden { c.c_hidden } else { c.c_output };
                error_slice(phi, &s.pre[l + 1], cb, &s.v_b[l], &mut s.e[..m]);
                let (e, pre) = (&s.e[..m], &s.pre[l]);
                layout::low_pass(&mut lw.up, &mut ld.up, t.up, e, pre, c.eta_dt_up[l], c.kw);
            }
            if !hidden {
                continue;
            }
            let mi = shape.n_inter(l);
            // pyramidal → interneuron: e = φ(u^I) − φ(v̂_D), v̂_D = g_D/(g_l+g_D) · v_D
            if c.eta_dt_ip[l] != F::zero() {
                error_slice(phi, &s.r_i[l], c.c_inter, &s.v_d[l], &mut s.e[..mi]);
                let (w, d) = (lw.ip.as_mut().unwrap(), ld.ip.as_mut().unwrap());
                let (e, pre) = (&s.e[..mi], &s.pre[l + 1]);
                layout::low_pass(w, d, t.ip, e, pre, c.eta_dt_ip[l], c.kw);
            }
            // interneuron → pyramidal: e = −v_A, presynaptic φ(u^I)
            if c.eta_dt_pi[l] != F::zero() {
                for (e, &va) in s.e[..m].iter_mut().zip(&s.v_a[l]) {
                    *e = -va;
                }
                let (w, d) = (lw.pi.as_mut().unwrap(), ld.pi.as_mut().unwrap());
                layout::low_pass(w, d, t.pi, &s.e[..m], &s.r_i[l], c.eta_dt_pi[l], c.kw);
            }
            // top-down: e = φ(u^P[l]) − φ(W_down · φ(u^P[l+1])), presynaptic φ(u^P[l+1])
            if c.eta_dt_down[l] != F::zero() {
                // (scale 1 is exact: φ(1·v) = φ(v))
                error_slice(phi, &s.pre[l + 1], F::one(), &s.v_down[l], &mut s.e[..m]);
                let (w, d) = (lw.down.as_mut().unwrap(), ld.down.as_mut().unwrap());
                let (e, pre) = (&s.e[..m], &s.pre[l + 2]);
                layout::low_pass(w, d, t.down, e, pre, c.eta_dt_down[l], c.kw);
            }
        }
    }

    // (4) apply the soma increments
    for (u, du) in st.u_p.iter_mut().zip(&s.du_p) {
        for (a, &b) in u.iter_mut().zip(du) {
            *a = *a + b;
        }
    }
    for (u, du) in st.u_i.iter_mut().zip(&s.du_i) {
        for (a, &b) in u.iter_mut().zip(du) {
            *a = *a + b;
        }
    }
    st.step += 1;
}

/// Adds `sqrt(dt)·σ·ξ` to every soma increment; soma index runs over the pyramidal cells of
/// every layer, then the interneurons of every hidden layer.
fn add_noise<F: Real>(seed: u64, step: u64, amp: F, du_p: &mut [Vec<F>], du_i: &mut [Vec<F>]) {
    let mut idx = 0u32;
    for v in du_p.iter_mut().chain(du_i.iter_mut()) {
        for d in v.iter_mut() {
            *d = *d + amp * F::of(noise::normal(seed, step, idx));
            idx += 1;
        }
    }
}
