//! Error terms and the update directions of one unit over a minibatch (spec §2.2). The constants
//! 4/r (locations) and 2 (weights) of the exact gradients (§2.1) are left out, as in the
//! authors' code; they are part of the learning rates.

use super::backend::ErrorMode;
use crate::num::Real;

/// `σ(o) = 1 / (1 + e^{−o})`.
pub fn sigmoid<T: Real>(o: T) -> T {
    T::one() / (T::one() + (-o).exp())
}

/// `e_k = softmax_k(o) − t_k` (all-vs-all), computed with the maximum subtracted.
pub fn softmax_error<T: Real>(o: &[T], t: &[T], e: &mut [T]) {
    let max = o.iter().copied().fold(T::neg_infinity(), T::max);
    let mut z = T::zero();
    for (ek, &ok) in e.iter_mut().zip(o) {
        *ek = (ok - max).exp();
        z = z + *ek;
    }
    for (ek, &tk) in e.iter_mut().zip(t) {
        *ek = *ek / z - tk;
    }
}

/// The error of a sigmoid unit with output `o` and target `t ∈ {0, 1}`:
/// `1[o ≥ 0] − t`, `σ(o) − t`, or the fixed value.
pub fn binary_error<T: Real>(o: T, t: T, mode: ErrorMode) -> T {
    match mode {
        ErrorMode::Thresholded => {
            let p = if o >= T::zero() { T::one() } else { T::zero() };
            p - t
        }
        ErrorMode::Probability => sigmoid(o) - t,
        ErrorMode::Fixed(e) => T::of(e),
    }
}

/// `Δl_i = −(1/B) Σ_p e_p s_pi (v_pi − l_i u_pi)` (= `−(1/B) Σ_p e_p s_pi Σ_j s_pj F_ij (l_j − l_i)`).
/// `l` may be shifted by a constant (the caller passes centred locations) when `v = F (s∘l)`
/// was computed with the same shift: `v_pi − l_i u_pi` does not change.
pub fn delta_l<T: Real>(e: &[T], s: &[T], u: &[T], v: &[T], l: &[T], out: &mut [T]) {
    let n = l.len();
    out.iter_mut().for_each(|d| *d = T::zero());
    for (p, &ep) in e.iter().enumerate() {
        let row = p * n..(p + 1) * n;
        for ((((d, &si), &ui), &vi), &li) in out
            .iter_mut()
            .zip(&s[row.clone()])
            .zip(&u[row.clone()])
            .zip(&v[row])
            .zip(l)
        {
            *d = *d + ep * si * (vi - li * ui);
        }
    }
    let scale = -T::one() / T::of(e.len() as f64);
    out.iter_mut().for_each(|d| *d = *d * scale);
}

/// `Δw_i = −(1/B) Σ_p e_p x_pi u_pi` (the code's `a_i / w_i`, without dividing by w).
pub fn delta_w<T: Real>(e: &[T], x: &[T], u: &[T], out: &mut [T]) {
    let n = out.len();
    out.iter_mut().for_each(|d| *d = T::zero());
    for (p, &ep) in e.iter().enumerate() {
        let row = p * n..(p + 1) * n;
        for ((d, &xi), &ui) in out.iter_mut().zip(&x[row.clone()]).zip(&u[row]) {
            *d = *d + ep * xi * ui;
        }
    }
    let scale = -T::one() / T::of(e.len() as f64);
    out.iter_mut().for_each(|d| *d = *d * scale);
}

/// `Δb = (1/B) Σ_p e_p`.
pub fn delta_b<T: Real>(e: &[T]) -> T {
    e.iter().copied().sum::<T>() / T::of(e.len() as f64)
}
