//! The steady-state backend: a batch of [`SteadyInstance`]s advanced in parallel with rayon.
//! Instances never interact, so instance k in a batch computes exactly what it computes alone.

use super::{SteadyInstance, SteadyKernel};
use crate::microcircuit::backend::{Backend, Batch, Chunk, PatternKind};
use crate::microcircuit::full::cpu::State;
use crate::microcircuit::Weights;
use crate::num::Real;
use crate::pool::Pool;
use rayon::prelude::*;

/// Steady-state backend in precision `F`.
pub struct SteadyBackend<F: Real> {
    pub instances: Vec<SteadyInstance<F>>,
    pool: Pool,
}

impl<F: Real> SteadyBackend<F> {
    /// Builds the instances of `batch`; `threads = None` uses rayon's global pool.
    pub fn new(batch: &Batch, threads: Option<usize>) -> anyhow::Result<Self> {
        Self::with_kernel(batch, threads, SteadyKernel::default())
    }

    /// [`SteadyBackend::new`] with the given kernel (`pyralnet bench --model steady` and the
    /// tests compare them).
    pub fn with_kernel(
        batch: &Batch,
        threads: Option<usize>,
        kernel: SteadyKernel,
    ) -> anyhow::Result<Self> {
        let instances = batch
            .params
            .iter()
            .zip(&batch.init)
            .map(|(p, w)| {
                SteadyInstance::new(batch.shape.clone(), batch.phi, p.clone(), w)
                    .with_kernel(kernel)
            })
            .collect();
        Ok(SteadyBackend {
            instances,
            pool: Pool::new(threads)?,
        })
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
    inst.run_patterns(x, y, kind)
}

impl<F: Real> Backend for SteadyBackend<F> {
    fn name(&self) -> String {
        let kernel = match self.instances.first().map(SteadyInstance::kernel) {
            Some(SteadyKernel::Reference) => ", reference",
            _ => "",
        };
        format!("steady-cpu-{} ({}{kernel})", F::NAME, self.pool.label())
    }

    fn train(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>> {
        let mut instances = std::mem::take(&mut self.instances);
        let out = self.pool.install(|| {
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
        Ok(self.pool.install(|| {
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
        crate::microcircuit::backend::check_restore_len(states.len(), self.instances.len())?;
        for (inst, st) in self.instances.iter_mut().zip(states) {
            inst.restore(st);
        }
        Ok(())
    }
}
