//! Checkpoints of a run: the dynamic state of every instance and the progress of the protocol,
//! written so that a crash at any moment leaves a complete checkpoint behind.
//!
//! Layout in the run folder: `checkpoint/progress.json` and `checkpoint/instance_<i>.npz`.
//! A new checkpoint is written to `checkpoint.new/` (progress.json last, which marks it
//! complete), then `checkpoint/` is renamed to `checkpoint.old/`, `checkpoint.new/` to
//! `checkpoint/`, and `checkpoint.old/` removed. Reading takes the first complete one of
//! `checkpoint/`, `checkpoint.new/`, `checkpoint.old/`.

use super::{write_atomic, write_text};
use crate::cpu::State;
use crate::model::{Shape, Weights};
use anyhow::{bail, Context};
use ndarray::{Array1, Array2};
use ndarray_npy::{NpzReader, NpzWriter};
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};

const PROGRESS: &str = "progress.json";

/// Writes a checkpoint of `states` (indexed by instance position) and `progress` into `dir`.
pub fn write_checkpoint<P: Serialize>(
    dir: &Path,
    progress: &P,
    states: &[(usize, State<f64>)],
) -> anyhow::Result<()> {
    let new = dir.join("checkpoint.new");
    let cur = dir.join("checkpoint");
    let old = dir.join("checkpoint.old");
    if new.exists() {
        std::fs::remove_dir_all(&new)?;
    }
    std::fs::create_dir_all(&new)?;
    for (index, st) in states {
        write_state(&new.join(format!("instance_{index}.npz")), st)?;
    }
    write_text(&new.join(PROGRESS), &serde_json::to_string(progress)?)?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    if cur.exists() {
        std::fs::rename(&cur, &old)?;
    }
    std::fs::rename(&new, &cur)?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

/// The newest complete checkpoint in `dir`, if any: the progress and the states of the
/// instances with the given indices.
pub fn read_checkpoint<P: DeserializeOwned>(
    dir: &Path,
    shape: &Shape,
    indices: &[usize],
) -> anyhow::Result<Option<(P, Vec<State<f64>>)>> {
    let Some(ck) = ["checkpoint", "checkpoint.new", "checkpoint.old"]
        .iter()
        .map(|n| dir.join(n))
        .find(|d| d.join(PROGRESS).is_file())
    else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(ck.join(PROGRESS))?;
    let progress: P = serde_json::from_str(&text)
        .with_context(|| format!("{} is damaged", ck.join(PROGRESS).display()))?;
    let states = indices
        .iter()
        .map(|i| read_state(&ck.join(format!("instance_{i}.npz")), shape))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some((progress, states)))
}

/// Removes every checkpoint folder (after a run has finished and written its results).
pub fn remove_checkpoints(dir: &Path) -> anyhow::Result<()> {
    for n in ["checkpoint", "checkpoint.new", "checkpoint.old"] {
        let d: PathBuf = dir.join(n);
        if d.exists() {
            std::fs::remove_dir_all(&d)?;
        }
    }
    Ok(())
}

fn write_state(path: &Path, st: &State<f64>) -> anyhow::Result<()> {
    write_atomic(path, |f| {
        let mut npz = NpzWriter::new(f);
        for (prefix, w) in [("w", &st.w), ("delta", &st.delta)] {
            for (name, m) in w.named() {
                npz.add_array(
                    format!("{prefix}.{name}").as_str(),
                    &Array2::from_shape_vec((m.rows, m.cols), m.data.clone())?,
                )?;
            }
        }
        for (l, u) in st.u_p.iter().enumerate() {
            npz.add_array(format!("u_p.{l}").as_str(), &Array1::from(u.clone()))?;
        }
        for (l, u) in st.u_i.iter().enumerate() {
            npz.add_array(format!("u_i.{l}").as_str(), &Array1::from(u.clone()))?;
        }
        npz.add_array("r0", &Array1::from(st.r0.clone()))?;
        npz.add_array("u_tgt", &Array1::from(st.u_tgt.clone()))?;
        npz.add_array("step", &Array1::from(vec![st.step]))?;
        npz.finish()?;
        Ok(())
    })
}

fn read_state(path: &Path, shape: &Shape) -> anyhow::Result<State<f64>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("checkpoint file {} is missing", path.display()))?;
    let mut npz = NpzReader::new(file).with_context(|| format!("{} is damaged", path.display()))?;
    let mut st = State::new(shape, Weights::<f64>::zeros(shape));
    let names: Vec<String> = st.w.named().into_iter().map(|(n, _)| n).collect();
    for name in &names {
        for (prefix, w) in [("w", &mut st.w), ("delta", &mut st.delta)] {
            let a: Array2<f64> = npz
                .by_name(&format!("{prefix}.{name}.npy"))
                .with_context(|| format!("{}: {prefix}.{name}", path.display()))?;
            let m = w.get_mut(name).expect("named matrix");
            if a.dim() != (m.rows, m.cols) {
                bail!("{}: {prefix}.{name} has the wrong shape", path.display());
            }
            m.data = a.iter().copied().collect();
        }
    }
    let mut vec = |name: String, len: usize| -> anyhow::Result<Vec<f64>> {
        let a: Array1<f64> = npz
            .by_name(&format!("{name}.npy"))
            .with_context(|| format!("{}: {name}", path.display()))?;
        if a.len() != len {
            bail!("{}: {name} has the wrong length", path.display());
        }
        Ok(a.to_vec())
    };
    for l in 0..st.u_p.len() {
        st.u_p[l] = vec(format!("u_p.{l}"), st.u_p[l].len())?;
    }
    for l in 0..st.u_i.len() {
        st.u_i[l] = vec(format!("u_i.{l}"), st.u_i[l].len())?;
    }
    st.r0 = vec("r0".into(), st.r0.len())?;
    st.u_tgt = vec("u_tgt".into(), st.u_tgt.len())?;
    let step: Array1<u64> = npz
        .by_name("step.npy")
        .with_context(|| format!("{}: step", path.display()))?;
    st.step = *step.first().context("empty step")?;
    Ok(st)
}
