//! `pyralnet validity`: the full simulation and the steady-state model side by side.

use crate::config::Config;
use crate::output;
use crate::validity;
use anyhow::{bail, Context};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ValidityArgs {
    /// Experiment config (JSON): network, the parameters of its first instance and its task's
    /// training set (in file order) are used; `model` is ignored.
    pub config: PathBuf,
    /// Output folder for validity.csv, validity.png and validity.svg (default:
    /// out/<config name>_validity).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Training patterns to present (the training set is cycled if shorter).
    #[arg(long, default_value_t = 500)]
    pub patterns: usize,
    /// Relaxation passes of the steady-state model to compare, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub passes: Vec<usize>,
    /// CPU threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn validity(a: ValidityArgs) -> anyhow::Result<()> {
    if a.patterns == 0 {
        bail!("--patterns must be at least 1");
    }
    if a.passes.is_empty() || a.passes.contains(&0) {
        bail!("--passes must list integers ≥ 1, e.g. 1,2,4");
    }
    if a.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    let cfg = Config::load(&a.config)?;
    let plan = cfg.plan()?;
    let spec = &plan.instances[0];
    let base = a.config.parent().map(PathBuf::from).unwrap_or_default();
    let data = cfg
        .task
        .load(&plan.shape, plan.phi, &spec.params, &cfg.targets, &base)?;
    let name = cfg.name.clone().unwrap_or_default();
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(format!("{name}_validity")));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create output folder {}", out.display()))?;
    eprintln!(
        "{name}: full vs steady state, {} patterns, n_passes {:?}, {} ({}), writing to {}",
        a.patterns,
        a.passes,
        plan.shape.label(),
        plan.phi.name(),
        out.display()
    );
    let run = || {
        validity::compare(
            &plan.shape,
            plan.phi,
            &spec.params,
            &data.train,
            a.patterns,
            &a.passes,
        )
    };
    let curves = match a.threads {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()?
            .install(run),
        None => run(),
    };
    output::write_text(&out.join("validity.csv"), &validity::to_csv(&curves))?;
    crate::plot::save(&validity::figure(&curves), &out.join("validity"))?;
    for c in &curves {
        let last = c.rel_rms.last().copied().unwrap_or(0.0);
        let mean = c.rel_rms.iter().sum::<f64>() / c.rel_rms.len() as f64;
        eprintln!(
            "{:>15} {:>7} n_passes {}: mean {mean:.3e}, after {} patterns {last:.3e}",
            format!("{:?}", c.init),
            c.quantity.name(),
            c.n_passes,
            c.rel_rms.len()
        );
    }
    Ok(())
}
