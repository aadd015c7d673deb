//! `pyralnet run`: run an experiment config (or one shard of it) and write its outputs, with
//! checkpoints, clean stops on SIGINT/SIGTERM and `--resume`. The flags become the library's
//! [`RunSettings`] (`--shard` defaults from SLURM's job-array variables here) and
//! [`session::run`] does the run; what stays here is clap and the exit codes.

use crate::config::Config;
use crate::experiment::{BackendChoice, Interrupted};
use crate::microcircuit::backend::RecordSpec;
use crate::microcircuit::full::cpu::CpuKernel;
use crate::num::Precision;
use crate::output::Shard;
use crate::session::{self, AllDiverged, Hooks, RunSettings};
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
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
    #[arg(long, value_parser = super::cpu_kernel_parser())]
    pub cpu_kernel: Option<CpuKernel>,
    /// GPU adapter to use: the first whose name contains this (case-insensitive).
    #[arg(long)]
    pub adapter: Option<String>,
    /// The GPU kernel: auto (chosen by the adapter), for the full model serial (auto on CPU
    /// drivers such as lavapipe), workgroup, phased, resident (auto on GPUs where an instance
    /// fits the workgroup memory) or register (one hidden layer, forced only), for the steady
    /// model rows (auto on CPU drivers) or blocks (auto on GPUs); refused, with the reason,
    /// where it cannot run.
    #[arg(long, value_parser = super::gpu_kernel_parser(), default_value = "auto")]
    pub gpu_kernel: super::GpuKernelArg,
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

impl From<PrecisionArg> for Precision {
    fn from(p: PrecisionArg) -> Self {
        match p {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::F64 => Precision::F64,
        }
    }
}

impl RunArgs {
    /// The flags as the library's [`RunSettings`] (`config` is not part of them); `shard` is
    /// the parsed `--shard` or its SLURM default.
    pub fn settings(&self, shard: Option<Shard>) -> RunSettings {
        RunSettings {
            out: self.out.clone(),
            threads: self.threads,
            precision: self.precision.map(Precision::from),
            backend: self.backend.map(BackendChoice::from),
            cpu_kernel: self.cpu_kernel,
            adapter: self.adapter.clone(),
            gpu_kernel: self.gpu_kernel.0.clone(),
            init_weights: self.init_weights.clone(),
            record: self.record.then_some(RecordSpec {
                stride: self.record_stride,
                all_compartments: self.record_all,
            }),
            resume: self.resume,
            force: self.force,
            max_batch: self.max_batch,
            shard,
            checkpoint_seconds: self.checkpoint_seconds,
            progress_seconds: self.progress_seconds,
            quiet: self.quiet,
        }
    }
}

/// `pyralnet run`: loads the config, runs it with [`session::run`] (stop flag set by
/// SIGINT/SIGTERM, messages to stderr), exits 130 after a stop and
/// [`AllDiverged::EXIT_CODE`] when every instance diverged.
pub fn run(a: RunArgs) -> anyhow::Result<()> {
    let cfg = Config::load(&a.config)?;
    let base_dir = Config::base_dir(&a.config);
    let settings = a.settings(shard_of(a.shard.as_deref())?);
    let hooks = Hooks {
        stop: Arc::new(AtomicBool::new(false)),
        catch_signals: true,
        say: &mut |line| eprintln!("{line}"),
    };
    match session::run(&cfg, &base_dir, &settings, hooks) {
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
