//! The microcircuit (full and steady-state model) on the one runner: batches cut by host memory
//! and device limits ([`experiment::plan_schedule`]), each run by `crate::experiment`'s batch
//! runner (pattern streams, evaluation cadence, checkpoints of the states), its weights and
//! traces written per instance.

use super::Model;
use crate::config::{Config, Plan};
use crate::experiment::{self, Meter, Results, RunOptions, Schedule, Units, PATTERNS};
use crate::output::{self, BatchRecord, BatchRows, SweepWriter, Tables};
use crate::tasks::TaskData;
use std::path::Path;
use std::sync::Arc;

/// A microcircuit sweep of `cfg` with the options `opts`.
pub struct Microcircuit<'a> {
    cfg: &'a Config,
    opts: &'a RunOptions,
    /// The data sets every instance shares, loaded once (inner `None`: each instance has its
    /// own), or not loaded yet.
    shared: Option<Option<Arc<TaskData>>>,
}

impl<'a> Microcircuit<'a> {
    pub fn new(cfg: &'a Config, opts: &'a RunOptions) -> Self {
        Microcircuit {
            cfg,
            opts,
            shared: None,
        }
    }

    /// The data sets of every instance of `part`.
    fn data(&mut self, part: &Plan) -> anyhow::Result<Vec<Arc<TaskData>>> {
        if self.shared.is_none() {
            self.shared = Some(experiment::shared_data(self.cfg, part, self.opts)?);
        }
        let shared = self.shared.as_ref().expect("loaded above").as_ref();
        experiment::load_data(self.cfg, part, self.opts, shared)
    }
}

impl Model for Microcircuit<'_> {
    type Results = Results;

    fn units(&self) -> Units {
        PATTERNS
    }

    fn tables(&self) -> Tables {
        Tables {
            instances: output::INSTANCES_HEADER,
            curves: output::CURVES_HEADER,
        }
    }

    fn schedule(&mut self, plan: &Plan) -> anyhow::Result<Schedule> {
        experiment::plan_schedule(self.cfg, plan, self.opts)
    }

    fn work_per_instance(&mut self, part: &Plan) -> anyhow::Result<usize> {
        let first = Plan {
            instances: part.instances[..1].to_vec(),
            ..part.clone()
        };
        Ok(self.cfg.protocol.epochs * self.data(&first)?[0].train.len())
    }

    fn run_batch(&mut self, k: usize, part: &Plan, meter: &mut Meter) -> anyhow::Result<Results> {
        let data = self.data(part)?;
        experiment::run_batch(self.cfg, part, &data, self.opts, k, meter)
    }

    fn write_batch(&self, dir: &Path, r: &Results) -> anyhow::Result<(BatchRows, BatchRecord)> {
        output::write_instance_files(dir, &r.instances, &r.traces)?;
        let rows = BatchRows {
            instances: output::instance_rows(&r.instances),
            curves: output::curve_rows(&r.curves),
        };
        let record = BatchRecord {
            backend: r.backend.clone(),
            cpu_kernel: r.cpu_kernel,
            seconds: r.seconds,
            instance_steps: r.instance_steps,
        };
        Ok((rows, record))
    }

    fn report_batch(&self, meter: &Meter, k: usize, r: &Results) {
        meter.finished(k, r);
    }

    fn write_summary(&self, sweep: &SweepWriter, plan: &Plan) -> anyhow::Result<()> {
        let (seconds, steps) = sweep.totals();
        let cpu_kernel = sweep.records().first().and_then(|r| r.cpu_kernel);
        output::write_summary(
            sweep.dir(),
            self.cfg,
            sweep.backend(),
            cpu_kernel,
            seconds,
            steps,
            &sweep.outcomes(plan)?,
        )
    }
}
