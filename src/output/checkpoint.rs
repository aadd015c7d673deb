//! Checkpoints of a run: the dynamic state of every instance and the progress of the protocol,
//! written so that a crash at any moment leaves a complete checkpoint behind.
//!
//! Layout in the run folder: `checkpoint/progress.json` and `checkpoint/states.npz`, which holds
//! instance i's arrays under the prefix `instance_<i>/` (one file, so a checkpoint of thousands
//! of instances costs one sync, not one per instance).
//! A new checkpoint is written to `checkpoint.new/` (progress.json last, which marks it
//! complete), then `checkpoint/` is renamed to `checkpoint.old/`, `checkpoint.new/` to
//! `checkpoint/`, and `checkpoint.old/` removed. Reading takes the first complete one of
//! `checkpoint/`, `checkpoint.new/`, `checkpoint.old/`.

use crate::atomic::{write_atomic, write_text};
use crate::microcircuit::full::cpu::State;
use crate::microcircuit::{Shape, Weights};
use anyhow::{bail, Context};
use ndarray::{Array1, Array2};
use ndarray_npy::{NpzReader, NpzWriter};
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};

const PROGRESS: &str = "progress.json";

const STATES: &str = "states.npz";

/// Writes a checkpoint of the microcircuit's `states` (each with its instance index) and
/// `progress` into `dir`.
pub fn write_checkpoint<P: Serialize>(
    dir: &Path,
    progress: &P,
    states: &[(usize, State<f64>)],
) -> anyhow::Result<()> {
    write_checkpoint_with(dir, progress, |path| write_states(path, states))
}

/// Writes a checkpoint of `progress` into `dir`, whose states `write_states(path)` writes to
/// `path` (the checkpoint's `states.npz`; any model's arrays).
pub fn write_checkpoint_with<P: Serialize>(
    dir: &Path,
    progress: &P,
    write_states: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let new = dir.join("checkpoint.new");
    let cur = dir.join("checkpoint");
    let old = dir.join("checkpoint.old");
    if new.exists() {
        std::fs::remove_dir_all(&new)?;
    }
    std::fs::create_dir_all(&new)?;
    write_states(&new.join(STATES))?;
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

/// The newest complete checkpoint in `dir`, if any: its progress and its folder (for
/// [`read_states`]).
pub fn read_progress<P: DeserializeOwned>(dir: &Path) -> anyhow::Result<Option<(P, PathBuf)>> {
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
    Ok(Some((progress, ck)))
}

/// The states of the instances with the given indices from the checkpoint folder `ck` found by
/// [`read_progress`].
pub fn read_states(ck: &Path, shape: &Shape, indices: &[usize]) -> anyhow::Result<Vec<State<f64>>> {
    let path = ck.join(STATES);
    let file = std::fs::File::open(&path)
        .with_context(|| format!("checkpoint file {} is missing", path.display()))?;
    let mut npz = NpzReader::new(file).with_context(|| format!("{} is damaged", path.display()))?;
    indices
        .iter()
        .map(|i| read_state(&mut npz, &format!("instance_{i}/"), shape))
        .collect::<anyhow::Result<Vec<_>>>()
        .with_context(|| format!("checkpoint {}", path.display()))
}

/// The states file of the checkpoint folder `ck` found by [`read_progress`].
pub fn states_file(ck: &Path) -> PathBuf {
    ck.join(STATES)
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

fn write_states(path: &Path, states: &[(usize, State<f64>)]) -> anyhow::Result<()> {
    write_atomic(path, |f| {
        let mut npz = NpzWriter::new(f);
        for (index, st) in states {
            let at = |name: &str| format!("instance_{index}/{name}");
            for (prefix, w) in [("w", &st.w), ("delta", &st.delta)] {
                for (name, m) in w.named() {
                    npz.add_array(
                        at(&format!("{prefix}.{name}")).as_str(),
                        &Array2::from_shape_vec((m.rows, m.cols), m.data.clone())?,
                    )?;
                }
            }
            for (l, u) in st.u_p.iter().enumerate() {
                npz.add_array(at(&format!("u_p.{l}")).as_str(), &Array1::from(u.clone()))?;
            }
            for (l, u) in st.u_i.iter().enumerate() {
                npz.add_array(at(&format!("u_i.{l}")).as_str(), &Array1::from(u.clone()))?;
            }
            npz.add_array(at("r0").as_str(), &Array1::from(st.r0.clone()))?;
            npz.add_array(at("u_tgt").as_str(), &Array1::from(st.u_tgt.clone()))?;
            npz.add_array(at("step").as_str(), &Array1::from(vec![st.step]))?;
        }
        npz.finish()?;
        Ok(())
    })
}

/// The state stored under `prefix` (e.g. `instance_3/`) in a checkpoint's npz.
fn read_state(
    npz: &mut NpzReader<std::fs::File>,
    prefix: &str,
    shape: &Shape,
) -> anyhow::Result<State<f64>> {
    let mut st = State::new(shape, Weights::<f64>::zeros(shape));
    let names: Vec<String> = st.w.named().into_iter().map(|(n, _)| n).collect();
    for name in &names {
        for (kind, w) in [("w", &mut st.w), ("delta", &mut st.delta)] {
            let key = format!("{prefix}{kind}.{name}");
            let a: Array2<f64> = npz
                .by_name(&format!("{key}.npy"))
                .with_context(|| format!("{key} is missing"))?;
            let m = w.get_mut(name).expect("named matrix");
            if a.dim() != (m.rows, m.cols) {
                bail!("{key} has the wrong shape");
            }
            m.data = a.iter().copied().collect();
        }
    }
    let mut vec = |name: String, len: usize| -> anyhow::Result<Vec<f64>> {
        let key = format!("{prefix}{name}");
        let a: Array1<f64> = npz
            .by_name(&format!("{key}.npy"))
            .with_context(|| format!("{key} is missing"))?;
        if a.len() != len {
            bail!("{key} has the wrong length");
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
    let key = format!("{prefix}step");
    let step: Array1<u64> = npz
        .by_name(&format!("{key}.npy"))
        .with_context(|| format!("{key} is missing"))?;
    st.step = *step.first().context("empty step")?;
    Ok(st)
}
