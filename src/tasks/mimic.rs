//! Teacher–student regression: a fixed random "teacher" network defines the
//! targets that a student microcircuit must learn to reproduce.
//!
//! The teacher's output is the steady state of a microcircuit without
//! nudging: for a hidden layer `u = gb/(gl+gb+ga) · W·r_prev`, `r = φ(u)`;
//! for the output layer `u = gb/(gl+gb) · W·r_prev`, returned as is (a soma
//! potential). The input rates are the features themselves. No biases.

use super::Dataset;
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

/// A fixed feed-forward teacher network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Teacher {
    /// Layer sizes, input first.
    pub dims: Vec<usize>,
    /// layer `k`: `dims[k+1] x dims[k]`, row-major
    pub weights: Vec<Vec<f64>>,
}

impl Teacher {
    /// A teacher from explicit weights, checking the shapes against `dims`.
    pub fn new(dims: Vec<usize>, weights: Vec<Vec<f64>>) -> Result<Teacher> {
        if dims.len() < 2 {
            bail!("teacher dims {dims:?}: need at least an input and an output layer");
        }
        if weights.len() != dims.len() - 1 {
            bail!(
                "teacher dims {dims:?} need {} weight matrices, got {}",
                dims.len() - 1,
                weights.len()
            );
        }
        for (k, w) in weights.iter().enumerate() {
            if w.len() != dims[k + 1] * dims[k] {
                bail!(
                    "teacher weight matrix {k} has {} entries, expected {}x{} = {}",
                    w.len(),
                    dims[k + 1],
                    dims[k],
                    dims[k + 1] * dims[k]
                );
            }
        }
        Ok(Teacher { dims, weights })
    }

    /// Random teacher: weights `U(-scale, scale)` drawn from
    /// `Pcg64::seed_from_u64(seed)`, layer by layer, row-major.
    ///
    /// # Panics
    /// If `dims` has fewer than 2 entries.
    pub fn random(dims: &[usize], seed: u64, scale: f64) -> Teacher {
        assert!(dims.len() >= 2, "teacher needs at least 2 layers");
        let mut rng = Pcg64::seed_from_u64(seed);
        let weights = dims
            .windows(2)
            .map(|d| {
                (0..d[0] * d[1])
                    .map(|_| (2.0 * rng.gen::<f64>() - 1.0) * scale)
                    .collect()
            })
            .collect();
        Teacher {
            dims: dims.to_vec(),
            weights,
        }
    }

    /// Input size.
    pub fn n_in(&self) -> usize {
        self.dims[0]
    }

    /// Output size.
    pub fn n_out(&self) -> usize {
        self.dims[self.dims.len() - 1]
    }

    /// Output soma potential of the undriven (no nudging) steady state for
    /// input rates `x` (see the module documentation).
    ///
    /// # Panics
    /// If `x.len() != dims[0]`.
    pub fn output(
        &self,
        x: &[f64],
        phi: &dyn Fn(f64) -> f64,
        gl: f64,
        gb: f64,
        ga: f64,
    ) -> Vec<f64> {
        assert_eq!(x.len(), self.n_in(), "teacher input size");
        let hidden_gain = gb / (gl + gb + ga);
        let output_gain = gb / (gl + gb);
        let last = self.weights.len() - 1;
        let mut r = x.to_vec();
        for (k, w) in self.weights.iter().enumerate() {
            let gain = if k == last { output_gain } else { hidden_gain };
            let u = scaled_matvec(w, &r, gain);
            r = if k == last {
                u
            } else {
                u.into_iter().map(phi).collect()
            };
        }
        r
    }
}

/// `gain * W·v` for a row-major `W` with `v.len()` columns.
fn scaled_matvec(w: &[f64], v: &[f64], gain: f64) -> Vec<f64> {
    w.chunks_exact(v.len())
        .map(|row| gain * row.iter().zip(v).map(|(a, b)| a * b).sum::<f64>())
        .collect()
}

/// A regression set of `size` samples: inputs `x ~ U(0,1)^n0` drawn from
/// `Pcg64::seed_from_u64(seed)` row by row, targets the teacher's output.
pub fn generate(
    teacher: &Teacher,
    seed: u64,
    size: usize,
    phi: &dyn Fn(f64) -> f64,
    gl: f64,
    gb: f64,
    ga: f64,
) -> Dataset {
    let mut rng = Pcg64::seed_from_u64(seed);
    let n_in = teacher.n_in();
    let x: Vec<f64> = (0..size * n_in).map(|_| rng.gen::<f64>()).collect();
    let y = if n_in == 0 {
        (0..size)
            .flat_map(|_| teacher.output(&[], phi, gl, gb, ga))
            .collect()
    } else {
        x.chunks_exact(n_in)
            .flat_map(|row| teacher.output(row, phi, gl, gb, ga))
            .collect()
    };
    Dataset::regression(n_in, teacher.n_out(), x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn softplus(u: f64) -> f64 {
        u.exp().ln_1p()
    }

    #[test]
    fn hand_computed_2_3_2() {
        let t = Teacher::new(
            vec![2, 3, 2],
            vec![
                vec![1.0, 0.0, 0.0, 1.0, 1.0, -1.0],
                vec![1.0, 2.0, 0.0, 0.0, 0.0, -1.0],
            ],
        )
        .unwrap();
        // gl 0.1, gb 1.0, ga 0.9: hidden gain 0.5, output gain 1/1.1.
        let y = t.output(&[2.0, 4.0], &softplus, 0.1, 1.0, 0.9);
        // hidden u = 0.5 * [2, 4, -2] = [1, 2, -1]
        let r = [softplus(1.0), softplus(2.0), softplus(-1.0)];
        let expected = [(r[0] + 2.0 * r[1]) / 1.1, -r[2] / 1.1];
        assert!((y[0] - expected[0]).abs() < 1e-12);
        assert!((y[1] - expected[1]).abs() < 1e-12);
        // the numbers themselves: softplus(1)=1.3132616875, softplus(2)=2.1269280110
        assert!((y[0] - (1.3132616875182228 + 2.0 * 2.1269280110429727) / 1.1).abs() < 1e-12);
        assert!((y[1] + 0.31326168751822286 / 1.1).abs() < 1e-12);
    }

    #[test]
    fn new_rejects_bad_shapes() {
        assert!(Teacher::new(vec![2], vec![]).is_err());
        assert!(Teacher::new(vec![2, 3], vec![vec![0.0; 5]]).is_err());
        assert!(Teacher::new(vec![2, 3], vec![]).is_err());
    }

    #[test]
    fn random_teacher_shapes_and_range() {
        let t = Teacher::random(&[4, 5, 3], 1, 0.5);
        assert_eq!(t.weights.len(), 2);
        assert_eq!(t.weights[0].len(), 20);
        assert_eq!(t.weights[1].len(), 15);
        assert!(t.weights.iter().flatten().all(|w| w.abs() <= 0.5));
        assert_eq!(t, Teacher::random(&[4, 5, 3], 1, 0.5));
    }

    #[test]
    fn generate_is_deterministic_and_consistent() {
        let t = Teacher::random(&[3, 4, 2], 7, 1.0);
        let a = generate(&t, 11, 50, &softplus, 0.1, 1.0, 0.8);
        assert_eq!(a, generate(&t, 11, 50, &softplus, 0.1, 1.0, 0.8));
        assert_ne!(a, generate(&t, 12, 50, &softplus, 0.1, 1.0, 0.8));
        assert_eq!((a.len(), a.n_in, a.n_out), (50, 3, 2));
        assert!(a.x.iter().all(|v| (0.0..1.0).contains(v)));
        assert_eq!(a.y_row(3), t.output(a.x_row(3), &softplus, 0.1, 1.0, 0.8));
    }
}
