//! One instance on the CPU, generic over f32 and f64: one training iteration (spec §2.4) and
//! the outputs on an evaluation set.

use super::forward::{apply_kernel, centred, drives, drives_at_locations, outputs};
use super::kernel::{complement_matrix, GcReal};
use crate::gclusteron::adam;
use crate::gclusteron::backend::{GcHyper, GcState, KernelAt, Readout};
use crate::gclusteron::rules::{binary_error, delta_b, delta_l, delta_w, softmax_error};
use rayon::prelude::*;

/// A data set in the working precision: `x` (patterns × N), `t` (patterns × K).
pub struct Set<T> {
    pub x: Vec<T>,
    pub t: Vec<T>,
}

/// Forward pass of every unit on one minibatch, kept for the updates (`v` and `lc` only when
/// the locations learn: `lc` = l − l̄, `v = F (s∘lc)`).
struct UnitPass<T> {
    s: Vec<T>,
    u: Vec<T>,
    v: Vec<T>,
    lc: Vec<T>,
    o: Vec<T>,
}

/// One iteration of spec §2.4 on the patterns `rows` of `train`: (1) F from the current l,
/// (3) forward pass, errors and Δl, Δw, Δb from the same pre-update state, (4) update l (if it
/// learns), then w (if it learns), then b.
pub fn train_step<T: GcReal>(
    st: &mut GcState<T>,
    h: &GcHyper,
    readout: Readout,
    train: &Set<T>,
    rows: &[u32],
    n: usize,
    k: usize,
) {
    let bsz = rows.len();
    let r = T::of(h.r);
    st.l_kernel.copy_from_slice(&st.l);
    let x: Vec<T> = rows
        .iter()
        .flat_map(|&p| {
            train.x[p as usize * n..(p as usize + 1) * n]
                .iter()
                .copied()
        })
        .collect();
    let passes: Vec<UnitPass<T>> = (0..k)
        .into_par_iter()
        .map(|unit| {
            let l = &st.l[unit * n..(unit + 1) * n];
            let w = &st.w[unit * n..(unit + 1) * n];
            let mut g = vec![T::zero(); n * n];
            complement_matrix(l, r, &mut g);
            let mut s = vec![T::zero(); bsz * n];
            drives(w, &x, &mut s);
            let mut u = vec![T::zero(); bsz * n];
            apply_kernel(&s, &g, n, &mut u);
            let (mut v, mut lc) = (Vec::new(), Vec::new());
            if h.learn_l {
                lc = centred(l);
                let mut sl = vec![T::zero(); bsz * n];
                drives_at_locations(&s, &lc, &mut sl);
                v = vec![T::zero(); bsz * n];
                apply_kernel(&sl, &g, n, &mut v);
            }
            let mut o = vec![T::zero(); bsz];
            outputs(&s, &u, st.b[unit], n, &mut o);
            UnitPass { s, u, v, lc, o }
        })
        .collect();
    // e[unit][p]
    let mut e = vec![vec![T::zero(); bsz]; k];
    for (p, &row) in rows.iter().enumerate() {
        let t = &train.t[row as usize * k..(row as usize + 1) * k];
        let o: Vec<T> = passes.iter().map(|u| u.o[p]).collect();
        match readout {
            Readout::Softmax => {
                let mut ep = vec![T::zero(); k];
                softmax_error(&o, t, &mut ep);
                for (unit, v) in ep.into_iter().enumerate() {
                    e[unit][p] = v;
                }
            }
            Readout::Sigmoid => {
                for unit in 0..k {
                    e[unit][p] = binary_error(o[unit], t[unit], h.error);
                }
            }
        }
    }
    let mut delta = vec![T::zero(); n];
    for (unit, pass) in passes.iter().enumerate() {
        let span = unit * n..(unit + 1) * n;
        let eu = &e[unit];
        if h.learn_l {
            delta_l(eu, &pass.s, &pass.u, &pass.v, &pass.lc, &mut delta);
            let m = h.adam.then(|| {
                (
                    &mut st.adam_l.m[span.clone()],
                    &mut st.adam_l.v[span.clone()],
                )
            });
            adam::update(&mut st.l[span.clone()], &delta, T::of(h.eta_l), m);
        }
        if h.learn_w {
            delta_w(eu, &x, &pass.u, &mut delta);
            let m = h.adam.then(|| {
                (
                    &mut st.adam_w.m[span.clone()],
                    &mut st.adam_w.v[span.clone()],
                )
            });
            adam::update(&mut st.w[span.clone()], &delta, T::of(h.eta_w), m);
        }
        let db = [delta_b(eu)];
        let m = h.adam.then(|| {
            (
                &mut st.adam_b.m[unit..unit + 1],
                &mut st.adam_b.v[unit..unit + 1],
            )
        });
        adam::update(&mut st.b[unit..unit + 1], &db, T::of(h.eta_b), m);
    }
}

/// Patterns per block when evaluating (bounds the memory of S and U).
const EVAL_BLOCK: usize = 512;

/// `o` (patterns × K) of every pattern of `x` (patterns × N) with the kernel built from the
/// current or the last step's locations.
pub fn outputs_on<T: GcReal>(
    st: &GcState<T>,
    h: &GcHyper,
    x: &[T],
    n: usize,
    k: usize,
    kernel: KernelAt,
) -> Vec<f64> {
    let patterns = x.len() / n;
    let r = T::of(h.r);
    let per_unit: Vec<Vec<T>> = (0..k)
        .into_par_iter()
        .map(|unit| {
            let locs = match kernel {
                KernelAt::Current => &st.l,
                KernelAt::LastStep => &st.l_kernel,
            };
            let mut g = vec![T::zero(); n * n];
            complement_matrix(&locs[unit * n..(unit + 1) * n], r, &mut g);
            let w = &st.w[unit * n..(unit + 1) * n];
            let mut o = vec![T::zero(); patterns];
            for (xb, ob) in x.chunks(EVAL_BLOCK * n).zip(o.chunks_mut(EVAL_BLOCK)) {
                let mut s = vec![T::zero(); xb.len()];
                drives(w, xb, &mut s);
                let mut u = vec![T::zero(); xb.len()];
                apply_kernel(&s, &g, n, &mut u);
                outputs(&s, &u, st.b[unit], n, ob);
            }
            o
        })
        .collect();
    let mut out = vec![0.0; patterns * k];
    for (unit, o) in per_unit.iter().enumerate() {
        for (p, &v) in o.iter().enumerate() {
            out[p * k + unit] = v.f64();
        }
    }
    out
}
