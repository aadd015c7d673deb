//! The CPU backend of the G-clusteron: every instance in the working precision (f32 or f64),
//! instances in parallel with rayon (and the units of an instance too).

use super::instance::{outputs_on, train_step, Set};
use super::kernel::GcReal;
use crate::gclusteron::backend::{GcBackend, GcBatch, GcData, GcHyper, GcState, KernelAt, Readout};
use crate::pool::Pool;
use anyhow::ensure;
use rayon::prelude::*;
use std::sync::Arc;

/// A batch of G-clusteron instances on the CPU.
pub struct GcCpu<T: GcReal> {
    n: usize,
    k: usize,
    readout: Readout,
    hyper: Vec<GcHyper>,
    states: Vec<GcState<T>>,
    sets: Vec<Arc<Set<T>>>,
    pool: Pool,
}

impl<T: GcReal> GcCpu<T> {
    /// Holds `batch`, with `sets[0]` the training set. `threads = None` uses all cores.
    pub fn new(
        batch: &GcBatch,
        sets: &[Arc<GcData>],
        threads: Option<usize>,
    ) -> anyhow::Result<Self> {
        ensure!(
            !sets.is_empty(),
            "a G-clusteron backend needs a training set"
        );
        for d in sets {
            ensure!(
                d.n == batch.n && d.k == batch.k,
                "data set of {} inputs and {} targets does not fit instances of {} synapses and {} units",
                d.n,
                d.k,
                batch.n,
                batch.k
            );
        }
        let conv = |v: &[f64]| v.iter().map(|&a| T::of(a)).collect::<Vec<T>>();
        Ok(GcCpu {
            n: batch.n,
            k: batch.k,
            readout: batch.readout,
            hyper: batch.hyper.clone(),
            states: batch.init.iter().map(|s| s.map(T::of)).collect(),
            sets: sets
                .iter()
                .map(|d| {
                    Arc::new(Set {
                        x: conv(&d.x),
                        t: conv(&d.t),
                    })
                })
                .collect(),
            pool: Pool::new(threads)?,
        })
    }
}

impl<T: GcReal> GcBackend for GcCpu<T> {
    fn name(&self) -> String {
        format!("gc-cpu-{} ({})", T::NAME, self.pool.label())
    }

    fn train(&mut self, steps: usize, rows: &[Vec<u32>]) -> anyhow::Result<()> {
        ensure!(rows.len() == self.states.len(), "one row list per instance");
        for (i, (r, h)) in rows.iter().zip(&self.hyper).enumerate() {
            ensure!(
                r.is_empty() || r.len() == steps * h.batch,
                "instance {i}: {} minibatch indices for {steps} steps of {}",
                r.len(),
                h.batch
            );
        }
        let (n, k, readout, train) = (self.n, self.k, self.readout, self.sets[0].clone());
        let hyper = &self.hyper;
        let states = &mut self.states;
        self.pool.install(|| {
            states
                .par_iter_mut()
                .zip(hyper)
                .zip(rows)
                .filter(|(_, r)| !r.is_empty())
                .for_each(|((st, h), r)| {
                    for batch in r.chunks_exact(h.batch) {
                        train_step(st, h, readout, &train, batch, n, k);
                    }
                });
        });
        Ok(())
    }

    fn outputs(&mut self, set: usize, kernel: KernelAt) -> anyhow::Result<Vec<Vec<f64>>> {
        ensure!(set < self.sets.len(), "no data set {set}");
        let (n, k, data) = (self.n, self.k, self.sets[set].clone());
        let (states, hyper) = (&self.states, &self.hyper);
        Ok(self.pool.install(|| {
            states
                .par_iter()
                .zip(hyper)
                .map(|(st, h)| outputs_on(st, h, &data.x, n, k, kernel))
                .collect()
        }))
    }

    fn states(&mut self) -> anyhow::Result<Vec<GcState<f64>>> {
        Ok(self.states.iter().map(|s| s.map(T::f64)).collect())
    }
}
