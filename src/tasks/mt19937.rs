//! The Mersenne Twister MT19937 as used by numpy's legacy `RandomState`,
//! reproduced bit-exactly so that data sets defined by numpy generators
//! (Yin-Yang) come out identical.

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// MT19937 generator with numpy `RandomState` semantics.
#[derive(Clone, Debug)]
pub struct Mt19937 {
    mt: [u32; N],
    mti: usize,
}

impl Mt19937 {
    /// `init_genrand(seed)`: what `np.random.RandomState(seed)` does for an
    /// integer seed (Knuth multiplier 1812433253).
    pub fn new(seed: u32) -> Mt19937 {
        let mut mt = [0u32; N];
        mt[0] = seed;
        for i in 1..N {
            let prev = mt[i - 1];
            mt[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { mt, mti: N }
    }

    /// Regenerates the whole state block (the "twist").
    fn twist(&mut self) {
        for kk in 0..N {
            let y = (self.mt[kk] & UPPER_MASK) | (self.mt[(kk + 1) % N] & LOWER_MASK);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.mt[kk] = self.mt[(kk + M) % N] ^ (y >> 1) ^ mag;
        }
        self.mti = 0;
    }

    /// `genrand_int32`: the next 32-bit output, tempered.
    pub fn next_u32(&mut self) -> u32 {
        if self.mti >= N {
            self.twist();
        }
        let mut y = self.mt[self.mti];
        self.mti += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random_sample()`: a double in [0, 1) with 53 random bits built from
    /// two consecutive words `a`, `b`: `((a>>5)*2^26 + (b>>6)) / 2^53`.
    pub fn random_sample(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `randint(n)`: uniform integer in `0..n` by numpy legacy masked
    /// rejection sampling: `mask` is the smallest all-ones mask `>= n-1`;
    /// draw `word & mask` and redraw while it exceeds `n-1`. For `n == 1`
    /// nothing is drawn (as in numpy).
    ///
    /// # Panics
    /// If `n == 0` (an empty range).
    pub fn randint(&mut self, n: u32) -> u32 {
        assert!(n > 0, "randint: empty range");
        let max = n - 1;
        if max == 0 {
            return 0;
        }
        let mask = all_ones_mask(max);
        loop {
            let v = self.next_u32() & mask;
            if v <= max {
                return v;
            }
        }
    }
}

/// Smallest value of the form `2^k - 1` that is `>= v`.
fn all_ones_mask(v: u32) -> u32 {
    let mut m = v;
    m |= m >> 1;
    m |= m >> 2;
    m |= m >> 4;
    m |= m >> 8;
    m |= m >> 16;
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_seed_5489() {
        assert_eq!(Mt19937::new(5489).next_u32(), 3_499_211_612);
    }

    #[test]
    fn numpy_random_sample_seed_0() {
        let mut r = Mt19937::new(0);
        assert_eq!(r.random_sample(), 0.548_813_503_927_324_8);
        assert_eq!(r.random_sample(), 0.715_189_366_372_419_5);
        assert_eq!(r.random_sample(), 0.602_763_376_071_643_9);
    }

    #[test]
    fn numpy_random_sample_seed_42() {
        assert_eq!(Mt19937::new(42).random_sample(), 0.374_540_118_847_362_5);
    }

    #[test]
    fn twist_past_one_block_is_stable() {
        // 10000-th output of the reference implementation for seed 5489.
        let mut r = Mt19937::new(5489);
        let mut last = 0;
        for _ in 0..10_000 {
            last = r.next_u32();
        }
        assert_eq!(last, 4_123_659_995);
    }

    #[test]
    fn randint_masks_and_rejects() {
        assert_eq!(all_ones_mask(2), 3);
        assert_eq!(all_ones_mask(4), 7);
        assert_eq!(all_ones_mask(7), 7);
        let mut a = Mt19937::new(7);
        let mut b = Mt19937::new(7);
        for _ in 0..1000 {
            let v = a.randint(3);
            assert!(v < 3);
            let expected = loop {
                let w = b.next_u32() & 3;
                if w != 3 {
                    break w;
                }
            };
            assert_eq!(v, expected);
        }
        assert_eq!(a.randint(1), 0);
    }
}
