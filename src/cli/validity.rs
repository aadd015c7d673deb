//! `pyralnet validity`: the full simulation and the steady-state model side by side.

use crate::atomic;
use crate::config::{Config, ModelKind};
use crate::microcircuit::InstanceParams;
use crate::output;
use crate::validity;
use anyhow::{bail, Context};
use clap::Args;
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct ValidityArgs {
    /// Experiment config (JSON): network, the parameters of its first sweep point with every
    /// seed of the config, and its task's training set (in file order) are used; `model` is
    /// ignored.
    pub config: PathBuf,
    /// Output folder for validity.csv, validity_summary.csv, validity.png and validity.svg
    /// (default: out/<config name>_validity).
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
    /// Overwrite a validity result already in --out.
    #[arg(long)]
    pub force: bool,
}

/// The files `validity` writes into its folder.
const OUTPUTS: [&str; 4] = [
    "validity.csv",
    "validity_summary.csv",
    "validity.png",
    "validity.svg",
];

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
    if cfg.model == ModelKind::Gclusteron {
        bail!(
            "{}: validity compares the full and the steady-state microcircuit (\"model\": \"full\" or \"steady\"); \"model\": \"gclusteron\" has neither",
            a.config.display()
        );
    }
    let plan = cfg.plan()?;
    let seeds: Vec<&InstanceParams> = plan
        .instances
        .iter()
        .filter(|s| s.point == 0)
        .map(|s| &s.params)
        .collect();
    let base = Config::base_dir(&a.config);
    // Each seed's own training set where the task depends on the seed (a mimic teacher, as in
    // `run`), else one set loaded once and shared.
    let load = |p: &InstanceParams| {
        cfg.task
            .load(&plan.shape, plan.phi, p, &cfg.targets, &base)
            .map(Arc::new)
    };
    let data = if cfg.task.per_instance() {
        seeds
            .iter()
            .map(|p| load(p))
            .collect::<anyhow::Result<Vec<_>>>()?
    } else {
        vec![load(seeds[0])?; seeds.len()]
    };
    let name = cfg.name.clone().unwrap_or_default();
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(format!("{name}_validity")));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create output folder {}", out.display()))?;
    // the lock `run` takes, held until this function returns: no other validity or run writes
    // into `out` meanwhile (a second one is refused, naming the folder)
    let _lock = output::lock_run_dir(&out)?;
    if !a.force && OUTPUTS.iter().any(|f| out.join(f).exists()) {
        bail!(
            "{} already holds a validity result; pass --force to overwrite it, or choose another --out",
            out.display()
        );
    }
    eprintln!(
        "{name}: full vs steady state, {} patterns, n_passes {}, {}, {} ({}), writing to {}",
        a.patterns,
        a.passes
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(","),
        crate::experiment::count(seeds.len(), "seed"),
        plan.shape.label(),
        plan.phi.name(),
        out.display()
    );
    let run = || -> Vec<validity::Curve> {
        seeds
            .par_iter()
            .zip(&data)
            .flat_map_iter(|(p, d)| {
                validity::compare(&plan.shape, plan.phi, p, &d.train, a.patterns, &a.passes)
            })
            .collect()
    };
    let curves = match a.threads {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()?
            .install(run),
        None => run(),
    };
    let summaries = validity::summarise(&curves);
    atomic::write_text(&out.join("validity.csv"), &validity::to_csv(&curves))?;
    atomic::write_text(
        &out.join("validity_summary.csv"),
        &validity::summary_csv(&summaries),
    )?;
    crate::plot::save(&validity::figure(&summaries), &out.join("validity"))?;
    for m in &summaries {
        let n = m.geo_mean.len();
        let mean = (m.geo_mean.iter().map(|v| v.ln()).sum::<f64>() / n as f64).exp();
        eprintln!(
            "{:>15} {:>7} n_passes {}: geometric mean over seeds and patterns {mean:.3e}, \
             after {n} patterns {:.3e} (seeds {:.3e}…{:.3e}){}",
            validity::init_name(m.init),
            m.quantity.name(),
            m.n_passes,
            m.geo_mean[n - 1],
            m.min[n - 1],
            m.max[n - 1],
            match m.diverged {
                0 => String::new(),
                k => format!(", diverged in {k} of {} seeds", m.seeds),
            }
        );
    }
    Ok(())
}
