//! The host side of training (spec §2.4, §3.2, §3.3): minibatch draws from each instance's
//! seed, the iteration loop with its evaluation cadence, and the XOR convergence criterion.

use super::backend::{GcBackend, KernelAt};
use crate::seed::{purpose, sub_seed};
use crate::tasks::metrics::{argmax, Metrics};
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// Minibatch index streams, one per instance: every iteration draws `B_i` training indices
/// uniformly without replacement (batches are independent of each other).
pub struct Minibatches {
    rngs: Vec<Pcg64>,
    train_len: usize,
}

impl Minibatches {
    pub fn new(seeds: &[u64], train_len: usize) -> Self {
        Minibatches {
            rngs: seeds
                .iter()
                .map(|&s| Pcg64::seed_from_u64(sub_seed(s, purpose::ORDER)))
                .collect(),
            train_len,
        }
    }

    /// The indices of `steps` iterations of the instances with `active[i]` (step-major,
    /// `steps × batch[i]`); inactive instances get an empty list and draw nothing.
    pub fn next(&mut self, steps: usize, batch: &[usize], active: &[bool]) -> Vec<Vec<u32>> {
        self.rngs
            .iter_mut()
            .zip(batch)
            .zip(active)
            .map(|((rng, &b), &on)| match on {
                false => Vec::new(),
                true => (0..steps)
                    .flat_map(|_| rand::seq::index::sample(rng, self.train_len, b).into_vec())
                    .map(|i| i as u32)
                    .collect(),
            })
            .collect()
    }
}

/// The predicted class of one pattern's outputs: `argmax_k o_k` for several units, `1[o ≥ 0]`
/// for one binary unit.
pub fn predict(o: &[f64]) -> usize {
    match o {
        [single] => usize::from(*single >= 0.0),
        _ => argmax(o),
    }
}

/// Accuracy of outputs `o` (patterns × K) against `labels`.
pub fn accuracy(o: &[f64], k: usize, labels: &[usize]) -> Metrics {
    if labels.is_empty() {
        return Metrics::default();
    }
    let correct = o
        .chunks_exact(k)
        .zip(labels)
        .filter(|(op, &l)| predict(op) == l)
        .count();
    Metrics {
        acc: Some(correct as f64 / labels.len() as f64),
        mse: None,
    }
}

/// The iteration schedule of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub iterations: usize,
    /// Iterations between evaluations on the validation set.
    pub eval_every: usize,
    pub eval_at_start: bool,
    /// XOR criterion (spec §3.3): after every iteration, test on the validation set with the
    /// kernel of that iteration; an instance has converged (and stops learning) once the last
    /// `window` tests were all correct.
    pub converge_window: Option<usize>,
}

/// One evaluation point of one instance.
#[derive(Clone, Debug)]
pub struct GcCurvePoint {
    pub instance: usize,
    pub iteration: usize,
    /// Training patterns seen (iterations × B).
    pub patterns: usize,
    pub val: Metrics,
    /// Whether the instance had diverged by this point (its metrics are then no result).
    pub diverged: bool,
}

/// What training produced, per instance.
#[derive(Clone, Debug, Default)]
pub struct Trained {
    pub curves: Vec<GcCurvePoint>,
    /// With a convergence window: the iterations before the run of `window` perfect tests
    /// began (`it − window`, it = iterations done), or None.
    pub converged_at: Vec<Option<usize>>,
    /// The training patterns (iterations × B) an instance had seen when one of its validation
    /// outputs was first found non-finite, or None.
    pub diverged_at: Vec<Option<usize>>,
}

/// Whether every output of an instance is finite: a NaN or ±∞ output means its weights,
/// locations or bias blew up (a learning rate far too large), and its accuracy would be that of
/// an arbitrary prediction, no result.
pub fn finite(o: &[f64]) -> bool {
    o.iter().all(|v| v.is_finite())
}

/// What the loop needs to know about the instances and sets of a backend.
#[derive(Clone, Copy, Debug)]
pub struct Layout<'a> {
    /// Seed of every instance (its minibatch stream).
    pub seeds: &'a [u64],
    /// Minibatch size B of every instance.
    pub batch: &'a [usize],
    /// Patterns in the training set (set 0).
    pub train_len: usize,
    /// Units per instance.
    pub k: usize,
    /// Labels of the validation set (set 1) as the metrics see them.
    pub val_labels: &'a [usize],
}

/// Trains every instance of `backend` through `schedule`; `progress(iterations done)`.
pub fn train(
    backend: &mut dyn GcBackend,
    layout: Layout,
    schedule: Schedule,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<Trained> {
    let Layout {
        seeds,
        batch,
        train_len,
        k,
        val_labels,
    } = layout;
    let count = seeds.len();
    let mut draws = Minibatches::new(seeds, train_len);
    let mut out = Trained {
        converged_at: vec![None; count],
        diverged_at: vec![None; count],
        ..Default::default()
    };
    let mut active = vec![true; count];
    let mut streak = vec![0usize; count];
    let evaluate = |backend: &mut dyn GcBackend, it: usize, out: &mut Trained| {
        let o = backend.outputs(1, KernelAt::Current)?;
        for (i, oi) in o.iter().enumerate() {
            if !finite(oi) && out.diverged_at[i].is_none() {
                out.diverged_at[i] = Some(it * batch[i]);
            }
            out.curves.push(GcCurvePoint {
                instance: i,
                iteration: it,
                patterns: it * batch[i],
                val: accuracy(oi, k, val_labels),
                diverged: out.diverged_at[i].is_some(),
            });
        }
        anyhow::Ok(())
    };
    if schedule.eval_at_start {
        evaluate(backend, 0, &mut out)?;
    }
    let mut done = 0;
    while done < schedule.iterations && active.iter().any(|&a| a) {
        let next_eval = (done / schedule.eval_every + 1) * schedule.eval_every;
        let steps = match schedule.converge_window {
            Some(_) => 1,
            None => next_eval.min(schedule.iterations) - done,
        };
        let rows = draws.next(steps, batch, &active);
        backend.train(steps, &rows)?;
        done += steps;
        if let Some(window) = schedule.converge_window {
            let o = backend.outputs(1, KernelAt::LastStep)?;
            for (i, oi) in o.iter().enumerate() {
                if !active[i] {
                    continue;
                }
                if !finite(oi) && out.diverged_at[i].is_none() {
                    out.diverged_at[i] = Some(done * batch[i]);
                }
                let perfect = finite(oi) && accuracy(oi, k, val_labels).acc == Some(1.0);
                streak[i] = if perfect { streak[i] + 1 } else { 0 };
                if streak[i] == window {
                    out.converged_at[i] = Some(done - window);
                    active[i] = false;
                }
            }
        }
        if done % schedule.eval_every == 0 || done == schedule.iterations {
            evaluate(backend, done, &mut out)?;
        }
        progress(done);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minibatches_hold_distinct_indices_and_follow_the_seed() {
        let mut a = Minibatches::new(&[7, 8], 10);
        let rows = a.next(3, &[4, 10], &[true, true]);
        assert_eq!(rows[0].len(), 12);
        for batch in rows[1].chunks(10) {
            let mut b = batch.to_vec();
            b.sort_unstable();
            assert_eq!(b, (0..10).collect::<Vec<u32>>());
        }
        let mut again = Minibatches::new(&[7], 10);
        assert_eq!(again.next(3, &[4], &[true])[0], rows[0]);
        assert!(a.next(1, &[4, 10], &[false, true])[0].is_empty());
    }

    #[test]
    fn binary_prediction_ties_go_to_class_one() {
        assert_eq!(predict(&[0.0]), 1);
        assert_eq!(predict(&[-1e-12]), 0);
        assert_eq!(predict(&[0.1, 0.3, 0.2]), 1);
        let m = accuracy(&[0.5, -0.5, 0.0], 1, &[1, 1, 1]);
        assert_eq!(m.acc, Some(2.0 / 3.0));
    }
}
