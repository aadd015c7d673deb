//! The distance kernel `F_ij = exp(−(l_i − l_j)² / r)` (spec §1).

use crate::model::Real;

/// `F(d) = exp(−d² / r)`.
#[inline(always)]
pub fn kernel<T: Real>(d: T, r: T) -> T {
    (-(d * d) / r).exp()
}

/// Fills `f` (N × N row-major) with `F_ij = exp(−(l_i − l_j)² / r)`. F is symmetric with
/// `F_ii = 1`, so only the upper triangle is evaluated and mirrored.
pub fn kernel_matrix<T: Real>(l: &[T], r: T, f: &mut [T]) {
    let n = l.len();
    debug_assert_eq!(f.len(), n * n);
    for i in 0..n {
        f[i * n + i] = T::one();
        let li = l[i];
        for j in i + 1..n {
            f[i * n + j] = kernel(li - l[j], r);
        }
    }
    for i in 0..n {
        for j in 0..i {
            f[i * n + j] = f[j * n + i];
        }
    }
}
