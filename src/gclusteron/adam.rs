//! The optimiser step of one parameter group (spec §2.3).

use crate::num::Real;

/// Adam without bias correction: `m ← 0.9 m + 0.1 Δ`, `v ← 0.999 v + 0.001 Δ²`,
/// `θ ← θ + η m / (sqrt(v) + 1e-8)`; with `moments = None` plain SGD, `θ ← θ + η Δ`
/// (Δ is already a descent direction).
pub fn update<T: Real>(
    theta: &mut [T],
    delta: &[T],
    eta: T,
    moments: Option<(&mut [T], &mut [T])>,
) {
    match moments {
        None => {
            for (t, &d) in theta.iter_mut().zip(delta) {
                *t = *t + eta * d;
            }
        }
        Some((m, v)) => {
            let (b1, b2, eps) = (T::of(0.9), T::of(0.999), T::of(1e-8));
            for (((t, &d), m), v) in theta.iter_mut().zip(delta).zip(m).zip(v) {
                *m = b1 * *m + (T::one() - b1) * d;
                *v = b2 * *v + (T::one() - b2) * d * d;
                *t = *t + eta * *m / (v.sqrt() + eps);
            }
        }
    }
}
