//! The forward pass of one unit for a block of patterns (spec §1, with the identity of §1's
//! last paragraph): `s = w∘x`, `u = F s`, `v = F (s∘l)`, `y = s·u`, `o = y − b`.
//! Patterns are rows: S (P × N), U = S F, V = (S∘l) F (F is symmetric).

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

/// `out = a F` for the rows of `a` (P × N): `out_pi = Σ_j a_pj F_ji = Σ_j F_ij a_pj`.
pub fn apply_kernel<T: GcReal>(a: &[T], f: &[T], n: usize, out: &mut [T]) {
    let p = a.len() / n;
    let a = ArrayView2::from_shape((p, n), a).expect("P × N rows");
    let f = ArrayView2::from_shape((n, n), f).expect("N × N kernel");
    let mut o = ArrayViewMut2::from_shape((p, n), out).expect("P × N rows");
    general_mat_mul(T::one(), &a, &f, T::zero(), &mut o);
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

/// `o_p = y_p − b` with the dendritic sum `y_p = s_p · u_p = Σ_i a_pi` (`a_i = s_i u_i`).
pub fn outputs<T: GcReal>(s: &[T], u: &[T], b: T, n: usize, o: &mut [T]) {
    for ((op, sp), up) in o.iter_mut().zip(s.chunks_exact(n)).zip(u.chunks_exact(n)) {
        *op = sp.iter().zip(up).map(|(&a, &c)| a * c).sum::<T>() - b;
    }
}
