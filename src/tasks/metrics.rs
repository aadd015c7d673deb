//! Readout metrics of every model (MODEL.md section 4): prediction = argmax of the readout (the
//! microcircuit's mean output soma), regression error = mean squared error against the targets.

use super::Dataset;
use serde::{Deserialize, Serialize};

/// Accuracy (classification sets only) and MSE of one instance on one set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    #[serde(default, with = "float_json::option")]
    pub acc: Option<f64>,
    #[serde(default, with = "float_json::option")]
    pub mse: Option<f64>,
}

/// f64 values that keep NaN and ±∞ through JSON, which has no such numbers (serde_json writes
/// them as `null`, which does not read back as an f64): they are written as the strings
/// `"NaN"`, `"inf"`, `"-inf"`, and `null` reads as NaN. Finite values are plain numbers, so
/// files without non-finite values are unchanged. Checkpoints of diverged instances need it.
pub mod float_json {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(f64),
        Text(String),
        Null(()),
    }

    fn of(r: Repr) -> Result<f64, String> {
        match r {
            Repr::Number(v) => Ok(v),
            Repr::Null(()) => Ok(f64::NAN),
            Repr::Text(t) => match t.as_str() {
                "NaN" => Ok(f64::NAN),
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                _ => Err(format!("`{t}` is not a number")),
            },
        }
    }

    fn text(v: f64) -> &'static str {
        match v {
            v if v.is_nan() => "NaN",
            v if v > 0.0 => "inf",
            _ => "-inf",
        }
    }

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        match v.is_finite() {
            true => s.serialize_f64(*v),
            false => s.serialize_str(text(*v)),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        of(Repr::deserialize(d)?).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<f64>`: `None` is `null` (so `null` reads as `None` here).
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => super::serialize(v, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            match Repr::deserialize(d)? {
                Repr::Null(()) => Ok(None),
                r => of(r).map(Some).map_err(serde::de::Error::custom),
            }
        }
    }
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

    #[test]
    fn non_finite_values_survive_json() {
        for m in [
            Metrics {
                acc: Some(0.5),
                mse: Some(f64::NAN),
            },
            Metrics {
                acc: None,
                mse: Some(f64::INFINITY),
            },
            Metrics {
                acc: Some(1.0),
                mse: Some(f64::NEG_INFINITY),
            },
            Metrics::default(),
        ] {
            let text = serde_json::to_string(&m).unwrap();
            let back: Metrics = serde_json::from_str(&text).unwrap();
            assert_eq!(format!("{back:?}"), format!("{m:?}"), "{text}");
        }
        // finite values are plain numbers, as before
        let m = Metrics {
            acc: Some(0.25),
            mse: Some(0.1),
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"acc":0.25,"mse":0.1}"#
        );
    }
}
