//! The Yin-Yang data set (Kriener et al. 2021), bit-exact with the official
//! Python generator (`YinYangDataset` of the `yin_yang_data_set` repository,
//! which uses `np.random.RandomState(seed)`).
//!
//! Each sample is a point `(x, y)` in the big circle of radius `r_big`
//! centred at `(r_big, r_big)`, given as the four features
//! `[x, y, 1-x, 1-y]`, with one of three classes: 0 (yin), 1 (yang) and
//! 2 (the two dots of radius `r_small`). Classes are balanced by drawing the
//! goal class first and rejection-sampling points until one has that class.

use super::mt19937::Mt19937;
use super::{files, Dataset};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Radius of the dots in the standard set.
pub const R_SMALL: f64 = 0.1;
/// Radius of the big circle in the standard set.
pub const R_BIG: f64 = 0.5;
/// Number of classes (yin, yang, dot).
pub const N_CLASSES: usize = 3;
/// Number of features (`x, y, 1-x, 1-y`).
pub const N_IN: usize = 4;

/// The three standard splits of the published data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// 5000 samples, seed 42.
    Train,
    /// 1000 samples, seed 41.
    Validation,
    /// 1000 samples, seed 40.
    Test,
}

impl Split {
    /// Seed of the `RandomState` that generates this split.
    pub fn seed(self) -> u32 {
        match self {
            Split::Train => 42,
            Split::Validation => 41,
            Split::Test => 40,
        }
    }

    /// Number of samples in this split.
    pub fn size(self) -> usize {
        match self {
            Split::Train => 5000,
            Split::Validation | Split::Test => 1000,
        }
    }
}

/// One standard split (`r_small` 0.1, `r_big` 0.5) with classification targets.
pub fn standard(split: Split, u_high: f64, u_low: f64) -> Dataset {
    generate(split.seed(), split.size(), R_SMALL, R_BIG, u_high, u_low)
}

/// Generates `size` samples as the official generator does with
/// `YinYangDataset(r_small, r_big, size, seed)`: per sample, draw the goal
/// class `randint(3)`, then draw `x`, `y` (in that order) as
/// `random_sample() * 2 * r_big` until the point lies in the big circle and
/// has the goal class.
pub fn generate(
    seed: u32,
    size: usize,
    r_small: f64,
    r_big: f64,
    u_high: f64,
    u_low: f64,
) -> Dataset {
    let mut rng = Mt19937::new(seed);
    let mut x = Vec::with_capacity(size * N_IN);
    let mut labels = Vec::with_capacity(size);
    for _ in 0..size {
        let goal = rng.randint(N_CLASSES as u32) as usize;
        let (px, py) = sample_of_class(&mut rng, goal, r_small, r_big);
        x.extend_from_slice(&[px, py, 1.0 - px, 1.0 - py]);
        labels.push(goal);
    }
    Dataset::classification(N_IN, x, labels, N_CLASSES, u_high, u_low)
}

/// Rejection-samples a point of class `goal` inside the big circle
/// (`get_sample` of the official generator).
fn sample_of_class(rng: &mut Mt19937, goal: usize, r_small: f64, r_big: f64) -> (f64, f64) {
    loop {
        let x = rng.random_sample() * 2.0 * r_big;
        let y = rng.random_sample() * 2.0 * r_big;
        if (sq(x - r_big) + sq(y - r_big)).sqrt() > r_big {
            continue;
        }
        if class_of(x, y, r_small, r_big) == goal {
            return (x, y);
        }
    }
}

/// Class of a point (`which_class` of the official generator): 2 (dot) if
/// within `r_small` of either dot centre `(1.5 r_big, r_big)` (right) or
/// `(0.5 r_big, r_big)` (left); else 1 (yang) if `d_right <= r_small`, or
/// `r_small < d_left <= r_big/2`, or (`y > r_big` and `d_right > r_big/2`);
/// else 0 (yin).
pub fn class_of(x: f64, y: f64, r_small: f64, r_big: f64) -> usize {
    let d_right = (sq(x - 1.5 * r_big) + sq(y - r_big)).sqrt();
    let d_left = (sq(x - 0.5 * r_big) + sq(y - r_big)).sqrt();
    if d_right < r_small || d_left < r_small {
        return 2;
    }
    let criterion1 = d_right <= r_small;
    let criterion2 = d_left > r_small && d_left <= 0.5 * r_big;
    let criterion3 = y > r_big && d_right > 0.5 * r_big;
    usize::from(criterion1 || criterion2 || criterion3)
}

/// `v * v` (what numpy's `v ** 2` computes, exactly).
fn sq(v: f64) -> f64 {
    v * v
}

/// Writes a Yin-Yang set as CSV with the header `x,y,1-x,1-y,label` (see [`files::write_csv`]).
pub fn export_csv(ds: &Dataset, path: &Path) -> Result<()> {
    if ds.n_in != N_IN {
        bail!(
            "cannot export to {}: a Yin-Yang set has {N_IN} features, this one has {}",
            path.display(),
            ds.n_in
        );
    }
    files::write_csv(ds, &["x", "y", "1-x", "1-y"], path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::files::{load_csv, TargetKind};

    fn counts(ds: &Dataset) -> [usize; 3] {
        let mut c = [0; 3];
        for &l in ds.labels.as_ref().unwrap() {
            c[l] += 1;
        }
        c
    }

    #[test]
    fn first_training_sample_matches_official() {
        let ds = standard(Split::Train, 1.0, 0.0);
        let expected = [0.68030754, 0.45049925, 0.31969246, 0.54950075];
        for (a, b) in ds.x_row(0).iter().zip(expected) {
            assert!((a - b).abs() < 1e-8, "{a} vs {b}");
        }
        assert_eq!(ds.labels.as_ref().unwrap()[0], 2);
        assert_eq!(ds.y_row(0), &[0.0, 0.0, 1.0]);
    }

    #[test]
    fn class_counts_match_official() {
        let train = standard(Split::Train, 1.0, 0.0);
        assert_eq!(train.len(), 5000);
        assert_eq!(counts(&train), [1681, 1702, 1617]);
        assert_eq!(
            counts(&standard(Split::Validation, 1.0, 0.0)),
            [316, 336, 348]
        );
        assert_eq!(counts(&standard(Split::Test, 1.0, 0.0)), [350, 316, 334]);
    }

    #[test]
    fn samples_lie_in_circle_with_their_class() {
        let ds = generate(3, 300, R_SMALL, R_BIG, 1.0, 0.0);
        for (i, &c) in ds.labels.as_ref().unwrap().iter().enumerate() {
            let r = ds.x_row(i);
            assert!((sq(r[0] - 0.5) + sq(r[1] - 0.5)).sqrt() <= 0.5);
            assert_eq!(class_of(r[0], r[1], R_SMALL, R_BIG), c);
            assert_eq!(r[2], 1.0 - r[0]);
        }
    }

    #[test]
    fn class_regions() {
        assert_eq!(class_of(0.75, 0.5, R_SMALL, R_BIG), 2);
        assert_eq!(class_of(0.25, 0.52, R_SMALL, R_BIG), 2);
        assert_eq!(class_of(0.25, 0.3, R_SMALL, R_BIG), 1);
        assert_eq!(class_of(0.5, 0.9, R_SMALL, R_BIG), 1);
        assert_eq!(class_of(0.5, 0.1, R_SMALL, R_BIG), 0);
        assert_eq!(class_of(0.75, 0.7, R_SMALL, R_BIG), 0);
    }

    #[test]
    fn export_csv_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("yy.csv");
        let ds = standard(Split::Test, 0.8, 0.1);
        export_csv(&ds, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("x,y,1-x,1-y,label\n"));
        let back = load_csv(
            &path,
            TargetKind::Labels { n_classes: 3 },
            Some(4),
            0.8,
            0.1,
        )
        .unwrap();
        assert_eq!(back, ds);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn export_csv_rejects_regression_sets() {
        let dir = tempfile::tempdir().unwrap();
        let ds = Dataset::regression(4, 1, vec![0.0; 4], vec![1.0]);
        let err = export_csv(&ds, &dir.path().join("r.csv")).unwrap_err();
        assert!(err.to_string().contains("no class labels"));
    }
}
