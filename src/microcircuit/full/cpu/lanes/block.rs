//! A block of `L` instances laid out structure-of-arrays: every weight, Δ, soma and dendrite
//! entry is a lane vector [`V`] holding that entry of each instance, so one Euler step is the
//! reference step of MODEL.md section 3 with every scalar operation applied to `L` instances at
//! once. Lanes never interact: lane k computes what it would compute in any other block.

// The lane loops index several arrays by the same lane or layer, like the equations.
#![allow(clippy::needless_range_loop)]

use super::math::{keep_lanes, phi_lanes, phi_slice, V};
use crate::microcircuit::backend::{RecordSpec, Trace};
use crate::microcircuit::full::cpu::plasticity::{Held, LayerHeld};
use crate::microcircuit::full::cpu::CpuReal;
use crate::microcircuit::full::cpu::State;
use crate::microcircuit::{noise, FilterStart, InstanceParams, Mat, Shape, Transfer, Weights};
use crate::num::Real;

/// A matrix of lane vectors, row-major: entry `(i, j)` of every instance in `data[i·cols + j]`.
#[derive(Clone, Debug)]
pub struct LMat<F, const L: usize> {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<V<F, L>>,
}

impl<F: Real, const L: usize> LMat<F, L> {
    /// Lane k holds `mats[k]` (`mats.len() == L`).
    fn pack(mats: &[&Mat<F>]) -> Self {
        let (rows, cols) = (mats[0].rows, mats[0].cols);
        let data = (0..rows * cols)
            .map(|e| V::from_fn(|k| mats[k].data[e]))
            .collect();
        LMat { rows, cols, data }
    }
    /// The matrix of lane k.
    fn lane(&self, k: usize) -> Mat<F> {
        Mat {
            rows: self.rows,
            cols: self.cols,
            data: self.data.iter().map(|v| v.0[k]).collect(),
        }
    }
}

/// `((s0+s4)+(s1+s5))+((s2+s6)+(s3+s7)) + tail`, the last step of [`crate::microcircuit::dot`]. A
/// row shorter than eight (`whole == 0`: W_up over few inputs, W_pi, W_down) has eight zero partial
/// sums, whose combination is +0, so `0 + tail` is the same value in one addition instead of eight.
#[inline(always)]
fn combine<F: Real, const L: usize>(acc: &[V<F, L>; 8], tail: V<F, L>, whole: usize) -> V<F, L> {
    if whole == 0 {
        V::zero() + tail
    } else {
        ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
    }
}

/// `out = W · x` over lanes (x may be longer than `cols`), each lane adding in the order of
/// [`crate::microcircuit::dot`] (the reference and vector kernels' order): eight partial sums over
/// the entries `j ≡ k mod 8` of the whole chunks of eight, the tail summed in order, combined as
/// `((s0+s4)+(s1+s5))+((s2+s6)+(s3+s7)) + tail`.
#[inline(always)]
fn matvec<F: Real, const L: usize>(w: &LMat<F, L>, x: &[V<F, L>], out: &mut [V<F, L>]) {
    let cols = w.cols;
    let x = &x[..cols];
    let whole = cols / 8 * 8;
    for (o, row) in out.iter_mut().zip(w.data.chunks_exact(cols)) {
        keep_lanes();
        let mut acc = [V::<F, L>::zero(); 8];
        for (w8, x8) in row[..whole].chunks_exact(8).zip(x.chunks_exact(8)) {
            keep_lanes();
            for k in 0..8 {
                acc[k] = acc[k] + w8[k] * x8[k];
            }
        }
        let mut tail = V::<F, L>::zero();
        for (&wj, &xj) in row[whole..].iter().zip(&x[whole..]) {
            keep_lanes();
            tail = tail + wj * xj;
        }
        *o = combine(&acc, tail, whole);
    }
}

/// The low-pass step of one entry: `W += η_dt·Δ` with the old Δ, then `Δ += k_w (e_i r_j − Δ)`;
/// the one expression of [`low_pass`] and [`matvec_updating`], so that both compute the same
/// bits.
#[inline(always)]
fn low_pass_entry<F: Real, const L: usize>(
    w: V<F, L>,
    d: V<F, L>,
    ei: V<F, L>,
    rj: V<F, L>,
    eta_dt: V<F, L>,
    kw: V<F, L>,
) -> (V<F, L>, V<F, L>) {
    (w + eta_dt * d, d + kw * (ei * rj - d))
}

/// The low-pass plasticity step of one matrix over lanes: `W += η_dt·Δ` with the old Δ, then
/// `Δ += k_w (e r_preᵀ − Δ)`. Lanes with `eta_dt = kw = 0` keep W and Δ.
#[inline(always)]
fn low_pass<F: Real, const L: usize>(
    w: &mut LMat<F, L>,
    delta: &mut LMat<F, L>,
    e: &[V<F, L>],
    pre: &[V<F, L>],
    eta_dt: &V<F, L>,
    kw: &V<F, L>,
) {
    let cols = w.cols;
    let pre = &pre[..cols];
    for ((w_row, d_row), ei) in w
        .data
        .chunks_exact_mut(cols)
        .zip(delta.data.chunks_exact_mut(cols))
        .zip(e)
    {
        keep_lanes();
        let (ei, eta_dt, kw) = (*ei, *eta_dt, *kw);
        for ((wv, dv), &r) in w_row.iter_mut().zip(d_row.iter_mut()).zip(pre) {
            keep_lanes();
            (*wv, *dv) = low_pass_entry(*wv, *dv, ei, r, eta_dt, kw);
        }
    }
}

/// `out = W' · x` where `W'` is W after the held-back plasticity step `p` (if any) with the
/// previous step's presynaptic rates `pre`, which is applied to W and Δ on the way: per entry
/// `W' = W + η_dt·Δ`, `Δ += k_w (e_i pre_j − Δ)`, the same operations as [`low_pass`] then
/// [`matvec`], so the same bits, with one pass over W and Δ instead of two.
#[inline(always)]
fn matvec_updating<F: Real, const L: usize>(
    w: &mut LMat<F, L>,
    delta: &mut LMat<F, L>,
    p: &mut Held<V<F, L>>,
    pre: &[V<F, L>],
    x: &[V<F, L>],
    out: &mut [V<F, L>],
) {
    let Some((eta_dt, kw)) = p.rate.take() else {
        return matvec(w, x, out);
    };
    let cols = w.cols;
    let x = &x[..cols];
    let pre = &pre[..cols];
    let whole = cols / 8 * 8;
    let rows = w
        .data
        .chunks_exact_mut(cols)
        .zip(delta.data.chunks_exact_mut(cols));
    for ((o, (w_row, d_row)), &ei) in out.iter_mut().zip(rows).zip(&p.e) {
        keep_lanes();
        let mut acc = [V::<F, L>::zero(); 8];
        let (w_whole, w_tail) = w_row.split_at_mut(whole);
        let (d_whole, d_tail) = d_row.split_at_mut(whole);
        for (((w8, d8), x8), p8) in w_whole
            .chunks_exact_mut(8)
            .zip(d_whole.chunks_exact_mut(8))
            .zip(x.chunks_exact(8))
            .zip(pre.chunks_exact(8))
        {
            keep_lanes();
            for k in 0..8 {
                let (wn, dn) = low_pass_entry(w8[k], d8[k], ei, p8[k], eta_dt, kw);
                (w8[k], d8[k]) = (wn, dn);
                acc[k] = acc[k] + wn * x8[k];
            }
        }
        let mut tail = V::<F, L>::zero();
        for (((wv, dv), &xj), &r) in w_tail
            .iter_mut()
            .zip(d_tail.iter_mut())
            .zip(&x[whole..])
            .zip(&pre[whole..])
        {
            keep_lanes();
            let (wn, dn) = low_pass_entry(*wv, *dv, ei, r, eta_dt, kw);
            (*wv, *dv) = (wn, dn);
            tail = tail + wn * xj;
        }
        *o = combine(&acc, tail, whole);
    }
}

/// The matrices of one layer (as [`crate::microcircuit::LayerWeights`]).
#[derive(Clone, Debug)]
struct LLayer<F, const L: usize> {
    up: LMat<F, L>,
    down: Option<LMat<F, L>>,
    pi: Option<LMat<F, L>>,
    ip: Option<LMat<F, L>>,
}

/// Applies the plasticity step now ([`low_pass`] with the errors `e`) or, with `defer`, holds
/// it back for the matrix's next dendrite sum ([`matvec_updating`]); the errors were then
/// written into `p.e` (see [`Held::errors`]) and `pre` is read again next step from the kept
/// rates.
#[inline(always)]
fn update<F: Real, const L: usize>(
    w: &mut LMat<F, L>,
    delta: &mut LMat<F, L>,
    p: &mut Held<V<F, L>>,
    e: &[V<F, L>],
    pre: &[V<F, L>],
    (eta, kw): (V<F, L>, V<F, L>),
    defer: bool,
) {
    if defer {
        p.rate = Some((eta, kw));
    } else {
        low_pass(w, delta, e, pre, &eta, &kw);
    }
}

fn pack_weights<F: Real, const L: usize>(ws: &[&Weights<F>]) -> Vec<LLayer<F, L>> {
    let n = ws[0].layers.len();
    (0..n)
        .map(|l| {
            let opt = |get: fn(&crate::microcircuit::LayerWeights<F>) -> Option<&Mat<F>>| {
                get(&ws[0].layers[l]).map(|_| {
                    let mats: Vec<&Mat<F>> = ws
                        .iter()
                        .map(|w| get(&w.layers[l]).expect("same shape"))
                        .collect();
                    LMat::pack(&mats)
                })
            };
            LLayer {
                up: LMat::pack(&ws.iter().map(|w| &w.layers[l].up).collect::<Vec<_>>()),
                down: opt(|lw| lw.down.as_ref()),
                pi: opt(|lw| lw.pi.as_ref()),
                ip: opt(|lw| lw.ip.as_ref()),
            }
        })
        .collect()
}

fn unpack_weights<F: Real, const L: usize>(layers: &[LLayer<F, L>], k: usize) -> Weights<F> {
    Weights {
        layers: layers
            .iter()
            .map(|lw| crate::microcircuit::LayerWeights {
                up: lw.up.lane(k),
                down: lw.down.as_ref().map(|m| m.lane(k)),
                pi: lw.pi.as_ref().map(|m| m.lane(k)),
                ip: lw.ip.as_ref().map(|m| m.lane(k)),
            })
            .collect(),
    }
}

fn pack_vecs<F: Real, const L: usize>(vs: &[&[F]]) -> Vec<V<F, L>> {
    (0..vs[0].len()).map(|i| V::from_fn(|k| vs[k][i])).collect()
}

fn lane_vec<F: Real, const L: usize>(v: &[V<F, L>], k: usize) -> Vec<F> {
    v.iter().map(|x| x.0[k]).collect()
}

/// Per-lane constants of the Euler step (as [`crate::microcircuit::full::cpu::Consts`]).
#[derive(Clone, Debug)]
struct LaneConsts<F, const L: usize> {
    gl: V<F, L>,
    gb: V<F, L>,
    ga: V<F, L>,
    gd: V<F, L>,
    gsom: V<F, L>,
    dt: V<F, L>,
    k0: V<F, L>,
    kw: V<F, L>,
    c_hidden: V<F, L>,
    c_output: V<F, L>,
    c_inter: V<F, L>,
    noise_amp: V<F, L>,
    bias: V<F, L>,
    eta_dt_up: Vec<V<F, L>>,
    eta_dt_pi: Vec<V<F, L>>,
    eta_dt_ip: Vec<V<F, L>>,
    eta_dt_down: Vec<V<F, L>>,
}

impl<F: Real, const L: usize> LaneConsts<F, L> {
    fn new(ps: &[&InstanceParams]) -> Self {
        let c = ps
            .iter()
            .map(|p| crate::microcircuit::full::cpu::Consts::<F>::new(p))
            .collect::<Vec<_>>();
        let lane =
            |f: fn(&crate::microcircuit::full::cpu::Consts<F>) -> F| V::from_fn(|k| f(&c[k]));
        let etas = |f: fn(&crate::microcircuit::full::cpu::Consts<F>) -> &Vec<F>| {
            (0..f(&c[0]).len())
                .map(|l| V::from_fn(|k| f(&c[k])[l]))
                .collect()
        };
        LaneConsts {
            gl: lane(|c| c.gl),
            gb: lane(|c| c.gb),
            ga: lane(|c| c.ga),
            gd: lane(|c| c.gd),
            gsom: lane(|c| c.gsom),
            dt: lane(|c| c.dt),
            k0: lane(|c| c.k0),
            kw: lane(|c| c.kw),
            c_hidden: lane(|c| c.c_hidden),
            c_output: lane(|c| c.c_output),
            c_inter: lane(|c| c.c_inter),
            noise_amp: lane(|c| c.noise_amp),
            bias: lane(|c| c.bias),
            eta_dt_up: etas(|c| &c.eta_dt_up),
            eta_dt_pi: etas(|c| &c.eta_dt_pi),
            eta_dt_ip: etas(|c| &c.eta_dt_ip),
            eta_dt_down: etas(|c| &c.eta_dt_down),
        }
    }
}

/// Work buffers of one step (as the reference kernel's).
#[derive(Clone, Debug)]
struct Scratch<F, const L: usize> {
    pre: Vec<Vec<V<F, L>>>,
    r_i: Vec<Vec<V<F, L>>>,
    /// `pre` and `r_i` of the previous step (swapped, not copied), the presynaptic rates of the
    /// held-back updates.
    pre_held: Vec<Vec<V<F, L>>>,
    r_i_held: Vec<Vec<V<F, L>>>,
    v_b: Vec<Vec<V<F, L>>>,
    v_down: Vec<Vec<V<F, L>>>,
    v_a: Vec<Vec<V<F, L>>>,
    v_d: Vec<Vec<V<F, L>>>,
    du_p: Vec<Vec<V<F, L>>>,
    du_i: Vec<Vec<V<F, L>>>,
    e: Vec<V<F, L>>,
    x: Vec<V<F, L>>,
    y: Vec<V<F, L>>,
}

impl<F: Real, const L: usize> Scratch<F, L> {
    fn new(shape: &Shape) -> Self {
        let n = shape.n_layers();
        let z = |m: usize| vec![V::zero(); m];
        let widest = shape.dims.iter().copied().max().unwrap_or(0) + 1;
        Scratch {
            pre: (0..=n).map(|l| z(shape.with_bias(shape.dims[l]))).collect(),
            r_i: (0..n - 1).map(|l| z(shape.n_inter(l))).collect(),
            pre_held: (0..=n).map(|l| z(shape.with_bias(shape.dims[l]))).collect(),
            r_i_held: (0..n - 1).map(|l| z(shape.n_inter(l))).collect(),
            v_b: (0..n).map(|l| z(shape.n_pyr(l))).collect(),
            v_down: (0..n - 1).map(|l| z(shape.n_pyr(l))).collect(),
            v_a: (0..n - 1).map(|l| z(shape.n_pyr(l))).collect(),
            v_d: (0..n - 1).map(|l| z(shape.n_inter(l))).collect(),
            du_p: (0..n).map(|l| z(shape.n_pyr(l))).collect(),
            du_i: (0..n - 1).map(|l| z(shape.n_inter(l))).collect(),
            e: z(widest),
            x: z(shape.n_in()),
            y: z(shape.n_out()),
        }
    }
}

/// `L` instances of one shape and one pattern length. Lanes `used..L` repeat lane 0 (their
/// results are never read); every lane has its own parameters, seed, lags and state.
#[derive(Clone, Debug)]
pub struct Block<F, const L: usize> {
    pub used: usize,
    /// Parameters of the used lanes.
    params: Vec<InstanceParams>,
    shape: Shape,
    phi: Transfer,
    c: LaneConsts<F, L>,
    /// Euler steps per pattern, shared by the lanes.
    pub steps: usize,
    lag: [usize; L],
    out_lag: [usize; L],
    reset_deltas: [bool; L],
    filter_start: [FilterStart; L],
    seed: [u64; L],
    any_plastic: [bool; L],
    w: Vec<LLayer<F, L>>,
    delta: Vec<LLayer<F, L>>,
    /// Plasticity steps held back within a pattern; none between patterns.
    pending: Vec<LayerHeld<V<F, L>>>,
    u_p: Vec<Vec<V<F, L>>>,
    u_i: Vec<Vec<V<F, L>>>,
    r0: Vec<V<F, L>>,
    u_tgt: Vec<V<F, L>>,
    step: [u64; L],
    scr: Scratch<F, L>,
    /// Traces of the used lanes.
    pub traces: Vec<Trace>,
}

impl<F: CpuReal, const L: usize> Block<F, L> {
    /// A block of the instances with parameters `params` (1 to L of them, equal
    /// `steps_per_pattern`) and states `states`.
    pub fn new(
        shape: &Shape,
        phi: Transfer,
        params: &[&InstanceParams],
        states: &[State<F>],
    ) -> Self {
        let used = params.len();
        assert!((1..=L).contains(&used) && states.len() == used);
        let pad = |k: usize| if k < used { k } else { 0 };
        let ps: Vec<&InstanceParams> = (0..L).map(|k| params[pad(k)]).collect();
        let sts: Vec<&State<F>> = (0..L).map(|k| &states[pad(k)]).collect();
        let c = LaneConsts::new(&ps);
        let any_plastic = std::array::from_fn(|k| {
            let p = ps[k];
            [&p.eta_up, &p.eta_pi, &p.eta_ip, &p.eta_down]
                .iter()
                .any(|v| v.iter().any(|&e| F::of(p.dt * e) != F::zero()))
        });
        let n = shape.n_layers();
        let w = pack_weights(&sts.iter().map(|s| &s.w).collect::<Vec<_>>());
        let pending = w
            .iter()
            .map(|lw| {
                let d = |m: &LMat<F, L>| m.rows;
                let (down, pi, ip) = (lw.down.as_ref(), lw.pi.as_ref(), lw.ip.as_ref());
                LayerHeld::new(d(&lw.up), down.map(d), pi.map(d), ip.map(d), V::zero())
            })
            .collect();
        let vecs = |get: &dyn Fn(&State<F>) -> &[F]| {
            pack_vecs(&sts.iter().map(|s| get(s)).collect::<Vec<_>>())
        };
        Block {
            used,
            params: params.iter().map(|&p| p.clone()).collect(),
            shape: shape.clone(),
            phi,
            c,
            steps: ps[0].steps_per_pattern(),
            lag: std::array::from_fn(|k| ps[k].lag_steps()),
            out_lag: std::array::from_fn(|k| ps[k].out_lag_steps()),
            reset_deltas: std::array::from_fn(|k| ps[k].reset_deltas),
            filter_start: std::array::from_fn(|k| ps[k].filter_start),
            seed: std::array::from_fn(|k| ps[k].seed),
            any_plastic,
            w,
            pending,
            delta: pack_weights(&sts.iter().map(|s| &s.delta).collect::<Vec<_>>()),
            u_p: (0..n).map(|l| vecs(&|s| &s.u_p[l])).collect(),
            u_i: (0..n - 1).map(|l| vecs(&|s| &s.u_i[l])).collect(),
            r0: vecs(&|s| &s.r0),
            u_tgt: vecs(&|s| &s.u_tgt),
            step: std::array::from_fn(|k| sts[k].step),
            scr: Scratch::new(shape),
            traces: vec![Trace::default(); used],
        }
    }

    /// The parameters of the used lanes.
    pub fn params(&self) -> &[InstanceParams] {
        &self.params
    }

    /// The state of lane k.
    pub fn state(&self, k: usize) -> State<F> {
        debug_assert!(!self.pending.iter().any(LayerHeld::any));
        State {
            w: unpack_weights(&self.w, k),
            delta: unpack_weights(&self.delta, k),
            u_p: self.u_p.iter().map(|v| lane_vec(v, k)).collect(),
            u_i: self.u_i.iter().map(|v| lane_vec(v, k)).collect(),
            r0: lane_vec(&self.r0, k),
            u_tgt: lane_vec(&self.u_tgt, k),
            step: self.step[k],
        }
    }

    /// The weights of lane k.
    pub fn weights(&self, k: usize) -> Weights<F> {
        unpack_weights(&self.w, k)
    }

    /// [`State::start_filters`] for every lane, lane k with `x[k]`, `y[k]`.
    pub fn start_filters(&mut self, x: &[&[f64]], y: &[&[f64]]) {
        for k in 0..L {
            let s = if k < self.used { k } else { 0 };
            if self.filter_start[k] != FilterStart::First || self.step[k] != 0 {
                continue;
            }
            for (r, &v) in self.r0.iter_mut().zip(x[s]) {
                r.0[k] = F::of(v);
            }
            for (u, &v) in self.u_tgt.iter_mut().zip(y[s]) {
                u.0[k] = F::of(v);
            }
        }
    }

    /// Runs one pattern (lane k: `x[k]`, `y[k]` of the used lanes; padding lanes take lane 0's)
    /// for `steps` Euler steps, as [`crate::microcircuit::full::cpu::Instance::run_pattern`] does
    /// for each lane, and writes lane k's readout mean into `readout[k]`. Traces are kept when
    /// `record` has a stride.
    pub fn run_pattern(
        &mut self,
        x: &[&[f64]],
        y: &[&[f64]],
        train: bool,
        readout: &mut [Vec<f64>],
        record: &RecordSpec,
    ) {
        let src = |k: usize| if k < self.used { k } else { 0 };
        for (i, v) in self.scr.x.iter_mut().enumerate() {
            *v = V::from_fn(|k| F::of(x[src(k)][i]));
        }
        for (i, v) in self.scr.y.iter_mut().enumerate() {
            *v = V::from_fn(|k| F::of(y[src(k)][i]));
        }
        let n_out = self.shape.n_out();
        let mut sum = vec![[0.0f64; L]; n_out];
        for s in 0..self.steps {
            let plastic: [bool; L] =
                std::array::from_fn(|k| train && self.any_plastic[k] && s >= self.lag[k]);
            step(self, train, &plastic, train, s + 1 < self.steps);
            let out = self.u_p.last().unwrap();
            for (acc, u) in sum.iter_mut().zip(out) {
                for k in 0..L {
                    if s >= self.out_lag[k] {
                        acc[k] += u.0[k].f64();
                    }
                }
            }
            if train && record.stride > 0 {
                self.record(record);
            }
        }
        for (k, r) in readout.iter_mut().enumerate().take(self.used) {
            let n = self.steps.saturating_sub(self.out_lag[k]).max(1) as f64;
            for (o, acc) in r.iter_mut().zip(&sum) {
                *o = acc[k] / n;
            }
        }
        if train {
            for k in 0..L {
                if self.reset_deltas[k] {
                    for lw in &mut self.delta {
                        let mats = [
                            Some(&mut lw.up),
                            lw.down.as_mut(),
                            lw.pi.as_mut(),
                            lw.ip.as_mut(),
                        ];
                        for m in mats.into_iter().flatten() {
                            m.data.iter_mut().for_each(|v| v.0[k] = F::zero());
                        }
                    }
                }
            }
        }
    }

    /// Appends a sample of every used lane whose step (after the increment, minus one) is on
    /// the stride, with the columns of the reference kernel's recording.
    fn record(&mut self, spec: &RecordSpec) {
        for (k, trace) in self.traces.iter_mut().enumerate() {
            let (u_p, u_i, r0, u_tgt) = (&self.u_p, &self.u_i, &self.r0, &self.u_tgt);
            trace.push_sample(self.step[k] - 1, spec, u_p, u_i, r0, u_tgt, |v| {
                v.0[k].f64()
            });
        }
    }
}

/// `(η_dt, k_w)` of one pathway per lane for this step: lanes that are not plastic now, or whose
/// η is 0 (their Δ stays 0 in the reference kernel), get 0 for both; `None` when no lane learns.
#[inline(always)]
fn masked<F: Real, const L: usize>(
    eta_dt: &V<F, L>,
    kw: &V<F, L>,
    plastic: &[bool; L],
) -> Option<(V<F, L>, V<F, L>)> {
    let on: [bool; L] = std::array::from_fn(|k| plastic[k] && eta_dt.0[k] != F::zero());
    if !on.iter().any(|&b| b) {
        return None;
    }
    Some((
        V::from_fn(|k| if on[k] { eta_dt.0[k] } else { F::zero() }),
        V::from_fn(|k| if on[k] { kw.0[k] } else { F::zero() }),
    ))
}

/// One forward-Euler step of MODEL.md section 3 for every lane, in the reference kernel's order:
/// (1) stimulus filter, (2) rates, dendrites and soma increments from the old somas (plus noise),
/// (3) plasticity of the lanes in `plastic`, (4) soma increments applied. With `defer` (every
/// step of a pattern but its last), step (3) is held back and applied inside the next step's
/// dendrite sums, which read W after it (MODEL.md section 3): the same operations in the same
/// order, one pass over W and Δ. Compiled for AVX-512,
/// AVX2+FMA and the baseline; the best the CPU has runs.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn step<F: CpuReal, const L: usize>(
    b: &mut Block<F, L>,
    nudge: bool,
    plastic: &[bool; L],
    noisy: bool,
    defer: bool,
) {
    let Block {
        shape,
        phi,
        c,
        w,
        delta,
        pending,
        u_p,
        u_i,
        r0,
        u_tgt,
        step: steps,
        scr: s,
        seed,
        ..
    } = b;
    let n = shape.n_layers();

    // (1) r_0 += dt/τ0 (x − r_0); u_tgt += dt/τ0 (y − u_tgt)
    for (r, &x) in r0.iter_mut().zip(&s.x) {
        keep_lanes();
        *r = *r + c.k0 * (x - *r);
    }
    for (u, &y) in u_tgt.iter_mut().zip(&s.y) {
        keep_lanes();
        *u = *u + c.k0 * (y - *u);
    }

    // (2) rates with the bias unit appended; the last step's rates are kept for the held-back
    // updates (every entry of the new buffers is written below)
    std::mem::swap(&mut s.pre, &mut s.pre_held);
    std::mem::swap(&mut s.r_i, &mut s.r_i_held);
    let n0 = shape.n_in();
    s.pre[0][..n0].copy_from_slice(r0);
    for l in 0..n {
        keep_lanes();
        let m = shape.n_pyr(l);
        phi_slice(phi, &u_p[l], &mut s.pre[l + 1][..m]);
    }
    if shape.bias {
        for (l, pre) in s.pre.iter_mut().enumerate() {
            keep_lanes();
            pre[shape.dims[l]] = c.bias;
        }
    }
    for l in 0..n - 1 {
        keep_lanes();
        phi_slice(phi, &u_i[l], &mut s.r_i[l]);
    }

    // (2) dendrites and soma increments
    for l in 0..n {
        keep_lanes();
        let (lw, ld, pd) = (&mut w[l], &mut delta[l], &mut pending[l]);
        let (held, x) = (&s.pre_held[l], &s.pre[l]);
        matvec_updating(&mut lw.up, &mut ld.up, &mut pd.up, held, x, &mut s.v_b[l]);
        let u = &u_p[l];
        if shape.is_hidden(l) {
            // v_A = W_pi · φ(u^I) + W_down · φ(u^P[l+1])
            let (wm, dm) = (lw.down.as_mut().unwrap(), ld.down.as_mut().unwrap());
            let (held, x) = (&s.pre_held[l + 2], &s.pre[l + 2]);
            matvec_updating(wm, dm, &mut pd.down, held, x, &mut s.v_down[l]);
            let (wm, dm) = (lw.pi.as_mut().unwrap(), ld.pi.as_mut().unwrap());
            let (held, x) = (&s.r_i_held[l], &s.r_i[l]);
            matvec_updating(wm, dm, &mut pd.pi, held, x, &mut s.v_a[l]);
            for (va, &vd) in s.v_a[l].iter_mut().zip(&s.v_down[l]) {
                keep_lanes();
                *va = *va + vd;
            }
            // du^P = dt (−g_l u + g_B (v_B − u) + g_A (v_A − u))
            for (((du, &u), &vb), &va) in s.du_p[l].iter_mut().zip(u).zip(&s.v_b[l]).zip(&s.v_a[l])
            {
                keep_lanes();
                *du = c.dt * (-c.gl * u + c.gb * (vb - u) + c.ga * (va - u));
            }
            // v_D = W_ip · φ(u^P[l]); du^I = dt (−g_l u^I + g_D (v_D − u^I) + g_som (u^P[l+1] − u^I))
            let (wm, dm) = (lw.ip.as_mut().unwrap(), ld.ip.as_mut().unwrap());
            let (held, x) = (&s.pre_held[l + 1], &s.pre[l + 1]);
            matvec_updating(wm, dm, &mut pd.ip, held, x, &mut s.v_d[l]);
            let above = &u_p[l + 1];
            for (((du, &ui), &vd), &ua) in
                s.du_i[l].iter_mut().zip(&u_i[l]).zip(&s.v_d[l]).zip(above)
            {
                keep_lanes();
                *du = c.dt * (-c.gl * ui + c.gd * (vd - ui) + c.gsom * (ua - ui));
            }
        } else {
            // du^P = dt (−g_l u + g_B (v_B − u) + g_som (u_tgt − u)), nudged on training patterns
            let g = if nudge { c.gsom } else { V::zero() };
            for (((du, &u), &vb), &ut) in
                s.du_p[l].iter_mut().zip(u).zip(&s.v_b[l]).zip(u_tgt.iter())
            {
                keep_lanes();
                *du = c.dt * (-c.gl * u + c.gb * (vb - u) + g * (ut - u));
            }
        }
    }
    // noise: every lane's sample of each soma at once (lanes without noise are left alone)
    let amp = &c.noise_amp.0;
    if noisy && amp.iter().any(|&a| a != F::zero()) {
        let mut idx = 0u32;
        for v in s.du_p.iter_mut().chain(s.du_i.iter_mut()) {
            keep_lanes();
            for d in v.iter_mut() {
                keep_lanes();
                let xi = noise::normal_lanes(seed, steps, idx);
                for k in 0..L {
                    if amp[k] != F::zero() {
                        d.0[k] = d.0[k] + amp[k] * F::of(xi[k]);
                    }
                }
                idx += 1;
            }
        }
    }

    // (3) plasticity with e and r from (2)
    for l in 0..n {
        keep_lanes();
        let hidden = shape.is_hidden(l);
        let (lw, ld, pd) = (&mut w[l], &mut delta[l], &mut pending[l]);
        let m = shape.n_pyr(l);
        // forward: e = φ(u^P) − φ(c · v_B)
        if let Some(rate) = masked(&c.eta_dt_up[l], &c.kw, plastic) {
            let cb = if hidden { c.c_hidden } else { c.c_output };
            let e = pd.up.errors(&mut s.e, m, defer);
            for i in 0..m {
                keep_lanes();
                e[i] = s.pre[l + 1][i] - phi_lanes(phi, &(cb * s.v_b[l][i]));
            }
            update(
                &mut lw.up,
                &mut ld.up,
                &mut pd.up,
                &s.e[..m],
                &s.pre[l],
                rate,
                defer,
            );
        }
        if !hidden {
            continue;
        }
        let mi = shape.n_inter(l);
        // pyramidal → interneuron: e = φ(u^I) − φ(g_D/(g_l+g_D) · v_D)
        if let Some(rate) = masked(&c.eta_dt_ip[l], &c.kw, plastic) {
            let e = pd.ip.errors(&mut s.e, mi, defer);
            for j in 0..mi {
                keep_lanes();
                e[j] = s.r_i[l][j] - phi_lanes(phi, &(c.c_inter * s.v_d[l][j]));
            }
            let (wm, dm) = (lw.ip.as_mut().unwrap(), ld.ip.as_mut().unwrap());
            update(wm, dm, &mut pd.ip, &s.e[..mi], &s.pre[l + 1], rate, defer);
        }
        // interneuron → pyramidal: e = −v_A, presynaptic φ(u^I)
        if let Some(rate) = masked(&c.eta_dt_pi[l], &c.kw, plastic) {
            let e = pd.pi.errors(&mut s.e, m, defer);
            for i in 0..m {
                keep_lanes();
                e[i] = -s.v_a[l][i];
            }
            let (wm, dm) = (lw.pi.as_mut().unwrap(), ld.pi.as_mut().unwrap());
            update(wm, dm, &mut pd.pi, &s.e[..m], &s.r_i[l], rate, defer);
        }
        // top-down: e = φ(u^P[l]) − φ(W_down · φ(u^P[l+1])), presynaptic φ(u^P[l+1])
        if let Some(rate) = masked(&c.eta_dt_down[l], &c.kw, plastic) {
            let e = pd.down.errors(&mut s.e, m, defer);
            for i in 0..m {
                keep_lanes();
                e[i] = s.pre[l + 1][i] - phi_lanes(phi, &s.v_down[l][i]);
            }
            let (wm, dm) = (lw.down.as_mut().unwrap(), ld.down.as_mut().unwrap());
            update(wm, dm, &mut pd.down, &s.e[..m], &s.pre[l + 2], rate, defer);
        }
    }

    // (4) apply the soma increments
    for (u, du) in u_p
        .iter_mut()
        .zip(&s.du_p)
        .chain(u_i.iter_mut().zip(&s.du_i))
    {
        keep_lanes();
        for (a, &d) in u.iter_mut().zip(du) {
            keep_lanes();
            *a = *a + d;
        }
    }
    for st in steps.iter_mut() {
        keep_lanes();
        *st += 1;
    }
}
