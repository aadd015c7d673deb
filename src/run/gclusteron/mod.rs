//! The G-clusteron on the one runner (`"model": "gclusteron"` configs): loads the task through
//! the config's task machinery, prepares the G-clusteron sets and fits the logistic-regression
//! baseline once per run, then trains batch after batch on the chosen backend (CPU in the
//! config's precision, or GPU), with checkpoints of every instance's state (locations,
//! weights, biases, Adam moments, the last step's kernel locations) and of the training loop
//! ([`TrainProgress`]), so that a resumed run continues bit for bit.

pub mod output;

use super::Model;
use crate::checkpoint;
use crate::config::{Config, InstanceSpec, Plan};
use crate::experiment::{self, BackendChoice, Interrupted, Meter, RunOptions, Schedule, Units};
use crate::gclusteron::backend::{GcBackend, GcBatch, GcData, KernelAt};
use crate::gclusteron::cpu::GcCpu;
use crate::gclusteron::gpu::GcGpuBackend;
use crate::gclusteron::init::initial_state;
use crate::gclusteron::logreg::LogReg;
use crate::gclusteron::protocol::{
    self, accuracy, finite, GcCurvePoint, Layout, TrainProgress, Trainer,
};
use crate::gclusteron::GcState;
use crate::num::Precision;
use crate::output::{BatchRecord, BatchRows, SweepWriter, Tables};
use crate::tasks::metrics::Metrics;
use anyhow::{bail, ensure, Context};
use serde::{Deserialize, Serialize};
use std::path::Path;
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

/// Everything one batch of a G-clusteron run produces.
#[derive(Clone, Debug)]
pub struct GcResults {
    pub backend: String,
    pub instances: Vec<GcInstanceResult>,
    pub curves: Vec<GcCurvePoint>,
    /// Training patterns per epoch (to express curves in epochs).
    pub train_len: usize,
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
        if p.init == crate::gclusteron::InitKind::Xor && n != 2 {
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

/// The units of the G-clusteron's progress: iterations of all instances, and unit-pattern
/// updates (iterations × B × K) per second.
pub const ITERATIONS: Units = Units {
    work: "instance iterations",
    rate: "unit-pattern updates/s",
};

/// What a G-clusteron checkpoint records besides the instances' states.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct GcProgress {
    /// The batch whose instances the checkpoint holds.
    batch: usize,
    train: TrainProgress,
    /// Wall seconds spent on the batch so far (over all resumed parts).
    seconds: f64,
}

/// A G-clusteron sweep of `cfg` with the options `opts` (see the module docs).
pub struct GClusteron<'a> {
    cfg: &'a Config,
    opts: &'a RunOptions,
    /// Training, validation and test sets with their labels (empty for a shard without
    /// instances).
    sets: Vec<(Arc<GcData>, Vec<usize>)>,
    baseline: Option<Baseline>,
}

impl<'a> GClusteron<'a> {
    /// Loads the sets of `plan`'s task and fits the baseline when the config asks for it.
    pub fn new(cfg: &'a Config, plan: &Plan, opts: &'a RunOptions) -> anyhow::Result<Self> {
        if plan.instances.is_empty() {
            return Ok(GClusteron {
                cfg,
                opts,
                sets: Vec::new(),
                baseline: None,
            });
        }
        let sets = load_sets(cfg, plan, opts)?;
        let baseline = match cfg.gc_config().logreg {
            false => None,
            true => {
                let t0 = Instant::now();
                let model = LogReg::fit(&sets[0].0, cfg.gc_config().readout(), 100);
                let b = Baseline {
                    val: model.accuracy(&sets[1].0, &sets[1].1),
                    test: model.accuracy(&sets[2].0, &sets[2].1),
                    seconds: t0.elapsed().as_secs_f64(),
                };
                if opts.progress {
                    eprintln!("{}", baseline_line(&b));
                }
                Some(b)
            }
        };
        Ok(GClusteron {
            cfg,
            opts,
            sets,
            baseline,
        })
    }

    fn iterations(&self) -> usize {
        self.cfg.protocol.iterations.unwrap_or(1)
    }

    fn schedule_of_protocol(&self) -> protocol::Schedule {
        let iterations = self.iterations();
        protocol::Schedule {
            iterations,
            eval_every: self.cfg.protocol.eval_every.unwrap_or(iterations),
            eval_at_start: self.cfg.protocol.eval_at_start,
            converge_window: self.cfg.protocol.converge_window,
        }
    }

    /// The checkpoint of batch `k` when the run resumes and one is there (one of an earlier
    /// batch is left over from a stop between finishing that batch and removing it).
    fn checkpoint_of(
        &self,
        k: usize,
        part: &Plan,
        batch: &GcBatch,
    ) -> anyhow::Result<Option<(GcProgress, Vec<GcState<f64>>)>> {
        let (Some(dir), true) = (&self.opts.checkpoint_dir, self.opts.resume) else {
            return Ok(None);
        };
        let Some((progress, ck)) = checkpoint::read_progress::<GcProgress>(dir)? else {
            return Ok(None);
        };
        if progress.batch != k {
            return Ok(None);
        }
        let indices: Vec<usize> = part.instances.iter().map(|s| s.index).collect();
        let states =
            output::read_states(&checkpoint::states_file(&ck), &indices, batch.n, batch.k)?;
        ensure!(
            progress.train.streak.len() == indices.len(),
            "checkpoint in {} does not hold batch {} of this run",
            dir.display(),
            k + 1
        );
        Ok(Some((progress, states)))
    }

    /// Writes a checkpoint of the batch's states and training progress, if checkpoints are on.
    fn checkpoint(
        &self,
        k: usize,
        part: &Plan,
        backend: &mut dyn GcBackend,
        train: &TrainProgress,
        seconds: f64,
    ) -> anyhow::Result<()> {
        let Some(dir) = &self.opts.checkpoint_dir else {
            return Ok(());
        };
        let states = backend.states()?;
        let indices: Vec<usize> = part.instances.iter().map(|s| s.index).collect();
        let progress = GcProgress {
            batch: k,
            train: train.clone(),
            seconds,
        };
        checkpoint::write_checkpoint_with(dir, &progress, |path| {
            output::write_states(path, &indices, &states)
        })
    }
}

/// `logistic regression: val acc % …, test acc % … (… s)`.
fn baseline_line(b: &Baseline) -> String {
    let pct = |a: Option<f64>| a.map_or("-".into(), |a| format!("{:.2}", 100.0 * a));
    format!(
        "logistic regression: val acc % {}, test acc % {} ({:.1} s)",
        pct(b.val.acc),
        pct(b.test.acc),
        b.seconds
    )
}

impl Model for GClusteron<'_> {
    type Results = GcResults;

    fn units(&self) -> Units {
        ITERATIONS
    }

    fn tables(&self) -> Tables {
        Tables {
            instances: output::INSTANCES_HEADER,
            curves: output::CURVES_HEADER,
        }
    }

    /// One batch of every instance unless `--max-batch` asks for fewer (an instance's state is
    /// a few K × N arrays, and the sets are shared).
    fn schedule(&mut self, plan: &Plan) -> anyhow::Result<Schedule> {
        let size = self.opts.max_batch.unwrap_or(plan.instances.len());
        Ok(Schedule::of_plan(self.cfg, plan, size))
    }

    fn work_per_instance(&mut self, _: &Plan) -> anyhow::Result<usize> {
        Ok(self.iterations())
    }

    fn run_batch(&mut self, k: usize, part: &Plan, meter: &mut Meter) -> anyhow::Result<GcResults> {
        let mut batch = batch_of(self.cfg, part)?;
        let resumed = self.checkpoint_of(k, part, &batch)?;
        if let Some((_, states)) = &resumed {
            batch.init = states.clone();
        }
        let data: Vec<Arc<GcData>> = self.sets.iter().map(|(d, _)| d.clone()).collect();
        let mut backend = open_backend(self.cfg, &batch, &data, self.opts)?;
        meter.backend(&backend.name());
        let schedule = self.schedule_of_protocol();
        let seeds: Vec<u64> = part.instances.iter().map(|s| s.params.seed).collect();
        let bsz: Vec<usize> = batch.hyper.iter().map(|h| h.batch).collect();
        let layout = Layout {
            seeds: &seeds,
            batch: &bsz,
            train_len: data[0].len(),
            k: batch.k,
            val_labels: &self.sets[1].1,
        };
        let count = part.instances.len();
        let (mut trainer, seconds_before) = match resumed {
            Some((p, _)) => {
                let done = p.train.done;
                meter.resumed(done * count);
                if self.opts.progress {
                    meter.println(&format!("resuming batch {} after {done} iterations", k + 1));
                }
                (Trainer::resume(layout, schedule, p.train), p.seconds)
            }
            None => (Trainer::new(layout, schedule), 0.0),
        };
        let every = self.opts.checkpoint_every();
        let started = Instant::now();
        let mut last_checkpoint = Instant::now();
        let mut cap = 1;
        let unit_patterns = |active: &[bool], n: usize| -> f64 {
            active
                .iter()
                .zip(&bsz)
                .filter(|(a, _)| **a)
                .map(|(_, &b)| (n * b * batch.k) as f64)
                .sum()
        };
        while !trainer.finished() {
            let active = trainer.progress.active();
            let t0 = Instant::now();
            let n = trainer.advance(backend.as_mut(), cap)?;
            if n > 0 {
                cap = experiment::next_cap(n, t0.elapsed().as_secs_f64());
            }
            meter.advance(n * count, unit_patterns(&active, n));
            if trainer.finished() {
                break;
            }
            let seconds = seconds_before + started.elapsed().as_secs_f64();
            if self.opts.stop_asked() {
                self.checkpoint(k, part, backend.as_mut(), &trainer.progress, seconds)?;
                meter.abandon();
                return Err(Interrupted {
                    batch: k,
                    batches: meter.batches(),
                    patterns: trainer.progress.done,
                    work: "iterations",
                }
                .into());
            }
            let at_eval = trainer.progress.done.is_multiple_of(schedule.eval_every);
            if at_eval || last_checkpoint.elapsed().as_secs_f64() > every {
                self.checkpoint(k, part, backend.as_mut(), &trainer.progress, seconds)?;
                last_checkpoint = Instant::now();
            }
        }
        // instances that converged early leave their iterations undone: the bar ends full
        let done = trainer.progress.done;
        meter.advance(
            (self.iterations() - done.min(self.iterations())) * count,
            0.0,
        );
        let window = schedule.converge_window;
        let trained_its: Vec<usize> = (0..count)
            .map(|i| trainer.progress.trained(i, window))
            .collect();
        let unit_patterns = trained_its
            .iter()
            .zip(&bsz)
            .map(|(&its, &b)| (its * b * batch.k) as f64)
            .sum();
        let val = backend.outputs(1, KernelAt::Current)?;
        let test = backend.outputs(2, KernelAt::Current)?;
        let states = backend.states()?;
        let seconds = seconds_before + started.elapsed().as_secs_f64();
        let trained = trainer.into_trained();
        let mut curves = trained.curves;
        for c in &mut curves {
            c.instance = part.instances[c.instance].index;
        }
        let instances = part
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
                    val: accuracy(&val[i], batch.k, &self.sets[1].1),
                    test: accuracy(&test[i], batch.k, &self.sets[2].1),
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
            seconds,
            unit_patterns,
        })
    }

    fn write_batch(&self, dir: &Path, r: &GcResults) -> anyhow::Result<(BatchRows, BatchRecord)> {
        output::write_state_files(dir, r)?;
        let rows = BatchRows {
            instances: output::instance_rows(r),
            curves: output::curve_rows(r),
        };
        let record = BatchRecord {
            backend: r.backend.clone(),
            cpu_kernel: None,
            seconds: r.seconds,
            instance_steps: r.unit_patterns,
        };
        Ok((rows, record))
    }

    fn report_batch(&self, meter: &Meter, k: usize, r: &GcResults) {
        let kept: Vec<_> = r
            .instances
            .iter()
            .filter(|i| i.diverged_at.is_none())
            .collect();
        let mean = |name: &str, get: &dyn Fn(&GcInstanceResult) -> Option<f64>| {
            let v: Vec<f64> = kept.iter().filter_map(|i| get(i)).collect();
            (!v.is_empty()).then(|| {
                format!(
                    "{name} {:.4}",
                    100.0 * v.iter().sum::<f64>() / v.len() as f64
                )
            })
        };
        let metrics: Vec<String> = [
            mean("test acc %", &|i| i.test.acc),
            mean("val acc %", &|i| i.val.acc),
        ]
        .into_iter()
        .flatten()
        .collect();
        meter.finished_batch(
            k,
            r.instances.len(),
            r.instances.len() - kept.len(),
            r.seconds,
            &metrics,
        );
    }

    fn write_summary(&self, sweep: &SweepWriter, plan: &Plan) -> anyhow::Result<()> {
        let outcomes = sweep.outcomes(plan)?;
        let rows = sweep.instance_rows()?;
        let converged = output::converged_at(&rows);
        let (seconds, unit_patterns) = sweep.totals();
        output::write_summary(
            sweep.dir(),
            self.cfg,
            &output::SummaryOf {
                plan,
                outcomes: &outcomes,
                converged_at: &converged,
                backend: sweep.backend(),
                seconds,
                unit_patterns,
                baseline: self.baseline.as_ref().map(output::baseline_json),
                shards: None,
            },
        )
    }

    fn closing_lines(&self) -> Vec<String> {
        self.baseline.iter().map(baseline_line).collect()
    }
}
