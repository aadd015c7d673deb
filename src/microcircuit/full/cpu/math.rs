//! The elementwise math every CPU kernel of the full model shares: an exponential that
//! vectorises and φ evaluated with it, so that the reference, vector and lane kernels compute
//! φ with the same bits (one value at a time or a lane vector at a time).

use crate::microcircuit::Transfer;
use crate::num::Real;

/// Precisions the CPU kernels run in: [`Real`] plus an exponential that vectorises.
pub trait CpuReal: Real {
    /// `e^x` by range reduction `x = k ln2 + r`, `|r| ≤ ln2/2`, a Taylor polynomial of `e^r`
    /// (error below half an ulp of the precision on that range) evaluated by Horner's rule with
    /// fused multiply-adds, and `2^k` built in the exponent bits; within 2 ulp of the libm result
    /// for `x` in the normal range (arguments beyond it are clamped, giving the largest/smallest
    /// normal power instead of ∞/0). Only adds, multiplies, fused multiply-adds and bit
    /// operations, so a loop over lanes vectorises. A fused multiply-add rounds once whatever the
    /// instruction set (`mul_add` is exact in software where the CPU has no FMA unit), so every
    /// kernel and every CPU computes the same bits.
    fn exp_poly(x: Self) -> Self;
}

impl CpuReal for f64 {
    #[inline(always)]
    fn exp_poly(x: f64) -> f64 {
        const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52: adding it rounds to an integer
        const LN2_HI: f64 = 6.931_471_803_691_238e-1;
        const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
        let x = x.clamp(-708.0, 709.0);
        let t = x * std::f64::consts::LOG2_E + MAGIC;
        let k = t - MAGIC;
        let r = (x - k * LN2_HI) - k * LN2_LO;
        // Σ_{n≤13} r^n/n!, Horner
        let mut p: f64 = 1.0 / 6_227_020_800.0;
        for d in [
            479_001_600.0,
            39_916_800.0,
            3_628_800.0,
            362_880.0,
            40_320.0,
            5_040.0,
            720.0,
            120.0,
            24.0,
            6.0,
            2.0,
            1.0,
            1.0,
        ] {
            p = p.mul_add(r, 1.0 / d);
        }
        let scale = f64::from_bits(t.to_bits().wrapping_add(1023) << 52);
        p * scale
    }
}

impl CpuReal for f32 {
    #[inline(always)]
    fn exp_poly(x: f32) -> f32 {
        const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23
        const LN2_HI: f32 = 0.693_145_75;
        const LN2_LO: f32 = 1.428_606_8e-6;
        let x = x.clamp(-87.0, 88.0);
        let t = x * std::f32::consts::LOG2_E + MAGIC;
        let k = t - MAGIC;
        let r = (x - k * LN2_HI) - k * LN2_LO;
        let mut p: f32 = 1.0 / 40_320.0;
        for d in [5_040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0] {
            p = p.mul_add(r, 1.0 / d);
        }
        let scale = f32::from_bits(t.to_bits().wrapping_add(127) << 23);
        p * scale
    }
}

/// The sigmoid `1/(1 + e^{−x})` with [`CpuReal::exp_poly`]: only arithmetic and bit
/// operations, so a loop over it vectorises.
#[inline(always)]
pub fn sigmoid<F: CpuReal>(x: F) -> F {
    F::one() / (F::one() + F::exp_poly(-x))
}

/// `φ(x)` as the CPU kernels evaluate it: the sigmoid `1/(1 + e^{−x})` with
/// [`CpuReal::exp_poly`] (within 2 ulp of libm's `e^x`), the softplus forms with
/// [`Transfer::apply`] (libm).
#[inline(always)]
pub fn phi<F: CpuReal>(phi: &Transfer, x: F) -> F {
    match phi {
        Transfer::Sigmoid => sigmoid(x),
        _ => phi.apply(x),
    }
}

/// `out[i] = φ(x[i])` with [`phi`]; for the sigmoid a loop the compiler vectorises.
#[inline(always)]
pub fn phi_slice<F: CpuReal>(transfer: &Transfer, x: &[F], out: &mut [F]) {
    match transfer {
        Transfer::Sigmoid => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = sigmoid(v);
            }
        }
        _ => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = transfer.apply(v);
            }
        }
    }
}

/// The error of a prediction, `e[i] = target[i] − φ(scale · v[i])` with [`phi`], for every `i`
/// of `e`; for the sigmoid a loop the compiler vectorises.
#[inline(always)]
pub fn error_slice<F: CpuReal>(transfer: &Transfer, target: &[F], scale: F, v: &[F], e: &mut [F]) {
    match transfer {
        Transfer::Sigmoid => {
            for ((e, &t), &v) in e.iter_mut().zip(target).zip(v) {
                *e = t - sigmoid(scale * v);
            }
        }
        _ => {
            for ((e, &t), &v) in e.iter_mut().zip(target).zip(v) {
                *e = t - transfer.apply(scale * v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps64(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn exp_poly_is_within_two_ulp_of_libm() {
        let mut worst64 = 0;
        let mut worst32 = 0;
        for i in 0..200_001 {
            let x = -700.0 + 1400.0 * f64::from(i) / 200_000.0;
            worst64 = worst64.max(ulps64(f64::exp_poly(x), x.exp()));
            let y = -80.0 + 160.0 * (i as f32) / 200_000.0;
            let (a, b) = (f32::exp_poly(y), y.exp());
            worst32 = worst32.max((a.to_bits() as i32 - b.to_bits() as i32).unsigned_abs());
        }
        for &x in &[0.0, 1e-300, -1e-300, 0.5, -0.5, 1.0, 30.0, -30.0] {
            worst64 = worst64.max(ulps64(f64::exp_poly(x), f64::exp(x)));
        }
        assert_eq!(f64::exp_poly(0.0), 1.0);
        assert_eq!(f32::exp_poly(0.0), 1.0);
        assert!(worst64 <= 2, "f64 exp off by {worst64} ulp");
        assert!(worst32 <= 2, "f32 exp off by {worst32} ulp");
    }

    #[test]
    fn exp_poly_clamps_instead_of_overflowing() {
        assert!(f64::exp_poly(1e6).is_finite() && f64::exp_poly(1e6) > 1e307);
        assert!(f64::exp_poly(-1e6) >= 0.0 && f64::exp_poly(-1e6) < 1e-300);
        assert!(f32::exp_poly(1e6).is_finite() && f32::exp_poly(-1e6) < 1e-37);
    }

    #[test]
    fn phi_follows_transfer_apply_and_its_slice_form_computes_the_same_bits() {
        let x: Vec<f64> = (0..40).map(|k| k as f64 * 0.37 - 7.0).collect();
        for t in [
            Transfer::Sigmoid,
            Transfer::Softplus,
            Transfer::ScaledSoftplus {
                gamma: 0.1,
                beta: 1.0,
                theta: 3.0,
            },
        ] {
            let mut out = vec![0.0; x.len()];
            phi_slice(&t, &x, &mut out);
            for (&v, &o) in x.iter().zip(&out) {
                let want = t.apply(v);
                assert!((o - want).abs() <= 4e-16 * want.abs(), "{t:?} {v}");
                assert_eq!(o.to_bits(), phi(&t, v).to_bits());
            }
        }
    }
}
