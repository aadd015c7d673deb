//! Lane vectors and the elementwise math of the lane kernel: one value per instance of a block,
//! written as plain loops over the lanes so that the compiler emits one SIMD instruction per
//! operation for the instruction set chosen at run time.

use crate::model::{Real, Transfer};

/// One quantity of `L` instances (4 to 16 f32, 2 to 8 f64: one SSE, AVX or AVX-512 register),
/// aligned to 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, align(16))]
pub struct V<F, const L: usize>(pub [F; L]);

impl<F: Real, const L: usize> V<F, L> {
    #[inline(always)]
    pub fn zero() -> Self {
        V([F::zero(); L])
    }
    #[inline(always)]
    pub fn splat(x: F) -> Self {
        V([x; L])
    }
    /// The lanes from a function of the lane index.
    #[inline(always)]
    pub fn from_fn(f: impl FnMut(usize) -> F) -> Self {
        V(std::array::from_fn(f))
    }
}

/// An empty instruction placed in every loop over lane vectors. LLVM's loop vectoriser would
/// otherwise vectorise such a loop across its entries (one gather per lane) instead of letting
/// the SLP vectoriser turn each lane-vector operation into one SIMD instruction; it cannot look
/// through this statement, which costs nothing at run time.
#[inline(always)]
pub fn keep_lanes() {
    // SAFETY: an empty assembly statement reads and writes nothing.
    unsafe { std::arch::asm!("", options(nomem, nostack, preserves_flags)) }
}

macro_rules! lane_op {
    ($tr:ident, $f:ident, $op:tt) => {
        impl<F: Real, const L: usize> std::ops::$tr for V<F, L> {
            type Output = Self;
            /// Lane by lane; operands by value so that the compiler sees no aliasing and emits
            /// one vector instruction.
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                let mut r = self;
                for k in 0..L {
                    r.0[k] = r.0[k] $op o.0[k];
                }
                r
            }
        }
    };
}
lane_op!(Add, add, +);
lane_op!(Sub, sub, -);
lane_op!(Mul, mul, *);
lane_op!(Div, div, /);

impl<F: Real, const L: usize> std::ops::Neg for V<F, L> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        let mut r = self;
        for k in 0..L {
            r.0[k] = -r.0[k];
        }
        r
    }
}

/// Precisions the lane kernel runs in: [`Real`] plus an exponential that vectorises.
pub trait LaneReal: Real {
    /// `e^x` by range reduction `x = k ln2 + r`, `|r| ≤ ln2/2`, a Taylor polynomial of `e^r`
    /// (error below half an ulp of the precision on that range) and `2^k` built in the exponent
    /// bits; within 2 ulp of the libm result for `x` in the normal range (arguments beyond it are
    /// clamped, giving the largest/smallest normal power instead of ∞/0). Only adds, multiplies
    /// and bit operations, so a loop over lanes vectorises.
    fn exp_lane(x: Self) -> Self;
}

impl LaneReal for f64 {
    #[inline(always)]
    fn exp_lane(x: f64) -> f64 {
        const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52: adding it rounds to an integer
        const LN2_HI: f64 = 6.931_471_803_691_238e-1;
        const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
        let x = x.clamp(-708.0, 709.0);
        let t = x * std::f64::consts::LOG2_E + MAGIC;
        let k = t - MAGIC;
        let r = (x - k * LN2_HI) - k * LN2_LO;
        // Σ_{n≤13} r^n/n!, Horner
        let mut p = 1.0 / 6_227_020_800.0;
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
            p = p * r + 1.0 / d;
        }
        let scale = f64::from_bits(t.to_bits().wrapping_add(1023) << 52);
        p * scale
    }
}

impl LaneReal for f32 {
    #[inline(always)]
    fn exp_lane(x: f32) -> f32 {
        const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23
        const LN2_HI: f32 = 0.693_145_75;
        const LN2_LO: f32 = 1.428_606_8e-6;
        let x = x.clamp(-87.0, 88.0);
        let t = x * std::f32::consts::LOG2_E + MAGIC;
        let k = t - MAGIC;
        let r = (x - k * LN2_HI) - k * LN2_LO;
        let mut p = 1.0 / 40_320.0;
        for d in [5_040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0] {
            p = p * r + 1.0 / d;
        }
        let scale = f32::from_bits(t.to_bits().wrapping_add(127) << 23);
        p * scale
    }
}

/// `out = φ(x)` lane by lane: the sigmoid `1/(1 + e^{−x})` with [`LaneReal::exp_lane`] (vector
/// code); softplus forms lane by lane with [`Transfer::apply`].
#[inline(always)]
pub fn phi_lanes<F: LaneReal, const L: usize>(phi: &Transfer, x: &V<F, L>) -> V<F, L> {
    match phi {
        Transfer::Sigmoid => {
            let mut ex = *x;
            for k in 0..L {
                ex.0[k] = F::exp_lane(-ex.0[k]);
            }
            let one = V::splat(F::one());
            one / (one + ex)
        }
        _ => V::from_fn(|k| phi.apply(x.0[k])),
    }
}

/// `out[i] = φ(x[i])` for a slice of lane vectors.
#[inline(always)]
pub fn phi_slice<F: LaneReal, const L: usize>(phi: &Transfer, x: &[V<F, L>], out: &mut [V<F, L>]) {
    for (o, v) in out.iter_mut().zip(x) {
        keep_lanes();
        *o = phi_lanes(phi, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps64(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn exp_lane_is_within_two_ulp_of_libm() {
        let mut worst64 = 0;
        let mut worst32 = 0;
        for i in 0..200_001 {
            let x = -700.0 + 1400.0 * f64::from(i) / 200_000.0;
            worst64 = worst64.max(ulps64(f64::exp_lane(x), x.exp()));
            let y = -80.0 + 160.0 * (i as f32) / 200_000.0;
            let (a, b) = (f32::exp_lane(y), y.exp());
            worst32 = worst32.max((a.to_bits() as i32 - b.to_bits() as i32).unsigned_abs());
        }
        for &x in &[0.0, 1e-300, -1e-300, 0.5, -0.5, 1.0, 30.0, -30.0] {
            worst64 = worst64.max(ulps64(f64::exp_lane(x), f64::exp(x)));
        }
        assert_eq!(f64::exp_lane(0.0), 1.0);
        assert_eq!(f32::exp_lane(0.0), 1.0);
        assert!(worst64 <= 2, "f64 exp off by {worst64} ulp");
        assert!(worst32 <= 2, "f32 exp off by {worst32} ulp");
    }

    #[test]
    fn exp_lane_clamps_instead_of_overflowing() {
        assert!(f64::exp_lane(1e6).is_finite() && f64::exp_lane(1e6) > 1e307);
        assert!(f64::exp_lane(-1e6) >= 0.0 && f64::exp_lane(-1e6) < 1e-300);
        assert!(f32::exp_lane(1e6).is_finite() && f32::exp_lane(-1e6) < 1e-37);
    }

    #[test]
    fn phi_lanes_follows_transfer_apply() {
        let x = V::<f64, 8>::from_fn(|k| k as f64 - 3.5);
        for phi in [
            Transfer::Sigmoid,
            Transfer::Softplus,
            Transfer::ScaledSoftplus {
                gamma: 0.1,
                beta: 1.0,
                theta: 3.0,
            },
        ] {
            let y = phi_lanes(&phi, &x);
            for k in 0..8 {
                let want = phi.apply(x.0[k]);
                assert!((y.0[k] - want).abs() <= 4e-16 * want.abs(), "{phi:?} {k}");
            }
        }
    }
}
