//! Lane vectors and the elementwise math of the lane kernel: one value per instance of a block,
//! written as plain loops over the lanes so that the compiler emits one SIMD instruction per
//! operation for the instruction set chosen at run time.

use crate::microcircuit::full::cpu::CpuReal;
use crate::microcircuit::Transfer;
use crate::num::Real;

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

/// `out = φ(x)` lane by lane, as [`crate::microcircuit::full::cpu::phi`] computes it for one value:
/// the sigmoid `1/(1 + e^{−x})` with [`CpuReal::exp_poly`] (vector code); softplus forms lane by
/// lane with [`Transfer::apply`].
#[inline(always)]
pub fn phi_lanes<F: CpuReal, const L: usize>(phi: &Transfer, x: &V<F, L>) -> V<F, L> {
    match phi {
        Transfer::Sigmoid => {
            let mut ex = *x;
            for k in 0..L {
                ex.0[k] = F::exp_poly(-ex.0[k]);
            }
            let one = V::splat(F::one());
            one / (one + ex)
        }
        _ => V::from_fn(|k| phi.apply(x.0[k])),
    }
}

/// `out[i] = φ(x[i])` for a slice of lane vectors.
#[inline(always)]
pub fn phi_slice<F: CpuReal, const L: usize>(phi: &Transfer, x: &[V<F, L>], out: &mut [V<F, L>]) {
    for (o, v) in out.iter_mut().zip(x) {
        keep_lanes();
        *o = phi_lanes(phi, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
