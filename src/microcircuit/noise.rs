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
/// `ξ = sqrt(-2 ln u1) cos(2π u2)`, `u1 ∈ (0, 1]`, `u2 ∈ [0, 1)`, with [`ln_unit`] and
/// [`cos_turn`]: only arithmetic, square roots and bit operations, so a loop over instances
/// ([`normal_lanes`]) or somas vectorises and every CPU kernel draws the same bits.
#[inline(always)]
pub fn normal(seed: u64, step: u64, index: u32) -> f64 {
    box_muller(word(seed, step, index, 0), word(seed, step, index, 1))
}

/// [`normal`] for `L` instances at once (lane k: `seed[k]`, `step[k]`), each stage a loop over
/// the lanes that the compiler turns into SIMD instructions; the same bits as `L` calls of
/// [`normal`].
#[inline(always)]
pub fn normal_lanes<const L: usize>(seed: &[u64; L], step: &[u64; L], index: u32) -> [f64; L] {
    let mut w0 = [0u32; L];
    let mut w1 = [0u32; L];
    for k in 0..L {
        w0[k] = word(seed[k], step[k], index, 0);
        w1[k] = word(seed[k], step[k], index, 1);
    }
    let mut out = [0.0; L];
    for k in 0..L {
        out[k] = box_muller(w0[k], w1[k]);
    }
    out
}

/// `sqrt(-2 ln u1) cos(2π u2)` with `u1 = (w0 >> 8 + 1) / 2^24`, `u2 = (w1 >> 8) / 2^24`.
#[inline(always)]
fn box_muller(w0: u32, w1: u32) -> f64 {
    let u1 = (f64::from(w0 >> 8) + 1.0) / 16_777_216.0;
    let u2 = f64::from(w1 >> 8) / 16_777_216.0;
    (-2.0 * ln_unit(u1)).sqrt() * cos_turn(u2)
}

/// `ln x` for a positive normal `x` (here `x ∈ [2^-24, 1]`), within 1 ulp: fdlibm's `log`
/// (`x = 2^k m`, `m ∈ [√2/2, √2)`, `f = m − 1`, `s = f/(2 + f)`, `ln(1 + f) = 2s + s·R(s²)`
/// with its degree-14 minimax polynomial), with the exponent read through the bits and
/// converted by adding 2^52 (no branch, no integer-to-float conversion).
// fdlibm's constants as published (rounded to f64 by the compiler)
#[allow(clippy::excessive_precision)]
#[inline(always)]
fn ln_unit(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const LG: [f64; 7] = [
        6.666_666_666_666_735_130e-1,
        3.999_999_999_940_941_908e-1,
        2.857_142_874_366_239_149e-1,
        2.222_219_843_214_978_396e-1,
        1.818_357_216_161_805_012e-1,
        1.531_383_769_920_937_332e-1,
        1.479_819_860_511_658_591e-1,
    ];
    const TWO52: f64 = 4_503_599_627_370_496.0;
    let bits = x.to_bits();
    // the biased exponent as a float: 2^52 + e − 2^52
    let e = f64::from_bits(TWO52.to_bits() | (bits >> 52)) - TWO52;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000); // [1, 2)
    let big = m > std::f64::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let k = e - 1023.0 + if big { 1.0 } else { 0.0 };
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG[1] + w * (LG[3] + w * LG[5]));
    let t2 = z * (LG[0] + w * (LG[2] + w * (LG[4] + w * LG[6])));
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)
}

/// `cos 2πx` for `x ∈ [0, 1)` given to 24 bits, within 1 ulp: `x = q/4 + r` with `q` the
/// nearest quarter (exact), `θ = 2πr ∈ [−π/4, π/4]`, then `cos θ`, `−sin θ`, `−cos θ`, `sin θ`
/// for `q mod 4 = 0, 1, 2, 3` with fdlibm's kernel polynomials of `sin` and `cos` on
/// `[−π/4, π/4]`; selections, not branches.
#[allow(clippy::excessive_precision)]
#[inline(always)]
fn cos_turn(x: f64) -> f64 {
    const S: [f64; 6] = [
        -1.666_666_666_666_663_243_48e-1,
        8.333_333_333_322_489_461_24e-3,
        -1.984_126_982_985_794_931_34e-4,
        2.755_731_370_707_006_767_89e-6,
        -2.505_076_025_340_686_341_95e-8,
        1.589_690_995_211_550_102_21e-10,
    ];
    const C: [f64; 6] = [
        4.166_666_666_666_660_190_37e-2,
        -1.388_888_888_887_410_957_49e-3,
        2.480_158_728_947_672_941_78e-5,
        -2.755_731_435_139_066_330_35e-7,
        2.087_572_321_298_174_827_90e-9,
        -1.135_964_755_778_819_482_65e-11,
    ];
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52: adding it rounds to an integer
    let t = x * 4.0 + MAGIC; // its last bits hold the nearest quarter q
    let q = t - MAGIC; // 0..=4
    let theta = (x - q * 0.25) * std::f64::consts::TAU;
    let z = theta * theta;
    let sin =
        theta + (z * theta) * (S[0] + z * (S[1] + z * (S[2] + z * (S[3] + z * (S[4] + z * S[5])))));
    let r = z * (C[0] + z * (C[1] + z * (C[2] + z * (C[3] + z * (C[4] + z * C[5])))));
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    let cos = w + (((1.0 - w) - hz) + z * r);
    let quadrant = t.to_bits() & 3; // q mod 4
    let v = if quadrant & 1 == 0 { cos } else { sin };
    if quadrant == 1 || quadrant == 2 {
        -v
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn ln_unit_is_within_one_ulp_of_libm_on_every_24_bit_argument() {
        let mut worst = 0;
        for n in (1..=1u32 << 24)
            .step_by(7)
            .chain([1, 2, 3, 1 << 23, 1 << 24])
        {
            let x = f64::from(n) / 16_777_216.0;
            worst = worst.max(ulps(ln_unit(x), x.ln()));
        }
        assert_eq!(ln_unit(1.0), 0.0);
        assert!(worst <= 1, "ln off by {worst} ulp");
    }

    #[test]
    fn cos_turn_follows_libm_to_rounding() {
        // absolute: cos has zeros at x = 1/4, 3/4, where relative ulps mean nothing; libm's
        // argument 2πx is itself rounded (error up to 2π·2^-53 ≈ 7e-16)
        let mut worst: f64 = 0.0;
        for n in (0..1u32 << 24)
            .step_by(5)
            .chain([0, 1 << 22, 1 << 23, 3 << 22, (1 << 24) - 1])
        {
            let x = f64::from(n) / 16_777_216.0;
            worst = worst.max((cos_turn(x) - (std::f64::consts::TAU * x).cos()).abs());
        }
        assert!(worst <= 1e-15, "cos off by {worst}");
        assert_eq!(cos_turn(0.0), 1.0);
        assert_eq!(cos_turn(0.5), -1.0);
        assert_eq!(cos_turn(0.25).abs(), 0.0);
    }

    #[test]
    fn normal_lanes_draws_the_bits_of_normal_per_lane() {
        let seed: [u64; 8] = std::array::from_fn(|k| (3 + 1000 * k as u64) | ((k as u64) << 33));
        let step: [u64; 8] = std::array::from_fn(|k| 17 * k as u64 + (1 << 32) * (k as u64 % 2));
        for index in [0, 1, 119, 5000] {
            let v = normal_lanes(&seed, &step, index);
            for k in 0..8 {
                assert_eq!(v[k].to_bits(), normal(seed[k], step[k], index).to_bits());
            }
        }
    }

    #[test]
    fn normal_is_box_muller_with_libm_to_rounding() {
        for i in 0..10_000u32 {
            let (w0, w1) = (
                word(5, u64::from(i), i % 7, 0),
                word(5, u64::from(i), i % 7, 1),
            );
            let u1 = (f64::from(w0 >> 8) + 1.0) / 16_777_216.0;
            let u2 = f64::from(w1 >> 8) / 16_777_216.0;
            let libm = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            let ours = normal(5, u64::from(i), i % 7);
            assert!(
                (ours - libm).abs() <= 1e-14 * (1.0 + libm.abs()),
                "{i}: {ours} vs {libm}"
            );
        }
    }

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
