//! [`Simulator`]: a config's batch of microcircuit instances on one backend, trained and
//! evaluated chunk by chunk by its caller (Python's `Simulator`), with the recording of traces
//! switched on and off between chunks.

use super::BackendChoice;
use crate::config::{Config, Plan};
use crate::experiment::{self, RunOptions};
use crate::microcircuit::backend::{Backend, Batch, Chunk, RecordSpec, Trace};
use crate::microcircuit::full::cpu::CpuKernel;
use crate::num::Precision;
use std::path::Path;

/// The options of a [`Simulator`]: [`Default`] is the CPU backend in the config's precision.
#[derive(Clone, Debug, Default)]
pub struct SimulatorSettings {
    pub backend: BackendChoice,
    /// Precision of the CPU backend (`None`: the config's; the GPU computes in f32).
    pub precision: Option<Precision>,
    /// CPU threads (`None`: all cores).
    pub threads: Option<usize>,
    pub cpu_kernel: CpuKernel,
    /// GPU adapter: the first whose name contains this (case-insensitive).
    pub adapter: Option<String>,
}

/// The batch of a config's instances (every instance of its plan) on one backend, trained and
/// evaluated chunk by chunk by its caller, with the recording of traces switched on and off
/// between chunks.
pub struct Simulator {
    backend: Box<dyn Backend + Send>,
    cfg: Config,
    plan: Plan,
    batch: Batch,
    opts: RunOptions,
    /// The samples recorded since [`Simulator::record`] or the last
    /// [`Simulator::take_traces`], one per instance.
    traces: Vec<Trace>,
}

impl Simulator {
    /// Opens the backend of `s` for every instance of `cfg` (relative data paths resolved in
    /// `base_dir`), each from its configured initial weights, recording nothing.
    pub fn open(cfg: &Config, base_dir: &Path, s: &SimulatorSettings) -> anyhow::Result<Self> {
        let plan = cfg.plan()?;
        let opts = RunOptions {
            backend: s.backend,
            precision: s.precision,
            threads: s.threads,
            cpu_kernel: s.cpu_kernel,
            adapter: s.adapter.clone(),
            record: RecordSpec::default(),
            base_dir: base_dir.to_path_buf(),
            ..Default::default()
        };
        let batch = experiment::batch_of(&plan, &opts);
        let backend = experiment::open_backend(cfg, &batch, &opts)?;
        let traces = vec![Trace::default(); plan.instances.len()];
        Ok(Simulator {
            backend,
            cfg: cfg.clone(),
            plan,
            batch,
            opts,
            traces,
        })
    }

    /// The plan of the instances (their order is the batch's).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The backend, for everything but training (which goes through [`Simulator::train`], so
    /// the traces are collected).
    pub fn backend(&mut self) -> &mut (dyn Backend + Send) {
        self.backend.as_mut()
    }

    /// Trains every instance on its patterns in `chunk` and returns the readouts; the samples
    /// recorded on the way are kept for [`Simulator::take_traces`].
    pub fn train(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>> {
        let readouts = self.backend.train(chunk)?;
        if self.opts.record.stride > 0 {
            for (acc, t) in self.traces.iter_mut().zip(self.backend.take_traces()) {
                append_trace(acc, t);
            }
        }
        Ok(readouts)
    }

    /// Records the training stream of later [`Simulator::train`] calls as `spec` says (stride
    /// 0: nothing), as `pyralnet run --record` does. The backend is opened again with the
    /// recording and restored to the current state ([`Backend::snapshot`]), so training goes on
    /// with the same bits; samples not taken yet are dropped.
    pub fn record(&mut self, spec: RecordSpec) -> anyhow::Result<()> {
        let states = self.backend.snapshot()?;
        let opts = RunOptions {
            record: spec,
            ..self.opts.clone()
        };
        let mut backend = experiment::open_backend(&self.cfg, &self.batch, &opts)?;
        backend.restore(&states)?;
        self.backend = backend;
        self.opts = opts;
        self.traces = vec![Trace::default(); self.plan.instances.len()];
        Ok(())
    }

    /// The samples recorded since [`Simulator::record`] or the last call, one trace per
    /// instance (the arrays `--record` writes to `traces/instance_<i>.npz`).
    pub fn take_traces(&mut self) -> Vec<Trace> {
        let n = self.traces.len();
        std::mem::replace(&mut self.traces, vec![Trace::default(); n])
    }
}

/// Appends the samples of `t` to `acc` (the same arrays, from the same recording).
fn append_trace(acc: &mut Trace, t: Trace) {
    if t.step.is_empty() {
        return;
    }
    if acc.step.is_empty() {
        *acc = t;
        return;
    }
    acc.step.extend(t.step);
    for ((_, _, dst), (_, _, src)) in acc.arrays.iter_mut().zip(t.arrays) {
        dst.extend(src);
    }
}

/// The first `n` training patterns of every instance of `cfg` (relative data paths resolved in
/// `base_dir`), in the order `pyralnet run` trains them.
pub fn training_patterns(cfg: &Config, base_dir: &Path, n: usize) -> anyhow::Result<Chunk> {
    let plan = cfg.plan()?;
    let opts = RunOptions {
        base_dir: base_dir.to_path_buf(),
        ..Default::default()
    };
    experiment::training_patterns(cfg, &plan, &opts, n)
}
