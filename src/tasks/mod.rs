//! Tasks (data sets) for training and evaluating microcircuits.
//!
//! Every task produces a [`Dataset`]: features and targets held in memory,
//! row-major. Classification sets carry their class labels and use soma
//! potentials as targets (`u_high` for the true class, `u_low` for the
//! others); regression sets carry raw targets.
//!
//! * [`mt19937`]: numpy's legacy `RandomState` (bit-exact), used by Yin-Yang.
//! * [`yinyang`]: the Yin-Yang data set (Kriener et al. 2021).
//! * [`bars`]: the 3×3 Bars task (horizontal / vertical / diagonal).
//! * [`mimic`]: teacher–student regression against a fixed microcircuit.
//! * [`files`]: data sets read from CSV or `.npy` files.
//! * [`idx`]: MNIST-format IDX files (raw or gzipped), MNIST and Fashion-MNIST.
//!
//! [`metrics`] scores a model's readouts on a data set (accuracy, MSE).

pub mod bars;
pub mod files;
pub mod idx;
pub mod metrics;
pub mod mimic;
pub mod mt19937;
pub mod yinyang;

/// A supervised data set held in memory, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Number of features per sample.
    pub n_in: usize,
    /// Number of targets per sample (the number of classes for classification).
    pub n_out: usize,
    /// features, len = len() * n_in
    pub x: Vec<f64>,
    /// targets (soma potentials for classification, raw targets for regression), len = len() * n_out
    pub y: Vec<f64>,
    /// class labels for classification sets (None for regression)
    pub labels: Option<Vec<usize>>,
}

impl Dataset {
    /// Number of samples (rows).
    pub fn len(&self) -> usize {
        self.x
            .len()
            .checked_div(self.n_in)
            .or_else(|| self.y.len().checked_div(self.n_out))
            .unwrap_or_else(|| self.labels.as_ref().map_or(0, Vec::len))
    }

    /// True when the set holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Features of sample `i` (panics if `i >= len()`).
    pub fn x_row(&self, i: usize) -> &[f64] {
        &self.x[i * self.n_in..(i + 1) * self.n_in]
    }

    /// Targets of sample `i` (panics if `i >= len()`).
    pub fn y_row(&self, i: usize) -> &[f64] {
        &self.y[i * self.n_out..(i + 1) * self.n_out]
    }

    /// Classification set: targets are `u_high` for the true class and
    /// `u_low` otherwise (`n_out = n_classes`).
    ///
    /// # Panics
    /// If `x.len() != labels.len() * n_in` or a label is `>= n_classes`
    /// (programming errors; file loaders validate before calling this).
    pub fn classification(
        n_in: usize,
        x: Vec<f64>,
        labels: Vec<usize>,
        n_classes: usize,
        u_high: f64,
        u_low: f64,
    ) -> Dataset {
        assert_eq!(x.len(), labels.len() * n_in, "features/labels mismatch");
        let y = one_hot_targets(&labels, n_classes, u_high, u_low);
        Dataset {
            n_in,
            n_out: n_classes,
            x,
            y,
            labels: Some(labels),
        }
    }

    /// Regression set with raw targets.
    ///
    /// # Panics
    /// If `x` and `y` do not hold the same number of rows.
    pub fn regression(n_in: usize, n_out: usize, x: Vec<f64>, y: Vec<f64>) -> Dataset {
        let ds = Dataset {
            n_in,
            n_out,
            x,
            y,
            labels: None,
        };
        assert_eq!(
            ds.x.len() * n_out,
            ds.y.len() * n_in,
            "features/targets row mismatch"
        );
        ds
    }

    /// Rows in the given order (a subset or a permutation; indices may repeat).
    ///
    /// # Panics
    /// If an index is `>= len()`.
    pub fn select(&self, idx: &[usize]) -> Dataset {
        let mut x = Vec::with_capacity(idx.len() * self.n_in);
        let mut y = Vec::with_capacity(idx.len() * self.n_out);
        for &i in idx {
            x.extend_from_slice(self.x_row(i));
            y.extend_from_slice(self.y_row(i));
        }
        let labels = self
            .labels
            .as_ref()
            .map(|l| idx.iter().map(|&i| l[i]).collect());
        Dataset {
            n_in: self.n_in,
            n_out: self.n_out,
            x,
            y,
            labels,
        }
    }

    /// Number of classes (`n_out`) when labels are present, else `None`.
    pub fn n_classes(&self) -> Option<usize> {
        self.labels.as_ref().map(|_| self.n_out)
    }
}

/// Target soma potentials for class labels: `u_high` at the label, `u_low` elsewhere.
fn one_hot_targets(labels: &[usize], n_classes: usize, u_high: f64, u_low: f64) -> Vec<f64> {
    let mut y = vec![u_low; labels.len() * n_classes];
    for (row, &c) in labels.iter().enumerate() {
        assert!(c < n_classes, "label {c} out of range 0..{n_classes}");
        y[row * n_classes + c] = u_high;
    }
    y
}

/// Training, validation and test sets of one instance (validation and test may be empty).
#[derive(Clone, Debug)]
pub struct TaskData {
    pub train: Dataset,
    pub val: Dataset,
    pub test: Dataset,
}

impl TaskData {
    /// Whether the sets carry class labels (accuracy is reported) or are regression sets.
    pub fn is_classification(&self) -> bool {
        self.train.labels.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Dataset {
        Dataset::classification(2, vec![0., 1., 2., 3., 4., 5.], vec![2, 0, 1], 3, 1.0, -1.0)
    }

    #[test]
    fn classification_targets_and_rows() {
        let ds = small();
        assert_eq!(ds.len(), 3);
        assert!(!ds.is_empty());
        assert_eq!(ds.n_classes(), Some(3));
        assert_eq!(ds.x_row(1), &[2., 3.]);
        assert_eq!(ds.y_row(0), &[-1., -1., 1.]);
        assert_eq!(ds.y_row(1), &[1., -1., -1.]);
    }

    #[test]
    fn select_permutes_rows_and_labels() {
        let ds = small();
        let s = ds.select(&[2, 0]);
        assert_eq!(s.len(), 2);
        assert_eq!(s.x, vec![4., 5., 0., 1.]);
        assert_eq!(s.labels, Some(vec![1, 2]));
        assert_eq!(s.y_row(1), ds.y_row(0));
        assert_eq!(ds.select(&[0, 1, 2]), ds);
    }

    #[test]
    fn regression_has_no_classes() {
        let ds = Dataset::regression(1, 2, vec![0.5, 0.25], vec![1., 2., 3., 4.]);
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.n_classes(), None);
        assert_eq!(ds.y_row(1), &[3., 4.]);
        assert!(Dataset::regression(1, 1, vec![], vec![]).is_empty());
    }
}
