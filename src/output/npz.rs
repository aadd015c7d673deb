//! `.npz` files of weights and traces, readable with `numpy.load`.
//!
//! Weight arrays are named `layer{l}.{W_up,W_down,W_pi,W_ip}` with `l = 0` the first hidden
//! layer (model layer k = l + 1); shapes as in MODEL.md section 1 (rows = postsynaptic cells,
//! the bias column last).

use crate::atomic::write_atomic;
use crate::microcircuit::backend::Trace;
use crate::microcircuit::{Shape, Weights};
use anyhow::{bail, Context};
use ndarray::{Array1, Array2, Ix2, OwnedRepr};
use ndarray_npy::{NpzReader, NpzWriter};
use std::path::Path;

/// Writes every weight matrix of `w` to `path`.
pub fn write_weights(path: &Path, w: &Weights<f64>) -> anyhow::Result<()> {
    write_atomic(path, |f| {
        let mut npz = NpzWriter::new(f);
        for (name, m) in w.named() {
            let a = Array2::from_shape_vec((m.rows, m.cols), m.data.clone())?;
            npz.add_array(name.as_str(), &a)?;
        }
        npz.finish()?;
        Ok(())
    })
}

/// Reads weights for a network of `shape` from `path`; every matrix must be present with the
/// right shape (extra arrays are an error too, so a file for another network is not half-used).
pub fn read_weights(path: &Path, shape: &Shape) -> anyhow::Result<Weights<f64>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open weights file {}", path.display()))?;
    let mut npz =
        NpzReader::new(file).with_context(|| format!("{} is not an .npz file", path.display()))?;
    let mut w = Weights::<f64>::zeros(shape);
    let wanted: Vec<String> = w.named().into_iter().map(|(n, _)| n).collect();
    let present: Vec<String> = npz
        .names()?
        .into_iter()
        .map(|n| n.trim_end_matches(".npy").to_string())
        .collect();
    for name in &present {
        if !wanted.contains(name) {
            bail!(
                "{}: array `{name}` does not belong to a network of dims {:?} (bias: {}); expected {}",
                path.display(),
                shape.dims,
                shape.bias,
                wanted.join(", ")
            );
        }
    }
    for name in &wanted {
        if !present.contains(name) {
            bail!(
                "{}: array `{name}` is missing (expected {})",
                path.display(),
                wanted.join(", ")
            );
        }
        let a = read_matrix(&mut npz, name).with_context(|| {
            format!(
                "{}: array `{name}` must be a 2-D float64 or float32 array",
                path.display()
            )
        })?;
        let m = w.get_mut(name).expect("named matrix exists");
        if a.dim() != (m.rows, m.cols) {
            bail!(
                "{}: array `{name}` has shape {:?}, expected ({}, {})",
                path.display(),
                a.dim(),
                m.rows,
                m.cols
            );
        }
        if a.iter().any(|v| !v.is_finite()) {
            bail!("{}: array `{name}` holds non-finite values", path.display());
        }
        m.data = a.iter().copied().collect();
    }
    Ok(w)
}

/// The 2-D array `name` (or `name.npy`) of `npz`, float64 or float32 (converted exactly to
/// f64), stored or deflate-compressed (`numpy.savez` and `numpy.savez_compressed`).
fn read_matrix<R: std::io::Read + std::io::Seek>(
    npz: &mut NpzReader<R>,
    name: &str,
) -> anyhow::Result<Array2<f64>> {
    let mut first = None;
    for n in [name.to_string(), format!("{name}.npy")] {
        match npz.by_name::<OwnedRepr<f64>, Ix2>(&n) {
            Ok(a) => return Ok(a),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
        if let Ok(a) = npz.by_name::<OwnedRepr<f32>, Ix2>(&n) {
            return Ok(a.mapv(f64::from));
        }
    }
    Err(first.expect("tried a name").into())
}

/// Writes one instance's traces: `step` (global training step of each sample) and one
/// (samples × width) array per recorded quantity.
pub fn write_trace(path: &Path, t: &Trace) -> anyhow::Result<()> {
    write_atomic(path, |f| {
        let mut npz = NpzWriter::new(f);
        npz.add_array("step", &Array1::from(t.step.clone()))?;
        for (name, width, values) in &t.arrays {
            let a = Array2::from_shape_vec((values.len() / width.max(&1), *width), values.clone())?;
            npz.add_array(name.as_str(), &a)?;
        }
        npz.finish()?;
        Ok(())
    })
}
