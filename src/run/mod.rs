//! The one runner: a sweep of any model runs batch after batch (each one keeps all cores or
//! the device busy) under one progress meter, each batch's results written as soon as it
//! finishes, with checkpoints, `--resume` (finished batches are skipped, the running one
//! continues from its checkpoint), stop flags, `--max-batch`, shards and `merge`.
//!
//! A model plugs in through [`Model`]: how its instances are cut into batches, how one batch
//! runs (training loop, evaluation cadence, checkpoints of its states), and what it writes
//! (per-instance files, table rows, the summary). [`microcircuit::Microcircuit`] runs the full
//! and the steady-state model (through `crate::experiment`'s batch runner),
//! [`gclusteron::GClusteron`] the G-clusteron; [`open`] picks one for a config: adding a model
//! touches its own room and that one line.

pub mod gclusteron;
pub mod merge;
pub mod microcircuit;

use crate::config::{Config, ModelKind, Plan};
use crate::experiment::{count, Interrupted, Meter, RunOptions, Schedule, Units};
use crate::output::{BatchRecord, BatchRows, Outcome, SweepWriter, Tables};
use std::path::Path;

/// A model the runner can run (see the module docs).
pub trait Model {
    /// What one batch produces.
    type Results;
    /// What the progress meter counts.
    fn units(&self) -> Units;
    /// The headers of `instances.csv` and `curves.csv`.
    fn tables(&self) -> Tables;
    /// The batches of `plan` (host memory, device limits, `--max-batch`).
    fn schedule(&mut self, plan: &Plan) -> anyhow::Result<Schedule>;
    /// Units of work ([`Model::units`]) per instance over the whole protocol.
    fn work_per_instance(&mut self, plan: &Plan) -> anyhow::Result<usize>;
    /// Runs batch `k` (the instances of `part`) to the end of its protocol, continuing from
    /// the batch's checkpoint when the options ask to resume; a stop ends it with
    /// [`Interrupted`] after a checkpoint.
    fn run_batch(
        &mut self,
        k: usize,
        part: &Plan,
        meter: &mut Meter,
    ) -> anyhow::Result<Self::Results>;
    /// Writes the per-instance files of a finished batch into `dir` and returns its table rows
    /// and record.
    fn write_batch(
        &self,
        dir: &Path,
        r: &Self::Results,
    ) -> anyhow::Result<(BatchRows, BatchRecord)>;
    /// Reports a finished batch on the meter (its line without a terminal).
    fn report_batch(&self, meter: &Meter, k: usize, r: &Self::Results);
    /// Writes `summary.json` and `summary.csv` once every batch is done.
    fn write_summary(&self, sweep: &SweepWriter, plan: &Plan) -> anyhow::Result<()>;
    /// Lines the CLI prints after the run (besides the points), e.g. a baseline.
    fn closing_lines(&self) -> Vec<String> {
        Vec::new()
    }
}

/// What a finished sweep reports.
#[derive(Clone, Debug)]
pub struct Finished {
    pub outcomes: Vec<Outcome>,
    /// The backend of the first batch (empty when there were no batches).
    pub backend: String,
    pub seconds: f64,
    /// Units of the rate (instance-steps, unit-pattern updates) over all batches.
    pub work: f64,
    /// The rate's unit, e.g. `instance-steps/s`.
    pub rate: &'static str,
    pub lines: Vec<String>,
}

/// Runs the sweep `plan` of `model` into `out` (see the module docs): opens the outputs
/// (fixing the schedule, or reading it back with `opts.resume`), runs the unfinished batches,
/// removes each batch's checkpoint once its results are written, and finishes the tables.
pub fn sweep<M: Model>(
    model: &mut M,
    plan: &Plan,
    out: &Path,
    opts: &RunOptions,
    say: &mut dyn FnMut(&str),
) -> anyhow::Result<Finished> {
    let mut writer = SweepWriter::open(out, model.tables(), opts.resume, || model.schedule(plan))?;
    let schedule = writer.schedule().clone();
    let first = writer.finished();
    if schedule.batches.is_empty() {
        say("no instances in this slice: it finishes at once as an empty result set");
    } else {
        say(&format!(
            "{} of at most {}{}",
            count(schedule.batches.len(), "batch"),
            count(schedule.largest(), "instance"),
            match first {
                0 => String::new(),
                k => format!(", {k} done already"),
            }
        ));
    }
    let units = model.units();
    let mut meter = Meter::with_units(&schedule, opts.progress, opts.progress_seconds, units);
    for (k, range) in schedule.batches.iter().enumerate().skip(first) {
        let part = Plan {
            instances: plan.instances[range.clone()].to_vec(),
            ..plan.clone()
        };
        if k == first {
            let per_instance = model.work_per_instance(&part)?;
            let before: usize = schedule.batches[..first].iter().map(|b| b.len()).sum();
            meter.start(per_instance * plan.instances.len(), per_instance * before);
        }
        meter.batch(k, part.instances.len());
        let results = model.run_batch(k, &part, &mut meter)?;
        model.report_batch(&meter, k, &results);
        let t0 = std::time::Instant::now();
        let (rows, mut record) = model.write_batch(out, &results)?;
        // the time the files take counts into the batch's wall time
        record.seconds += t0.elapsed().as_secs_f64();
        writer.write_batch(k, &rows, record)?;
        crate::checkpoint::remove_checkpoints(out)?;
        if opts.stop_asked() && k + 1 < schedule.batches.len() {
            meter.abandon();
            return Err(Interrupted {
                batch: k + 1,
                batches: schedule.batches.len(),
                patterns: 0,
                work: units.work,
            }
            .into());
        }
    }
    meter.finish();
    let outcomes = writer.outcomes(plan)?;
    let (seconds, work) = writer.totals();
    let backend = writer.backend().to_string();
    writer.finish(|w| model.write_summary(w, plan))?;
    Ok(Finished {
        outcomes,
        backend,
        seconds,
        work,
        rate: units.rate,
        lines: model.closing_lines(),
    })
}

/// Runs the sweep `plan` of the config's model into `out` (see [`sweep`]): the one place
/// where a model is chosen for a run.
pub fn run(
    cfg: &Config,
    plan: &Plan,
    out: &Path,
    opts: &RunOptions,
    say: &mut dyn FnMut(&str),
) -> anyhow::Result<Finished> {
    match cfg.model {
        ModelKind::Full | ModelKind::Steady => sweep(
            &mut microcircuit::Microcircuit::new(cfg, opts),
            plan,
            out,
            opts,
            say,
        ),
        ModelKind::Gclusteron => {
            let mut model = gclusteron::GClusteron::new(cfg, plan, opts)?;
            sweep(&mut model, plan, out, opts, say)
        }
    }
}
