//! The forward pass of one unit for a block of patterns (spec §1, with the identity of §1's
//! last paragraph): `s = w∘x`, `u = F s`, `v = F (s∘l)`, `y = s·u`, `o = y − b`.
//! Patterns are rows: S (P × N), U = S F, V = (S∘l) F (F is symmetric), each computed from the
//! kernel's complement G = 1 − F as `U = (S 1) 1ᵀ − S G` (see [`super::kernel`]).

use super::kernel::GcReal;
use ndarray::{linalg::general_mat_mul, ArrayView2, ArrayViewMut2};

/// `S_pi = w_i x_pi` for every row p of `x` (P × N).
pub fn drives<T: GcReal>(w: &[T], x: &[T], s: &mut [T]) {
    let n = w.len();
    for (sp, xp) in s.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
        for ((si, &xi), &wi) in sp.iter_mut().zip(xp).zip(w) {
            *si = wi * xi;
        }
    }
}

/// `Σ_j a_pj` of every row p of `a` (P × N), accumulated in f64 and rounded once: the sum of
/// O(1) terms that cancel to nearly 0 keeps the accuracy of its result.
pub fn row_sums<T: GcReal>(a: &[T], n: usize) -> Vec<T> {
    a.chunks_exact(n)
        .map(|row| T::of(row.iter().map(|&v| v.f64()).sum::<f64>()))
        .collect()
}

/// `out = a F` for the rows of `a` (P × N), `out_pi = Σ_j F_ij a_pj`, from the complement
/// `g` = G = 1 − F (N × N) as `out_pi = Σ_j a_pj − Σ_j G_ij a_pj`.
pub fn apply_kernel<T: GcReal>(a: &[T], g: &[T], n: usize, out: &mut [T]) {
    let p = a.len() / n;
    let av = ArrayView2::from_shape((p, n), a).expect("P × N rows");
    let gv = ArrayView2::from_shape((n, n), g).expect("N × N kernel complement");
    let mut o = ArrayViewMut2::from_shape((p, n), &mut *out).expect("P × N rows");
    general_mat_mul(-T::one(), &av, &gv, T::zero(), &mut o);
    for (orow, sum) in out.chunks_exact_mut(n).zip(row_sums(a, n)) {
        orow.iter_mut().for_each(|v| *v = sum + *v);
    }
}

/// `(S∘l)_pi = S_pi l_i`.
pub fn drives_at_locations<T: GcReal>(s: &[T], l: &[T], out: &mut [T]) {
    let n = l.len();
    for (op, sp) in out.chunks_exact_mut(n).zip(s.chunks_exact(n)) {
        for ((o, &si), &li) in op.iter_mut().zip(sp).zip(l) {
            *o = si * li;
        }
    }
}

/// `l − l̄` (l̄ the mean): the locations relative to their centre. Everything the model computes
/// depends on differences of locations only, and `v − l∘u` is unchanged by the shift, but with
/// centred locations `v` and `l∘u` stay small when all locations drift together.
pub fn centred<T: GcReal>(l: &[T]) -> Vec<T> {
    let mean = T::of(l.iter().map(|&v| v.f64()).sum::<f64>() / l.len() as f64);
    l.iter().map(|&v| v - mean).collect()
}

/// `o_p = y_p − b` with the dendritic sum `y_p = s_p · u_p = Σ_i a_pi` (`a_i = s_i u_i`).
pub fn outputs<T: GcReal>(s: &[T], u: &[T], b: T, n: usize, o: &mut [T]) {
    for ((op, sp), up) in o.iter_mut().zip(s.chunks_exact(n)).zip(u.chunks_exact(n)) {
        *op = sp.iter().zip(up).map(|(&a, &c)| a * c).sum::<T>() - b;
    }
}
