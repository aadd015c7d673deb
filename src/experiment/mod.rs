//! Runs an experiment: splits the instances of a [`Plan`] into batches ([`schedule`]), and for
//! each batch builds its instances, streams each instance's patterns through a backend chunk by
//! chunk, evaluates on the validation set at the protocol's cadence (on a copy of the state),
//! and hands the batch's results to the caller ([`sweep`]), which writes them with
//! [`crate::output`].

pub mod checkpoint;
pub mod schedule;
mod stream;
mod sweep;

pub use schedule::Schedule;
pub use stream::Streams;
pub use sweep::{count, hms, plan_schedule, stderr_is_terminal, Meter, Ticker, Units, PATTERNS};

use crate::config::{Config, InstanceSpec, ModelKind, Plan};
use crate::gpu::{self, Gpu};
use crate::microcircuit::backend::{Backend, Batch, Chunk, RecordSpec, Trace};
use crate::microcircuit::full::cpu::{open_cpu, CpuKernel, State};
use crate::microcircuit::full::gpu::{GpuBackend, GpuOptions, KernelKind};
use crate::microcircuit::steady::cpu::SteadyBackend;
use crate::microcircuit::steady::gpu::{SteadyGpuBackend, SteadyGpuKernel};
use crate::microcircuit::{init, self_prediction, Weights};
use crate::num::Precision;
use crate::tasks::metrics::{self, metrics, Metrics};
use crate::tasks::TaskData;
use anyhow::ensure;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Which backend runs an experiment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendChoice {
    /// The CPU backend in the config's precision (or `RunOptions::precision`).
    #[default]
    Cpu,
    /// The GPU backend (f32) on the named or best adapter, CPU drivers such as lavapipe
    /// included; an error when there is no adapter.
    Gpu,
    /// The GPU backend when there is an adapter that is not a CPU driver, otherwise the CPU
    /// backend. Also the CPU backend when f64 is asked for explicitly, which the GPU backend
    /// cannot do.
    Auto,
}

/// How to run an experiment (from the command line).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub threads: Option<usize>,
    /// Precision of the CPU backend, overriding the config's (the GPU backend is f32 only).
    pub precision: Option<Precision>,
    pub backend: BackendChoice,
    /// CPU kernel of the full model (`auto` picks one by batch size per thread); the steady
    /// model has one CPU kernel and ignores it.
    pub cpu_kernel: CpuKernel,
    /// GPU adapter: the first whose name contains this (case-insensitive).
    pub adapter: Option<String>,
    /// The full model's GPU kernel, forced (`None`: chosen by the adapter); refused for the
    /// steady model, which has its own ([`RunOptions::steady_gpu_kernel`]).
    pub gpu_kernel: Option<KernelKind>,
    /// The steady model's GPU kernel, forced (`None`: chosen by the adapter); the full model
    /// ignores it.
    pub steady_gpu_kernel: Option<SteadyGpuKernel>,
    /// Start every instance from these weights instead of the configured initialisation.
    pub init_weights: Option<Weights<f64>>,
    pub record: RecordSpec,
    pub progress: bool,
    /// Without a terminal on stderr: seconds between plain progress lines (0: none).
    pub progress_seconds: f64,
    /// Where relative data paths of the config are resolved.
    pub base_dir: PathBuf,
    /// Training patterns per backend call at most (progress granularity); 0 = default.
    pub chunk: usize,
    /// At most this many instances per batch (`None`: as many as the memory budget allows).
    pub max_batch: Option<usize>,
    /// Folder for checkpoints (none: no checkpoints).
    pub checkpoint_dir: Option<PathBuf>,
    /// Seconds between checkpoints (besides one at every evaluation point); 0 = 300.
    pub checkpoint_seconds: f64,
    /// Continue from the newest checkpoint in `checkpoint_dir` if there is one.
    pub resume: bool,
    /// Set (e.g. by SIGINT/SIGTERM) to stop after the current training call (at most about a
    /// second of work, or one pattern), or within [`STOP_POLL`] of an evaluation, with a
    /// checkpoint.
    pub stop: Option<Arc<AtomicBool>>,
}

impl RunOptions {
    /// Whether a stop was asked for (the flag `stop`, set by SIGINT/SIGTERM).
    pub fn stop_asked(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    }

    /// Seconds between checkpoints besides those at evaluation points
    /// (`checkpoint_seconds`, 300 when not positive).
    pub fn checkpoint_every(&self) -> f64 {
        match self.checkpoint_seconds {
            s if s > 0.0 => s,
            _ => 300.0,
        }
    }
}

/// The run stopped on request after writing a checkpoint (or between two batches).
#[derive(Debug)]
pub struct Interrupted {
    /// The batch that was running (0-based) and how many the sweep has.
    pub batch: usize,
    pub batches: usize,
    /// Training patterns (or the unit `work` names) every instance of that batch had seen.
    pub patterns: usize,
    /// What `patterns` counts: `training patterns`, `iterations`.
    pub work: &'static str,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interrupted after {} {} of batch {} of {}; checkpoint written, \
             continue with --resume",
            self.patterns,
            self.work,
            self.batch + 1,
            self.batches
        )
    }
}

impl std::error::Error for Interrupted {}

/// What a checkpoint records besides the instances' states.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Progress {
    /// The batch whose instances the checkpoint holds.
    #[serde(default)]
    pub batch: usize,
    /// Training patterns every instance has seen.
    pub patterns: usize,
    pub instance_steps: f64,
    /// Wall seconds spent so far (over all resumed parts).
    pub seconds: f64,
    pub curves: Vec<CurvePoint>,
    /// Per instance of the batch (in batch order), the training patterns it had seen when a
    /// non-finite readout or weight was first seen ([`Runner::diverged_at`]); empty in
    /// checkpoints written before divergence was detected.
    #[serde(default)]
    pub diverged_at: Vec<Option<usize>>,
    /// The evaluation point at `patterns` is not recorded in `curves` yet (the run stopped
    /// while it evaluated): a resume does it first. False in checkpoints written before.
    #[serde(default)]
    pub pending_eval: bool,
}

/// One evaluation point of one instance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Index of the instance in the experiment.
    pub instance: usize,
    pub patterns: usize,
    pub epoch: f64,
    pub val: Metrics,
    /// `Σ_l ‖W_ip[l] − c·W_up[l+1]‖²` (non-finite values, of a diverged instance, are kept
    /// through checkpoints by [`metrics::float_json`]).
    #[serde(with = "metrics::float_json")]
    pub sp_ip: f64,
    /// `Σ_l ‖W_pi[l] + W_down[l]‖²`.
    #[serde(with = "metrics::float_json")]
    pub sp_pi: f64,
    /// The same two errors on the rates of the first [`SP_PATTERNS`] validation patterns
    /// ([`self_prediction::data_errors`]); NaN in checkpoints written before they existed.
    #[serde(default = "nan", with = "metrics::float_json")]
    pub sp_ip_data: f64,
    #[serde(default = "nan", with = "metrics::float_json")]
    pub sp_pi_data: f64,
    /// The instance had diverged (a non-finite readout or weight) by this point: its metrics
    /// are not numbers to report.
    #[serde(default)]
    pub diverged: bool,
}

fn nan() -> f64 {
    f64::NAN
}

/// Validation patterns (the training set's when there are none) on which the data
/// self-prediction errors of the curves are measured.
pub const SP_PATTERNS: usize = 100;

/// Final results of one instance.
#[derive(Clone, Debug)]
pub struct InstanceResult {
    pub spec: InstanceSpec,
    pub val: Metrics,
    pub test: Metrics,
    pub weights: Weights<f64>,
    /// Training patterns the instance had seen when a non-finite readout or weight was first
    /// seen (`None`: it stayed finite); its metrics are then not reported.
    pub diverged_at: Option<usize>,
}

/// Everything an experiment (or one batch of it) produces.
#[derive(Clone, Debug)]
pub struct Results {
    pub backend: String,
    /// The CPU kernel that ran the full model (`None` on the GPU and for the steady model).
    pub cpu_kernel: Option<CpuKernel>,
    pub instances: Vec<InstanceResult>,
    pub curves: Vec<CurvePoint>,
    pub traces: Vec<Trace>,
    pub seconds: f64,
    pub instance_steps: f64,
}

/// Runs every instance of `plan` to the end of the protocol, in one batch, and returns the
/// results (sweeps of any size run batch by batch on `crate::run`'s runner).
pub fn run(cfg: &Config, plan: &Plan, opts: &RunOptions) -> anyhow::Result<Results> {
    let schedule = Schedule::of_plan(cfg, plan, plan.instances.len());
    let mut meter = Meter::new(&schedule, opts.progress, opts.progress_seconds);
    let shared = shared_data(cfg, plan, opts)?;
    let data = load_data(cfg, plan, opts, shared.as_ref())?;
    let per_instance = cfg.protocol.epochs * data[0].train.len();
    meter.start(per_instance * plan.instances.len(), 0);
    meter.batch(0, plan.instances.len());
    let results = run_batch(cfg, plan, &data, opts, 0, &mut meter)?;
    meter.finished(0, &results);
    meter.finish();
    Ok(results)
}

/// Runs one batch (the instances of `plan`, batch number `batch` of the sweep) with the data
/// sets `data` to the end of the protocol, resuming from its checkpoint when asked.
pub fn run_batch(
    cfg: &Config,
    plan: &Plan,
    data: &[Arc<TaskData>],
    opts: &RunOptions,
    batch: usize,
    meter: &mut Meter,
) -> anyhow::Result<Results> {
    let mut backend = Hosted(Some(open_backend(cfg, &batch_of(plan, opts), opts)?));
    meter.backend(&backend.name());
    let mut runner = Runner::new(cfg, plan, data, opts, batch);
    if opts.resume {
        runner.resume(&mut backend, meter)?;
    }
    runner.run(&mut backend, meter)?;
    let weights = backend.weights()?;
    let total = runner.done;
    for (i, w) in weights.iter().enumerate() {
        if !w.all_finite() {
            runner.diverged(i, total, meter);
        }
    }
    let (val, test) = runner.final_metrics(&mut backend, meter)?;
    let instances = plan
        .instances
        .iter()
        .zip(weights)
        .zip(val.into_iter().zip(test))
        .zip(&runner.diverged_at)
        .map(
            |(((spec, weights), (val, test)), &diverged_at)| InstanceResult {
                spec: spec.clone(),
                val,
                test,
                weights,
                diverged_at,
            },
        )
        .collect();
    let seconds = runner.seconds();
    Ok(Results {
        backend: backend.name(),
        cpu_kernel: backend.cpu_kernel(),
        instances,
        curves: runner.curves,
        traces: backend.take_traces(),
        seconds,
        instance_steps: runner.instance_steps,
    })
}

/// The instances of `plan` as a backend batch: their parameters and initial weights
/// (`opts.init_weights` for all, or each one's configured initialisation).
pub fn batch_of(plan: &Plan, opts: &RunOptions) -> Batch {
    Batch {
        shape: plan.shape.clone(),
        phi: plan.phi,
        params: plan.instances.iter().map(|s| s.params.clone()).collect(),
        init: plan
            .instances
            .iter()
            .map(|s| match &opts.init_weights {
                Some(w) => w.clone(),
                None => init::init_weights(&plan.shape, &s.params),
            })
            .collect(),
    }
}

/// The first `n` training patterns of every instance of `plan`, in the order [`run`] trains
/// them (each instance's own shuffle of its data set).
pub fn training_patterns(
    cfg: &Config,
    plan: &Plan,
    opts: &RunOptions,
    n: usize,
) -> anyhow::Result<Chunk> {
    let shared = shared_data(cfg, plan, opts)?;
    let data = load_data(cfg, plan, opts, shared.as_ref())?;
    let seeds: Vec<u64> = plan.instances.iter().map(|s| s.params.seed).collect();
    let rows = Streams::new(&seeds, data[0].train.len(), cfg.protocol.shuffle).next(n);
    Ok(chunk_of(&data, &rows, |d| &d.train))
}

/// The patterns `rows[i]` of each instance's set chosen by `set` as a backend chunk.
fn chunk_of(
    data: &[Arc<TaskData>],
    rows: &[Vec<usize>],
    set: impl Fn(&TaskData) -> &crate::tasks::Dataset,
) -> Chunk {
    let mut chunk = Chunk::default();
    for (i, r) in rows.iter().enumerate() {
        let d = set(&data[i]);
        chunk
            .x
            .push(r.iter().flat_map(|&k| d.x_row(k).iter().copied()).collect());
        chunk
            .y
            .push(r.iter().flat_map(|&k| d.y_row(k).iter().copied()).collect());
    }
    chunk
}

/// Why the microcircuit backends refuse a G-clusteron config.
const NOT_A_MICROCIRCUIT: &str = "this command runs the microcircuit models; a \"model\": \"gclusteron\" config runs with pyralnet run and pyralnet check";

/// Why `--record` is refused for the steady-state model on every backend.
const NO_STEADY_TRACES: &str =
    "--record needs \"model\": \"full\": the steady-state model has no time course to record";

/// `auto` and the names of the full model's GPU kernels.
fn full_kernel_names() -> String {
    let names: Vec<&str> = KernelKind::ALL.iter().map(|k| k.name()).collect();
    format!("auto, {}", names.join(", "))
}

/// `auto` and the names of the steady model's GPU kernels.
fn steady_kernel_names() -> String {
    let names: Vec<&str> = SteadyGpuKernel::ALL.iter().map(|k| k.name()).collect();
    format!("auto, {}", names.join(", "))
}

/// The GPU kernel `--gpu-kernel NAME` forces for a config's model, as
/// `(full model's, steady model's)`: `None` or `auto` forces none; a name the model has no
/// kernel of (any name but `auto` for the G-clusteron, which has one GPU kernel) is refused
/// with the names each model allows.
pub fn forced_gpu_kernels(
    model: ModelKind,
    name: Option<&str>,
) -> anyhow::Result<(Option<KernelKind>, Option<SteadyGpuKernel>)> {
    let Some(name) = name.filter(|&n| n != "auto") else {
        return Ok((None, None));
    };
    let found = match model {
        ModelKind::Full => KernelKind::forced(name).ok().map(|k| (k, None)),
        ModelKind::Steady => SteadyGpuKernel::forced(name).ok().map(|k| (None, k)),
        ModelKind::Gclusteron => None,
    };
    let model_name = match model {
        ModelKind::Full => "full",
        ModelKind::Steady => "steady",
        ModelKind::Gclusteron => "gclusteron",
    };
    found.ok_or_else(|| {
        anyhow::anyhow!(
            "--gpu-kernel {name}: \"model\": \"{model_name}\" has no such GPU kernel; allowed \
             for \"full\": {}; for \"steady\": {}; the G-clusteron has one GPU kernel (auto)",
            full_kernel_names(),
            steady_kernel_names()
        )
    })
}

/// The backend for the config's model that `opts` asks for, holding `batch` (see
/// [`BackendChoice`]). The GPU runs both models in f32; the CPU backends run in the config's
/// precision unless `opts.precision` overrides it; traces exist only for the full model (the
/// steady state has no time course).
pub fn open_backend(
    cfg: &Config,
    batch: &Batch,
    opts: &RunOptions,
) -> anyhow::Result<Box<dyn Backend + Send>> {
    let full = cfg.model == ModelKind::Full;
    let gpu_options = GpuOptions {
        adapter: opts.adapter.clone(),
        record: opts.record.clone(),
        kernel: opts.gpu_kernel,
        steady_kernel: opts.steady_gpu_kernel,
        ..Default::default()
    };
    ensure!(
        full || opts.gpu_kernel.is_none(),
        "the full model's GPU kernels apply to \"model\": \"full\" only (the steady model's: \
         {})",
        steady_kernel_names()
    );
    let on_gpu = |gpu: Gpu| -> anyhow::Result<Box<dyn Backend + Send>> {
        Ok(match cfg.model {
            ModelKind::Full => Box::new(GpuBackend::with_gpu(gpu, batch, &gpu_options)?),
            ModelKind::Steady => Box::new(SteadyGpuBackend::with_gpu(gpu, batch, &gpu_options)?),
            ModelKind::Gclusteron => anyhow::bail!(NOT_A_MICROCIRCUIT),
        })
    };
    match opts.backend {
        BackendChoice::Gpu => {
            ensure!(full || opts.record.stride == 0, "{NO_STEADY_TRACES}");
            ensure!(
                opts.precision != Some(Precision::F64),
                "the GPU backend computes in f32; use --backend cpu for f64"
            );
            return on_gpu(gpu::open(opts.adapter.as_deref())?);
        }
        BackendChoice::Auto
            if opts.precision != Some(Precision::F64) && (full || opts.record.stride == 0) =>
        {
            if let Some(gpu) = gpu::open_hardware(opts.adapter.as_deref())? {
                return on_gpu(gpu);
            }
        }
        BackendChoice::Auto | BackendChoice::Cpu => {}
    }
    let precision = opts.precision.unwrap_or(cfg.precision);
    Ok(match cfg.model {
        ModelKind::Full => open_cpu(
            opts.cpu_kernel,
            precision,
            batch,
            opts.threads,
            opts.record.clone(),
        )?,
        ModelKind::Gclusteron => anyhow::bail!(NOT_A_MICROCIRCUIT),
        ModelKind::Steady => {
            if opts.record.stride > 0 {
                anyhow::bail!(NO_STEADY_TRACES);
            }
            match precision {
                Precision::F32 => Box::new(SteadyBackend::<f32>::new(batch, opts.threads)?),
                Precision::F64 => Box::new(SteadyBackend::<f64>::new(batch, opts.threads)?),
            }
        }
    })
}

/// The data sets of instance `s`.
fn load_one(
    cfg: &Config,
    plan: &Plan,
    opts: &RunOptions,
    s: &InstanceSpec,
) -> anyhow::Result<Arc<TaskData>> {
    cfg.task
        .load(
            &plan.shape,
            plan.phi,
            &s.params,
            &cfg.targets,
            &opts.base_dir,
        )
        .map(Arc::new)
}

/// The data sets of every instance of `plan`: `shared` for all when the task's data do not
/// depend on the instance, else each instance's own.
pub fn load_data(
    cfg: &Config,
    plan: &Plan,
    opts: &RunOptions,
    shared: Option<&Arc<TaskData>>,
) -> anyhow::Result<Vec<Arc<TaskData>>> {
    match shared {
        Some(d) => Ok(vec![d.clone(); plan.instances.len()]),
        None => plan
            .instances
            .iter()
            .map(|s| load_one(cfg, plan, opts, s))
            .collect(),
    }
}

/// The data sets all instances share, loaded once (`None` when every instance has its own).
pub fn shared_data(
    cfg: &Config,
    plan: &Plan,
    opts: &RunOptions,
) -> anyhow::Result<Option<Arc<TaskData>>> {
    match cfg.task.per_instance() {
        true => Ok(None),
        false => load_one(cfg, plan, opts, &plan.instances[0]).map(Some),
    }
}

/// A batch's backend, which an evaluation may take to another thread ([`Runner::evaluate_call`])
/// and which is then missing (the run stops without touching it again).
struct Hosted(Option<Box<dyn Backend + Send>>);

/// Why a backend is used after a stop left it to an evaluation on another thread (a bug).
const DETACHED: &str = "the backend was left to an evaluation after a stop";

impl std::ops::Deref for Hosted {
    type Target = dyn Backend + Send;
    fn deref(&self) -> &Self::Target {
        self.0.as_deref().expect(DETACHED)
    }
}

impl std::ops::DerefMut for Hosted {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0.as_deref_mut().expect(DETACHED)
    }
}

/// How often a run that evaluates looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);

/// The training loop's state across chunks.
struct Runner<'a> {
    cfg: &'a Config,
    plan: &'a Plan,
    data: &'a [Arc<TaskData>],
    streams: Streams,
    /// Training patterns per backend call at most ([`chunk_len`]).
    chunk: usize,
    /// Training patterns the next backend call gets at most, so that it takes about
    /// [`CHUNK_SECONDS`] (measured on the calls before): a stop waits for one call.
    chunk_cap: usize,
    opts: &'a RunOptions,
    /// Which batch of the sweep these instances are (checkpoints record it).
    batch: usize,
    /// Training patterns done so far.
    done: usize,
    curves: Vec<CurvePoint>,
    instance_steps: f64,
    last_checkpoint: Instant,
    /// Wall seconds of earlier parts of a resumed run, and when this part started.
    seconds_before: f64,
    started: Instant,
    /// Per instance, the training patterns seen when a non-finite training or evaluation
    /// readout or weight was first seen (divergence, e.g. of a learning rate too large).
    diverged_at: Vec<Option<usize>>,
    /// The evaluation point at `done` is still to be done: at the start (with
    /// `eval_at_start`), while it runs, and after a resume from a stop during it.
    pending_eval: bool,
    /// The backend's states at `done` (with instance indices), taken for the checkpoint that a
    /// stop during an evaluation writes (evaluations leave the state as it is); `None` once
    /// training has moved on.
    held: Option<Vec<(usize, State<f64>)>>,
}

impl<'a> Runner<'a> {
    fn new(
        cfg: &'a Config,
        plan: &'a Plan,
        data: &'a [Arc<TaskData>],
        opts: &'a RunOptions,
        batch: usize,
    ) -> Self {
        let train_len = data[0].train.len();
        let seeds: Vec<u64> = plan.instances.iter().map(|s| s.params.seed).collect();
        Runner {
            cfg,
            plan,
            data,
            streams: Streams::new(&seeds, train_len, cfg.protocol.shuffle),
            chunk: chunk_len(opts),
            chunk_cap: 1,
            opts,
            batch,
            done: 0,
            curves: Vec::new(),
            instance_steps: 0.0,
            last_checkpoint: Instant::now(),
            seconds_before: 0.0,
            started: Instant::now(),
            diverged_at: vec![None; plan.instances.len()],
            pending_eval: cfg.protocol.eval_at_start,
            held: None,
        }
    }

    /// Flags instance `i` (of the batch) as diverged after `patterns` training patterns, unless
    /// it was already.
    fn diverged(&mut self, i: usize, patterns: usize, meter: &Meter) {
        if self.diverged_at[i].is_some() {
            return;
        }
        self.diverged_at[i] = Some(patterns);
        if self.opts.progress {
            meter.println(&format!(
                "warning: instance {} diverged (non-finite readout or weight) after {patterns} training patterns",
                self.plan.instances[i].index
            ));
        }
    }

    fn seconds(&self) -> f64 {
        self.seconds_before + self.started.elapsed().as_secs_f64()
    }

    fn indices(&self) -> Vec<usize> {
        self.plan.instances.iter().map(|s| s.index).collect()
    }

    /// Continues from the newest checkpoint if there is one of this batch (one of an earlier
    /// batch is left over from a stop between finishing that batch and removing it).
    fn resume(&mut self, backend: &mut Hosted, meter: &mut Meter) -> anyhow::Result<()> {
        let Some(dir) = &self.opts.checkpoint_dir else {
            return Ok(());
        };
        let Some((progress, ck)) = crate::checkpoint::read_progress::<Progress>(dir)? else {
            return Ok(());
        };
        if progress.batch != self.batch {
            return Ok(());
        }
        backend.restore(&checkpoint::read_states(
            &ck,
            &self.plan.shape,
            &self.indices(),
        )?)?;
        self.streams.next(progress.patterns);
        self.done = progress.patterns;
        self.instance_steps = progress.instance_steps;
        self.seconds_before = progress.seconds;
        self.curves = progress.curves;
        if progress.diverged_at.len() == self.diverged_at.len() {
            self.diverged_at = progress.diverged_at;
        }
        self.pending_eval = progress.pending_eval;
        self.held = None;
        meter.resumed(self.done * self.plan.instances.len());
        if self.opts.progress {
            meter.println(&format!(
                "resuming batch {} after {} training patterns",
                self.batch + 1,
                self.done
            ));
        }
        Ok(())
    }

    /// Takes the backend's states at `done` into [`Runner::held`] unless they are there.
    fn hold(&mut self, backend: &mut Hosted) -> anyhow::Result<()> {
        if self.held.is_none() {
            self.held = Some(
                self.indices()
                    .into_iter()
                    .zip(backend.snapshot()?)
                    .collect(),
            );
        }
        Ok(())
    }

    /// Writes a checkpoint of every instance if checkpoints are on.
    fn checkpoint(&mut self, backend: &mut Hosted) -> anyhow::Result<()> {
        if self.opts.checkpoint_dir.is_none() {
            return Ok(());
        }
        self.hold(backend)?;
        let progress = Progress {
            batch: self.batch,
            patterns: self.done,
            instance_steps: self.instance_steps,
            seconds: self.seconds(),
            curves: self.curves.clone(),
            diverged_at: self.diverged_at.clone(),
            pending_eval: self.pending_eval,
        };
        let dir = self.opts.checkpoint_dir.as_ref().expect("checked above");
        let states = self.held.as_deref().expect("just held");
        checkpoint::write_checkpoint(dir, &progress, states)?;
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Whether a stop was asked for.
    fn stop_asked(&self) -> bool {
        self.opts.stop_asked()
    }

    /// Stops the run: writes a checkpoint of the training state at `done` (recording whether
    /// the evaluation point there is still pending) and returns [`Interrupted`].
    fn interrupt(&mut self, backend: &mut Hosted, meter: &Meter) -> anyhow::Error {
        if let Err(e) = self.checkpoint(backend) {
            return e;
        }
        meter.abandon();
        Interrupted {
            batch: self.batch,
            batches: meter.batches(),
            patterns: self.done,
            work: "training patterns",
        }
        .into()
    }

    /// The readouts of `backend.evaluate(chunk)`. With a stop flag the call runs on another
    /// thread while this one looks at the flag every [`STOP_POLL`], so that a stop is heard
    /// however long the evaluation takes: it writes a checkpoint of the training state (the
    /// evaluation not done, [`Progress::pending_eval`] tells) and returns [`Interrupted`], and
    /// the call under way is left to finish on its own (the CLI exits meanwhile) with its
    /// readouts dropped. An evaluation is one call, not cut like training: a full-model
    /// evaluation carries each pattern's end state into the next pattern, and a second call
    /// would start again from the training state, which changes the readouts' bits.
    fn evaluate_call(
        &mut self,
        backend: &mut Hosted,
        chunk: Chunk,
        meter: &Meter,
    ) -> anyhow::Result<Vec<Vec<f64>>> {
        if self.opts.stop.is_none() {
            return backend.evaluate(&chunk);
        }
        if self.stop_asked() {
            return Err(self.interrupt(backend, meter));
        }
        // the checkpoint of a stop needs the states, which the other thread's backend holds
        if self.opts.checkpoint_dir.is_some() {
            self.hold(backend)?;
        }
        let mut detached = backend.0.take().expect(DETACHED);
        let (done, finished) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("pyralnet-evaluate".into())
            .spawn(move || {
                let readouts = detached.evaluate(&chunk);
                let _ = done.send(());
                (detached, readouts)
            })?;
        loop {
            match finished.recv_timeout(STOP_POLL) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if self.stop_asked() {
                        // the thread keeps the backend until its call ends
                        return Err(self.interrupt(backend, meter));
                    }
                }
                // finished, or panicked (which panics here as it would have without the thread)
                _ => {
                    let (b, readouts) = handle
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p));
                    backend.0 = Some(b);
                    return readouts;
                }
            }
        }
    }

    fn run(&mut self, backend: &mut Hosted, meter: &mut Meter) -> anyhow::Result<()> {
        let train_len = self.data[0].train.len();
        let total = self.cfg.protocol.epochs * train_len;
        let eval_every = self.cfg.protocol.eval_every.unwrap_or(train_len);
        let steps_per_pattern: f64 = self
            .plan
            .instances
            .iter()
            .map(|s| s.params.steps_per_pattern() as f64)
            .sum();
        let every = self.opts.checkpoint_every();
        // the evaluation at the start, or the one a stop interrupted (redone first on resume,
        // followed by the checkpoint an evaluation point gets)
        if self.pending_eval {
            self.evaluate_point(backend, self.done, meter)?;
            if self.done > 0 && self.done < total {
                self.checkpoint(backend)?;
            }
        }
        let instances = self.plan.instances.len();
        while self.done < total {
            let done = self.done;
            let next_eval = (done / eval_every + 1) * eval_every;
            // results do not depend on how the patterns are cut into backend calls (the
            // backends' state carries over), so the cut may follow the wall clock
            let n = self
                .chunk
                .min(self.chunk_cap)
                .min(next_eval.min(total) - done);
            let rows = self.streams.next(n);
            let chunk = chunk_of(self.data, &rows, |d| &d.train);
            // Readouts of training patterns are nudged towards the targets, so they say little
            // about learning; only evaluation readouts enter the metrics.
            let t0 = Instant::now();
            let readouts = backend.train(&chunk)?;
            self.held = None;
            self.chunk_cap = next_cap(n, t0.elapsed().as_secs_f64());
            // a non-finite training readout: the instance diverged at that pattern (which does
            // not depend on how the patterns are cut into calls)
            let n_out = self.plan.shape.n_out();
            for (i, r) in readouts.iter().enumerate() {
                if let Some(k) = r.iter().position(|v| !v.is_finite()) {
                    self.diverged(i, done + k / n_out.max(1) + 1, meter);
                }
            }
            self.done += n;
            self.instance_steps += n as f64 * steps_per_pattern;
            meter.advance(n * instances, n as f64 * steps_per_pattern);
            let at_eval = self.done.is_multiple_of(eval_every) || self.done == total;
            if at_eval {
                self.evaluate_point(backend, self.done, meter)?;
            }
            let stop = self.stop_asked();
            // at the end of the batch its results are written instead
            if self.done == total {
                break;
            }
            if stop {
                return Err(self.interrupt(backend, meter));
            }
            if at_eval || self.last_checkpoint.elapsed().as_secs_f64() > every {
                self.checkpoint(backend)?;
            }
        }
        Ok(())
    }

    /// Evaluates every instance on `set` in file order; an instance whose readouts or MSE are
    /// not all finite (readouts beyond ~1e154 overflow the MSE) is flagged as diverged after
    /// `patterns` training patterns.
    fn evaluate(
        &mut self,
        backend: &mut Hosted,
        set: impl Fn(&TaskData) -> &crate::tasks::Dataset + Copy,
        patterns: usize,
        meter: &Meter,
    ) -> anyhow::Result<Vec<Metrics>> {
        let n = set(&self.data[0]).len();
        if n == 0 {
            return Ok(vec![Metrics::default(); self.data.len()]);
        }
        let rows: Vec<Vec<usize>> = vec![(0..n).collect(); self.data.len()];
        let readouts = self.evaluate_call(backend, chunk_of(self.data, &rows, set), meter)?;
        let metrics: Vec<Metrics> = readouts
            .iter()
            .enumerate()
            .map(|(i, r)| metrics(set(&self.data[i]), &rows[i], r))
            .collect();
        for (i, (r, m)) in readouts.iter().zip(&metrics).enumerate() {
            if r.iter().any(|v| !v.is_finite()) || m.mse.is_some_and(|e| !e.is_finite()) {
                self.diverged(i, patterns, meter);
            }
        }
        Ok(metrics)
    }

    /// Evaluates every instance on the validation set and records a curve point; a
    /// non-finite readout or weight flags the instance as diverged.
    fn evaluate_point(
        &mut self,
        backend: &mut Hosted,
        patterns: usize,
        meter: &Meter,
    ) -> anyhow::Result<()> {
        self.pending_eval = true;
        let val = self.evaluate(backend, |d| &d.val, patterns, meter)?;
        let weights = backend.weights()?;
        for (i, w) in weights.iter().enumerate() {
            if !w.all_finite() {
                self.diverged(i, patterns, meter);
            }
        }
        let train_len = self.data[0].train.len() as f64;
        for (i, (m, w)) in val.into_iter().zip(&weights).enumerate() {
            let (shape, p) = (&self.plan.shape, &self.plan.instances[i].params);
            let (sp_ip, sp_pi) = self_prediction::weight_errors(shape, p, w);
            let d = &self.data[i];
            let set = if d.val.is_empty() { &d.train } else { &d.val };
            let xs = (0..set.len().min(SP_PATTERNS)).map(|k| set.x_row(k));
            let (sp_ip_data, sp_pi_data) =
                self_prediction::data_errors(shape, self.plan.phi, p, w, xs);
            // weights beyond ~1e154 overflow the squared errors: as diverged as a NaN
            if ![sp_ip, sp_pi, sp_ip_data, sp_pi_data]
                .iter()
                .all(|v| v.is_finite())
            {
                self.diverged(i, patterns, meter);
            }
            self.curves.push(CurvePoint {
                instance: self.plan.instances[i].index,
                patterns,
                epoch: patterns as f64 / train_len,
                val: m,
                sp_ip,
                sp_pi,
                sp_ip_data,
                sp_pi_data,
                diverged: self.diverged_at[i].is_some(),
            });
        }
        self.pending_eval = false;
        Ok(())
    }

    /// The final validation metrics (the last curve point's) and the test metrics; a
    /// non-finite readout flags the instance as diverged at the end of training.
    fn final_metrics(
        &mut self,
        backend: &mut Hosted,
        meter: &Meter,
    ) -> anyhow::Result<(Vec<Metrics>, Vec<Metrics>)> {
        let done = self.done;
        let last_val: Vec<Metrics> = match self.curves.len() >= self.data.len() {
            true => self.curves[self.curves.len() - self.data.len()..]
                .iter()
                .map(|c| c.val)
                .collect(),
            false => self.evaluate(backend, |d| &d.val, done, meter)?,
        };
        let test = self.evaluate(backend, |d| &d.test, done, meter)?;
        Ok((last_val, test))
    }
}

/// Wall seconds a training call should take at most: SIGINT/SIGTERM (the stop flag) are
/// heard between calls, so a stop takes this long (or one pattern, if that is longer) plus
/// the checkpoint.
const CHUNK_SECONDS: f64 = 1.0;

/// The number of patterns (any model's units of training) the next training call gets after
/// `n` took `seconds`: as many as fit into [`CHUNK_SECONDS`] at that pace, at least 1, growing
/// at most fourfold per call.
pub fn next_cap(n: usize, seconds: f64) -> usize {
    let fit = (CHUNK_SECONDS * n as f64 / seconds.max(1e-9)).floor();
    (fit.min((4 * n) as f64) as usize).max(1)
}

/// Training patterns per backend call.
fn chunk_len(opts: &RunOptions) -> usize {
    if opts.chunk == 0 {
        200
    } else {
        opts.chunk
    }
}
