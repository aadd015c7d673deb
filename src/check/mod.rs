//! Cross-backend check: the same instances, initial weights and pattern stream on several
//! backends, compared compartment by compartment and weight type by weight type. Used by
//! `pyralnet check`; [`gclusteron`] does the same for the G-clusteron (locations, weights,
//! biases, outputs).

pub mod gclusteron;

use crate::microcircuit::backend::{Backend, Chunk};
use crate::microcircuit::full::cpu::State;

/// How far values `a` lie from reference values `b`, relative to the size of `b`:
/// `max = max_k |a_k − b_k| / max_k |b_k|` and `rms = sqrt(Σ_k (a_k − b_k)² / Σ_k b_k²)`
/// (both 0 when `a = b`, also for an all-zero `b`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Deviation {
    pub max: f64,
    pub rms: f64,
}

impl Deviation {
    /// The deviation of `a` from `b` (paired values; lengths must agree).
    pub fn of(a: &[f64], b: &[f64]) -> Deviation {
        assert_eq!(a.len(), b.len(), "paired values");
        let (mut d_max, mut b_max, mut d2, mut b2) = (0.0f64, 0.0f64, 0.0, 0.0);
        for (&x, &y) in a.iter().zip(b) {
            let d = (x - y).abs();
            d_max = d_max.max(d);
            b_max = b_max.max(y.abs());
            d2 += d * d;
            b2 += y * y;
        }
        let rel = |num: f64, den: f64| {
            if num == 0.0 {
                0.0
            } else if den == 0.0 {
                f64::INFINITY
            } else {
                num / den
            }
        };
        Deviation {
            max: rel(d_max, b_max),
            rms: rel(d2, b2).sqrt(),
        }
    }
}

/// What kind of quantity a [`Quantity`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Soma potentials at the end of the run, or the readouts of every pattern.
    Compartment,
    /// A weight matrix type of one layer at the end of the run.
    Weight,
}

/// One compared quantity, its values concatenated over the instances.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantity {
    /// `layer<l>.u_p`, `layer<l>.u_i`, `readout`, or `layer<l>.W_up` (`W_down`, `W_pi`, `W_ip`).
    pub name: String,
    pub kind: Kind,
    pub values: Vec<f64>,
}

/// The quantities of one backend after a run: pyramidal somas per layer, interneuron somas per
/// hidden layer, the readouts of every pattern, then every weight matrix type per layer.
pub fn quantities(states: &[State<f64>], readouts: &[Vec<f64>]) -> Vec<Quantity> {
    let mut out = Vec::new();
    let mut push =
        |name: String, kind: Kind, values: Vec<f64>| out.push(Quantity { name, kind, values });
    let Some(first) = states.first() else {
        return Vec::new();
    };
    for l in 0..first.u_p.len() {
        let v = states.iter().flat_map(|s| s.u_p[l].clone()).collect();
        push(format!("layer{l}.u_p"), Kind::Compartment, v);
    }
    for l in 0..first.u_i.len() {
        let v = states.iter().flat_map(|s| s.u_i[l].clone()).collect();
        push(format!("layer{l}.u_i"), Kind::Compartment, v);
    }
    push("readout".into(), Kind::Compartment, readouts.concat());
    for (k, (name, _)) in first.w.named().into_iter().enumerate() {
        let v = states
            .iter()
            .flat_map(|s| s.w.named()[k].1.data.clone())
            .collect();
        push(name, Kind::Weight, v);
    }
    out
}

/// Trains `backend` on `chunk` and returns its name and quantities.
pub fn run(backend: &mut dyn Backend, chunk: &Chunk) -> anyhow::Result<(String, Vec<Quantity>)> {
    let readouts = backend.train(chunk)?;
    let states = backend.snapshot()?;
    Ok((backend.name(), quantities(&states, &readouts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deviation_is_relative_to_the_reference() {
        let d = Deviation::of(&[1.0, 2.5], &[1.0, 2.0]);
        assert_eq!(d.max, 0.25);
        assert!((d.rms - (0.25f64 / 5.0).sqrt()).abs() < 1e-15);
        assert_eq!(Deviation::of(&[0.0], &[0.0]), Deviation::default());
        assert_eq!(Deviation::of(&[1.0], &[0.0]).rms, f64::INFINITY);
    }
}
