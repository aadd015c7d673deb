//! The steady-state backend: a batch of [`SteadyInstance`]s advanced in parallel with rayon.
//! Instances never interact, so instance k in a batch computes exactly what it computes alone.

use super::SteadyInstance;
use crate::backend::{Backend, Batch, Chunk};
use crate::cpu::{PatternKind, State};
use crate::model::{Real, Weights};
use rayon::prelude::*;

/// Steady-state backend in precision `F`.
pub struct SteadyBackend<F: Real> {
    pub instances: Vec<SteadyInstance<F>>,
    pool: Option<rayon::ThreadPool>,
}

impl<F: Real> SteadyBackend<F> {
    /// Builds the instances of `batch`; `threads = None` uses rayon's global pool.
    pub fn new(batch: &Batch, threads: Option<usize>) -> anyhow::Result<Self> {
        let instances = batch
            .params
            .iter()
            .zip(&batch.init)
            .map(|(p, w)| SteadyInstance::new(batch.shape.clone(), batch.phi, p.clone(), w))
            .collect();
        let pool = match threads {
            Some(n) => Some(rayon::ThreadPoolBuilder::new().num_threads(n).build()?),
            None => None,
        };
        Ok(SteadyBackend { instances, pool })
    }

    fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(pool) => pool.install(f),
            None => f(),
        }
    }
}

/// Runs instance `inst` through the patterns of its share of a chunk; returns the readouts
/// (patterns × n_out).
fn run_patterns<F: Real>(
    inst: &mut SteadyInstance<F>,
    x: &[f64],
    y: &[f64],
    kind: PatternKind,
) -> Vec<f64> {
    let (n_in, n_out) = (inst.shape.n_in(), inst.shape.n_out());
    let patterns = x.len() / n_in;
    let mut out = vec![0.0; patterns * n_out];
    for (p, readout) in out.chunks_exact_mut(n_out).enumerate() {
        let (xp, yp) = (&x[p * n_in..(p + 1) * n_in], &y[p * n_out..(p + 1) * n_out]);
        inst.run_pattern(xp, yp, kind, readout);
    }
    out
}

impl<F: Real> Backend for SteadyBackend<F> {
    fn name(&self) -> String {
        let threads = self
            .pool
            .as_ref()
            .map_or_else(rayon::current_num_threads, |p| p.current_num_threads());
        format!("steady-cpu-{} ({threads} threads)", F::NAME)
    }

    fn train(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>> {
        let mut instances = std::mem::take(&mut self.instances);
        let out = self.install(|| {
            instances
                .par_iter_mut()
                .zip(chunk.x.par_iter().zip(&chunk.y))
                .map(|(inst, (x, y))| run_patterns(inst, x, y, PatternKind::Train))
                .collect()
        });
        self.instances = instances;
        Ok(out)
    }

    fn evaluate(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>> {
        let instances = &self.instances;
        Ok(self.install(|| {
            instances
                .par_iter()
                .zip(chunk.x.par_iter().zip(&chunk.y))
                .map(|(inst, (x, y))| run_patterns(&mut inst.clone(), x, y, PatternKind::Eval))
                .collect()
        }))
    }

    fn weights(&mut self) -> anyhow::Result<Vec<Weights<f64>>> {
        Ok(self.instances.iter().map(|i| i.w.cast()).collect())
    }

    fn snapshot(&mut self) -> anyhow::Result<Vec<State<f64>>> {
        Ok(self
            .instances
            .iter()
            .map(SteadyInstance::snapshot)
            .collect())
    }

    fn restore(&mut self, states: &[State<f64>]) -> anyhow::Result<()> {
        anyhow::ensure!(
            states.len() == self.instances.len(),
            "a checkpoint of {} instances cannot restore a batch of {}",
            states.len(),
            self.instances.len()
        );
        for (inst, st) in self.instances.iter_mut().zip(states) {
            inst.restore(st);
        }
        Ok(())
    }
}
