//! The distance kernel `F_ij = exp(−(l_i − l_j)² / r)` (spec §1).

use crate::model::Real;
use ndarray::LinalgScalar;

/// A float the G-clusteron runs in: f64 with the standard `exp`, f32 with an exponential
/// written in plain arithmetic so that the N² kernel evaluations vectorise.
pub trait GcReal: Real + LinalgScalar {
    /// `e^x` for `x ≤ 0`.
    fn exp_nonpositive(x: Self) -> Self;
}

impl GcReal for f64 {
    #[inline(always)]
    fn exp_nonpositive(x: f64) -> f64 {
        x.exp()
    }
}

impl GcReal for f32 {
    /// Cephes' `expf`: `x = k ln 2 + z` with k the nearest integer (rounded by adding
    /// 1.5·2²³), `e^z = 1 + z + z²·P(z)` (degree-5 P, relative error about 1e-7), times `2^k`
    /// from the exponent bits. Arguments below −87 give `e^{−87}` (< 2e-38), not 0.
    #[inline(always)]
    fn exp_nonpositive(x: f32) -> f32 {
        const ROUND: f32 = 12_582_912.0;
        let x = x.max(-87.0);
        let t = x * std::f32::consts::LOG2_E + ROUND;
        let k = t - ROUND;
        let z = x - k * 0.693_359_4 - k * -2.121_944_4e-4;
        let mut p = 1.987_569_2e-4f32;
        p = p * z + 1.398_2e-3;
        p = p * z + 8.333_452e-3;
        p = p * z + 4.166_579_6e-2;
        p = p * z + 1.666_666_5e-1;
        p = p * z + 5.0e-1;
        let y = p * z * z + z + 1.0;
        let n = t.to_bits() as i32 - 0x4B40_0000;
        y * f32::from_bits(((n + 127) << 23) as u32)
    }
}

/// `F(d) = exp(−d² / r)`.
#[inline(always)]
pub fn kernel<T: GcReal>(d: T, r: T) -> T {
    T::exp_nonpositive(-(d * d) / r)
}

/// Fills `f` (N × N row-major) with `F_ij = exp(−(l_i − l_j)² / r)` row by row (F is symmetric
/// with `F_ii = 1`; evaluating both triangles keeps the loop contiguous).
pub fn kernel_matrix<T: GcReal>(l: &[T], r: T, f: &mut [T]) {
    let n = l.len();
    debug_assert_eq!(f.len(), n * n);
    for (row, &li) in f.chunks_exact_mut(n).zip(l) {
        for (fij, &lj) in row.iter_mut().zip(l) {
            *fij = kernel(li - lj, r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_exponential_is_accurate_to_a_few_ulp() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = -87.0 * i as f64 / 200_000.0;
            let got = f32::exp_nonpositive(x as f32) as f64;
            let want = (x as f32 as f64).exp();
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "largest relative error {worst}");
        assert_eq!(f32::exp_nonpositive(0.0), 1.0);
        assert!(f32::exp_nonpositive(-1e4) < 2e-38);
    }

    #[test]
    fn kernel_matrix_is_symmetric_with_unit_diagonal() {
        let l = [0.0f32, 0.3, -1.2, 2.0];
        let mut f = [0.0f32; 16];
        kernel_matrix(&l, 0.5, &mut f);
        for i in 0..4 {
            assert_eq!(f[i * 4 + i], 1.0);
            for j in 0..4 {
                assert_eq!(f[i * 4 + j], f[j * 4 + i]);
                let want = (-((l[i] - l[j]) as f64).powi(2) / 0.5).exp();
                assert!((f[i * 4 + j] as f64 - want).abs() < 1e-6);
            }
        }
    }
}
