//! Data sets read from files: CSV text or numpy `.npy` arrays.
//!
//! Every error message names the file, the line or row where it applies,
//! and what would have been allowed. Nothing in here panics on file content.

use super::Dataset;
use anyhow::{bail, Context, Result};
use ndarray::ArrayD;
use ndarray_npy::{read_npy, ReadNpyError, ReadableElement};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::Path;

/// What the targets in a file are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// One integer class label per row, `0..n_classes` (`n_classes` = the network's outputs,
    /// whatever labels the file happens to contain).
    Labels {
        /// Number of classes.
        n_classes: usize,
    },
    /// `n_out` real-valued targets per row.
    Regression {
        /// Number of target columns.
        n_out: usize,
    },
}

/// Loads a CSV data set (comma separated).
///
/// Blank lines and lines starting with `#` are skipped. The first remaining
/// line is a header if any of its fields does not parse as a number. For
/// [`TargetKind::Labels`] the columns are the features followed by one
/// integer label column; for [`TargetKind::Regression`] the last `n_out`
/// columns are the targets. If `n_in` is given, the number of feature
/// columns must equal it. Classification targets are `u_high` / `u_low`.
pub fn load_csv(
    path: &Path,
    kind: TargetKind,
    n_in: Option<usize>,
    u_high: f64,
    u_low: f64,
) -> Result<Dataset> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read data file {}", path.display()))?;
    let table = parse_csv(&text, path)?;
    let n_target = match kind {
        TargetKind::Labels { .. } => 1,
        TargetKind::Regression { n_out } => n_out,
    };
    let n_feat = feature_count(&table, n_target, n_in, path)?;
    let (x, targets) = split_columns(&table.values, table.n_fields, n_feat);
    match kind {
        TargetKind::Labels { n_classes } => {
            let labels = csv_labels(&targets, &table.line_numbers, n_classes, path)?;
            Ok(Dataset::classification(
                n_feat, x, labels, n_classes, u_high, u_low,
            ))
        }
        TargetKind::Regression { n_out } => Ok(Dataset::regression(n_feat, n_out, x, targets)),
    }
}

/// Numeric rows of a CSV file.
struct CsvTable {
    /// Fields per row.
    n_fields: usize,
    /// All values, row-major.
    values: Vec<f64>,
    /// 1-based line number of each data row.
    line_numbers: Vec<usize>,
}

/// Parses the data rows of a CSV text (header, blank and comment lines skipped).
fn parse_csv(text: &str, path: &Path) -> Result<CsvTable> {
    let mut table = CsvTable {
        n_fields: 0,
        values: Vec::new(),
        line_numbers: Vec::new(),
    };
    let mut header_fields: Option<(usize, usize)> = None;
    let mut first_content = true;
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let is_first = std::mem::replace(&mut first_content, false);
        if is_first && !fields.iter().all(|f| f.parse::<f64>().is_ok()) {
            header_fields = Some((line_no, fields.len()));
            continue;
        }
        push_row(&mut table, &fields, line_no, header_fields, path)?;
    }
    if table.line_numbers.is_empty() {
        bail!(
            "{}: no data rows (expected comma-separated numeric rows after an optional header)",
            path.display()
        );
    }
    Ok(table)
}

/// Checks a row's field count and appends its parsed values.
fn push_row(
    table: &mut CsvTable,
    fields: &[&str],
    line_no: usize,
    header: Option<(usize, usize)>,
    path: &Path,
) -> Result<()> {
    if table.line_numbers.is_empty() {
        table.n_fields = fields.len();
        if let Some((h_line, h_fields)) = header {
            if h_fields != fields.len() {
                bail!(
                    "{}: header on line {h_line} has {h_fields} fields but line {line_no} has {}; \
                     they must match",
                    path.display(),
                    fields.len()
                );
            }
        }
    } else if fields.len() != table.n_fields {
        bail!(
            "{}: line {line_no} has {} fields, expected {}",
            path.display(),
            fields.len(),
            table.n_fields
        );
    }
    for (col, text) in fields.iter().enumerate() {
        table
            .values
            .push(parse_number(text, line_no, col + 1, path)?);
    }
    table.line_numbers.push(line_no);
    Ok(())
}

/// Parses one CSV field as a finite number.
fn parse_number(text: &str, line_no: usize, col: usize, path: &Path) -> Result<f64> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => bail!(
            "{}: line {line_no}, column {col}: value '{text}' is not finite (only finite numbers are allowed)",
            path.display()
        ),
        Err(_) => bail!(
            "{}: line {line_no}, column {col}: '{text}' is not a number (expected a finite decimal number)",
            path.display()
        ),
    }
}

/// Number of feature columns, given the number of target columns.
fn feature_count(
    table: &CsvTable,
    n_target: usize,
    n_in: Option<usize>,
    path: &Path,
) -> Result<usize> {
    if n_target == 0 {
        bail!(
            "{}: regression needs at least one target column (n_out >= 1)",
            path.display()
        );
    }
    if table.n_fields <= n_target {
        bail!(
            "{}: rows have {} fields, but {n_target} target column(s) plus at least one feature column are needed",
            path.display(),
            table.n_fields
        );
    }
    let n_feat = table.n_fields - n_target;
    match n_in {
        Some(n) if n != n_feat => bail!(
            "{}: {n_feat} feature columns found, but the network expects n_in = {n}",
            path.display()
        ),
        _ => Ok(n_feat),
    }
}

/// Splits row-major `values` with `n_fields` columns into the first
/// `n_feat` columns and the rest.
fn split_columns(values: &[f64], n_fields: usize, n_feat: usize) -> (Vec<f64>, Vec<f64>) {
    let mut x = Vec::with_capacity(values.len() / n_fields * n_feat);
    let mut t = Vec::with_capacity(values.len() / n_fields * (n_fields - n_feat));
    for row in values.chunks_exact(n_fields) {
        x.extend_from_slice(&row[..n_feat]);
        t.extend_from_slice(&row[n_feat..]);
    }
    (x, t)
}

/// Converts CSV label values into class indices `0..n_classes`.
fn csv_labels(
    values: &[f64],
    line_numbers: &[usize],
    n_classes: usize,
    path: &Path,
) -> Result<Vec<usize>> {
    values
        .iter()
        .zip(line_numbers)
        .map(|(&v, &line)| {
            if v >= 0.0 && v.fract() == 0.0 && v < n_classes as f64 {
                Ok(v as usize)
            } else {
                bail!(
                    "{}: line {line}: label {v} is not allowed; {}",
                    path.display(),
                    allowed_labels(n_classes)
                )
            }
        })
        .collect()
}

/// What labels may be, for error messages.
fn allowed_labels(n_classes: usize) -> String {
    format!(
        "labels must be integers 0 to {} (network.dims has {n_classes} outputs, one per class)",
        n_classes.saturating_sub(1)
    )
}

/// Loads a data set from two `.npy` files.
///
/// `x_path` holds a 2-D float array (float64 or float32), one row per
/// sample. For [`TargetKind::Labels`], `y_path` holds 1-D integer labels
/// (int64, int32 or uint8; each below `n_classes`); for
/// [`TargetKind::Regression`], a 2-D float array with `n_out` columns (or a
/// 1-D float array when `n_out` is 1). Row counts must match and all values
/// must be finite.
pub fn load_npy(
    x_path: &Path,
    y_path: &Path,
    kind: TargetKind,
    u_high: f64,
    u_low: f64,
) -> Result<Dataset> {
    let (n_rows, n_in, x) = load_features(x_path)?;
    match kind {
        TargetKind::Labels { n_classes } => {
            let labels = load_labels(y_path, n_classes)?;
            check_rows(x_path, n_rows, y_path, labels.len())?;
            Ok(Dataset::classification(
                n_in, x, labels, n_classes, u_high, u_low,
            ))
        }
        TargetKind::Regression { n_out } => {
            let y = load_targets(y_path, n_out)?;
            check_rows(x_path, n_rows, y_path, y.len() / n_out)?;
            Ok(Dataset::regression(n_in, n_out, x, y))
        }
    }
}

/// Reads the feature matrix: (rows, columns, row-major values).
fn load_features(path: &Path) -> Result<(usize, usize, Vec<f64>)> {
    let a = read_float_array(path, "features (float64 or float32, 2-D rows x features)")?;
    if a.ndim() != 2 {
        bail!(
            "{}: features must be a 2-D array (rows x features), found shape {:?}",
            path.display(),
            a.shape()
        );
    }
    let (rows, cols) = (a.shape()[0], a.shape()[1]);
    if rows == 0 || cols == 0 {
        bail!(
            "{}: features array of shape {:?} is empty (need at least one row and one column)",
            path.display(),
            a.shape()
        );
    }
    let x: Vec<f64> = a.iter().copied().collect();
    check_finite(&x, cols, path)?;
    Ok((rows, cols, x))
}

/// Reads regression targets with `n_out` columns, row-major.
fn load_targets(path: &Path, n_out: usize) -> Result<Vec<f64>> {
    let a = read_float_array(path, "regression targets (float64 or float32)")?;
    let shape_ok = match a.ndim() {
        1 => n_out == 1,
        2 => n_out >= 1 && a.shape()[1] == n_out,
        _ => false,
    };
    if !shape_ok {
        bail!(
            "{}: regression targets have shape {:?}; expected 2-D (rows x {n_out}){}",
            path.display(),
            a.shape(),
            if n_out == 1 { " or 1-D" } else { "" }
        );
    }
    let y: Vec<f64> = a.iter().copied().collect();
    check_finite(&y, n_out, path)?;
    Ok(y)
}

/// Reads 1-D integer class labels (int64, int32 or uint8), each below `n_classes`.
fn load_labels(path: &Path, n_classes: usize) -> Result<Vec<usize>> {
    const WHAT: &str = "labels (1-D int64, int32 or uint8)";
    let a: ArrayD<i64> = match try_read::<i64>(path, WHAT)? {
        Some(a) => a,
        None => match try_read::<i32>(path, WHAT)? {
            Some(a) => a.mapv(i64::from),
            None => match try_read::<u8>(path, WHAT)? {
                Some(a) => a.mapv(i64::from),
                None => bail!("{}: wrong dtype; expected {WHAT}", path.display()),
            },
        },
    };
    if a.ndim() != 1 {
        bail!(
            "{}: labels must be a 1-D array, found shape {:?}",
            path.display(),
            a.shape()
        );
    }
    a.iter()
        .enumerate()
        .map(|(row, &v)| match usize::try_from(v) {
            Ok(c) if c < n_classes => Ok(c),
            _ => bail!(
                "{}: row {row}: label {v} is not allowed; {}",
                path.display(),
                allowed_labels(n_classes)
            ),
        })
        .collect()
}

/// Reads a float64 or float32 array of any dimension as f64.
fn read_float_array(path: &Path, what: &str) -> Result<ArrayD<f64>> {
    if let Some(a) = try_read::<f64>(path, what)? {
        return Ok(a);
    }
    match try_read::<f32>(path, what)? {
        Some(a) => Ok(a.mapv(f64::from)),
        None => bail!("{}: wrong dtype; expected {what}", path.display()),
    }
}

/// Reads an array of element type `T`; `Ok(None)` if the file holds another dtype.
fn try_read<T: ReadableElement>(path: &Path, what: &str) -> Result<Option<ArrayD<T>>> {
    match read_npy::<_, ArrayD<T>>(path) {
        Ok(a) => Ok(Some(a)),
        Err(ReadNpyError::WrongDescriptor(_)) => Ok(None),
        Err(ReadNpyError::Io(e)) => {
            Err(e).with_context(|| format!("cannot read {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "{}: not a valid .npy file (expected {what})",
                path.display()
            )
        }),
    }
}

/// Rejects NaN or infinite values, naming the row and column.
fn check_finite(values: &[f64], n_cols: usize, path: &Path) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => bail!(
            "{}: row {}, column {}: value {} is not finite (only finite numbers are allowed)",
            path.display(),
            i / n_cols,
            i % n_cols,
            values[i]
        ),
    }
}

/// Requires the features and targets files to hold the same number of rows.
fn check_rows(x_path: &Path, x_rows: usize, y_path: &Path, y_rows: usize) -> Result<()> {
    if x_rows != y_rows {
        bail!(
            "row count mismatch: {} has {x_rows} rows but {} has {y_rows}",
            x_path.display(),
            y_path.display()
        );
    }
    Ok(())
}

/// Writes a labelled set as CSV: a header of the feature `names` and `label`, then one row per
/// sample with full-precision floats (shortest round-trip formatting), written atomically.
pub fn write_csv(ds: &Dataset, names: &[&str], path: &Path) -> Result<()> {
    let Some(labels) = ds.labels.as_ref() else {
        bail!(
            "cannot export to {}: the data set has no class labels",
            path.display()
        );
    };
    let mut text = names.join(",") + ",label\n";
    for (i, label) in labels.iter().enumerate() {
        for v in ds.x_row(i) {
            text += &format!("{v},");
        }
        text += &format!("{label}\n");
    }
    crate::atomic::write_text(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array1, Array2};
    use ndarray_npy::write_npy;
    use std::path::PathBuf;
    use tempfile::TempDir;

    fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
        let p = dir.path().join(name);
        fs::write(&p, text).unwrap();
        p
    }

    fn csv_err(text: &str, kind: TargetKind, n_in: Option<usize>) -> String {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "d.csv", text);
        let err = load_csv(&p, kind, n_in, 1.0, 0.0).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("d.csv"), "{msg}");
        msg
    }

    #[test]
    fn good_csv_with_header_comments_and_blanks() {
        let dir = tempfile::tempdir().unwrap();
        let text = "# a comment\na,b,label\n0.5,1e-1,2\n\n  1, 2 ,0\n# end\n3,4,1\n";
        let p = write(&dir, "g.csv", text);
        let ds = load_csv(&p, TargetKind::Labels { n_classes: 3 }, Some(2), 0.9, 0.1).unwrap();
        assert_eq!(ds.len(), 3);
        assert_eq!(ds.n_in, 2);
        assert_eq!(ds.n_classes(), Some(3));
        assert_eq!(ds.x, vec![0.5, 0.1, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(ds.labels, Some(vec![2, 0, 1]));
        assert_eq!(ds.y_row(0), &[0.1, 0.1, 0.9]);
    }

    #[test]
    fn csv_without_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "n.csv", "1,2,0\n3,4,1\n");
        let ds = load_csv(&p, TargetKind::Labels { n_classes: 3 }, None, 1.0, 0.0).unwrap();
        assert_eq!(ds.len(), 2);
    }

    #[test]
    fn regression_csv() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "r.csv", "x,t1,t2\n1,2,3\n4,5,6\n");
        let ds = load_csv(&p, TargetKind::Regression { n_out: 2 }, None, 1.0, 0.0).unwrap();
        assert_eq!((ds.n_in, ds.n_out, ds.len()), (1, 2, 2));
        assert_eq!(ds.x, vec![1.0, 4.0]);
        assert_eq!(ds.y, vec![2.0, 3.0, 5.0, 6.0]);
        assert_eq!(ds.labels, None);
    }

    #[test]
    fn ragged_csv_names_line() {
        let text = "h1,h2,h3,h4,h5\n1,2,3,4,0\n\n1,2,3,4,0\n1,2,3,4,0\n# c\n1,2,3,0\n";
        let msg = csv_err(text, TargetKind::Labels { n_classes: 3 }, None);
        assert!(msg.contains("line 7 has 4 fields, expected 5"), "{msg}");
    }

    #[test]
    fn non_numeric_and_non_finite_csv() {
        let msg = csv_err(
            "1,2,0\n1,abc,1\n",
            TargetKind::Labels { n_classes: 3 },
            None,
        );
        assert!(
            msg.contains("line 2, column 2") && msg.contains("'abc'"),
            "{msg}"
        );
        let msg = csv_err(
            "1,2,0\n1,inf,1\n",
            TargetKind::Labels { n_classes: 3 },
            None,
        );
        assert!(
            msg.contains("line 2, column 2") && msg.contains("not finite"),
            "{msg}"
        );
    }

    #[test]
    fn bad_labels_csv() {
        let msg = csv_err(
            "x,label\n1,0\n2,-1\n",
            TargetKind::Labels { n_classes: 3 },
            None,
        );
        assert!(msg.contains("line 3") && msg.contains("label -1"), "{msg}");
        let msg = csv_err("1,0\n2,1.5\n", TargetKind::Labels { n_classes: 3 }, None);
        assert!(msg.contains("line 2") && msg.contains("label 1.5"), "{msg}");
    }

    /// The classes come from the network, not from the largest label: a file without the top
    /// class still has `n_classes` target columns, and a label ≥ `n_classes` is refused with
    /// the file and line (CSV) or row (npy).
    #[test]
    fn classes_come_from_the_network() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "short.csv", "1,0\n2,1\n");
        let ds = load_csv(&p, TargetKind::Labels { n_classes: 3 }, None, 1.0, 0.1).unwrap();
        assert_eq!(ds.n_classes(), Some(3));
        assert_eq!(ds.y_row(1), &[0.1, 1.0, 0.1]);
        let msg = csv_err("1,0\n2,3\n", TargetKind::Labels { n_classes: 3 }, None);
        assert!(
            msg.contains("line 2") && msg.contains("label 3") && msg.contains("0 to 2"),
            "{msg}"
        );
        let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
        write_npy(&xp, &array![[0.0], [1.0]]).unwrap();
        write_npy(&yp, &array![0i64, 1]).unwrap();
        let ds = load_npy(&xp, &yp, TargetKind::Labels { n_classes: 4 }, 1.0, 0.0).unwrap();
        assert_eq!(ds.n_classes(), Some(4));
        write_npy(&yp, &array![0i64, 4]).unwrap();
        let err = load_npy(&xp, &yp, TargetKind::Labels { n_classes: 4 }, 1.0, 0.0).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("y.npy") && msg.contains("row 1") && msg.contains("label 4"),
            "{msg}"
        );
    }

    #[test]
    fn csv_shape_errors() {
        let msg = csv_err("# only\nx,y\n\n", TargetKind::Labels { n_classes: 3 }, None);
        assert!(msg.contains("no data rows"), "{msg}");
        let msg = csv_err("1,2,0\n", TargetKind::Labels { n_classes: 3 }, Some(3));
        assert!(msg.contains("n_in = 3"), "{msg}");
        let msg = csv_err("a,b\n1,2,0\n", TargetKind::Labels { n_classes: 3 }, None);
        assert!(msg.contains("header on line 1"), "{msg}");
        let msg = csv_err("1,2\n", TargetKind::Regression { n_out: 2 }, None);
        assert!(msg.contains("at least one feature"), "{msg}");
    }

    #[test]
    fn missing_csv_names_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nowhere.csv");
        let msg = format!(
            "{:#}",
            load_csv(&p, TargetKind::Labels { n_classes: 3 }, None, 1.0, 0.0).unwrap_err()
        );
        assert!(msg.contains(&p.display().to_string()), "{msg}");
    }

    #[test]
    fn npy_round_trip_labels_i64() {
        let dir = tempfile::tempdir().unwrap();
        let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
        let x: Array2<f64> = array![[0.5, 1.0], [2.0, 3.0], [4.0, 5.0]];
        write_npy(&xp, &x).unwrap();
        write_npy(&yp, &Array1::<i64>::from(vec![1, 0, 1])).unwrap();
        let ds = load_npy(&xp, &yp, TargetKind::Labels { n_classes: 2 }, 1.0, -1.0).unwrap();
        assert_eq!(ds.x, vec![0.5, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(ds.labels, Some(vec![1, 0, 1]));
        assert_eq!(ds.y_row(0), &[-1.0, 1.0]);
        write_npy(&yp, &Array1::<u8>::from(vec![2, 0, 1])).unwrap();
        let ds = load_npy(&xp, &yp, TargetKind::Labels { n_classes: 3 }, 1.0, 0.0).unwrap();
        assert_eq!(ds.n_classes(), Some(3));
    }

    #[test]
    fn npy_round_trip_regression_f32() {
        let dir = tempfile::tempdir().unwrap();
        let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("t.npy"));
        write_npy(&xp, &array![[1.0f32], [2.0f32]]).unwrap();
        write_npy(&yp, &array![[0.25f32, 0.5], [1.5, -2.0]]).unwrap();
        let kind = TargetKind::Regression { n_out: 2 };
        let ds = load_npy(&xp, &yp, kind, 1.0, 0.0).unwrap();
        assert_eq!(ds.x, vec![1.0, 2.0]);
        assert_eq!(ds.y, vec![0.25, 0.5, 1.5, -2.0]);
        write_npy(&yp, &array![0.5f64, 0.75]).unwrap();
        let ds = load_npy(&xp, &yp, TargetKind::Regression { n_out: 1 }, 1.0, 0.0).unwrap();
        assert_eq!(ds.y, vec![0.5, 0.75]);
    }

    #[test]
    fn npy_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
        write_npy(&xp, &array![[0.0, 1.0], [2.0, 3.0]]).unwrap();
        write_npy(&yp, &array![0i64, 1, 1]).unwrap();
        let msg = format!(
            "{:#}",
            load_npy(&xp, &yp, TargetKind::Labels { n_classes: 3 }, 1.0, 0.0).unwrap_err()
        );
        assert!(
            msg.contains("x.npy has 2 rows") && msg.contains("y.npy has 3"),
            "{msg}"
        );
        write_npy(&yp, &array![0i64, -1]).unwrap();
        let msg = format!(
            "{:#}",
            load_npy(&xp, &yp, TargetKind::Labels { n_classes: 3 }, 1.0, 0.0).unwrap_err()
        );
        assert!(msg.contains("row 1") && msg.contains("label -1"), "{msg}");
        write_npy(&yp, &array![0.0f64, 1.0]).unwrap();
        let msg = format!(
            "{:#}",
            load_npy(&xp, &yp, TargetKind::Labels { n_classes: 3 }, 1.0, 0.0).unwrap_err()
        );
        assert!(msg.contains("int64, int32 or uint8"), "{msg}");
        let missing = dir.path().join("missing.npy");
        let msg = format!(
            "{:#}",
            load_npy(&missing, &yp, TargetKind::Labels { n_classes: 3 }, 1.0, 0.0).unwrap_err()
        );
        assert!(msg.contains("missing.npy"), "{msg}");
        write_npy(&xp, &array![[0.0, f64::NAN]]).unwrap();
        write_npy(&yp, &array![0i64]).unwrap();
        let msg = format!(
            "{:#}",
            load_npy(&xp, &yp, TargetKind::Labels { n_classes: 3 }, 1.0, 0.0).unwrap_err()
        );
        assert!(msg.contains("row 0, column 1"), "{msg}");
    }
}
