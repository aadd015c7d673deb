//! The library entry point, for the CLI and the Python package alike (no command-line types):
//! - [`run`] takes a validated config and plain options ([`RunSettings`]) and does what
//!   `pyralnet run` does: checks the options against the output folder, locks it, writes
//!   `run.json`, `config.json` and the shard record, runs [`crate::run::run`] and reports
//!   through [`Hooks`]. The CLI (`cli/run.rs`) turns its flags into [`RunSettings`] and errors
//!   into exit codes; error messages name the CLI's flags.
//! - [`Simulator`] holds a config's batch of microcircuit instances on one backend, driven
//!   chunk by chunk (Python's `Simulator`), with traces switched on and off between chunks
//!   ([`Simulator::record`]); [`training_patterns`] gives the patterns `run` trains on.

use crate::atomic;
use crate::config::{Config, ModelKind};
use crate::experiment::{self, RunOptions};
use crate::microcircuit::backend::RecordSpec;
use crate::microcircuit::full::cpu::CpuKernel;
use crate::num::Precision;
use crate::output::{self, Shard};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

mod simulator;
pub use simulator::{training_patterns, Simulator, SimulatorSettings};

/// The backend choice and the stop error, for callers of [`run`] and [`Simulator`].
pub use crate::experiment::{BackendChoice, Interrupted};

/// The options of a run, `pyralnet run`'s flags without the config: [`Default`] is the CLI's
/// defaults (no flags given).
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// Output folder (`--out`; `None`: `out/<config name>`).
    pub out: Option<PathBuf>,
    /// CPU threads (`--threads`; `None`: all cores).
    pub threads: Option<usize>,
    /// Working precision of the CPU backend (`--precision`; `None`: the config's, or with
    /// `resume` the run's).
    pub precision: Option<Precision>,
    /// Which simulator (`--backend`; `None`: auto, or with `resume` the run's).
    pub backend: Option<BackendChoice>,
    /// CPU kernel of the full model (`--cpu-kernel`; `None`: auto, or with `resume` the run's).
    pub cpu_kernel: Option<CpuKernel>,
    /// GPU adapter: the first whose name contains this (`--adapter`).
    pub adapter: Option<String>,
    /// The GPU kernel forced by name (`--gpu-kernel`; `None`: chosen by the adapter): one of
    /// the full model's ([`crate::microcircuit::full::gpu::KernelKind`]) or the steady model's
    /// ([`crate::microcircuit::steady::gpu::SteadyGpuKernel`]) names, as the config's model has.
    pub gpu_kernel: Option<String>,
    /// Initial weights of every instance from this .npz (`--init-weights`; `None`: the
    /// config's initialisation, or with `resume` the run's file).
    pub init_weights: Option<PathBuf>,
    /// Record traces of the training stream (`--record`, `--record-stride`, `--record-all`);
    /// `None`: no traces. Its stride must be at least 1.
    pub record: Option<RecordSpec>,
    /// Continue the run in `out` from its last checkpoint (`--resume`).
    pub resume: bool,
    /// Overwrite the results already in `out` (`--force`).
    pub force: bool,
    /// At most this many instances per batch (`--max-batch`).
    pub max_batch: Option<usize>,
    /// Run only this slice of the instances (`--shard`).
    pub shard: Option<Shard>,
    /// Seconds between checkpoints (`--checkpoint-seconds`, 300).
    pub checkpoint_seconds: f64,
    /// Without a terminal on stderr: seconds between plain progress lines
    /// (`--progress-seconds`, 30; 0: none).
    pub progress_seconds: f64,
    /// No progress bar (`--quiet`).
    pub quiet: bool,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            out: None,
            threads: None,
            precision: None,
            backend: None,
            cpu_kernel: None,
            adapter: None,
            gpu_kernel: None,
            init_weights: None,
            record: None,
            resume: false,
            force: false,
            max_batch: None,
            shard: None,
            checkpoint_seconds: 300.0,
            progress_seconds: 30.0,
            quiet: false,
        }
    }
}

/// Refuses a shard that is not slice `I` of `N` with `0 ≤ I < N` (the message of `--shard`).
pub fn check_shard(shard: Shard) -> anyhow::Result<()> {
    if shard.count == 0 || shard.index >= shard.count {
        bail!(
            "--shard must be I/N with 0 ≤ I < N, got `{}/{}`",
            shard.index,
            shard.count
        );
    }
    Ok(())
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

/// What [`run`] reports to and hears from its caller (the CLI or the Python package).
pub struct Hooks<'a> {
    /// Set to stop after the current training call (about a second) with a checkpoint
    /// ([`experiment::Interrupted`]).
    pub stop: Arc<AtomicBool>,
    /// Whether SIGINT/SIGTERM set `stop` (the CLI); the Python package sets it itself.
    pub catch_signals: bool,
    /// Receives every line the run reports (the CLI prints them to stderr).
    pub say: &'a mut dyn FnMut(&str),
}

/// Runs the validated config `cfg` (relative data paths resolved in `base_dir`) with the
/// options `s` and writes its outputs to `s.out`; a stop through `hooks.stop` ends it with
/// [`experiment::Interrupted`], a run whose every instance diverged with [`AllDiverged`].
pub fn run(cfg: &Config, base_dir: &Path, s: &RunSettings, hooks: Hooks) -> anyhow::Result<()> {
    let Hooks {
        stop,
        catch_signals,
        say,
    } = hooks;
    let shard = s.shard;
    if let Some(sh) = shard {
        check_shard(sh)?;
    }
    let full_plan = cfg.plan()?;
    let plan = match shard {
        Some(sh) => full_plan.shard(sh.index, sh.count),
        None => full_plan,
    };
    let out = s
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(cfg.name.clone().unwrap_or_default()));
    if let Some(n) = s.threads {
        check_threads(n)?;
    }
    if !(s.checkpoint_seconds.is_finite() && s.checkpoint_seconds > 0.0) {
        bail!(
            "--checkpoint-seconds must be a finite number of seconds > 0, got {}",
            s.checkpoint_seconds
        );
    }
    if !(s.progress_seconds.is_finite() && s.progress_seconds >= 0.0) {
        bail!(
            "--progress-seconds must be a finite number of seconds ≥ 0 (0: no progress lines), got {}",
            s.progress_seconds
        );
    }
    if s.max_batch == Some(0) {
        bail!("--max-batch must be at least 1");
    }
    if matches!(&s.record, Some(r) if r.stride == 0) {
        bail!("--record-stride must be at least 1");
    }
    if s.backend == Some(BackendChoice::Gpu) && s.precision == Some(Precision::F64) {
        bail!("the GPU backend computes in f32; use --backend cpu for --precision f64");
    }
    let (gpu_kernel, steady_gpu_kernel) =
        experiment::forced_gpu_kernels(cfg.model, s.gpu_kernel.as_deref())?;
    if cfg.model == ModelKind::Gclusteron && (s.record.is_some() || s.init_weights.is_some()) {
        bail!("--record and --init-weights are not available for \"model\": \"gclusteron\" (it has no time course to record, and its initial states come from its params)");
    }
    if s.record.is_some() && s.resume {
        bail!("--record cannot be combined with --resume (traces before the checkpoint would be missing)");
    }
    // a bad --init-weights file is refused before the output folder is made
    let read_init = |p: &Path| {
        output::read_weights(p, &plan.shape)
            .with_context(|| format!("--init-weights {}", p.display()))
    };
    let given_init = s.init_weights.as_deref().map(read_init).transpose()?;
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create output folder {}", out.display()))?;
    // held until this function returns: no other run writes into `out` meanwhile
    let _lock = output::lock_run_dir(&out)?;
    if s.resume {
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
        if !s.force {
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
    let stored = match s.resume {
        true => output::read_identity(&out)?,
        false => None,
    };
    let was = stored.clone().unwrap_or_default();
    let backend: BackendChoice = match (s.backend, was.backend.as_deref()) {
        (Some(b), _) => b,
        (None, Some("gpu")) => BackendChoice::Gpu,
        (None, Some("cpu")) => BackendChoice::Cpu,
        (None, _) => BackendChoice::Auto,
    };
    let precision = s.precision.or(was.precision);
    let cpu_kernel = s.cpu_kernel.or(was.cpu_kernel).unwrap_or_default();
    let init_path = match &s.init_weights {
        Some(p) => Some(p.clone()),
        None => was.init_weights_path.clone(),
    };
    let init_weights = match given_init {
        Some(w) => Some(w),
        None => init_path.as_deref().map(read_init).transpose()?,
    };
    let now = identity_of(cfg, s, backend, precision, cpu_kernel, init_path.as_deref())?;
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
        threads: s.threads,
        precision,
        backend,
        cpu_kernel,
        adapter: s.adapter.clone(),
        gpu_kernel,
        steady_gpu_kernel,
        init_weights,
        record: s.record.clone().unwrap_or_default(),
        progress: !s.quiet,
        progress_seconds: s.progress_seconds,
        base_dir: base_dir.to_path_buf(),
        chunk: 0,
        max_batch: s.max_batch,
        checkpoint_dir: Some(out.clone()),
        checkpoint_seconds: s.checkpoint_seconds,
        resume: s.resume,
        stop: Some(stop),
    };
    say(&format!(
        "{}: {} of {}{}, writing to {}",
        cfg.name.as_deref().unwrap_or("run"),
        experiment::count(plan.instances.len(), "instance"),
        network_label(cfg, &plan),
        shard.map_or(String::new(), |sh| format!(
            ", shard {}/{}",
            sh.index, sh.count
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
    s: &RunSettings,
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
                && (full || s.record.is_none())
                && crate::gpu::has_hardware(s.adapter.as_deref())
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
