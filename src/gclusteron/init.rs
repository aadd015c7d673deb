//! Initial states (spec §2.5, §3.3), drawn on the host from the instance's seed so that every
//! backend starts from the same numbers.

use super::backend::GcState;
use super::params::{GcParams, InitKind};
use crate::seed::{purpose, sub_seed};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// The initial state of an instance with `k` units of `n` synapses:
/// - uniform: `l_i ~ U[0, init_scale)`, `w_i = 1`;
/// - xor (n = 2): `l_1 = 0`, `l_2 = sqrt(−r ln U)` with `U ~ U(0, 1]`, so `F_12 = U`, and
///   `w_i ~ U(−1, 1)`;
///
/// and `b = 0`, zero optimiser moments.
pub fn initial_state(p: &GcParams, n: usize, k: usize) -> GcState<f64> {
    let mut rng = Pcg64::seed_from_u64(sub_seed(p.seed, purpose::WEIGHTS));
    let (mut l, mut w) = (Vec::with_capacity(k * n), Vec::with_capacity(k * n));
    for _ in 0..k {
        match p.init {
            InitKind::Uniform => {
                l.extend((0..n).map(|_| p.init_scale * rng.gen::<f64>()));
                w.extend(std::iter::repeat_n(1.0, n));
            }
            InitKind::Xor => {
                let u = 1.0 - rng.gen::<f64>();
                l.extend([0.0, (-p.kernel_width() * u.ln()).sqrt()]);
                w.extend((0..2).map(|_| rng.gen_range(-1.0..1.0)));
            }
        }
    }
    GcState::new(l, w, vec![0.0; k])
}
