//! `pyralnet run`: run an experiment config and write its outputs.

use crate::backend::RecordSpec;
use crate::config::{Config, Precision};
use crate::experiment::{self, RunOptions};
use crate::output;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PrecisionArg {
    F32,
    F64,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Experiment config (JSON); see the README's config reference.
    pub config: PathBuf,
    /// Output folder (default: out/<config name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// CPU threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Working precision of the CPU backend (default: the config's, f64 if unset).
    #[arg(long, value_enum)]
    pub precision: Option<PrecisionArg>,
    /// Start every instance from the weights in this .npz (arrays `layer0.W_up`, ...).
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
    /// Overwrite the results already in --out.
    #[arg(long)]
    pub force: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(a: RunArgs) -> anyhow::Result<()> {
    let cfg = Config::load(&a.config)?;
    let plan = cfg.plan()?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(cfg.name.clone().unwrap_or_default()));
    if out.join("summary.json").exists() && !a.force {
        bail!(
            "{} already holds the results of a run; pass --force to overwrite them or choose another --out",
            out.display()
        );
    }
    if a.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    if a.record && a.record_stride == 0 {
        bail!("--record-stride must be at least 1");
    }
    let init_weights = a
        .init_weights
        .as_ref()
        .map(|p| output::read_weights(p, &plan.shape))
        .transpose()?;
    let opts = RunOptions {
        threads: a.threads,
        precision: a.precision.map(|p| match p {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::F64 => Precision::F64,
        }),
        init_weights,
        record: RecordSpec {
            stride: if a.record { a.record_stride } else { 0 },
            all_compartments: a.record_all,
        },
        progress: !a.quiet,
        base_dir: a.config.parent().map(PathBuf::from).unwrap_or_default(),
        chunk: 0,
    };
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create output folder {}", out.display()))?;
    eprintln!(
        "{}: {} instances of {} ({}), writing to {}",
        cfg.name.as_deref().unwrap_or("run"),
        plan.instances.len(),
        plan.shape.label(),
        plan.phi.name(),
        out.display()
    );
    let results = experiment::run(&cfg, &plan, &opts)?;
    output::write_results(&out, &cfg, &results)?;
    for s in output::summarise(&results.instances) {
        let fmt = |st: &Option<output::Stat>, scale: f64| {
            st.as_ref().map_or("-".into(), |s| {
                format!("{:.4} ± {:.4}", s.mean * scale, s.std * scale)
            })
        };
        let params: Vec<String> = s.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!(
            "point {} [{}] over {} seeds: test acc % {}, test mse {}, val acc % {}, val mse {}",
            s.point,
            params.join(", "),
            s.seeds.len(),
            fmt(&s.test_acc, 100.0),
            fmt(&s.test_mse, 1.0),
            fmt(&s.val_acc, 100.0),
            fmt(&s.val_mse, 1.0)
        );
    }
    eprintln!(
        "{} on {}: {:.1} s, {:.3e} instance-steps/s",
        out.display(),
        results.backend,
        results.seconds,
        results.instance_steps / results.seconds.max(1e-9)
    );
    Ok(())
}
