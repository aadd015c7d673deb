//! A sweep of any size: its batches run one after another (each one keeps all cores busy), under
//! one progress bar for the whole sweep, each batch's results handed to the caller as soon as it
//! finishes, so memory holds one batch at a time.

use super::schedule::{host_budget, mem_available, Footprint};
use super::{
    batch_of, chunk_len, load_data, open_backend, shared_data, Results, RunOptions, Schedule,
};
use crate::config::{Config, Plan};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Whether stderr is a terminal (an interactive progress bar), not a file or pipe (SLURM logs,
/// `nohup`, `2> file`: plain progress lines).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// `h:mm:ss` of `seconds` (`-` when not finite).
pub fn hms(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".into();
    }
    let s = seconds.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `1 instance`, `2 instances`, `5 batches`: `n` and the noun, plural unless `n` is 1 (`-es`
/// after s, x, ch and sh).
pub fn count(n: usize, noun: &str) -> String {
    let es = ["s", "x", "ch", "sh"].iter().any(|e| noun.ends_with(e));
    match n {
        1 => format!("1 {noun}"),
        _ if es => format!("{n} {noun}es"),
        _ => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod count_tests {
    use super::count;

    #[test]
    fn counts_agree_in_number() {
        assert_eq!(count(1, "batch"), "1 batch");
        assert_eq!(count(5, "batch"), "5 batches");
        assert_eq!(count(0, "instance"), "0 instances");
        assert_eq!(count(2, "synapse"), "2 synapses");
    }
}

/// When the next plain progress line is due: every `--progress-seconds` (none when 0).
#[derive(Clone, Debug)]
pub struct Ticker {
    every: Option<Duration>,
    last: Instant,
}

impl Ticker {
    /// A line every `seconds` (0 or not finite: never).
    pub fn new(seconds: f64) -> Self {
        Ticker {
            every: (seconds.is_finite() && seconds > 0.0).then(|| Duration::from_secs_f64(seconds)),
            last: Instant::now(),
        }
    }

    /// Whether a line is due now; if so, the next one is due a period later.
    pub fn due(&mut self) -> bool {
        match self.every {
            Some(every) if self.last.elapsed() >= every => {
                self.last = Instant::now();
                true
            }
            _ => false,
        }
    }
}

/// How a sweep shows its progress.
enum Display {
    /// `--quiet`: nothing.
    Off,
    /// stderr is a terminal: one interactive bar (drawn from the first batch's start on, so
    /// there is no empty first draw).
    Bar(ProgressBar),
    /// stderr is a file or pipe: a plain line every `--progress-seconds` and one per finished
    /// batch.
    Lines(Ticker),
}

/// What a model's progress counts: the work done over all instances (the bar's unit) and the
/// rate of the arithmetic beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Units {
    /// e.g. `instance-patterns`.
    pub work: &'static str,
    /// e.g. `instance-steps/s`.
    pub rate: &'static str,
}

/// The microcircuit's units: training patterns of all instances, and Euler steps per second.
pub const PATTERNS: Units = Units {
    work: "instance-patterns",
    rate: "instance-steps/s",
};

/// The one progress bar of a sweep: work done over all batches (instance-patterns of the
/// microcircuit, instance iterations of the G-clusteron), the rate of the arithmetic
/// (instance-steps or unit-pattern updates per second) and ETA, and which batch runs; without a
/// terminal, plain lines with the same numbers.
pub struct Meter {
    display: Display,
    units: Units,
    batches: usize,
    started: Instant,
    /// Instance-steps simulated by this process (resumed work not counted).
    steps: f64,
    backend: Option<String>,
    /// Instance-patterns of the sweep, done (resumed work included), and done when the ETA's
    /// clock (`since`) started.
    total: usize,
    done: usize,
    done_since: usize,
    since: Instant,
    /// The running batch and its instances.
    batch: usize,
    instances: usize,
}

impl Meter {
    /// A meter for the sweep `schedule` of the microcircuit ([`PATTERNS`]; see
    /// [`Meter::with_units`]).
    pub fn new(schedule: &Schedule, show: bool, progress_seconds: f64) -> Self {
        Self::with_units(schedule, show, progress_seconds, PATTERNS)
    }

    /// A meter for the sweep `schedule` counting in `units` (`show` false: nothing shown; on a
    /// terminal a bar, else a plain line every `progress_seconds`, none when 0); its length is
    /// set when the first batch starts ([`Meter::start`]).
    pub fn with_units(
        schedule: &Schedule,
        show: bool,
        progress_seconds: f64,
        units: Units,
    ) -> Self {
        let display = match (show, stderr_is_terminal()) {
            (false, _) => Display::Off,
            (true, true) => {
                let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
                bar.set_style(
                    ProgressStyle::with_template(&format!(
                        "{{elapsed_precise}} [{{bar:30}}] {{human_pos}}/{{human_len}} {}, {{msg}}, ETA {{eta}}",
                        units.work
                    ))
                    .expect("a valid template")
                    .progress_chars("=> "),
                );
                Display::Bar(bar)
            }
            (true, false) => Display::Lines(Ticker::new(progress_seconds)),
        };
        Meter {
            display,
            units,
            batches: schedule.batches.len(),
            started: Instant::now(),
            steps: 0.0,
            backend: None,
            total: 0,
            done: 0,
            done_since: 0,
            since: Instant::now(),
            batch: 0,
            instances: 0,
        }
    }

    /// Number of batches of the sweep.
    pub fn batches(&self) -> usize {
        self.batches
    }

    /// `total` units of work in the sweep, `done` of them in batches finished earlier.
    pub fn start(&mut self, total: usize, done: usize) {
        self.total = total;
        self.done = done;
        self.restart_eta();
        if let Display::Bar(bar) = &self.display {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.reset_eta();
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    fn restart_eta(&mut self) {
        self.done_since = self.done;
        self.since = Instant::now();
    }

    /// Prints the backend when it is the first batch's or differs from the one before.
    pub fn backend(&mut self, name: &str) {
        if !matches!(self.display, Display::Off) && self.backend.as_deref() != Some(name) {
            self.println(&format!("backend: {name}"));
        }
        self.backend = Some(name.to_string());
    }

    /// Starts batch `k`.
    pub fn batch(&mut self, k: usize, instances: usize) {
        self.batch = k;
        self.instances = instances;
        if let Display::Bar(bar) = &self.display {
            bar.set_prefix(self.batch_label());
            bar.set_message(self.batch_label());
        }
    }

    /// `batch 1/3 (4 instances)`.
    fn batch_label(&self) -> String {
        format!(
            "batch {}/{} ({})",
            self.batch + 1,
            self.batches,
            count(self.instances, "instance")
        )
    }

    /// A resumed batch had done `instance_patterns` (units of work) before.
    pub fn resumed(&mut self, instance_patterns: usize) {
        self.done += instance_patterns;
        self.restart_eta();
        if let Display::Bar(bar) = &self.display {
            bar.inc(instance_patterns as u64);
            bar.reset_eta();
        }
    }

    /// `instance_patterns` more units of work done, which took `steps` units of the rate
    /// (instance-steps, unit-pattern updates).
    pub fn advance(&mut self, instance_patterns: usize, steps: f64) {
        self.steps += steps;
        self.done += instance_patterns;
        let rate = self.steps / self.started.elapsed().as_secs_f64().max(1e-9);
        match &mut self.display {
            Display::Off => {}
            Display::Bar(bar) => {
                bar.inc(instance_patterns as u64);
                bar.set_message(format!("{}, {rate:.3e} {}", bar.prefix(), self.units.rate));
            }
            Display::Lines(ticker) => {
                if ticker.due() {
                    let line = self.progress_line(rate);
                    eprintln!("{line}");
                }
            }
        }
    }

    /// `progress: 1200/4000 instance-patterns (30.0 %), batch 1/2 (1 instance), 7.7e5
    /// instance-steps/s, elapsed 0:00:05, ETA 0:00:12`.
    fn progress_line(&self, rate: f64) -> String {
        let per_second =
            (self.done - self.done_since) as f64 / self.since.elapsed().as_secs_f64().max(1e-9);
        let eta = match per_second > 0.0 {
            true => hms(self.total.saturating_sub(self.done) as f64 / per_second),
            false => "-".into(),
        };
        format!(
            "progress: {}/{} {} ({:.1} %), {}, {rate:.3e} {}, elapsed {}, ETA {eta}",
            self.done,
            self.total,
            self.units.work,
            100.0 * self.done as f64 / self.total.max(1) as f64,
            self.batch_label(),
            self.units.rate,
            hms(self.started.elapsed().as_secs_f64()),
        )
    }

    /// Batch `k` of the microcircuit finished with `results` (see [`Meter::finished_batch`]).
    pub fn finished(&self, k: usize, results: &Results) {
        let kept: Vec<_> = results
            .instances
            .iter()
            .filter(|i| i.diverged_at.is_none())
            .collect();
        let mean = |name: &str, scale: f64, get: &dyn Fn(&super::InstanceResult) -> Option<f64>| {
            let v: Vec<f64> = kept.iter().filter_map(|i| get(i)).collect();
            (!v.is_empty()).then(|| {
                format!(
                    "{name} {:.4}",
                    scale * v.iter().sum::<f64>() / v.len() as f64
                )
            })
        };
        let metrics: Vec<String> = [
            mean("test acc %", 100.0, &|i| i.test.acc),
            mean("test mse", 1.0, &|i| i.test.mse),
            mean("val acc %", 100.0, &|i| i.val.acc),
            mean("val mse", 1.0, &|i| i.val.mse),
        ]
        .into_iter()
        .flatten()
        .collect();
        let diverged = results.instances.len() - kept.len();
        self.finished_batch(
            k,
            results.instances.len(),
            diverged,
            results.seconds,
            &metrics,
        );
    }

    /// Batch `k` of `instances` instances (`diverged` of them diverged) finished after
    /// `seconds`: without a terminal, a line with the means of its metrics (`metrics`, e.g.
    /// `test acc % 95.1000`).
    pub fn finished_batch(
        &self,
        k: usize,
        instances: usize,
        diverged: usize,
        seconds: f64,
        metrics: &[String],
    ) {
        if !matches!(self.display, Display::Lines(_)) {
            return;
        }
        eprintln!(
            "batch {}/{} done ({}, {seconds:.1} s){}{}{}",
            k + 1,
            self.batches,
            count(instances, "instance"),
            match diverged {
                0 => String::new(),
                d => format!(", {d} diverged"),
            },
            match metrics.is_empty() {
                true => "",
                false => ": mean ",
            },
            metrics.join(", ")
        );
    }

    /// Prints a line above the bar (to stderr without one).
    pub fn println(&self, line: &str) {
        match &self.display {
            Display::Bar(bar) => bar.println(line),
            _ => eprintln!("{line}"),
        }
    }

    /// Leaves the bar where it is (the run stopped).
    pub fn abandon(&self) {
        if let Display::Bar(bar) = &self.display {
            bar.abandon();
        }
    }

    pub fn finish(&self) {
        if let Display::Bar(bar) = &self.display {
            bar.finish();
        }
    }
}

/// The batches of `plan` for the backend `opts` asks for: the instances that fit into the host
/// memory budget (half of `MemAvailable`, at most [`super::schedule::MAX_BATCH_BYTES`]) by
/// their [`Footprint`], fewer where the backend's device holds fewer
/// ([`crate::microcircuit::backend::Backend::batch_capacity`]) or `opts.max_batch` asks for
/// fewer. A plan without instances (an empty shard) has no batches.
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
