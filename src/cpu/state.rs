//! The dynamic state of one instance: soma potentials, filtered stimulus, weights and Δ.

use crate::model::{Real, Shape, Weights};

/// Everything that evolves during a run. Potentials and Δ start at zero and are not reset
/// between patterns (MODEL.md section 3).
#[derive(Clone, Debug, PartialEq)]
pub struct State<F> {
    pub w: Weights<F>,
    /// Low-pass filtered plasticity terms, one per weight matrix.
    pub delta: Weights<F>,
    /// Pyramidal somas `u^P`, one vector per layer with neurons.
    pub u_p: Vec<Vec<F>>,
    /// Interneuron somas `u^I`, one vector per hidden layer.
    pub u_i: Vec<Vec<F>>,
    /// Filtered input rates `r_0`.
    pub r0: Vec<F>,
    /// Filtered target potentials `u_tgt`.
    pub u_tgt: Vec<F>,
    /// Euler steps taken on the training stream (keys the noise).
    pub step: u64,
}

impl<F: Real> State<F> {
    /// Zero potentials and Δ with the given weights.
    pub fn new(shape: &Shape, w: Weights<F>) -> Self {
        let n = shape.n_layers();
        State {
            delta: Weights::zeros(shape),
            w,
            u_p: (0..n).map(|l| vec![F::zero(); shape.n_pyr(l)]).collect(),
            u_i: (0..n - 1)
                .map(|l| vec![F::zero(); shape.n_inter(l)])
                .collect(),
            r0: vec![F::zero(); shape.n_in()],
            u_tgt: vec![F::zero(); shape.n_out()],
            step: 0,
        }
    }

    /// Converts to another precision (f32 → f64 → f32 is exact).
    pub fn cast<G: Real>(&self) -> State<G> {
        let vecs = |v: &[Vec<F>]| {
            v.iter()
                .map(|x| x.iter().map(|&a| G::of(a.f64())).collect())
                .collect()
        };
        State {
            w: self.w.cast(),
            delta: self.delta.cast(),
            u_p: vecs(&self.u_p),
            u_i: vecs(&self.u_i),
            r0: self.r0.iter().map(|&a| G::of(a.f64())).collect(),
            u_tgt: self.u_tgt.iter().map(|&a| G::of(a.f64())).collect(),
            step: self.step,
        }
    }
}
