//! Seed derivation: every random stream of an instance (weights, data order, task data) is drawn
//! from its own sub-seed of the instance seed, so an instance gives the same bits alone or in a
//! batch.

/// Independent sub-seeds of one instance seed, so that weights, data order and task data do not
/// share a random stream (splitmix64 of `seed + purpose`).
pub fn sub_seed(seed: u64, purpose: u64) -> u64 {
    let mut z = seed.wrapping_add(purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Purposes for [`sub_seed`].
pub mod purpose {
    pub const WEIGHTS: u64 = 1;
    pub const ORDER: u64 = 2;
    pub const TASK: u64 = 3;
}
