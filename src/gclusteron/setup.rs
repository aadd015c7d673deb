//! The `gclusteron` block of a config (batch-wide settings) and how a task's data sets become
//! G-clusteron data: per-image z-scoring, unit targets per readout, balanced one-vs-all sets.

use super::backend::{GcData, Readout};
use crate::tasks::{Dataset, TaskData};
use anyhow::bail;
use serde::{Deserialize, Serialize};

/// How the units read out a class (spec §1, §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadoutKind {
    /// All-vs-all: one unit per class, softmax over `o`, softmax cross-entropy error.
    Softmax,
    /// One sigmoid unit per class trained on `t_k = [label = k]`; prediction `argmax_k o_k`.
    OneVsRest,
    /// One sigmoid unit on a two-class task (label 1 is the positive class).
    Binary,
    /// One sigmoid unit for `positive_class` against all others, on balanced sets.
    OneVsAll,
}

/// Batch-wide settings of a `"model": "gclusteron"` config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcConfig {
    #[serde(default = "softmax")]
    pub readout: ReadoutKind,
    /// The positive class of `one_vs_all`.
    #[serde(default)]
    pub positive_class: Option<usize>,
    /// Z-score every input pattern on its own: `x ← (x − mean x) / std x` (population std).
    #[serde(default)]
    pub zscore: bool,
    /// Also fit the logistic-regression baseline on the same inputs.
    #[serde(default = "yes")]
    pub logreg: bool,
}

fn softmax() -> ReadoutKind {
    ReadoutKind::Softmax
}
fn yes() -> bool {
    true
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            readout: ReadoutKind::Softmax,
            positive_class: None,
            zscore: false,
            logreg: true,
        }
    }
}

impl GcConfig {
    /// Checks the block against the number of classes of the task (`network.dims[1]`).
    pub fn validate(&self, classes: usize) -> anyhow::Result<()> {
        match (self.readout, self.positive_class) {
            (ReadoutKind::OneVsAll, None) => {
                bail!("gclusteron.positive_class: one_vs_all needs the positive class")
            }
            (ReadoutKind::OneVsAll, Some(c)) if c >= classes => bail!(
                "gclusteron.positive_class ({c}) must be a class of the task, 0..{}",
                classes - 1
            ),
            (ReadoutKind::OneVsAll, Some(_)) => Ok(()),
            (_, Some(_)) => {
                bail!("gclusteron.positive_class is only used by \"readout\": \"one_vs_all\"")
            }
            (ReadoutKind::Binary, None) if classes != 2 => bail!(
                "gclusteron.readout binary needs a two-class task, network.dims[1] is {classes}"
            ),
            _ => Ok(()),
        }
    }

    /// Units per instance: one per class for softmax and one-vs-rest, else one.
    pub fn units(&self, classes: usize) -> usize {
        match self.readout {
            ReadoutKind::Softmax | ReadoutKind::OneVsRest => classes,
            ReadoutKind::Binary | ReadoutKind::OneVsAll => 1,
        }
    }

    pub fn readout(&self) -> Readout {
        match self.readout {
            ReadoutKind::Softmax => Readout::Softmax,
            _ => Readout::Sigmoid,
        }
    }

    /// The G-clusteron sets (train, validation, test) of a task, with the label of every
    /// pattern as the metrics see it (0/1 for binary readouts).
    pub fn prepare(&self, data: &TaskData) -> anyhow::Result<Vec<(GcData, Vec<usize>)>> {
        let sets = [&data.train, &data.val, &data.test];
        let mut out = Vec::new();
        for set in sets {
            let Some(labels) = &set.labels else {
                bail!("the G-clusteron needs a classification task (class labels)");
            };
            let (rows, labels) = match (self.readout, self.positive_class) {
                (ReadoutKind::OneVsAll, Some(c)) => balanced(labels, c),
                _ => ((0..labels.len()).collect(), labels.clone()),
            };
            out.push(self.gc_data(set, &rows, &labels));
        }
        Ok(out)
    }

    fn gc_data(&self, set: &Dataset, rows: &[usize], labels: &[usize]) -> (GcData, Vec<usize>) {
        let n = set.n_in;
        let k = self.units(set.n_out);
        let mut x = Vec::with_capacity(rows.len() * n);
        let mut t = Vec::with_capacity(rows.len() * k);
        let mut metric_labels = Vec::with_capacity(rows.len());
        for (&row, &label) in rows.iter().zip(labels) {
            let xr = set.x_row(row);
            if self.zscore {
                x.extend(zscore(xr));
            } else {
                x.extend_from_slice(xr);
            }
            let label = match self.readout {
                ReadoutKind::OneVsAll => usize::from(Some(label) == self.positive_class),
                _ => label,
            };
            match k {
                1 => t.push(label as f64),
                _ => t.extend((0..k).map(|c| f64::from(u8::from(c == label)))),
            }
            metric_labels.push(label);
        }
        (GcData { n, k, x, t }, metric_labels)
    }
}

/// `(x − mean x) / std x` over the pattern (population std; a constant pattern stays 0).
pub fn zscore(x: &[f64]) -> Vec<f64> {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let std = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let scale = if std > 0.0 { 1.0 / std } else { 0.0 };
    x.iter().map(|v| (v - mean) * scale).collect()
}

/// Balanced one-vs-all rows (spec §3.2): every pattern of class `c`, plus as many patterns of
/// other classes taken from the start of the set, interleaved in a fixed order (positives and
/// negatives alternate; minibatches are drawn at random anyway).
fn balanced(labels: &[usize], c: usize) -> (Vec<usize>, Vec<usize>) {
    let pos: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
    let neg: Vec<usize> = (0..labels.len())
        .filter(|&i| labels[i] != c)
        .take(pos.len())
        .collect();
    let rows: Vec<usize> = pos.iter().zip(&neg).flat_map(|(&p, &q)| [p, q]).collect();
    let labels = rows.iter().map(|&i| labels[i]).collect();
    (rows, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zscore_has_zero_mean_and_unit_population_std() {
        let z = zscore(&[1.0, 2.0, 3.0, 6.0]);
        // mean 3, population variance (4+1+0+9)/4 = 3.5
        let s = 3.5f64.sqrt();
        let want = [-2.0 / s, -1.0 / s, 0.0, 3.0 / s];
        for (a, b) in z.iter().zip(want) {
            assert!((a - b).abs() < 1e-14);
        }
        assert_eq!(zscore(&[2.0, 2.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn balanced_sets_pair_every_positive_with_a_negative() {
        let (rows, labels) = balanced(&[3, 1, 3, 0, 2, 3], 3);
        assert_eq!(rows, vec![0, 1, 2, 3, 5, 4]);
        assert_eq!(labels, vec![3, 1, 3, 0, 3, 2]);
    }
}
