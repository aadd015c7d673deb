//! A sweep of any size: its batches run one after another (each one keeps all cores busy), under
//! one progress bar for the whole sweep, each batch's results handed to the caller as soon as it
//! finishes, so memory holds one batch at a time.

use super::schedule::{host_budget, mem_available, Footprint};
use super::{
    batch_of, chunk_len, load_data, open_backend, run_batch, shared_data, Interrupted, Results,
    RunOptions, Schedule,
};
use crate::config::{Config, Plan};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The one progress bar of a sweep: instance-patterns done over all batches, instance-steps per
/// second and ETA, and which batch runs.
pub struct Meter {
    bar: Option<ProgressBar>,
    batches: usize,
    started: Instant,
    /// Instance-steps simulated by this process (resumed work not counted).
    steps: f64,
    backend: Option<String>,
}

impl Meter {
    /// A meter for the sweep `schedule` (`show` false: no bar); its length is set when the
    /// first batch starts ([`Meter::start`]).
    pub fn new(schedule: &Schedule, show: bool) -> Self {
        let bar = show.then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {human_pos}/{human_len} instance-patterns, {msg}, ETA {eta}",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            bar
        });
        Meter {
            bar,
            batches: schedule.batches.len(),
            started: Instant::now(),
            steps: 0.0,
            backend: None,
        }
    }

    /// Number of batches of the sweep.
    pub fn batches(&self) -> usize {
        self.batches
    }

    /// `total` instance-patterns in the sweep, `done` of them in batches finished earlier.
    fn start(&mut self, total: usize, done: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.reset_eta();
        }
    }

    /// Prints the backend when it is the first batch's or differs from the one before.
    pub(super) fn backend(&mut self, name: &str) {
        if self.bar.is_some() && self.backend.as_deref() != Some(name) {
            self.println(&format!("backend: {name}"));
        }
        self.backend = Some(name.to_string());
    }

    /// Starts batch `k`.
    pub(super) fn batch(&mut self, k: usize, instances: usize) {
        if let Some(bar) = &self.bar {
            bar.set_prefix(format!(
                "batch {}/{} ({instances} instances)",
                k + 1,
                self.batches
            ));
        }
    }

    /// A resumed batch had done `instance_patterns` before.
    pub(super) fn resumed(&mut self, instance_patterns: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(instance_patterns as u64);
            bar.reset_eta();
        }
    }

    /// `instance_patterns` more done, which took `steps` instance-steps.
    pub(super) fn advance(&mut self, instance_patterns: usize, steps: f64) {
        self.steps += steps;
        if let Some(bar) = &self.bar {
            bar.inc(instance_patterns as u64);
            let rate = self.steps / self.started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("{}, {rate:.3e} instance-steps/s", bar.prefix()));
        }
    }

    /// Prints a line above the bar (to stderr without one).
    pub(super) fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Leaves the bar where it is (the run stopped).
    pub fn abandon(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// The batches of `plan` for the backend `opts` asks for: the instances that fit into the host
/// memory budget (half of `MemAvailable`, at most [`super::schedule::MAX_BATCH_BYTES`]) by
/// their [`Footprint`], fewer where the backend's device holds fewer
/// ([`crate::backend::Backend::batch_capacity`]) or `opts.max_batch` asks for fewer. A plan
/// without instances (an empty shard) has no batches.
pub fn plan_schedule(cfg: &Config, plan: &Plan, opts: &RunOptions) -> anyhow::Result<Schedule> {
    if plan.instances.is_empty() {
        // a shard of a sweep with fewer instances than shards: no batches, an empty result set
        return Ok(Schedule {
            batches: Vec::new(),
        });
    }
    let first = Plan {
        instances: plan.instances[..1].to_vec(),
        ..plan.clone()
    };
    let shared = shared_data(cfg, &first, opts)?;
    let data = load_data(cfg, &first, opts, shared.as_ref())?;
    let d = &data[0];
    let precision = opts.precision.unwrap_or(cfg.precision);
    let footprint = Footprint::new(
        cfg,
        precision,
        [d.train.len(), d.val.len(), d.test.len()],
        chunk_len(opts),
    );
    let mut size = footprint.capacity(host_budget(mem_available()));
    if let Some(device) = open_backend(cfg, &batch_of(&first, opts), opts)?.batch_capacity() {
        size = size.min(device);
    }
    if let Some(m) = opts.max_batch {
        size = size.min(m);
    }
    Ok(Schedule::of_plan(cfg, plan, size))
}

/// Runs the batches `first..` of `schedule` one after another and hands each one's results to
/// `finish(k, results)` before the next starts; stops with [`Interrupted`] between batches when
/// `opts.stop` is set. A batch's checkpoints (in `opts.checkpoint_dir`) record its number, and
/// with `opts.resume` the batch `first` continues from its checkpoint.
pub fn run_batches(
    cfg: &Config,
    plan: &Plan,
    opts: &RunOptions,
    schedule: &Schedule,
    first: usize,
    meter: &mut Meter,
    mut finish: impl FnMut(usize, Results) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let shared = shared_data(cfg, plan, opts)?;
    for (k, range) in schedule.batches.iter().enumerate().skip(first) {
        let part = Plan {
            instances: plan.instances[range.clone()].to_vec(),
            ..plan.clone()
        };
        let data = load_data(cfg, &part, opts, shared.as_ref())?;
        if k == first {
            let per_instance = cfg.protocol.epochs * data[0].train.len();
            let before: usize = schedule.batches[..first].iter().map(|b| b.len()).sum();
            meter.start(per_instance * plan.instances.len(), per_instance * before);
        }
        meter.batch(k, part.instances.len());
        let results = run_batch(cfg, &part, &data, opts, k, meter)?;
        finish(k, results)?;
        let stop = opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
        if stop && k + 1 < schedule.batches.len() {
            meter.abandon();
            return Err(Interrupted {
                batch: k + 1,
                batches: schedule.batches.len(),
                patterns: 0,
            }
            .into());
        }
    }
    Ok(())
}
