//! `pyralnet check`: runs a config's instances on the CPU (f32 and f64) and on the GPU from
//! the same initial weights and pattern stream, and reports how far they lie apart: for the
//! microcircuit (full or steady model) its compartments and weights, for the G-clusteron l, w, b
//! and the validation outputs o after the first minibatch iterations.

use crate::check::{self, Deviation, Quantity};
use crate::config::{Config, ModelKind};
use crate::experiment::{self, BackendChoice, RunOptions};
use crate::microcircuit::full::cpu::CpuKernel;
use crate::num::Precision;
use anyhow::bail;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Experiment config (JSON).
    pub config: PathBuf,
    /// Training patterns per instance: the first N of each instance's training stream
    /// (G-clusteron: the first N minibatch iterations).
    #[arg(long, default_value_t = 20)]
    pub patterns: usize,
    /// Check only the first K instances of the config (default: all).
    #[arg(long)]
    pub instances: Option<usize>,
    /// GPU adapter: the first whose name contains this (default: the best, lavapipe included).
    #[arg(long)]
    pub adapter: Option<String>,
    /// The GPU kernel to check (auto: the one `run` picks for the adapter): for the full model
    /// serial, workgroup, phased, resident or register (one hidden layer), for the steady model
    /// rows or blocks.
    #[arg(long, value_parser = super::gpu_kernel_parser(), default_value = "auto")]
    pub gpu_kernel: super::GpuKernelArg,
    /// CPU kernel of the full model that the GPU is compared with (auto: the one `run` picks
    /// for this batch).
    #[arg(long, value_parser = super::cpu_kernel_parser(), default_value = "auto")]
    pub cpu_kernel: CpuKernel,
    /// Largest relative RMS deviation of the GPU from the CPU in f32, for every compartment
    /// and weight type.
    /// (default 1e-4; 1e-3 for the G-clusteron, whose Adam steps m/sqrt(v) amplify rounding
    /// where Δ is near 0, so that CPU f32 and f64 differ by ~1e-4 already).
    #[arg(long)]
    pub tol_f32: Option<f64>,
    /// Largest relative RMS deviation of the GPU from the CPU in f64, for every compartment
    /// and weight type.
    #[arg(long, default_value_t = 1e-3)]
    pub tol_f64: f64,
}

/// The GPU lies further from the CPU than the tolerance (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("the GPU deviates beyond tolerance: {0}")]
pub struct OverTolerance(String);

pub fn check(a: CheckArgs) -> anyhow::Result<()> {
    if a.patterns == 0 || a.instances == Some(0) {
        bail!("--patterns and --instances must be at least 1");
    }
    if !(a.tol_f32.unwrap_or(0.0) >= 0.0 && a.tol_f64 >= 0.0) {
        bail!("--tol-f32 and --tol-f64 must be non-negative numbers");
    }
    let cfg = Config::load(&a.config)?;
    let mut plan = cfg.plan()?;
    if let Some(k) = a.instances {
        plan.instances.truncate(k);
    }
    let (gpu_kernel, steady_gpu_kernel) =
        experiment::forced_gpu_kernels(cfg.model, a.gpu_kernel.0.as_deref())?;
    let opts = RunOptions {
        cpu_kernel: a.cpu_kernel,
        gpu_kernel,
        steady_gpu_kernel,
        base_dir: Config::base_dir(&a.config),
        ..Default::default()
    };
    let (tol_f32, [(gpu_name, gpu), (f32_name, c32), (f64_name, c64)]) = match cfg.model {
        ModelKind::Full | ModelKind::Steady => (1e-4, microcircuit(&cfg, &plan, &opts, &a)?),
        ModelKind::Gclusteron => (1e-3, gclusteron(&cfg, &plan, &opts, &a)?),
    };
    let tol_f32 = a.tol_f32.unwrap_or(tol_f32);
    println!("gpu = {gpu_name}; f32 = {f32_name}; f64 = {f64_name}");
    println!("relative deviation (max |a−b| / max |b|, and RMS: sqrt(Σ(a−b)² / Σb²)) at the end:");
    println!(
        "{:<16} {:>10} {:>10}   {:>10} {:>10}   {:>10} {:>10}",
        "", "gpu−f32", "", "gpu−f64", "", "f32−f64", ""
    );
    println!(
        "{:<16} {:>10} {:>10}   {:>10} {:>10}   {:>10} {:>10}",
        "quantity", "max", "rms", "max", "rms", "max", "rms"
    );
    // the largest RMS deviation from f32 and from f64, with the quantity's name
    let mut worst = [(0.0f64, String::new()), (0.0f64, String::new())];
    for ((g, s), d) in gpu.iter().zip(&c32).zip(&c64) {
        let dev = |a: &Quantity, b: &Quantity| Deviation::of(&a.values, &b.values);
        let (g32, g64, base) = (dev(g, s), dev(g, d), dev(s, d));
        println!(
            "{:<16} {:>10.2e} {:>10.2e}   {:>10.2e} {:>10.2e}   {:>10.2e} {:>10.2e}",
            g.name, g32.max, g32.rms, g64.max, g64.rms, base.max, base.rms
        );
        for (w, d) in worst.iter_mut().zip([g32.rms, g64.rms]) {
            // NaN counts as the worst
            if d > w.0 || d.is_nan() {
                *w = (d, g.name.clone());
            }
        }
    }
    let verdict = format!(
        "worst RMS deviation {:.2e} from f32 ({}, tolerance {:.0e}), {:.2e} from f64 ({}, \
         tolerance {:.0e})",
        worst[0].0, worst[0].1, tol_f32, worst[1].0, worst[1].1, a.tol_f64
    );
    if !(worst[0].0 <= tol_f32 && worst[1].0 <= a.tol_f64) {
        return Err(OverTolerance(verdict).into());
    }
    println!("ok: {verdict}");
    Ok(())
}

/// The quantities of one backend: its name and the compared values.
type Run = (String, Vec<Quantity>);

/// The options of the three runs a check compares, each opened by the backend choice `run`
/// uses (`experiment::open_backend`, `run::gclusteron::open_backend`): the GPU (on `--adapter`),
/// the CPU in f32 and the CPU in f64 (single-threaded by default, `--cpu-kernel`).
fn sides(opts: &RunOptions, a: &CheckArgs) -> [RunOptions; 3] {
    let with = |backend, precision| RunOptions {
        backend,
        precision,
        adapter: a.adapter.clone(),
        ..opts.clone()
    };
    [
        with(BackendChoice::Gpu, None),
        with(BackendChoice::Cpu, Some(Precision::F32)),
        with(BackendChoice::Cpu, Some(Precision::F64)),
    ]
}

/// The microcircuit (full or steady model, as the config says) on the GPU, the CPU in f32 and
/// in f64, through `--patterns` training patterns.
fn microcircuit(
    cfg: &Config,
    plan: &crate::config::Plan,
    opts: &RunOptions,
    a: &CheckArgs,
) -> anyhow::Result<[Run; 3]> {
    let batch = experiment::batch_of(plan, opts);
    let chunk = experiment::training_patterns(cfg, plan, opts, a.patterns)?;
    let mut backends = Vec::new();
    for side in sides(opts, a) {
        backends.push(experiment::open_backend(cfg, &batch, &side)?);
    }
    let mut runs = Vec::new();
    for mut b in backends {
        runs.push(check::run(b.as_mut(), &chunk)?);
    }
    let runs: [Run; 3] = runs.try_into().expect("three backends");
    println!(
        "{}: {} instances of {} ({}), their first {} training patterns",
        cfg.name.as_deref().unwrap_or("check"),
        plan.instances.len(),
        plan.shape.label(),
        plan.phi.name(),
        a.patterns
    );
    Ok(runs)
}

/// The G-clusteron on the GPU, the CPU in f32 and in f64, through `--patterns` iterations of
/// every instance's minibatch stream.
fn gclusteron(
    cfg: &Config,
    plan: &crate::config::Plan,
    opts: &RunOptions,
    a: &CheckArgs,
) -> anyhow::Result<[Run; 3]> {
    use crate::check::gclusteron as gc_check;
    use crate::gclusteron::protocol::Minibatches;
    use crate::run::gclusteron as run;
    let sets = run::load_sets(cfg, plan, opts)?;
    let data: Vec<_> = sets.iter().map(|(d, _)| d.clone()).collect();
    let batch = run::batch_of(cfg, plan)?;
    let seeds: Vec<u64> = plan.instances.iter().map(|s| s.params.seed).collect();
    let bsz: Vec<usize> = batch.hyper.iter().map(|h| h.batch).collect();
    let rows =
        Minibatches::new(&seeds, data[0].len()).next(a.patterns, &bsz, &vec![true; seeds.len()]);
    let mut runs = Vec::new();
    for side in sides(opts, a) {
        let mut backend = run::open_backend(cfg, &batch, &data, &side)?;
        runs.push(gc_check::run(backend.as_mut(), a.patterns, &rows)?);
    }
    let runs: [Run; 3] = runs.try_into().expect("three backends");
    println!(
        "{}: {} G-clusteron instances ({} synapses, {} units), their first {} iterations",
        cfg.name.as_deref().unwrap_or("check"),
        plan.instances.len(),
        batch.n,
        batch.k,
        a.patterns
    );
    Ok(runs)
}
