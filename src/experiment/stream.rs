//! Per-instance pattern streams: the order in which each instance sees the training set,
//! reshuffled every epoch from the instance's own seed (or kept in file order).

use crate::seed::{purpose, sub_seed};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// The training-pattern order of every instance, handed out chunk by chunk.
pub struct Streams {
    rngs: Vec<Pcg64>,
    orders: Vec<Vec<usize>>,
    /// Position inside the current epoch (the same for every instance).
    pos: usize,
    shuffle: bool,
}

impl Streams {
    /// Streams over a training set of `len` patterns for instances with the given seeds.
    pub fn new(seeds: &[u64], len: usize, shuffle: bool) -> Self {
        Streams {
            rngs: seeds
                .iter()
                .map(|&s| Pcg64::seed_from_u64(sub_seed(s, purpose::ORDER)))
                .collect(),
            orders: vec![(0..len).collect(); seeds.len()],
            pos: len,
            shuffle,
        }
    }

    /// The next `n` training-pattern indices of every instance; a new epoch starts with a fresh
    /// shuffle when the previous one is used up.
    pub fn next(&mut self, n: usize) -> Vec<Vec<usize>> {
        let len = self.orders[0].len();
        let mut out = vec![Vec::with_capacity(n); self.orders.len()];
        let mut left = n;
        while left > 0 {
            if self.pos == len {
                self.new_epoch();
            }
            let take = left.min(len - self.pos);
            for (o, order) in out.iter_mut().zip(&self.orders) {
                o.extend_from_slice(&order[self.pos..self.pos + take]);
            }
            self.pos += take;
            left -= take;
        }
        out
    }

    fn new_epoch(&mut self) {
        self.pos = 0;
        for (order, rng) in self.orders.iter_mut().zip(&mut self.rngs) {
            order.sort_unstable();
            if self.shuffle {
                order.shuffle(rng);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_epoch_is_a_permutation_and_chunking_does_not_matter() {
        let mut a = Streams::new(&[1, 2], 10, true);
        let whole = a.next(30);
        let mut b = Streams::new(&[1, 2], 10, true);
        let mut pieces = vec![Vec::new(); 2];
        for n in [3, 7, 11, 9] {
            for (p, c) in pieces.iter_mut().zip(b.next(n)) {
                p.extend(c);
            }
        }
        assert_eq!(whole, pieces);
        for epoch in whole[0].chunks(10) {
            let mut e = epoch.to_vec();
            e.sort();
            assert_eq!(e, (0..10).collect::<Vec<_>>());
        }
        assert_ne!(whole[0], whole[1]);
        let mut fixed = Streams::new(&[1], 4, false);
        assert_eq!(fixed.next(6), vec![vec![0, 1, 2, 3, 0, 1]]);
    }
}
