//! Checkpoints of the microcircuit's batch runner: every instance's [`State`] (weights, Δ,
//! somas, filtered stimulus, step) in the checkpoint's `states.npz`, instance i's arrays under
//! the prefix `instance_<i>/` (the folder layout is [`crate::checkpoint`]'s).

use crate::atomic::write_atomic;
use crate::checkpoint::{states_file, write_checkpoint_with};
use crate::microcircuit::full::cpu::State;
use crate::microcircuit::{Shape, Weights};
use anyhow::{bail, Context};
use ndarray::{Array1, Array2};
use ndarray_npy::{NpzReader, NpzWriter};
use serde::Serialize;
use std::path::Path;

/// Writes a checkpoint of the microcircuit's `states` (each with its instance index) and
/// `progress` into `dir`.
pub fn write_checkpoint<P: Serialize>(
    dir: &Path,
    progress: &P,
    states: &[(usize, State<f64>)],
) -> anyhow::Result<()> {
    write_checkpoint_with(dir, progress, |path| write_states(path, states))
}

/// The states of the instances with the given indices from the checkpoint folder `ck` found by
/// [`read_progress`].
pub fn read_states(ck: &Path, shape: &Shape, indices: &[usize]) -> anyhow::Result<Vec<State<f64>>> {
    let path = states_file(ck);
    let file = std::fs::File::open(&path)
        .with_context(|| format!("checkpoint file {} is missing", path.display()))?;
    let mut npz = NpzReader::new(file).with_context(|| format!("{} is damaged", path.display()))?;
    indices
        .iter()
        .map(|i| read_state(&mut npz, &format!("instance_{i}/"), shape))
        .collect::<anyhow::Result<Vec<_>>>()
        .with_context(|| format!("checkpoint {}", path.display()))
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
