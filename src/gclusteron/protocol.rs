//! The host side of training (spec §2.4, §3.2, §3.3): minibatch draws from each instance's
//! seed, the iteration loop with its evaluation cadence, and the XOR convergence criterion.

use super::backend::{GcBackend, KernelAt};
use crate::seed::{purpose, sub_seed};
use crate::tasks::metrics::{argmax, Metrics};
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

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

    /// Draws (and drops) the minibatches of `counts[i]` iterations of each instance i: the
    /// stream of a resumed run continues where the checkpointed one stood.
    pub fn skip(&mut self, counts: &[usize], batch: &[usize]) {
        for ((rng, &n), &b) in self.rngs.iter_mut().zip(counts).zip(batch) {
            for _ in 0..n {
                rand::seq::index::sample(rng, self.train_len, b);
            }
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// Where the training of a batch stands between two backend calls: with the backend's states,
/// everything a checkpoint must hold to continue bit for bit. An instance is active (draws and
/// trains) until it has converged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainProgress {
    /// Iterations done.
    pub done: usize,
    /// The evaluation at the start is done (or not asked for).
    pub started: bool,
    /// Per instance, the run of perfect validation tests that ends at `done`.
    pub streak: Vec<usize>,
    pub converged_at: Vec<Option<usize>>,
    pub diverged_at: Vec<Option<usize>>,
    pub curves: Vec<GcCurvePoint>,
}

impl TrainProgress {
    /// Per instance, whether it still trains (draws minibatches): it has not converged.
    pub fn active(&self) -> Vec<bool> {
        self.converged_at.iter().map(Option::is_none).collect()
    }

    /// The iterations instance `i` has trained (and drawn minibatches for): a converged one
    /// stopped `window` iterations after `converged_at`.
    pub fn trained(&self, i: usize, window: Option<usize>) -> usize {
        match (self.converged_at[i], window) {
            (Some(c), Some(w)) => (c + w).min(self.done),
            _ => self.done,
        }
    }
}

/// The training loop of spec §2.4 and §3.3 over one batch, cut into backend calls of at most a
/// given number of iterations so that a run can stop (and checkpoint) between them. How the
/// iterations are cut does not change the results: every draw and every backend step is the
/// same.
pub struct Trainer<'a> {
    layout: Layout<'a>,
    schedule: Schedule,
    draws: Minibatches,
    pub progress: TrainProgress,
}

impl<'a> Trainer<'a> {
    /// A batch at iteration 0.
    pub fn new(layout: Layout<'a>, schedule: Schedule) -> Self {
        let count = layout.seeds.len();
        let progress = TrainProgress {
            done: 0,
            started: !schedule.eval_at_start,
            streak: vec![0; count],
            converged_at: vec![None; count],
            diverged_at: vec![None; count],
            curves: Vec::new(),
        };
        Self::resume(layout, schedule, progress)
    }

    /// A batch continued from `progress` (a checkpoint's, with the backend holding the
    /// checkpoint's states): each instance's minibatch stream is drawn forward past the
    /// iterations it trained.
    pub fn resume(layout: Layout<'a>, schedule: Schedule, progress: TrainProgress) -> Self {
        let mut draws = Minibatches::new(layout.seeds, layout.train_len);
        let counts: Vec<usize> = (0..layout.seeds.len())
            .map(|i| progress.trained(i, schedule.converge_window))
            .collect();
        draws.skip(&counts, layout.batch);
        Trainer {
            layout,
            schedule,
            draws,
            progress,
        }
    }

    /// Whether every iteration is done (or every instance has converged).
    pub fn finished(&self) -> bool {
        self.progress.started
            && (self.progress.done >= self.schedule.iterations
                || self.progress.converged_at.iter().all(Option::is_some))
    }

    /// Evaluates every instance on the validation set after `it` iterations (a curve point;
    /// a non-finite output flags the instance as diverged).
    fn evaluate(&mut self, backend: &mut dyn GcBackend, it: usize) -> anyhow::Result<()> {
        let (batch, k, labels) = (self.layout.batch, self.layout.k, self.layout.val_labels);
        let out = &mut self.progress;
        let o = backend.outputs(1, KernelAt::Current)?;
        for (i, oi) in o.iter().enumerate() {
            if !finite(oi) && out.diverged_at[i].is_none() {
                out.diverged_at[i] = Some(it * batch[i]);
            }
            out.curves.push(GcCurvePoint {
                instance: i,
                iteration: it,
                patterns: it * batch[i],
                val: accuracy(oi, k, labels),
                diverged: out.diverged_at[i].is_some(),
            });
        }
        Ok(())
    }

    /// Runs at most `cap` (≥ 1) iterations, stopping early at the next evaluation point, and
    /// returns how many ran; the evaluation at the start, when it is due, comes first (and is
    /// all a call does then).
    pub fn advance(&mut self, backend: &mut dyn GcBackend, cap: usize) -> anyhow::Result<usize> {
        if !self.progress.started {
            self.evaluate(backend, 0)?;
            self.progress.started = true;
            return Ok(0);
        }
        let Schedule {
            iterations,
            eval_every,
            converge_window,
            ..
        } = self.schedule;
        let (batch, k, labels) = (self.layout.batch, self.layout.k, self.layout.val_labels);
        let first = self.progress.done;
        while !self.finished() && self.progress.done - first < cap.max(1) {
            let done = self.progress.done;
            let next_eval = (done / eval_every + 1) * eval_every;
            let steps = match converge_window {
                Some(_) => 1,
                None => (next_eval.min(iterations) - done).min(cap.max(1) - (done - first)),
            };
            let active = self.progress.active();
            let rows = self.draws.next(steps, batch, &active);
            backend.train(steps, &rows)?;
            let done = done + steps;
            self.progress.done = done;
            if let Some(window) = converge_window {
                let out = &mut self.progress;
                let o = backend.outputs(1, KernelAt::LastStep)?;
                for (i, oi) in o.iter().enumerate() {
                    if !active[i] {
                        continue;
                    }
                    if !finite(oi) && out.diverged_at[i].is_none() {
                        out.diverged_at[i] = Some(done * batch[i]);
                    }
                    let perfect = finite(oi) && accuracy(oi, k, labels).acc == Some(1.0);
                    out.streak[i] = if perfect { out.streak[i] + 1 } else { 0 };
                    if out.streak[i] == window {
                        out.converged_at[i] = Some(done - window);
                    }
                }
            }
            if done.is_multiple_of(eval_every) || done == iterations {
                self.evaluate(backend, done)?;
                break;
            }
        }
        if self.progress.converged_at.iter().all(Option::is_some) {
            // every instance has converged and stopped learning: the evaluation points up to
            // the end of the protocol still get their (unchanging) curve points, so that an
            // instance's curve does not depend on which instances share its batch
            let done = self.progress.done;
            let mut it = (done / eval_every + 1) * eval_every;
            while it < iterations {
                self.evaluate(backend, it)?;
                it += eval_every;
            }
            if done < iterations {
                self.evaluate(backend, iterations)?;
            }
        }
        Ok(self.progress.done - first)
    }

    /// What training produced.
    pub fn into_trained(self) -> Trained {
        Trained {
            curves: self.progress.curves,
            converged_at: self.progress.converged_at,
            diverged_at: self.progress.diverged_at,
        }
    }
}

/// Trains every instance of `backend` through `schedule` in one go; `progress(iterations
/// done)` after every evaluation point (or iteration, with a convergence window).
pub fn train(
    backend: &mut dyn GcBackend,
    layout: Layout,
    schedule: Schedule,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<Trained> {
    let mut trainer = Trainer::new(layout, schedule);
    while !trainer.finished() {
        trainer.advance(backend, usize::MAX)?;
        progress(trainer.progress.done);
    }
    Ok(trainer.into_trained())
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
