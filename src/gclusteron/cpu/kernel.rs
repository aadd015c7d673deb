//! The distance kernel `F_ij = exp(−(l_i − l_j)² / r)` (spec §1), held as its complement
//! `G_ij = 1 − F_ij = −expm1(−(l_i − l_j)² / r)`.
//!
//! With the MNIST settings every `F_ij` is within 1e-3 of 1 and `Σ_j s_j ≈ 0`, so
//! `u_i = Σ_j F_ij s_j` is a small difference of O(1) terms and f32 loses most of its digits
//! (spec §4). Written as `u_i = Σ_j s_j − Σ_j G_ij s_j` the large part is one sum per pattern
//! (accumulated in f64, [`crate::gclusteron::cpu::forward::row_sums`]) and every product `G_ij s_j`
//! is as small as the result; evaluating G with `expm1` keeps its relative accuracy near
//! `d = 0`, where `1 − exp(−d²/r)` would round to a few ulp of 1.

use crate::num::Real;
use ndarray::LinalgScalar;

/// Below this argument `e^x − 1` is computed as `e^x − 1` (no cancellation: `e^x ≤ 0.705`);
/// above it by the Taylor series.
const SERIES_BELOW: f64 = -0.35;

/// A float the G-clusteron runs in: f64 with the standard `exp_m1`, f32 with an `expm1`
/// written in plain arithmetic so that the N² kernel evaluations vectorise.
pub trait GcReal: Real + LinalgScalar {
    /// `e^x − 1` for `x ≤ 0`, accurate to a few ulp of the result (also for `x → 0`).
    fn expm1_nonpositive(x: Self) -> Self;

    /// `x ← 1 − e^x = −expm1(x)` for every `x ≤ 0` of `xs`.
    fn one_minus_exp_in_place(xs: &mut [Self]) {
        xs.iter_mut()
            .for_each(|x| *x = -Self::expm1_nonpositive(*x));
    }
}

impl GcReal for f64 {
    #[inline(always)]
    fn expm1_nonpositive(x: f64) -> f64 {
        x.exp_m1()
    }
}

/// Cephes' `expf` for `x ≤ 0`: `x = k ln 2 + z` with k the nearest integer (rounded by adding
/// 1.5·2²³), `e^z = 1 + z + z²·P(z)` (degree-5 P, relative error about 1e-7), times `2^k` from
/// the exponent bits. Arguments below −87 give `e^{−87}` (< 2e-38), not 0.
#[inline(always)]
fn exp_nonpositive_f32(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0;
    let x = x.max(-87.0);
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let k = t - ROUND;
    let z = x - k * 0.693_359_4 - k * -2.121_944_4e-4;
    let p = horner_f32(
        &[
            1.987_569_2e-4,
            1.398_2e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            1.666_666_5e-1,
            5.0e-1,
        ],
        z,
    );
    let y = p * z * z + z + 1.0;
    let n = t.to_bits() as i32 - 0x4B40_0000;
    y * f32::from_bits(((n + 127) << 23) as u32)
}

/// `e^x − 1 = x + x² (1/2! + x (1/3! + … + x/8!))` (Taylor series to x⁸/8!, Horner form); for
/// `−0.35 ≤ x ≤ 0` the first neglected term is below 1e-9 of the result.
#[inline(always)]
fn expm1_series_f32(x: f32) -> f32 {
    let p = horner_f32(
        &[
            2.480_158_7e-5,
            1.984_127e-4,
            1.388_888_9e-3,
            8.333_334e-3,
            4.166_666_8e-2,
            1.666_666_7e-1,
            0.5,
        ],
        x,
    );
    x + x * x * p
}

/// `c[0]·x^{n−1} + … + c[n−1]` in Horner form, `p = p·x + c[k]` from the highest coefficient.
#[inline(always)]
fn horner_f32(c: &[f32], x: f32) -> f32 {
    c[1..].iter().fold(c[0], |p, &ck| p * x + ck)
}

impl GcReal for f32 {
    /// The series above −0.35, `e^x − 1` with Cephes' `expf` below; both are evaluated and one
    /// is selected, so that a loop over many x stays branch-free.
    #[inline(always)]
    fn expm1_nonpositive(x: f32) -> f32 {
        let series = expm1_series_f32(x.max(SERIES_BELOW as f32));
        let direct = exp_nonpositive_f32(x) - 1.0;
        if x > SERIES_BELOW as f32 {
            series
        } else {
            direct
        }
    }

    /// In blocks of 8: a block whose arguments are all above −0.35 (every block where the
    /// locations are close on the kernel's scale) evaluates only the series.
    fn one_minus_exp_in_place(xs: &mut [f32]) {
        for block in xs.chunks_mut(8) {
            if block.iter().all(|&x| x > SERIES_BELOW as f32) {
                block.iter_mut().for_each(|x| *x = -expm1_series_f32(*x));
            } else {
                block
                    .iter_mut()
                    .for_each(|x| *x = -f32::expm1_nonpositive(*x));
            }
        }
    }
}

/// `G(d) = 1 − F(d) = 1 − exp(−d² / r) = −expm1(−d² / r)`, with `neg_inv_r` = −1/r.
#[inline(always)]
pub fn complement<T: GcReal>(d: T, neg_inv_r: T) -> T {
    -T::expm1_nonpositive(d * d * neg_inv_r)
}

/// Fills `g` (N × N row-major) with `G_ij = 1 − exp(−(l_i − l_j)² / r)` row by row (G is
/// symmetric with `G_ii = 0`; evaluating both triangles keeps the loop contiguous).
pub fn complement_matrix<T: GcReal>(l: &[T], r: T, g: &mut [T]) {
    let n = l.len();
    debug_assert_eq!(g.len(), n * n);
    let neg_inv_r = -T::one() / r;
    for (row, &li) in g.chunks_exact_mut(n).zip(l) {
        for (gij, &lj) in row.iter_mut().zip(l) {
            *gij = (li - lj) * (li - lj) * neg_inv_r;
        }
        T::one_minus_exp_in_place(row);
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
            let got = exp_nonpositive_f32(x as f32) as f64;
            let want = (x as f32 as f64).exp();
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "largest relative error {worst}");
        assert_eq!(exp_nonpositive_f32(0.0), 1.0);
        assert!(exp_nonpositive_f32(-1e4) < 2e-38);
    }

    #[test]
    fn f32_expm1_is_accurate_relative_to_its_result_down_to_tiny_arguments() {
        // x from −100 up to −1e-30, log-spaced, and a linear sweep through the switch at −0.35
        let logs = (0..=100_000).map(|i| -(10f64.powf(2.0 - 32.0 * i as f64 / 100_000.0)));
        let lin = (0..=10_000).map(|i| -0.7 * i as f64 / 10_000.0);
        let mut worst = 0.0f64;
        for x in logs.chain(lin) {
            let x = x as f32;
            let got = f32::expm1_nonpositive(x) as f64;
            let want = (x as f64).exp_m1();
            if want != 0.0 {
                worst = worst.max(((got - want) / want).abs());
            }
        }
        assert!(worst < 4e-7, "largest relative error {worst}");
        assert_eq!(f32::expm1_nonpositive(0.0), 0.0);
        assert_eq!(f32::expm1_nonpositive(-1e4), -1.0);
        // the naive form loses everything here: e^{−1e-6} − 1 in f32 is off by ~5 %
        let naive = (-1e-6f32).exp() - 1.0;
        assert!(((naive as f64 + 1e-6) / 1e-6).abs() > 1e-2);
    }

    #[test]
    fn complement_matrix_is_one_minus_the_kernel() {
        // blocks of 8 with every argument above −0.35 (the first 16 locations, close
        // together) and mixed ones
        let mut l: Vec<f32> = (0..16).map(|i| 0.01 * (i as f32 * 0.7).sin()).collect();
        l.extend([0.0f32, 0.3, -1.2, 2.0, 0.0001]);
        let n = l.len();
        let mut g = vec![0.0f32; n * n];
        complement_matrix(&l, 0.5, &mut g);
        for i in 0..n {
            assert_eq!(g[i * n + i], 0.0);
            for j in 0..n {
                assert_eq!(g[i * n + j], g[j * n + i]);
                let d = l[i] as f64 - l[j] as f64;
                let want = -(-d * d / 0.5).exp_m1();
                assert!(
                    (g[i * n + j] as f64 - want).abs() <= 1e-6 * want,
                    "G_{i}{j} {} vs {want}",
                    g[i * n + j]
                );
            }
        }
    }
}
