//! Runs the instances of a `"model": "gclusteron"` plan: loads the task through the config's
//! task machinery, prepares the G-clusteron sets, fits the logistic-regression baseline, and
//! trains on the chosen backend (CPU in the config's precision, or GPU).

use super::backend::{GcBackend, GcBatch, GcData, KernelAt};
use super::cpu::GcCpu;
use super::gpu::GcGpuBackend;
use super::init::initial_state;
use super::logreg::LogReg;
use super::protocol::{accuracy, finite, train, GcCurvePoint, Layout, Schedule};
use super::GcState;
use crate::config::{Config, InstanceSpec, Plan};
use crate::experiment::{BackendChoice, RunOptions};
use crate::num::Precision;
use crate::tasks::metrics::Metrics;
use anyhow::{bail, ensure, Context};
use std::sync::Arc;
use std::time::Instant;

/// The baseline's accuracies and fitting time.
#[derive(Clone, Debug)]
pub struct Baseline {
    pub val: Metrics,
    pub test: Metrics,
    pub seconds: f64,
}

/// Final results of one instance.
#[derive(Clone, Debug)]
pub struct GcInstanceResult {
    pub spec: InstanceSpec,
    pub val: Metrics,
    pub test: Metrics,
    pub converged_at: Option<usize>,
    /// Training patterns seen when the instance was found diverged (a non-finite validation or
    /// test output, location, weight or bias), or None; its metrics are then no result.
    pub diverged_at: Option<usize>,
    pub state: GcState<f64>,
}

/// Everything a G-clusteron run produces.
#[derive(Clone, Debug)]
pub struct GcResults {
    pub backend: String,
    pub instances: Vec<GcInstanceResult>,
    pub curves: Vec<GcCurvePoint>,
    /// Training patterns per epoch (to express curves in epochs).
    pub train_len: usize,
    pub baseline: Option<Baseline>,
    pub seconds: f64,
    /// Σ over instances of iterations × B × K: unit-pattern updates.
    pub unit_patterns: f64,
}

/// The batch of `plan`'s instances: hyper-parameters and initial states from their seeds.
pub fn batch_of(cfg: &Config, plan: &Plan) -> anyhow::Result<GcBatch> {
    let gc = cfg.gc_config();
    let (n, classes) = (cfg.network.dims[0], cfg.network.dims[1]);
    let k = gc.units(classes);
    let params: Vec<_> = plan
        .instances
        .iter()
        .map(|s| s.gc.clone().context("a G-clusteron plan"))
        .collect::<anyhow::Result<_>>()?;
    for p in &params {
        if p.init == super::InitKind::Xor && n != 2 {
            bail!("params.init xor needs 2 synapses (network.dims [2, 2]), got {n}");
        }
    }
    Ok(GcBatch {
        n,
        k,
        readout: gc.readout(),
        hyper: params.iter().map(|p| p.hyper()).collect(),
        init: params.iter().map(|p| initial_state(p, n, k)).collect(),
    })
}

/// The training, validation and test sets of the config's task as G-clusteron sets, with the
/// labels the metrics compare against.
pub fn load_sets(
    cfg: &Config,
    plan: &Plan,
    opts: &RunOptions,
) -> anyhow::Result<Vec<(Arc<GcData>, Vec<usize>)>> {
    let spec = &plan.instances[0];
    let data = cfg.task.load(
        &plan.shape,
        plan.phi,
        &spec.params,
        &cfg.targets,
        &opts.base_dir,
    )?;
    let sets = cfg.gc_config().prepare(&data)?;
    let train_len = sets[0].0.len();
    for s in &plan.instances {
        let g = s.gc.as_ref().context("a G-clusteron plan")?;
        if g.batch_size > train_len {
            bail!(
                "params.batch_size ({}) exceeds the {train_len} training patterns (batches are drawn without replacement)",
                g.batch_size
            );
        }
    }
    Ok(sets.into_iter().map(|(d, l)| (Arc::new(d), l)).collect())
}

/// The backend `opts.backend` asks for: the GPU (f32) on `gpu`; on `auto` a GPU that is not a
/// CPU driver when there is one and f64 is not asked for explicitly; else the CPU backend in
/// the run's precision.
pub fn open_backend(
    cfg: &Config,
    batch: &GcBatch,
    sets: &[Arc<GcData>],
    opts: &RunOptions,
) -> anyhow::Result<Box<dyn GcBackend>> {
    let adapter = opts.adapter.as_deref();
    match opts.backend {
        BackendChoice::Gpu => {
            ensure!(
                opts.precision != Some(Precision::F64),
                "the GPU backend computes in f32; use --backend cpu for f64"
            );
            return Ok(Box::new(GcGpuBackend::new(batch, sets, adapter)?));
        }
        BackendChoice::Auto if opts.precision != Some(Precision::F64) => {
            if let Some(gpu) = crate::gpu::open_hardware(adapter)? {
                return Ok(Box::new(GcGpuBackend::with_gpu(gpu, batch, sets)?));
            }
        }
        BackendChoice::Auto | BackendChoice::Cpu => {}
    }
    Ok(match opts.precision.unwrap_or(cfg.precision) {
        Precision::F32 => Box::new(GcCpu::<f32>::new(batch, sets, opts.threads)?),
        Precision::F64 => Box::new(GcCpu::<f64>::new(batch, sets, opts.threads)?),
    })
}

/// Runs every instance of `plan` through `protocol.iterations` minibatch steps.
pub fn run(cfg: &Config, plan: &Plan, opts: &RunOptions) -> anyhow::Result<GcResults> {
    let sets = load_sets(cfg, plan, opts)?;
    let gc = cfg.gc_config();
    let baseline = match gc.logreg {
        false => None,
        true => {
            let t0 = Instant::now();
            let model = LogReg::fit(&sets[0].0, gc.readout(), 100);
            let b = Baseline {
                val: model.accuracy(&sets[1].0, &sets[1].1),
                test: model.accuracy(&sets[2].0, &sets[2].1),
                seconds: t0.elapsed().as_secs_f64(),
            };
            if opts.progress {
                let pct = |a: Option<f64>| a.map_or("-".into(), |a| format!("{:.2}", 100.0 * a));
                eprintln!(
                    "logistic regression: val acc % {}, test acc % {} ({:.1} s)",
                    pct(b.val.acc),
                    pct(b.test.acc),
                    b.seconds
                );
            }
            Some(b)
        }
    };
    let batch = batch_of(cfg, plan)?;
    let data: Vec<Arc<GcData>> = sets.iter().map(|(d, _)| d.clone()).collect();
    let mut backend = open_backend(cfg, &batch, &data, opts)?;
    if opts.progress {
        eprintln!("backend: {}", backend.name());
    }
    let iterations = cfg.protocol.iterations.unwrap_or(1);
    let schedule = Schedule {
        iterations,
        eval_every: cfg.protocol.eval_every.unwrap_or(iterations),
        eval_at_start: cfg.protocol.eval_at_start,
        converge_window: cfg.protocol.converge_window,
    };
    let seeds: Vec<u64> = plan.instances.iter().map(|s| s.params.seed).collect();
    let bsz: Vec<usize> = batch.hyper.iter().map(|h| h.batch).collect();
    let t0 = Instant::now();
    let terminal = crate::experiment::stderr_is_terminal();
    let mut ticker = crate::experiment::Ticker::new(opts.progress_seconds);
    let bar = (opts.progress && terminal).then(|| {
        let bar = indicatif::ProgressBar::new(iterations as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} iterations, ETA {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar
    });
    let layout = Layout {
        seeds: &seeds,
        batch: &bsz,
        train_len: data[0].len(),
        k: batch.k,
        val_labels: &sets[1].1,
    };
    let trained = train(backend.as_mut(), layout, schedule, |done| {
        if let Some(b) = &bar {
            b.set_position(done as u64);
        } else if opts.progress && ticker.due() {
            let seconds = t0.elapsed().as_secs_f64();
            let rate = done as f64 / seconds.max(1e-9);
            eprintln!(
                "progress: {done}/{iterations} iterations ({:.1} %), {rate:.3e} iterations/s, elapsed {}, ETA {}",
                100.0 * done as f64 / iterations.max(1) as f64,
                crate::experiment::hms(seconds),
                crate::experiment::hms(iterations.saturating_sub(done) as f64 / rate)
            );
        }
    })?;
    if let Some(b) = bar {
        b.finish();
    }
    let val = backend.outputs(1, KernelAt::Current)?;
    let test = backend.outputs(2, KernelAt::Current)?;
    let states = backend.states()?;
    let seconds = t0.elapsed().as_secs_f64();
    let mut curves = trained.curves;
    for c in &mut curves {
        c.instance = plan.instances[c.instance].index;
    }
    // iterations each instance trained (a converged one stopped)
    let trained_its: Vec<usize> = trained
        .converged_at
        .iter()
        .map(|conv| conv.map_or(iterations, |c| c + schedule.converge_window.unwrap_or(0)))
        .collect();
    let unit_patterns = trained_its
        .iter()
        .zip(&bsz)
        .map(|(&its, &b)| (its * b * batch.k) as f64)
        .sum();
    let instances = plan
        .instances
        .iter()
        .zip(states)
        .enumerate()
        .map(|(i, (spec, state))| {
            // the end: final outputs and state, where divergence between evaluations shows
            let blown = !(finite(&val[i])
                && finite(&test[i])
                && finite(&state.l)
                && finite(&state.w)
                && finite(&state.b));
            let diverged_at =
                trained.diverged_at[i].or_else(|| blown.then(|| trained_its[i] * bsz[i]));
            GcInstanceResult {
                spec: spec.clone(),
                val: accuracy(&val[i], batch.k, &sets[1].1),
                test: accuracy(&test[i], batch.k, &sets[2].1),
                converged_at: trained.converged_at[i],
                diverged_at,
                state,
            }
        })
        .collect();
    Ok(GcResults {
        backend: backend.name(),
        instances,
        curves,
        train_len: data[0].len(),
        baseline,
        seconds,
        unit_patterns,
    })
}
