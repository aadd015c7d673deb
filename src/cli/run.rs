//! `pyralnet run`: run an experiment config (or one shard of it) and write its outputs, with
//! checkpoints, clean stops on SIGINT/SIGTERM and `--resume`.

use crate::atomic;
use crate::config::{Config, ModelKind};
use crate::experiment::{self, BackendChoice, Interrupted, RunOptions};
use crate::microcircuit::backend::RecordSpec;
use crate::microcircuit::full::cpu::CpuKernel;
use crate::num::Precision;
use crate::output::{self, Shard};
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PrecisionArg {
    F32,
    F64,
}

/// `--backend`: which simulator runs the instances.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BackendArg {
    /// The CPU backend (f64 unless --precision or the config say f32).
    Cpu,
    /// The GPU backend (f32; full and steady model, G-clusteron), on a CPU Vulkan driver such
    /// as lavapipe too when there is no GPU.
    Gpu,
    /// A GPU that is not a CPU driver when there is one, else the CPU backend.
    Auto,
}

impl From<BackendArg> for BackendChoice {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Cpu => BackendChoice::Cpu,
            BackendArg::Gpu => BackendChoice::Gpu,
            BackendArg::Auto => BackendChoice::Auto,
        }
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Experiment config (JSON); see the README's config reference.
    pub config: PathBuf,
    /// Output folder (default: `out/<config name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// CPU threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Working precision of the CPU backend (default: the config's, f64 if unset; with
    /// --resume, the run's).
    #[arg(long, value_enum)]
    pub precision: Option<PrecisionArg>,
    /// Simulator: auto (default) picks a GPU when there is one (not a CPU driver such as
    /// lavapipe) and --precision f64 is not given, else the CPU (see `pyralnet devices`). With
    /// --resume, left out means the backend the run was started on.
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    /// CPU kernel of the full model: auto (default) is reference for now, the scalar kernel the
    /// others are checked against (the resolved kernel goes into summary.json and run.json).
    /// With --resume, left out means the kernel the run was started with.
    #[arg(long, value_enum)]
    pub cpu_kernel: Option<CpuKernel>,
    /// GPU adapter to use: the first whose name contains this (case-insensitive).
    #[arg(long)]
    pub adapter: Option<String>,
    /// Start every instance from the weights in this .npz (arrays `layer0.W_up`, ...); with
    /// --resume, left out means the file the run was started with, whose content must not have
    /// changed.
    #[arg(long)]
    pub init_weights: Option<PathBuf>,
    /// Record traces of the training stream to traces/instance_<i>.npz.
    #[arg(long)]
    pub record: bool,
    /// Keep every N-th Euler step in the traces.
    #[arg(long, default_value_t = 10)]
    pub record_stride: usize,
    /// Also record hidden pyramidal and interneuron somas.
    #[arg(long)]
    pub record_all: bool,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Run only slice I of N of the instances, e.g. 0/4 (default: from SLURM_ARRAY_TASK_ID and
    /// SLURM_ARRAY_TASK_COUNT when set).
    #[arg(long)]
    pub shard: Option<String>,
    /// At most N instances per batch (default: as many as half the available memory, at most
    /// 512 MiB, and the GPU's buffer limits allow). A resumed run keeps its batches.
    #[arg(long, value_name = "N")]
    pub max_batch: Option<usize>,
    /// Seconds between checkpoints (there is also one at every evaluation point).
    #[arg(long, default_value_t = 300.0)]
    pub checkpoint_seconds: f64,
    /// Overwrite the results already in --out.
    #[arg(long)]
    pub force: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// When stderr is not a terminal (SLURM logs, nohup, `2> file`): seconds between plain
    /// progress lines (patterns done, %, instance-steps/s, ETA); 0 = none. A line per finished
    /// batch is printed either way.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub progress_seconds: f64,
}

/// Most threads `--threads` may ask for: 64 per logical CPU, at least 64, at most 4096 (more
/// would only make the OS thread spawning the run's work).
pub fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_mul(64).clamp(64, 4096)
}

/// Refuses a `--threads` value below 1 or above [`max_threads`].
pub fn check_threads(n: usize) -> anyhow::Result<()> {
    let max = max_threads();
    if n == 0 {
        bail!("--threads must be at least 1");
    }
    if n > max {
        bail!(
            "--threads {n} is more than the limit of {max} (64 per logical CPU, at most 4096); leave it out for one per core"
        );
    }
    Ok(())
}

/// `I/N` from the flag or from SLURM's job-array variables.
fn shard_of(flag: Option<&str>) -> anyhow::Result<Option<Shard>> {
    let text = match flag {
        Some(s) => s.to_string(),
        None => match (
            std::env::var("SLURM_ARRAY_TASK_ID"),
            std::env::var("SLURM_ARRAY_TASK_COUNT"),
        ) {
            (Ok(i), Ok(n)) => {
                let min: usize = std::env::var("SLURM_ARRAY_TASK_MIN")
                    .ok()
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(0);
                let i: usize = i.parse().context("SLURM_ARRAY_TASK_ID is not a number")?;
                format!(
                    "{}/{n}",
                    i.checked_sub(min)
                        .context("SLURM_ARRAY_TASK_ID below SLURM_ARRAY_TASK_MIN")?
                )
            }
            _ => return Ok(None),
        },
    };
    let parsed = text.split_once('/').and_then(|(i, n)| {
        Some((
            i.trim().parse::<usize>().ok()?,
            n.trim().parse::<usize>().ok()?,
        ))
    });
    match parsed {
        Some((index, count)) if count > 0 && index < count => Ok(Some(Shard { index, count })),
        _ => bail!("--shard must be I/N with 0 ≤ I < N, got `{text}`"),
    }
}

/// Refuses a folder that holds a run of another config or shard.
fn check_same_run(out: &Path, cfg: &Config, shard: Option<Shard>) -> anyhow::Result<()> {
    let existing = out.join("config.json");
    if existing.is_file() {
        let text = std::fs::read_to_string(&existing)?;
        let old: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged", existing.display()))?;
        if old != serde_json::to_value(cfg)? {
            bail!(
                "{} holds a run of a different config; choose another --out",
                out.display()
            );
        }
    }
    let old_shard = output::read_shard(out)?;
    if old_shard.is_some() && old_shard != shard {
        bail!(
            "{} holds a run of another shard ({}); choose another --out",
            out.display(),
            old_shard.map_or("none".into(), |s| format!("{}/{}", s.index, s.count))
        );
    }
    Ok(())
}

/// `pyralnet run`: loads the config, runs it with [`execute`] (stop flag set by SIGINT/SIGTERM,
/// messages to stderr) and exits 130 after a stop.
pub fn run(a: RunArgs) -> anyhow::Result<()> {
    let cfg = Config::load(&a.config)?;
    let base_dir = Config::base_dir(&a.config);
    let hooks = Hooks {
        stop: Arc::new(AtomicBool::new(false)),
        catch_signals: true,
        say: &mut |line| eprintln!("{line}"),
    };
    match execute(&cfg, &base_dir, &a, hooks) {
        Err(e) if e.is::<Interrupted>() => {
            eprintln!("{e}");
            std::process::exit(130);
        }
        Err(e) if e.is::<AllDiverged>() => {
            eprintln!("error: {e}");
            std::process::exit(AllDiverged::EXIT_CODE);
        }
        other => other,
    }
}

/// Every instance of the run diverged (non-finite readouts or weights): its outputs are
/// written, but no instance has a result. The CLI exits with [`AllDiverged::EXIT_CODE`].
#[derive(Debug)]
pub struct AllDiverged {
    pub instances: usize,
    pub out: PathBuf,
}

impl AllDiverged {
    /// The exit code of `pyralnet run` when every instance diverged.
    pub const EXIT_CODE: i32 = 3;
}

impl std::fmt::Display for AllDiverged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "all {} instances diverged (non-finite or overflowing readouts, errors or weights), so the run has no result; \
             the outputs in {} mark them (\"diverged\" metrics, diverged_at); try smaller learning rates",
            self.instances,
            self.out.display()
        )
    }
}

impl std::error::Error for AllDiverged {}

/// Instances named one by one in the divergence warning at most (summary.json lists all).
const DIVERGED_NAMED: usize = 20;

/// The warning lines about the instances of `outcomes` that diverged (none when none did).
fn diverged_warning(outcomes: &[output::Outcome]) -> Vec<String> {
    let diverged: Vec<&output::Outcome> = outcomes
        .iter()
        .filter(|o| o.diverged_at.is_some())
        .collect();
    if diverged.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "warning: {} of {} instances diverged (non-finite or overflowing readouts, errors or weights); their metrics are reported as \"diverged\" and left out of the means:",
        diverged.len(),
        outcomes.len()
    )];
    for o in diverged.iter().take(DIVERGED_NAMED) {
        let params: Vec<String> = o
            .spec
            .swept
            .iter()
            .map(|(k, v)| format!("{k}={}", crate::config::param_text(v)))
            .collect();
        lines.push(format!(
            "  instance {} (point {}, seed {}{}{}) after {} training patterns",
            o.spec.index,
            o.spec.point,
            o.spec.params.seed,
            if params.is_empty() { "" } else { ", " },
            params.join(", "),
            o.diverged_at.unwrap_or_default()
        ));
    }
    if diverged.len() > DIVERGED_NAMED {
        lines.push(format!(
            "  … and {} more (all in summary.json, \"diverged\")",
            diverged.len() - DIVERGED_NAMED
        ));
    }
    lines
}

/// What [`execute`] reports to and hears from its caller (the CLI or the Python package).
pub struct Hooks<'a> {
    /// Set to stop after the current training call (about a second) with a checkpoint
    /// ([`Interrupted`]).
    pub stop: Arc<AtomicBool>,
    /// Whether SIGINT/SIGTERM set `stop` (the CLI); the Python package sets it itself.
    pub catch_signals: bool,
    /// Receives every line the run reports (the CLI prints them to stderr).
    pub say: &'a mut dyn FnMut(&str),
}

/// Runs the validated config `cfg` (relative data paths resolved in `base_dir`) with the
/// options `a` (its `config` is not read) and writes its outputs to `a.out`; a stop through
/// `hooks.stop` ends it with [`Interrupted`].
pub fn execute(cfg: &Config, base_dir: &Path, a: &RunArgs, hooks: Hooks) -> anyhow::Result<()> {
    let Hooks {
        stop,
        catch_signals,
        say,
    } = hooks;
    let shard = shard_of(a.shard.as_deref())?;
    let full_plan = cfg.plan()?;
    let plan = match shard {
        Some(s) => full_plan.shard(s.index, s.count),
        None => full_plan,
    };
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(cfg.name.clone().unwrap_or_default()));
    if let Some(n) = a.threads {
        check_threads(n)?;
    }
    if !(a.checkpoint_seconds.is_finite() && a.checkpoint_seconds > 0.0) {
        bail!(
            "--checkpoint-seconds must be a finite number of seconds > 0, got {}",
            a.checkpoint_seconds
        );
    }
    if !(a.progress_seconds.is_finite() && a.progress_seconds >= 0.0) {
        bail!(
            "--progress-seconds must be a finite number of seconds ≥ 0 (0: no progress lines), got {}",
            a.progress_seconds
        );
    }
    if a.max_batch == Some(0) {
        bail!("--max-batch must be at least 1");
    }
    if a.record && a.record_stride == 0 {
        bail!("--record-stride must be at least 1");
    }
    if matches!(a.backend, Some(BackendArg::Gpu)) && matches!(a.precision, Some(PrecisionArg::F64))
    {
        bail!("the GPU backend computes in f32; use --backend cpu for --precision f64");
    }
    if cfg.model == ModelKind::Gclusteron && (a.record || a.init_weights.is_some()) {
        bail!("--record and --init-weights are not available for \"model\": \"gclusteron\" (it has no time course to record, and its initial states come from its params)");
    }
    if a.record && a.resume {
        bail!("--record cannot be combined with --resume (traces before the checkpoint would be missing)");
    }
    // a bad --init-weights file is refused before the output folder is made
    let read_init = |p: &Path| {
        output::read_weights(p, &plan.shape)
            .with_context(|| format!("--init-weights {}", p.display()))
    };
    let given_init = a.init_weights.as_deref().map(read_init).transpose()?;
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create output folder {}", out.display()))?;
    // held until this function returns: no other run writes into `out` meanwhile
    let _lock = output::lock_run_dir(&out)?;
    if a.resume {
        check_same_run(&out, cfg, shard)?;
        if out.join("summary.json").exists() {
            say(&format!(
                "{} is complete already; nothing to resume",
                out.display()
            ));
            return Ok(());
        }
    } else if out.join("summary.json").exists()
        || out.join("checkpoint").exists()
        || output::has_batches(&out)
    {
        if !a.force {
            bail!(
                "{} already holds a run; pass --resume to continue it, --force to overwrite it, or choose another --out",
                out.display()
            );
        }
        crate::checkpoint::remove_checkpoints(&out)?;
        remove_stale_outputs(&out)?;
    }
    // the options that change results: on --resume those left out are the stored ones, and
    // different ones are refused
    let stored = match a.resume {
        true => output::read_identity(&out)?,
        false => None,
    };
    let was = stored.clone().unwrap_or_default();
    let backend: BackendChoice = match (a.backend, was.backend.as_deref()) {
        (Some(b), _) => b.into(),
        (None, Some("gpu")) => BackendChoice::Gpu,
        (None, Some("cpu")) => BackendChoice::Cpu,
        (None, _) => BackendChoice::Auto,
    };
    let precision = a
        .precision
        .map(|p| match p {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::F64 => Precision::F64,
        })
        .or(was.precision);
    let cpu_kernel = a.cpu_kernel.or(was.cpu_kernel).unwrap_or_default();
    let init_path = match &a.init_weights {
        Some(p) => Some(p.clone()),
        None => was.init_weights_path.clone(),
    };
    let init_weights = match given_init {
        Some(w) => Some(w),
        None => init_path.as_deref().map(read_init).transpose()?,
    };
    let now = identity_of(cfg, a, backend, precision, cpu_kernel, init_path.as_deref())?;
    if let Some(was) = stored {
        was.check(&now)?;
        output::write_identity(&out, &was.or(now))?;
    } else {
        output::write_identity(&out, &now)?;
    }
    atomic::write_text(
        &out.join("config.json"),
        &(serde_json::to_string_pretty(cfg)? + "\n"),
    )?;
    output::write_shard(&out, shard)?;
    let flag = stop.clone();
    let opts = RunOptions {
        threads: a.threads,
        precision,
        backend,
        cpu_kernel,
        adapter: a.adapter.clone(),
        init_weights,
        record: RecordSpec {
            stride: if a.record { a.record_stride } else { 0 },
            all_compartments: a.record_all,
        },
        progress: !a.quiet,
        progress_seconds: a.progress_seconds,
        base_dir: base_dir.to_path_buf(),
        chunk: 0,
        max_batch: a.max_batch,
        checkpoint_dir: Some(out.clone()),
        checkpoint_seconds: a.checkpoint_seconds,
        resume: a.resume,
        stop: Some(stop),
    };
    say(&format!(
        "{}: {} of {}{}, writing to {}",
        cfg.name.as_deref().unwrap_or("run"),
        experiment::count(plan.instances.len(), "instance"),
        network_label(cfg, &plan),
        shard.map_or(String::new(), |s| format!(
            ", shard {}/{}",
            s.index, s.count
        )),
        out.display()
    ));
    // A second signal while stopping gets the default behaviour back only through kill -9.
    if catch_signals {
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
    let finished = crate::run::run(cfg, &plan, &out, &opts, say)?;
    let outcomes = finished.outcomes;
    print_points(&output::summarise(&outcomes), say);
    for line in &finished.lines {
        say(line);
    }
    if !finished.backend.is_empty() {
        say(&format!(
            "{} on {}: {:.1} s, {:.3e} {}",
            out.display(),
            finished.backend,
            finished.seconds,
            finished.work / finished.seconds.max(1e-9),
            finished.rate
        ));
    }
    let warning = diverged_warning(&outcomes);
    for line in &warning {
        say(line);
    }
    if !outcomes.is_empty() && outcomes.iter().all(|o| o.diverged_at.is_some()) {
        return Err(AllDiverged {
            instances: outcomes.len(),
            out,
        }
        .into());
    }
    Ok(())
}

/// What `--force` removes of the run it overwrites in `out`, besides its checkpoints: every
/// output that the new run would not overwrite. Per-instance folders (`weights/`, `traces/`,
/// the G-clusteron's `states/`): a new run with fewer instances, without `--record` or of the
/// other model would leave files of the old one beside its own; `plots/` (written by
/// `pyralnet plot`), whose figures would show the old results; `batches/` (a new run starts it
/// afresh); and `run.json` (a new run writes its own when it starts). The lock file stays (this
/// run holds it).
const STALE: [&str; 6] = [
    "weights", "traces", "states", "plots", "batches", "run.json",
];

/// Removes the [`STALE`] outputs of the run `--force` overwrites in `out`.
fn remove_stale_outputs(out: &Path) -> anyhow::Result<()> {
    for name in STALE {
        let p = out.join(name);
        let removed = match std::fs::symlink_metadata(&p) {
            Err(_) => continue,
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&p),
            Ok(_) => std::fs::remove_file(&p),
        };
        removed.with_context(|| format!("--force: cannot remove {}", p.display()))?;
    }
    Ok(())
}

/// What the run's header says the instances are: `4-120-3 (sigmoid)` for the microcircuit
/// models, `the G-clusteron (784 synapses, 10 units, softmax readout)` for the G-clusteron.
fn network_label(cfg: &Config, plan: &crate::config::Plan) -> String {
    match cfg.model {
        ModelKind::Gclusteron => {
            let gc = cfg.gc_config();
            let (n, classes) = (cfg.network.dims[0], cfg.network.dims[1]);
            let readout = serde_json::to_value(gc.readout)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            format!(
                "the G-clusteron ({}, {}, {readout} readout)",
                experiment::count(n, "synapse"),
                experiment::count(gc.units(classes), "unit")
            )
        }
        _ => format!("{} ({})", plan.shape.label(), plan.phi.name()),
    }
}

/// The identity ([`output::RunIdentity`]) of a microcircuit run with these options: the backend
/// `backend` resolves to as [`experiment::open_backend`] resolves it, the precision it computes
/// in, the CPU kernel asked for where one runs, and the content hash of the initial weights.
fn identity_of(
    cfg: &Config,
    a: &RunArgs,
    backend: BackendChoice,
    precision: Option<Precision>,
    cpu_kernel: CpuKernel,
    init_weights: Option<&Path>,
) -> anyhow::Result<output::RunIdentity> {
    let full = cfg.model == ModelKind::Full;
    let on_gpu = match backend {
        BackendChoice::Gpu => true,
        BackendChoice::Cpu => false,
        BackendChoice::Auto => {
            precision != Some(Precision::F64)
                && (full || !a.record)
                && crate::gpu::has_hardware(a.adapter.as_deref())
        }
    };
    if on_gpu && precision == Some(Precision::F64) {
        bail!("--precision: the GPU backend computes in f32; use --backend cpu for f64");
    }
    Ok(output::RunIdentity {
        backend: Some(if on_gpu { "gpu" } else { "cpu" }.into()),
        precision: Some(match on_gpu {
            true => Precision::F32,
            false => precision.unwrap_or(cfg.precision),
        }),
        cpu_kernel: (full && !on_gpu).then_some(cpu_kernel),
        init_weights: Some(match init_weights {
            Some(p) => output::content_hash(p)?,
            None => "none".into(),
        }),
        init_weights_path: init_weights
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())),
    })
}

/// Prints the mean ± std of every sweep point's metrics.
fn print_points(points: &[output::Summary], say: &mut dyn FnMut(&str)) {
    for s in points {
        // a point whose every seed diverged has no statistics: it says so instead of "-"
        let missing = match s.diverged == s.seeds.len() && s.diverged > 0 {
            true => output::DIVERGED,
            false => "-",
        };
        let fmt = |st: &Option<output::Stat>, scale: f64| {
            st.as_ref().map_or(missing.into(), |s| {
                format!("{:.4} ± {:.4}", s.mean * scale, s.std * scale)
            })
        };
        let params: Vec<String> = s
            .params
            .iter()
            .map(|(k, v)| format!("{k}={}", crate::config::param_text(v)))
            .collect();
        let diverged = match s.diverged {
            0 => String::new(),
            d => format!(" ({d} diverged, left out)"),
        };
        say(&format!(
            "point {} [{}] over {}{diverged}: test acc % {}, test mse {}, val acc % {}, val mse {}",
            s.point,
            params.join(", "),
            experiment::count(s.seeds.len(), "seed"),
            fmt(&s.test_acc, 100.0),
            fmt(&s.test_mse, 1.0),
            fmt(&s.val_acc, 100.0),
            fmt(&s.val_mse, 1.0)
        ));
    }
}
