//! Readout metrics (MODEL.md section 4): prediction = argmax of the mean output soma, regression
//! error = mean squared error against the targets.

use crate::tasks::Dataset;
use serde::{Deserialize, Serialize};

/// Accuracy (classification sets only) and MSE of one instance on one set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub acc: Option<f64>,
    pub mse: Option<f64>,
}

/// Index of the largest value (the first one on ties).
pub fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Metrics of `readouts` (patterns × n_out) against the rows `rows` of `set`.
pub fn metrics(set: &Dataset, rows: &[usize], readouts: &[f64]) -> Metrics {
    if rows.is_empty() {
        return Metrics::default();
    }
    let n_out = set.n_out;
    let mut se = 0.0;
    let mut correct = 0usize;
    for (p, &row) in rows.iter().enumerate() {
        let r = &readouts[p * n_out..(p + 1) * n_out];
        se += r
            .iter()
            .zip(set.y_row(row))
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>();
        if let Some(labels) = &set.labels {
            correct += usize::from(argmax(r) == labels[row]);
        }
    }
    Metrics {
        acc: set
            .labels
            .as_ref()
            .map(|_| correct as f64 / rows.len() as f64),
        mse: Some(se / (rows.len() * n_out) as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_and_mse_by_hand() {
        let set = Dataset::classification(1, vec![0.0, 1.0], vec![0, 1], 2, 1.0, 0.1);
        // pattern 0 predicted class 0 (right), pattern 1 predicted class 0 (wrong)
        let m = metrics(&set, &[0, 1], &[0.9, 0.2, 0.5, 0.4]);
        assert_eq!(m.acc, Some(0.5));
        let want = ((0.1f64).powi(2) + 0.1f64.powi(2) + 0.4f64.powi(2) + 0.6f64.powi(2)) / 4.0;
        assert!((m.mse.unwrap() - want).abs() < 1e-15);
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
    }
}
