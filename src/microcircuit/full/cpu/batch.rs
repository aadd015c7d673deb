//! The CPU backend of the reference and the vector kernel: a batch of [`Instance`]s advanced in
//! parallel with rayon, one instance per task. Instances never interact, so instance k in a
//! batch computes exactly what it computes alone.

use super::{CpuKernel, CpuReal, Instance, Layout, State};
use crate::microcircuit::backend::{Backend, Batch, Chunk, PatternKind, RecordSpec, Trace};
use crate::microcircuit::Weights;
use crate::num::Real;
use crate::pool::{balanced, per_pattern, Pool};
use rayon::prelude::*;

/// CPU backend in precision `F`, one instance per task: the reference kernel
/// ([`CpuKernel::Reference`], matrices row-major) or the vector kernel ([`CpuKernel::Vector`],
/// matrices along their longer axis); the two compute the same bits.
pub struct CpuBackend<F: Real> {
    pub instances: Vec<Instance<F>>,
    layout: Layout,
    record: RecordSpec,
    traces: Vec<Trace>,
    pool: Pool,
}

impl<F: CpuReal> CpuBackend<F> {
    /// Builds the instances of `batch` for the reference kernel; `threads = None` uses rayon's
    /// global pool.
    pub fn new(batch: &Batch, threads: Option<usize>, record: RecordSpec) -> anyhow::Result<Self> {
        Self::with_layout(batch, threads, record, Layout::RowMajor)
    }

    /// Builds the instances of `batch` with their matrices in `layout`
    /// ([`Layout::LongAxis`]: the vector kernel).
    pub fn with_layout(
        batch: &Batch,
        threads: Option<usize>,
        record: RecordSpec,
        layout: Layout,
    ) -> anyhow::Result<Self> {
        let instances = batch
            .params
            .iter()
            .zip(&batch.init)
            .map(|(p, w)| {
                Instance::with_layout(batch.shape.clone(), batch.phi, p.clone(), w, layout)
            })
            .collect::<Vec<_>>();
        Ok(CpuBackend {
            layout,
            traces: vec![Trace::default(); instances.len()],
            instances,
            record,
            pool: Pool::new(threads)?,
        })
    }
}

/// Runs instance `inst` through the patterns of its share of a chunk.
fn run_patterns<F: CpuReal>(
    inst: &mut Instance<F>,
    x: &[f64],
    y: &[f64],
    kind: PatternKind,
    record: &RecordSpec,
    trace: &mut Trace,
) -> Vec<f64> {
    let (n_in, n_out) = (inst.shape.n_in(), inst.shape.n_out());
    let recording = record.stride > 0 && kind == PatternKind::Train;
    per_pattern(x, y, n_in, n_out, |xp, yp, readout| {
        if recording {
            inst.run_pattern(xp, yp, kind, readout, |_, st| {
                record_step(st, record, trace)
            });
        } else {
            inst.run_pattern(xp, yp, kind, readout, |_, _| {});
        }
    })
}

/// One instance's share of a chunk: its patterns `x`, `y`, its trace (training) and the
/// readouts so far.
struct Job<'a, F> {
    inst: &'a mut Instance<F>,
    trace: Option<&'a mut Trace>,
    x: &'a [f64],
    y: &'a [f64],
    out: Vec<f64>,
}

impl<'a, F: CpuReal> Job<'a, F> {
    fn new(
        inst: &'a mut Instance<F>,
        trace: Option<&'a mut Trace>,
        x: &'a [f64],
        y: &'a [f64],
    ) -> Self {
        Job {
            inst,
            trace,
            x,
            y,
            out: Vec::new(),
        }
    }

    fn patterns(&self) -> usize {
        self.x.len() / self.inst.shape.n_in()
    }

    /// Runs patterns `from..to`; a training chunk starts the stimulus filters at its first
    /// pattern ([`State::start_filters`]).
    fn run(&mut self, from: usize, to: usize, kind: PatternKind, record: &RecordSpec) {
        let (n_in, n_out) = (self.inst.shape.n_in(), self.inst.shape.n_out());
        if from >= to {
            return;
        }
        if from == 0 && kind == PatternKind::Train && self.y.len() >= n_out {
            let start = self.inst.params.filter_start;
            self.inst
                .state
                .start_filters(start, &self.x[..n_in], &self.y[..n_out]);
        }
        let (x, y) = (
            &self.x[from * n_in..to * n_in],
            &self.y[from * n_out..to * n_out],
        );
        let mut untraced = Trace::default();
        let trace = self.trace.as_deref_mut().unwrap_or(&mut untraced);
        let readouts = run_patterns(self.inst, x, y, kind, record, trace);
        self.out.extend(readouts);
    }
}

/// Runs every job through all its patterns on `threads` threads and returns the readouts, one
/// job per task; when the jobs do not divide evenly among the threads (3 instances on 2
/// threads), in pieces of an eighth of a chunk scheduled by [`balanced`], so that no thread
/// idles while another runs two instances. Each instance's patterns run in order either way,
/// so the results are the same bits.
fn run_jobs<F: CpuReal>(
    jobs: &mut [Job<F>],
    threads: usize,
    kind: PatternKind,
    record: &RecordSpec,
) -> Vec<Vec<f64>> {
    if jobs.len() > 1 && threads > 1 && !jobs.len().is_multiple_of(threads) {
        let len: Vec<usize> = jobs.iter().map(Job::patterns).collect();
        let piece = len.iter().max().map_or(1, |&n| n.div_ceil(8));
        balanced(jobs, &len, threads, piece, |job, from, to| {
            job.run(from, to, kind, record)
        });
    } else {
        jobs.par_iter_mut().for_each(|job| {
            let n = job.patterns();
            job.run(0, n, kind, record)
        });
    }
    jobs.iter_mut()
        .map(|j| std::mem::take(&mut j.out))
        .collect()
}

/// Appends one sample of `st` to `trace` when the global step is on the stride.
fn record_step<F: Real>(st: &State<F>, spec: &RecordSpec, trace: &mut Trace) {
    let (u_p, u_i) = (&st.u_p, &st.u_i);
    trace.push_sample(st.step - 1, spec, u_p, u_i, &st.r0, &st.u_tgt, |u| u.f64());
}

impl<F: CpuReal> Backend for CpuBackend<F> {
    fn name(&self) -> String {
        let kernel = self.cpu_kernel().expect("a CPU kernel");
        format!("cpu-{} {kernel} ({})", F::NAME, self.pool.label())
    }

    fn cpu_kernel(&self) -> Option<CpuKernel> {
        Some(match self.layout {
            Layout::RowMajor => CpuKernel::Reference,
            Layout::LongAxis => CpuKernel::Vector,
        })
    }

    fn train(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>> {
        let record = self.record.clone();
        let mut instances = std::mem::take(&mut self.instances);
        let mut traces = std::mem::take(&mut self.traces);
        let threads = self.pool.threads();
        let out = self.pool.install(|| {
            let mut jobs: Vec<Job<F>> = instances
                .iter_mut()
                .zip(traces.iter_mut())
                .zip(chunk.x.iter().zip(&chunk.y))
                .map(|((inst, trace), (x, y))| Job::new(inst, Some(trace), x, y))
                .collect();
            run_jobs(&mut jobs, threads, PatternKind::Train, &record)
        });
        self.instances = instances;
        self.traces = traces;
        Ok(out)
    }

    fn evaluate(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>> {
        let record = RecordSpec::default();
        let threads = self.pool.threads();
        let mut copies = self.instances.clone();
        Ok(self.pool.install(|| {
            let mut jobs: Vec<Job<F>> = copies
                .iter_mut()
                .zip(chunk.x.iter().zip(&chunk.y))
                .map(|(inst, (x, y))| Job::new(inst, None, x, y))
                .collect();
            run_jobs(&mut jobs, threads, PatternKind::Eval, &record)
        }))
    }

    fn weights(&mut self) -> anyhow::Result<Vec<Weights<f64>>> {
        Ok(self.instances.iter().map(|i| i.weights().cast()).collect())
    }

    fn snapshot(&mut self) -> anyhow::Result<Vec<State<f64>>> {
        Ok(self.instances.iter().map(|i| i.snapshot().cast()).collect())
    }

    fn restore(&mut self, states: &[State<f64>]) -> anyhow::Result<()> {
        crate::microcircuit::backend::check_restore_len(states.len(), self.instances.len())?;
        for (inst, st) in self.instances.iter_mut().zip(states) {
            inst.restore(st.cast());
        }
        Ok(())
    }

    fn take_traces(&mut self) -> Vec<Trace> {
        let n = self.traces.len();
        std::mem::replace(&mut self.traces, vec![Trace::default(); n])
    }
}
