//! The Bars task: 3×3 images of a single bar, classified by orientation.
//!
//! Definition (ours; the seed only names the task, the usual network for it
//! is 9-30-3): each sample draws its class `c` uniformly from
//! {0: horizontal, 1: vertical, 2: diagonal}; a horizontal image has one of
//! the 3 rows on, a vertical image one of the 3 columns, a diagonal image one
//! of the 2 diagonals (each chosen uniformly). "On" pixels are 1.0, the
//! others 0.0. If `noise > 0`, independent `U(-noise, noise)` noise is added
//! to every pixel and the result clipped to [0, 1]. Pixels are row-major
//! (`n_in` 9), targets are soma potentials over 3 classes. Randomness comes
//! from `Pcg64::seed_from_u64(seed)` in the order: class, bar, then (if
//! noisy) the 9 pixel noises.

use super::Dataset;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// Image side length.
pub const SIDE: usize = 3;
/// Number of features (pixels).
pub const N_IN: usize = SIDE * SIDE;
/// Number of classes (horizontal, vertical, diagonal).
pub const N_CLASSES: usize = 3;
/// Class label of horizontal bars.
pub const HORIZONTAL: usize = 0;
/// Class label of vertical bars.
pub const VERTICAL: usize = 1;
/// Class label of diagonal bars.
pub const DIAGONAL: usize = 2;

/// Generates `size` Bars samples (see the module documentation).
/// `noise` is the half-width of the uniform pixel noise; `noise <= 0` (or
/// NaN) gives noise-free images. `noise` should be finite.
pub fn generate(seed: u64, size: usize, noise: f64, u_high: f64, u_low: f64) -> Dataset {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut x = Vec::with_capacity(size * N_IN);
    let mut labels = Vec::with_capacity(size);
    for _ in 0..size {
        let c = rng.gen_range(0..N_CLASSES);
        let mut img = bar_image(c, &mut rng);
        if noise > 0.0 {
            add_noise(&mut img, noise, &mut rng);
        }
        x.extend_from_slice(&img);
        labels.push(c);
    }
    Dataset::classification(N_IN, x, labels, N_CLASSES, u_high, u_low)
}

/// Pixel indices (row-major) of bar `k` of class `c`: row `k`, column `k`,
/// or diagonal `k` (0: main diagonal, 1: anti-diagonal).
pub fn bar_pixels(c: usize, k: usize) -> [usize; SIDE] {
    match c {
        HORIZONTAL => [SIDE * k, SIDE * k + 1, SIDE * k + 2],
        VERTICAL => [k, SIDE + k, 2 * SIDE + k],
        _ if k == 0 => [0, 4, 8],
        _ => [2, 4, 6],
    }
}

/// A noise-free image of a random bar of class `c`.
fn bar_image(c: usize, rng: &mut Pcg64) -> [f64; N_IN] {
    let n_bars = if c == DIAGONAL { 2 } else { SIDE };
    let k = rng.gen_range(0..n_bars);
    let mut img = [0.0; N_IN];
    for p in bar_pixels(c, k) {
        img[p] = 1.0;
    }
    img
}

/// Adds independent `U(-noise, noise)` to each pixel and clips to [0, 1].
fn add_noise(img: &mut [f64], noise: f64, rng: &mut Pcg64) {
    for p in img.iter_mut() {
        let n = (2.0 * rng.gen::<f64>() - 1.0) * noise;
        *p = (*p + n).clamp(0.0, 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_free_samples_are_bars_of_their_class() {
        let ds = generate(1, 500, 0.0, 1.0, 0.0);
        for (i, &c) in ds.labels.as_ref().unwrap().iter().enumerate() {
            let on: Vec<usize> = (0..N_IN).filter(|&p| ds.x_row(i)[p] == 1.0).collect();
            assert_eq!(on.len(), 3);
            assert!(ds.x_row(i).iter().all(|&v| v == 0.0 || v == 1.0));
            let n_bars = if c == DIAGONAL { 2 } else { 3 };
            assert!(
                (0..n_bars).any(|k| bar_pixels(c, k).to_vec() == on),
                "{on:?}"
            );
        }
    }

    #[test]
    fn classes_are_balanced() {
        let ds = generate(9, 3000, 0.1, 1.0, 0.0);
        let mut counts = [0usize; 3];
        for &c in ds.labels.as_ref().unwrap() {
            counts[c] += 1;
        }
        for c in counts {
            assert!((900..=1100).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn noisy_pixels_are_clipped() {
        let ds = generate(2, 200, 0.3, 1.0, 0.0);
        assert!(ds.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!(ds.x.iter().any(|&v| v > 0.0 && v < 1.0));
    }

    #[test]
    fn same_seed_same_set() {
        assert_eq!(
            generate(5, 100, 0.2, 1.0, 0.0),
            generate(5, 100, 0.2, 1.0, 0.0)
        );
        assert_ne!(
            generate(5, 100, 0.2, 1.0, 0.0),
            generate(6, 100, 0.2, 1.0, 0.0)
        );
    }
}
