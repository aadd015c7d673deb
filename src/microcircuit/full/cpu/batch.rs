//! The CPU backend of the reference and the vector kernel: a batch of [`Instance`]s advanced in
//! parallel with rayon, one instance per task. Instances never interact, so instance k in a
//! batch computes exactly what it computes alone.

use super::{CpuKernel, CpuReal, Instance, Layout, State};
use crate::microcircuit::backend::{Backend, Batch, Chunk, PatternKind, RecordSpec, Trace};
use crate::microcircuit::Weights;
use crate::num::Real;
use crate::pool::{per_pattern, Pool};
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
        let out = self.pool.install(|| {
            instances
                .par_iter_mut()
                .zip(traces.par_iter_mut())
                .zip(chunk.x.par_iter().zip(&chunk.y))
                .map(|((inst, tr), (x, y))| {
                    let (n_in, n_out) = (inst.shape.n_in(), inst.shape.n_out());
                    if x.len() >= n_in && y.len() >= n_out {
                        let start = inst.params.filter_start;
                        inst.state.start_filters(start, &x[..n_in], &y[..n_out]);
                    }
                    run_patterns(inst, x, y, PatternKind::Train, &record, tr)
                })
                .collect()
        });
        self.instances = instances;
        self.traces = traces;
        Ok(out)
    }

    fn evaluate(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>> {
        let instances = &self.instances;
        let record = RecordSpec::default();
        Ok(self.pool.install(|| {
            instances
                .par_iter()
                .zip(chunk.x.par_iter().zip(&chunk.y))
                .map(|(inst, (x, y))| {
                    let mut copy = inst.clone();
                    run_patterns(
                        &mut copy,
                        x,
                        y,
                        PatternKind::Eval,
                        &record,
                        &mut Trace::default(),
                    )
                })
                .collect()
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
