//! The dynamic state of one instance: soma potentials, filtered stimulus, weights and Δ.

use crate::microcircuit::{FilterStart, Shape, Weights};
use crate::num::Real;

/// Everything that evolves during a run. Potentials and Δ start at zero and are not reset
/// between patterns (MODEL.md section 3); the stimulus filter starts at zero or at the first
/// training pattern ([`State::start_filters`]).
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

    /// Before the first training step (`step == 0`) with [`FilterStart::First`], starts the
    /// stimulus filter at the first training pattern: `r_0 = x`, `u_tgt = y` (the seed code's
    /// `r_in = in_seq[0].copy()`, `u_trgt = trgt_seq[0].copy()`, once per run). Later calls,
    /// resumed states and [`FilterStart::Zero`] leave the state as it is. Backends call it with
    /// the first pattern of every training chunk.
    pub fn start_filters(&mut self, start: FilterStart, x: &[f64], y: &[f64]) {
        if start != FilterStart::First || self.step != 0 {
            return;
        }
        for (r, &v) in self.r0.iter_mut().zip(x) {
            *r = F::of(v);
        }
        for (u, &v) in self.u_tgt.iter_mut().zip(y) {
            *u = F::of(v);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_start_at_the_first_pattern_only_before_any_step() {
        let shape = Shape::new(vec![2, 3, 2], false);
        let fresh = || State::<f64>::new(&shape, Weights::zeros(&shape));
        let (x, y) = ([0.25, 0.75], [1.0, 0.1]);
        let mut st = fresh();
        st.start_filters(FilterStart::First, &x, &y);
        assert_eq!((st.r0.as_slice(), st.u_tgt.as_slice()), (&x[..], &y[..]));
        let mut zero = fresh();
        zero.start_filters(FilterStart::Zero, &x, &y);
        assert_eq!(zero, fresh());
        // a state that has taken a step (a resumed one) keeps its filters
        let mut later = fresh();
        later.step = 1;
        later.start_filters(FilterStart::First, &x, &y);
        assert!(later.r0.iter().chain(&later.u_tgt).all(|&v| v == 0.0));
    }
}
