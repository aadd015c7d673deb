//! Cross-backend check of the G-clusteron (`pyralnet check` on a gclusteron config): the same
//! instances, initial states and minibatch indices on several backends, compared quantity by
//! quantity (locations, weights, biases, validation outputs).

use super::{Kind, Quantity};
use crate::gclusteron::backend::{GcBackend, KernelAt};

/// Trains `backend` for `steps` iterations on `rows` and returns its name and quantities:
/// `l`, `w`, `b` of every instance at the end, and `o` on the validation set (set 1).
pub fn run(
    backend: &mut dyn GcBackend,
    steps: usize,
    rows: &[Vec<u32>],
) -> anyhow::Result<(String, Vec<Quantity>)> {
    backend.train(steps, rows)?;
    let states = backend.states()?;
    let o = backend.outputs(1, KernelAt::Current)?;
    let cat = |f: fn(&crate::gclusteron::GcState<f64>) -> &Vec<f64>| {
        states
            .iter()
            .flat_map(|s| f(s).clone())
            .collect::<Vec<f64>>()
    };
    let q = |name: &str, kind, values| Quantity {
        name: name.into(),
        kind,
        values,
    };
    Ok((
        backend.name(),
        vec![
            q("l", Kind::Weight, cat(|s| &s.l)),
            q("w", Kind::Weight, cat(|s| &s.w)),
            q("b", Kind::Weight, cat(|s| &s.b)),
            q("o (validation)", Kind::Compartment, o.concat()),
        ],
    ))
}
