//! Counter-based Gaussian noise keyed by (seed, step, soma index), so a noise sample does not
//! depend on batch composition or on which backend draws it. Only 32-bit integer operations,
//! so the WGSL kernels can compute the same stream.

/// Chris Wellons' `lowbias32` integer hash.
#[inline(always)]
pub fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// A uniform word from the key (seed, step, index, lane).
#[inline(always)]
pub fn word(seed: u64, step: u64, index: u32, lane: u32) -> u32 {
    let mut h = hash32(index.wrapping_mul(2).wrapping_add(lane) ^ 0x9e37_79b9);
    h = hash32(h ^ step as u32);
    h = hash32(h ^ (step >> 32) as u32);
    h = hash32(h ^ seed as u32);
    hash32(h ^ (seed >> 32) as u32)
}

/// A standard normal sample by Box–Muller from two words of the key:
/// `ξ = sqrt(-2 ln u1) cos(2π u2)`, `u1 ∈ (0, 1]`, `u2 ∈ [0, 1)`.
#[inline]
pub fn normal(seed: u64, step: u64, index: u32) -> f64 {
    let u1 = (f64::from(word(seed, step, index, 0) >> 8) + 1.0) / 16_777_216.0;
    let u2 = f64::from(word(seed, step, index, 1) >> 8) / 16_777_216.0;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_has_unit_moments_and_depends_on_every_key_part() {
        let n = 200_000u32;
        let (mut s, mut s2) = (0.0, 0.0);
        for i in 0..n {
            let x = normal(7, u64::from(i / 100), i % 100);
            s += x;
            s2 += x * x;
        }
        let mean = s / f64::from(n);
        let var = s2 / f64::from(n) - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
        let base = normal(1, 2, 3);
        assert_ne!(base, normal(2, 2, 3));
        assert_ne!(base, normal(1, 3, 3));
        assert_ne!(base, normal(1, 2, 4));
        assert_ne!(base, normal(1 << 40, 2, 3));
        assert_eq!(base, normal(1, 2, 3));
    }
}
