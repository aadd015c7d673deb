//! [`GpuBackend`]: the [`Backend`] contract on a wgpu device.

use super::kernel::{StepKernel, SERIAL, SHARED, STEP};
use super::layout::{window_steps, KernelKind, Layout};
use super::pieces;
use super::register;
use super::resident;
use super::serial::{step_source, Features};
use super::traffic;
use crate::gpu::compute::{
    max_workgroup_size, read_back, read_records, storage_init, workgroup_size, workgroup_size_of,
    zeroed, DISPATCH_STRIDE, LOOP_BUDGET, STORAGE,
};
use crate::gpu::device::{is_cpu_driver, open, AdapterSummary, Gpu};
use crate::microcircuit::backend::{Backend, Batch, Chunk, RecordSpec, Trace};
use crate::microcircuit::full::cpu::State;
use crate::microcircuit::{FilterStart, Weights};
use anyhow::{ensure, Context};

/// Dispatch records in the uniform buffer, i.e. dispatches per submission.
const DISPATCH_CAP: usize = 256;
/// Bytes of one dispatch record as the kernels read it (`struct Dispatch`, 8 words).
const DISPATCH_BYTES: u64 = 32;
/// Loop trips per thread and step above which a GPU runs the phased kernel instead of the
/// fused one (the fused kernel's one workgroup per instance would then work through long
/// serial loops while most of the device idles).
const FUSED_TRIPS_GPU: u64 = 4096;
/// Loop trips per thread and step the phased kernel aims at on a GPU when choosing its
/// workgroups per instance.
const PHASED_TRIPS_GPU: u64 = 1024;
/// Largest pattern upload per sub-batch; longer chunks are processed in pieces.
const PATTERN_BYTES_CAP: u64 = 64 << 20;

/// Settings of the GPU backend.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// Adapter to use: the first whose name contains this (case-insensitive); `None` picks
    /// the best one (discrete GPU first).
    pub adapter: Option<String>,
    /// At most this many instances per sub-batch (`None`: as many as the device limits allow).
    pub max_group: Option<usize>,
    /// At most this many patterns per instance per upload (`None`: as many as fit in 64 MiB).
    pub piece_patterns: Option<usize>,
    /// Threads per workgroup (`None`: 8 on CPU drivers such as lavapipe, 64 on GPUs). The
    /// register kernel takes its threads per instance from the shape instead
    /// (`register::threads`: hidden cells and bias column, `register_cells` to a thread, at
    /// least the 2·n_out output-side somas, rounded up to a power of 2).
    pub workgroup_size: Option<usize>,
    /// Integrator kernel (`None`: chosen from the device, see [`GpuBackend::with_gpu`]).
    pub kernel: Option<KernelKind>,
    /// The steady-state model's kernel (`None`: chosen from the device, see
    /// [`crate::microcircuit::steady::gpu::SteadyGpuBackend::with_gpu`]); the full model
    /// ignores it.
    pub steady_kernel: Option<crate::microcircuit::steady::gpu::SteadyGpuKernel>,
    /// Never use subgroup operations: the register kernel then sums its columns through its
    /// workgroup-memory tree even where the device has `Features::SUBGROUP` (tests run both
    /// ways on lavapipe, which has it).
    pub no_subgroups: bool,
    /// Hidden cells per thread of the register kernel (`None`:
    /// `register::cells_per_thread`: four, two or one, as many as fit registers; at most
    /// `register::MAX_CELLS`). The numbers do not depend on it (each cell's arithmetic and the
    /// order of the column sums per thread are the same); tests run 1, 2, 3 and 4.
    pub register_cells: Option<usize>,
    /// Workgroups per instance of the phased kernel (`None`: from the device, see
    /// [`GpuBackend::with_gpu`]).
    pub tiles: Option<usize>,
    /// Traces to record during training (as the CPU backend records them).
    pub record: RecordSpec,
    /// Stream steps per dispatch window (`None`: [`window_steps`]; on CPU drivers at most the
    /// loop budget's window, and always 1 for the phased kernel). The numbers do not depend on
    /// it; tests force different windows to check that.
    pub window_steps: Option<usize>,
    /// At most this many bytes of workgroup memory for the resident kernel (`None`: the
    /// device's `max_compute_workgroup_storage_size`; a larger value is capped there). The
    /// numbers do not depend on it: below what an instance needs, the kernel keeps its largest
    /// matrices in global memory ([`super::resident::check_fits`]); tests lower it to run that
    /// spilled placement on small shapes.
    pub workgroup_storage: Option<u32>,
}

/// Pattern buffers of one sub-batch, sized for `cap` patterns per instance, with the bind
/// groups that use them.
struct Io {
    cap: usize,
    patterns: wgpu::Buffer,
    readouts: wgpu::Buffer,
    /// Per instance the stream step of its first sample, then its samples (when recording).
    trace: wgpu::Buffer,
    train: wgpu::BindGroup,
    eval: wgpu::BindGroup,
}

/// A sub-batch: instances `first..first+len`, each buffer small enough to bind.
struct Group {
    first: usize,
    len: usize,
    meta: wgpu::Buffer,
    state: wgpu::Buffer,
    /// Copy of `state` that evaluation runs on.
    eval_state: wgpu::Buffer,
    scratch: wgpu::Buffer,
    /// Training steps taken, (lo, hi) per instance: the step key of the noise.
    counters: wgpu::Buffer,
    io: Option<Io>,
}

/// The GPU backend: every instance's state lives on the device; each chunk uploads the
/// patterns, runs them in a few dispatches and reads back the readouts and, when recording,
/// the trace samples of the chunk.
pub struct GpuBackend {
    gpu: Gpu,
    layout: Layout,
    kernel: StepKernel,
    /// Workgroups per instance (phased kernel) or 1.
    tiles: usize,
    groups: Vec<Group>,
    dispatch: wgpu::Buffer,
    /// Steps per pattern of every instance, and of the slowest.
    steps: Vec<usize>,
    max_steps: usize,
    /// Stream steps one dispatch runs (see [`Layout::steps_per_dispatch`]; one step for the
    /// phased kernel).
    window: usize,
    record: RecordSpec,
    /// Arrays of a trace sample and their widths, words per sample (empty, 0: no recording).
    record_columns: Vec<(String, usize)>,
    record_width: usize,
    traces: Vec<Trace>,
    /// Largest binding (bytes) any buffer may have.
    max_binding: u64,
    piece_patterns: Option<usize>,
    /// Instances per sub-batch: as many as the binding limits allow (or `max_group`).
    per_group: usize,
    /// Where each instance's stimulus filter starts, and whether the states have been checked
    /// for a fresh start since the backend was built or last restored.
    filter_start: Vec<FilterStart>,
    filters_checked: bool,
    /// GPU time of the training passes, once [`GpuBackend::time_device`] has asked for it.
    timing: Option<Timing>,
    /// The register kernel's hidden cells per thread (`None` for the other kernels).
    register_cells: Option<usize>,
    /// The register kernel sums its columns with subgroup operations.
    subgroup_sums: bool,
}

/// Timestamp queries around every compute pass of a training piece
/// (`Features::TIMESTAMP_QUERY`) and the device time they add up to.
struct Timing {
    queries: wgpu::QuerySet,
    /// Where the queries are resolved to (`QUERY_RESOLVE | COPY_SRC`).
    resolved: wgpu::Buffer,
    /// Nanoseconds per timestamp tick (`Queue::get_timestamp_period`).
    period: f64,
    seconds: f64,
    /// Instance-steps the timed passes ran.
    steps: u64,
    /// A piece had more passes than the query set holds, so `seconds` misses some.
    incomplete: bool,
}

/// Compute passes per piece whose begin and end [`Timing`] records.
const TIMED_PASSES: usize = wgpu::QUERY_SET_MAX_QUERIES as usize / 2;

/// A kernel's layout and sources (training and evaluation), its entry points (one dispatch of
/// each per step window), threads per instance, and the loop iterations of one step (recording
/// included).
struct Program {
    layout: Layout,
    train: String,
    eval: String,
    entries: &'static [&'static str],
    /// Workgroups per instance (phased kernel) or 1.
    tiles: usize,
    threads: usize,
    step_trips: u64,
}

impl Program {
    /// The program of kernel `kind` with `wg` threads per workgroup and, for the phased
    /// kernel, `tiles` workgroups per instance; `record_width` words per trace sample (0: no
    /// recording).
    fn new(batch: &Batch, wg: usize, kind: KernelKind, tiles: usize, record_width: usize) -> Self {
        let layout = Layout::new(&batch.shape, batch.phi, wg, kind);
        let tiles = if kind == KernelKind::Phased { tiles } else { 1 };
        let threads = wg * tiles;
        let record_trips = layout.record_trips_per_step(threads, record_width);
        match kind {
            KernelKind::Workgroup | KernelKind::Phased => {
                let body = format!("const NT: u32 = {threads}u;\n{SHARED}{STEP}");
                Program {
                    train: body.clone(),
                    eval: body,
                    entries: match kind {
                        KernelKind::Phased => &["phase_a_main", "phase_b_main", "phase_c_main"],
                        _ => &["main"],
                    },
                    tiles,
                    threads,
                    step_trips: layout.workgroup_trips_per_step(threads) + record_trips,
                    layout,
                }
            }
            KernelKind::Resident => Self::resident_of(layout, threads, record_trips),
            KernelKind::Register => Self::register(
                batch,
                wg,
                record_width,
                register::cells_per_thread(&batch.shape),
                None,
            ),
            KernelKind::Serial => {
                let train = step_source(&layout, &Features::training(batch));
                let eval = step_source(&layout, &Features::evaluation(batch.shape.n_layers()));
                Program {
                    train: format!("{SERIAL}\n{}", train.wgsl),
                    eval: format!("{SERIAL}\n{}", eval.wgsl),
                    entries: &["main"],
                    tiles,
                    threads,
                    step_trips: train.trips.max(eval.trips) + record_trips,
                    layout,
                }
            }
        }
    }

    /// The resident kernel's program for a device with `storage` bytes of workgroup memory
    /// per workgroup: the whole state in workgroup memory where it fits, else the largest
    /// matrices spilled to global memory ([`resident::check_fits`], an error naming the shape,
    /// the bytes and the limit where even the rest does not fit).
    fn resident(
        batch: &Batch,
        wg: usize,
        record_width: usize,
        storage: u32,
    ) -> anyhow::Result<Self> {
        let mut layout = Layout::new(&batch.shape, batch.phi, wg, KernelKind::Resident);
        layout.spilled = resident::check_fits(&layout, storage)?;
        let record_trips = layout.record_trips_per_step(wg, record_width);
        Ok(Self::resident_of(layout, wg, record_trips))
    }

    /// The resident kernel's program for `layout` (its [`Layout::spilled`] placement).
    fn resident_of(layout: Layout, threads: usize, record_trips: u64) -> Self {
        let body = resident::source(&layout, threads);
        let step_trips = layout.workgroup_trips_per_step(threads) + record_trips;
        Self::one_workgroup(layout, body, threads, step_trips)
    }

    /// A program of one workgroup of `threads` per instance whose training and evaluation
    /// run the same `body` (entry `main`; the resident and register kernels, which branch on
    /// the dispatch's `train` flag).
    fn one_workgroup(layout: Layout, body: String, threads: usize, step_trips: u64) -> Self {
        Program {
            train: body.clone(),
            eval: body,
            entries: &["main"],
            tiles: 1,
            threads,
            step_trips,
            layout,
        }
    }

    /// The register kernel's program: its column sums by subgroup operations where `subgroup`
    /// gives the device's smallest subgroup size, else by the workgroup-memory tree.
    fn register(
        batch: &Batch,
        wg: usize,
        record_width: usize,
        cells: usize,
        subgroup: Option<u32>,
    ) -> Self {
        let layout = Layout::new(&batch.shape, batch.phi, wg, KernelKind::Register);
        let threads = register::threads(&batch.shape, cells);
        let record_trips = layout.record_trips_per_step(threads, record_width);
        let learns = register::learns(&Features::training(batch));
        let body = register::source(&layout, cells, subgroup.is_some(), learns);
        let step_trips = register::step_trips(&layout, cells, subgroup) + record_trips;
        Self::one_workgroup(layout, body, threads, step_trips)
    }

    /// Loop iterations one invocation may run for one step and two pattern boundaries, plus
    /// the resident kernel's copies in and out of workgroup memory (what must fit llvmpipe's
    /// limit).
    fn need(&self) -> u64 {
        let io = match self.layout.kernel {
            KernelKind::Resident => resident::io_trips(&self.layout, self.threads),
            KernelKind::Register => register::io_trips(&self.layout, register::MAX_CELLS),
            _ => 0,
        };
        self.step_trips + 2 * self.layout.loop_trips_per_pattern(self.threads) + io
    }

    /// The phased program with the fewest workgroups per instance (doubling, up to `max_tiles`)
    /// whose step needs at most `target` loop iterations per invocation, or the most that
    /// still lower it.
    fn phased(
        batch: &Batch,
        wg: usize,
        target: u64,
        max_tiles: usize,
        record_width: usize,
    ) -> Self {
        let mut p = Program::new(batch, wg, KernelKind::Phased, 1, record_width);
        while p.need() > target && 2 * p.tiles <= max_tiles {
            let next = Program::new(batch, wg, KernelKind::Phased, 2 * p.tiles, record_width);
            if next.need() >= p.need() {
                break;
            }
            p = next;
        }
        p
    }
}

/// What kernel selection needs to know of the device.
struct Adapter {
    /// A CPU Vulkan driver (lavapipe), with llvmpipe's loop limit.
    cpu_driver: bool,
    /// 64-bit integers in shaders (the serial kernel needs them).
    int64: bool,
    /// `max_compute_workgroup_storage_size`, bytes.
    workgroup_storage: u32,
    /// `max_compute_workgroups_per_dimension`: most workgroups per instance of the phased kernel.
    max_tiles: usize,
}

impl Adapter {
    /// An adapter as [`crate::gpu::list_adapters`] describes it (without opening it).
    fn of_summary(a: &AdapterSummary) -> Self {
        Adapter {
            cpu_driver: is_cpu_driver(&a.info),
            int64: a.shader_int64,
            workgroup_storage: a.max_compute_workgroup_storage_size,
            max_tiles: a.max_compute_workgroups_per_dimension as usize,
        }
    }
}

/// The kernel [`GpuBackend`] runs when [`GpuOptions::kernel`] names none, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelChoice {
    pub kind: KernelKind,
    /// Workgroups per instance (phased kernel; else 1).
    pub tiles: usize,
    /// Why, with the numbers it was decided on, e.g. `19 448 B of workgroup memory ≤ 49 152`.
    pub reason: String,
}

impl std::fmt::Display for KernelChoice {
    /// `resident (19 448 B of workgroup memory ≤ 49 152)`, `phased×8192 (…)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = format!("{:?}", self.kind).to_lowercase();
        match self.kind {
            KernelKind::Phased => write!(f, "{name}×{} ({})", self.tiles, self.reason),
            _ => write!(f, "{name} ({})", self.reason),
        }
    }
}

/// `n` with its digits in groups of three separated by spaces (`19 448`).
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The kernel [`GpuBackend::with_gpu`] would pick by default for `batch` (without recording)
/// on `adapter`, with its reason: the same [`auto_program`] the backend runs, for
/// `pyralnet devices --dims`.
pub fn default_kernel(batch: &Batch, adapter: &AdapterSummary) -> KernelChoice {
    let wg = workgroup_size_of(&adapter.info);
    auto_program(batch, wg, Adapter::of_summary(adapter), 0).1
}

/// The kernel the backend runs when [`GpuOptions::kernel`] names none, by adapter class and
/// limits (`wg` threads per workgroup, `record_width` words per trace sample), with the reason:
///
/// * **CPU drivers** (lavapipe): the serial kernel when the device has 64-bit integers and
///   one step and two pattern boundaries fit llvmpipe's loop limit ([`LOOP_BUDGET`]), else the
///   fused workgroup kernel if it fits, else the phased one with the fewest workgroups per
///   instance (doubling) that fit. Never the resident kernel: llvmpipe gains nothing from
///   workgroup memory.
/// * **GPUs**: the resident kernel when one instance's state and work vectors,
///   `4·(state_len + scratch_len)` bytes, fit `max_compute_workgroup_storage_size` (not its
///   spilled placement, which moves the spilled matrices' W and Δ through global memory as
///   the fused kernel does; the reason names its bytes and traffic); else the
///   fused workgroup kernel unless a step takes one thread more than `FUSED_TRIPS_GPU` loop
///   trips; else the phased one with workgroups doubled until a step takes at most
///   `PHASED_TRIPS_GPU`.
fn auto_program(
    batch: &Batch,
    wg: usize,
    adapter: Adapter,
    record_width: usize,
) -> (Program, KernelChoice) {
    let new = |kind| Program::new(batch, wg, kind, 1, record_width);
    let resident = Layout::new(&batch.shape, batch.phi, wg, KernelKind::Resident);
    let bytes = resident::workgroup_bytes(&resident);
    let limit = u64::from(adapter.workgroup_storage);
    // where the whole state does not fit: the resident kernel's spilled placement, if any
    let spilled = (bytes > limit)
        .then(|| resident::check_fits(&resident, adapter.workgroup_storage).ok())
        .flatten()
        .map(|matrices| {
            let mut lay = resident.clone();
            lay.spilled = matrices;
            lay
        });
    let choice = |p: Program, reason: String| {
        let c = KernelChoice {
            kind: p.layout.kernel,
            tiles: p.tiles,
            reason,
        };
        (p, c)
    };
    if adapter.cpu_driver {
        let mut never = format!(
            "never resident there, which would need {} B of workgroup memory of {}",
            grouped(bytes),
            grouped(limit)
        );
        if let Some(lay) = &spilled {
            never.push_str(&format!(
                " ({} B with {} in global memory, when forced)",
                grouped(resident::workgroup_bytes(lay)),
                resident::spilled_names(lay).join(", ")
            ));
        }
        let mut why = Vec::new();
        for kind in [KernelKind::Serial, KernelKind::Workgroup] {
            if kind == KernelKind::Serial && !adapter.int64 {
                why.push("the serial kernel needs 64-bit integers".to_string());
                continue;
            }
            let p = new(kind);
            let need = p.need();
            if need <= LOOP_BUDGET {
                let reason = format!(
                    "CPU driver{}: a step and two pattern boundaries need {} ≤ {} loop \
                     iterations; {never}",
                    why.iter().map(|w| format!(", {w}")).collect::<String>(),
                    grouped(need),
                    grouped(LOOP_BUDGET)
                );
                return choice(p, reason);
            }
            why.push(format!(
                "the {} kernel needs {} > {} loop iterations",
                format!("{kind:?}").to_lowercase(),
                grouped(need),
                grouped(LOOP_BUDGET)
            ));
        }
        let p = Program::phased(batch, wg, LOOP_BUDGET, adapter.max_tiles, record_width);
        let reason = format!(
            "CPU driver, {}: the fewest workgroups per instance whose phase needs {} loop \
             iterations; {never}",
            why.join(", "),
            grouped(p.need())
        );
        return choice(p, reason);
    }
    if bytes <= limit {
        let reason = format!(
            "{} B of workgroup memory ≤ {}",
            grouped(bytes),
            grouped(limit)
        );
        return choice(new(KernelKind::Resident), reason);
    }
    let mut no = format!(
        "resident needs {} B of workgroup memory > {}",
        grouped(bytes),
        grouped(limit)
    );
    // the spilled placement moves its spilled W and Δ through global memory as the fused
    // kernel does (most of the fused kernel's state-buffer traffic for [784,20,10]), with
    // fewer workgroups per SM than the fused kernel: not chosen without a device measurement
    if let (Some(lay), Some(params)) = (&spilled, batch.params.first()) {
        no.push_str(&format!(
            " (spilling {} to global memory it would need {} B, but moves {} B per step there, \
             against the fused kernel's {} B in all: not chosen without a device measurement)",
            resident::spilled_names(lay).join(", "),
            grouped(resident::workgroup_bytes(lay)),
            grouped(4 * traffic::spilled_words(lay, params) as u64),
            grouped(traffic::fused_bytes_per_step(&batch.shape, params) as u64)
        ));
    }
    let fused = new(KernelKind::Workgroup);
    if fused.step_trips <= FUSED_TRIPS_GPU {
        let reason = format!(
            "{no}; a fused step takes {} ≤ {FUSED_TRIPS_GPU} loop trips per thread",
            fused.step_trips
        );
        return choice(fused, reason);
    }
    let p = Program::phased(batch, wg, PHASED_TRIPS_GPU, adapter.max_tiles, record_width);
    let reason = format!(
        "{no}; a fused step takes {} > {FUSED_TRIPS_GPU} loop trips per thread, {} workgroups \
         per instance bring a phase to {} (aim {PHASED_TRIPS_GPU})",
        fused.step_trips,
        p.tiles,
        p.need()
    );
    choice(p, reason)
}

/// Whether a run trains (nudging, plasticity, noise) or evaluates a copy of the state.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Train,
    Eval,
}

impl GpuBackend {
    /// Opens the adapter named in `opts` and uploads the batch.
    pub fn new(batch: &Batch, opts: &GpuOptions) -> anyhow::Result<Self> {
        let gpu = open(opts.adapter.as_deref())?;
        Self::with_gpu(gpu, batch, opts)
    }

    /// Uploads the batch to an already open device, split into sub-batches whose buffers fit
    /// the device's binding limits. Unless `opts` names them, the kernel and its workgroups per
    /// instance come from the adapter ([`auto_program`]: on CPU drivers serial, fused
    /// workgroup or phased, whichever first fits llvmpipe's loop limit; on GPUs the resident
    /// kernel where the instance fits the workgroup storage limit, else fused or phased). A
    /// kernel that cannot run is an error naming the reason: the serial kernel without 64-bit
    /// integers, the resident kernel where one instance exceeds the workgroup storage limit
    /// even with every matrix in global memory ([`resident::check_fits`]; W and Δ beyond it
    /// stay in global memory, the largest matrices first, capped by [`GpuOptions::workgroup_storage`]),
    /// any kernel whose step exceeds llvmpipe's loop limit on a CPU driver.
    pub fn with_gpu(gpu: Gpu, batch: &Batch, opts: &GpuOptions) -> anyhow::Result<Self> {
        batch.shape.validate().map_err(anyhow::Error::msg)?;
        ensure!(!batch.is_empty(), "empty batch");
        ensure!(
            batch.init.len() == batch.len(),
            "batch has {} parameter sets but {} initial weights",
            batch.len(),
            batch.init.len()
        );
        let wg = opts.workgroup_size.unwrap_or_else(|| workgroup_size(&gpu));
        ensure!(
            (1..=max_workgroup_size(&gpu)).contains(&wg),
            "workgroup size {wg} not supported by the device"
        );
        let cpu_driver = is_cpu_driver(&gpu.info);
        let record_columns = match opts.record.stride {
            0 => Vec::new(),
            _ => Layout::new(&batch.shape, batch.phi, wg, KernelKind::Workgroup)
                .record_columns(opts.record.all_compartments),
        };
        let record_width: usize = record_columns.iter().map(|c| c.1).sum();
        let max_tiles = gpu.limits.max_compute_workgroups_per_dimension as usize;
        // llvmpipe ends an invocation after LOOP_BUDGET-ish loop iterations: one step (one
        // phase of it for the phased kernel) and two pattern boundaries must fit into one
        // dispatch
        let fits = |p: &Program| !cpu_driver || p.need() <= LOOP_BUDGET;
        let new = |kind| Program::new(batch, wg, kind, opts.tiles.unwrap_or(1), record_width);
        let phased = || {
            let target = if cpu_driver {
                LOOP_BUDGET
            } else {
                PHASED_TRIPS_GPU
            };
            Program::phased(batch, wg, target, max_tiles, record_width)
        };
        if let Some(tiles) = opts.tiles {
            ensure!(
                (1..=max_tiles).contains(&tiles),
                "{tiles} workgroups per instance not supported by the device (1 to {max_tiles})"
            );
        }
        let int64 = gpu.device.features().contains(wgpu::Features::SHADER_INT64);
        ensure!(
            int64 || opts.kernel != Some(KernelKind::Serial),
            "the serial kernel needs 64-bit integers in shaders (SHADER_INT64), which {} lacks",
            gpu.label()
        );
        let device_storage = gpu.limits.max_compute_workgroup_storage_size;
        let storage = opts
            .workgroup_storage
            .map_or(device_storage, |s| s.min(device_storage));
        let cells = opts
            .register_cells
            .unwrap_or_else(|| register::cells_per_thread(&batch.shape));
        if opts.kernel == Some(KernelKind::Register) {
            register::check(&batch.shape, max_workgroup_size(&gpu), cells)?;
        }
        // the register kernel sums columns with the subgroup butterfly where the device has
        // subgroup operations and its smallest subgroup holds the shape's padded rows
        let subgroup = (gpu.device.features().contains(wgpu::Features::SUBGROUP)
            && !opts.no_subgroups)
            .then_some(gpu.info.subgroup_min_size.max(1))
            .filter(|&m| register::butterfly_fits(&batch.shape, cells, m));
        let program = match opts.kernel {
            Some(KernelKind::Register) => {
                Program::register(batch, wg, record_width, cells, subgroup)
            }
            Some(KernelKind::Resident) => Program::resident(batch, wg, record_width, storage)?,
            Some(KernelKind::Phased) if opts.tiles.is_none() => phased(),
            Some(kind) => new(kind),
            None => {
                let adapter = Adapter {
                    cpu_driver,
                    int64,
                    workgroup_storage: storage,
                    max_tiles,
                };
                auto_program(batch, wg, adapter, record_width).0
            }
        };
        ensure!(
            fits(&program),
            "{} is too large for a CPU Vulkan driver: one step and pattern boundary need up to \
             {} loop iterations per invocation, llvmpipe stops a shader after 65535",
            batch.shape.label(),
            program.need()
        );
        let subgroup_sums = program.layout.kernel == KernelKind::Register && subgroup.is_some();
        let register_cells = (program.layout.kernel == KernelKind::Register).then_some(cells);
        let kernel = StepKernel::new(&gpu, wg, &program.train, &program.eval, program.entries)?;
        let Program {
            layout,
            step_trips,
            tiles,
            threads,
            ..
        } = program;
        let lim = &gpu.limits;
        let max_binding = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
        let shape = &batch.shape;
        let steps: Vec<usize> = batch.params.iter().map(|p| p.steps_per_pattern()).collect();
        let (min_steps, max_steps) = (*steps.iter().min().unwrap(), *steps.iter().max().unwrap());
        ensure!(
            min_steps > 0,
            "every instance needs at least one Euler step per pattern (t_pattern ≥ dt/2)"
        );
        // a pattern's trace samples, with the instance's word of the trace header
        let trace_words = match opts.record.stride {
            0 => 0,
            stride => 1 + max_steps.div_ceil(stride) * record_width,
        };
        let widest = layout
            .state_len
            .max(layout.scratch_len)
            .max(layout.params_len())
            .max(shape.n_in() + shape.n_out())
            .max(trace_words) as u64
            * 4;
        let instances_per_workgroup = match layout.kernel {
            KernelKind::Workgroup
            | KernelKind::Phased
            | KernelKind::Resident
            | KernelKind::Register => 1,
            KernelKind::Serial => wg as u64,
        };
        let mut per_group = (max_binding / widest)
            .min(u64::from(lim.max_compute_workgroups_per_dimension) * instances_per_workgroup)
            as usize;
        if let Some(m) = opts.max_group {
            per_group = per_group.min(m.max(1));
        }
        ensure!(
            per_group > 0,
            "one instance of {} needs {widest} bytes in one buffer, more than the device's \
             binding limit of {max_binding} bytes",
            shape.label()
        );
        let groups = (0..batch.len())
            .step_by(per_group)
            .map(|first| {
                let len = per_group.min(batch.len() - first);
                Self::group(&gpu, &layout, batch, first, len)
            })
            .collect::<anyhow::Result<_>>()?;
        let dispatch = zeroed(
            &gpu,
            "dispatch",
            DISPATCH_CAP as u64 * DISPATCH_STRIDE as u64,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let window = match layout.kernel {
            KernelKind::Phased => 1,
            kind => {
                let budget = layout.steps_per_dispatch(min_steps, step_trips, threads);
                match opts.window_steps {
                    Some(w) if cpu_driver => w.clamp(1, budget),
                    Some(w) => w.max(1),
                    None => window_steps(
                        kind,
                        cpu_driver,
                        budget,
                        max_steps,
                        per_group.min(batch.len()),
                        layout.w_total,
                    ),
                }
            }
        };
        Ok(GpuBackend {
            gpu,
            layout,
            kernel,
            tiles,
            groups,
            dispatch,
            max_steps,
            steps,
            window,
            max_binding,
            piece_patterns: opts.piece_patterns,
            record: opts.record.clone(),
            record_columns,
            record_width,
            traces: vec![Trace::default(); batch.len()],
            per_group,
            filter_start: batch.params.iter().map(|p| p.filter_start).collect(),
            filters_checked: false,
            timing: None,
            register_cells,
            subgroup_sums,
        })
    }

    /// Starts the stimulus filters of instances that have taken no step yet at their first
    /// training pattern ([`State::start_filters`]), on the host: one snapshot, the change and
    /// one restore before the first training chunk (and the first after a restore), so the
    /// kernels start from whatever `r_0`, `u_tgt` the state holds.
    fn start_filters(&mut self, chunk: &Chunk) -> anyhow::Result<()> {
        if self.filters_checked || !self.filter_start.contains(&FilterStart::First) {
            return Ok(());
        }
        let (n_in, n_out) = (self.layout.shape.n_in(), self.layout.shape.n_out());
        if pieces::chunk_patterns(chunk, self.filter_start.len(), n_in, n_out)? == 0 {
            return Ok(());
        }
        let mut states = self.snapshot()?;
        if states.iter().any(|s| s.step == 0) {
            let starts = self.filter_start.iter().zip(chunk.x.iter().zip(&chunk.y));
            for (st, (&start, (x, y))) in states.iter_mut().zip(starts) {
                st.start_filters(start, &x[..n_in], &y[..n_out]);
            }
            self.restore(&states)?;
        }
        self.filters_checked = true;
        Ok(())
    }

    fn group(
        gpu: &Gpu,
        layout: &Layout,
        batch: &Batch,
        first: usize,
        len: usize,
    ) -> anyhow::Result<Group> {
        let range = first..first + len;
        let meta = layout.meta(&batch.params[range.clone()]);
        let mut state: Vec<f32> = Vec::with_capacity(len * layout.state_len);
        for w in &batch.init[range] {
            state.extend(layout.pack(&State::new(&batch.shape, w.clone()))?);
        }
        let state_bytes = 4 * state.len() as u64;
        Ok(Group {
            first,
            len,
            meta: storage_init(gpu, "meta", bytemuck::cast_slice(&meta)),
            state: storage_init(gpu, "state", bytemuck::cast_slice(&state)),
            eval_state: zeroed(gpu, "eval state", state_bytes, STORAGE),
            scratch: zeroed(
                gpu,
                "scratch",
                4 * (len * layout.scratch_len) as u64,
                STORAGE,
            ),
            counters: zeroed(gpu, "counters", 8 * len as u64, STORAGE),
            io: None,
        })
    }

    /// The device this backend runs on.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// The kernel that runs the batch and its workgroups per instance (phased kernel; else 1).
    pub fn kernel(&self) -> (KernelKind, usize) {
        (self.layout.kernel, self.tiles)
    }

    /// The resident kernel's placement: bytes of workgroup memory per instance and the
    /// matrices whose W and Δ stay in global memory (`layer0.W_up`, …; empty when the whole
    /// state is resident); `None` for the other kernels.
    pub fn resident_placement(&self) -> Option<(u64, Vec<String>)> {
        (self.layout.kernel == KernelKind::Resident).then(|| {
            (
                resident::workgroup_bytes(&self.layout),
                resident::spilled_names(&self.layout),
            )
        })
    }

    /// The register kernel's hidden cells per thread ([`GpuOptions::register_cells`], else
    /// as many as fit registers); `None` for the other kernels.
    pub fn register_cells(&self) -> Option<usize> {
        self.register_cells
    }

    /// Whether the register kernel runs and sums its columns with subgroup operations (where
    /// the device has `Features::SUBGROUP`, [`GpuOptions::no_subgroups`] is not set and the
    /// smallest subgroup holds the 2·n_out rows padded to a power of two: `register::butterfly_fits`).
    pub fn subgroup_sums(&self) -> bool {
        self.subgroup_sums
    }

    /// Bytes to and from global memory per training instance-step of the running kernel by
    /// the traffic model of docs/gpu.md ([`super::traffic::bytes_per_step`]), for an instance
    /// with `params` and the batch's longest pattern and window.
    pub fn modeled_bytes_per_step(&self, params: &crate::microcircuit::InstanceParams) -> f64 {
        super::traffic::bytes_per_step(&self.layout, params, self.max_steps, self.window)
    }

    /// Starts timing the training passes on the device with timestamp queries (from here on,
    /// see [`GpuBackend::device_time`]); `false`, and nothing timed, where the device lacks
    /// `Features::TIMESTAMP_QUERY`. Each pass gets a timestamp at its begin and end, so the
    /// time between passes (host work, queue gaps) is not counted.
    pub fn time_device(&mut self) -> bool {
        let gpu = &self.gpu;
        if !gpu
            .device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
        {
            return false;
        }
        if self.timing.is_none() {
            let count = 2 * TIMED_PASSES as u32;
            self.timing = Some(Timing {
                queries: gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("pass timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count,
                }),
                resolved: zeroed(
                    gpu,
                    "resolved timestamps",
                    u64::from(count) * wgpu::QUERY_SIZE as u64,
                    wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                ),
                period: f64::from(gpu.queue.get_timestamp_period()),
                seconds: 0.0,
                steps: 0,
                incomplete: false,
            });
        }
        true
    }

    /// Device seconds of the training passes timed since [`GpuBackend::time_device`] and the
    /// instance-steps they ran; `None` where nothing was timed or some passes were not.
    pub fn device_time(&self) -> Option<(f64, u64)> {
        self.timing
            .as_ref()
            .filter(|t| t.steps > 0 && !t.incomplete)
            .map(|t| (t.seconds, t.steps))
    }

    /// Adds the first `passes` timed passes of a training piece that ran `steps`
    /// instance-steps to the device time.
    fn add_device_time(&mut self, passes: usize, steps: u64) -> anyhow::Result<()> {
        let Some(t) = &self.timing else {
            return Ok(());
        };
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        enc.resolve_query_set(&t.queries, 0..2 * passes as u32, &t.resolved, 0);
        self.gpu.queue.submit([enc.finish()]);
        let bytes = read_back(&self.gpu, &t.resolved, &[(0, 16 * passes as u64)])?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
        let total: u64 = ticks
            .chunks_exact(2)
            .map(|p| p[1].saturating_sub(p[0]))
            .sum();
        let t = self.timing.as_mut().context("timing")?;
        t.seconds += total as f64 * t.period * 1e-9;
        t.steps += steps;
        Ok(())
    }

    /// Stream steps per dispatch window ([`window_steps`], or [`GpuOptions::window_steps`]).
    pub fn window(&self) -> usize {
        self.window
    }

    /// Number of sub-batches the batch was split into.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Patterns per instance that one upload of sub-batch `len` may hold (and, when recording,
    /// whose trace samples one buffer may hold).
    fn piece_cap(&self, len: usize, patterns: usize) -> usize {
        let shape = &self.layout.shape;
        let limit = self.max_binding.min(PATTERN_BYTES_CAP);
        let per_pattern = 4 * (len * (shape.n_in() + shape.n_out())) as u64;
        let mut cap = (limit / per_pattern) as usize;
        if self.record.stride > 0 {
            let samples = self.max_steps.div_ceil(self.record.stride);
            let trace_per_pattern = 4 * (len * samples * self.record_width) as u64;
            cap = cap.min((limit.saturating_sub(4 * len as u64) / trace_per_pattern) as usize);
        }
        patterns
            .min(cap)
            .min(self.piece_patterns.unwrap_or(usize::MAX))
            .min(u32::MAX as usize / self.max_steps)
            .max(1)
    }

    /// Trace samples per instance that a piece of `pc` patterns may record.
    fn trace_cap(&self, pc: usize) -> usize {
        match self.record.stride {
            0 => 0,
            stride => (pc * self.max_steps).div_ceil(stride),
        }
    }

    /// Makes sure group `gi` has pattern buffers for at least `cap` patterns per instance.
    fn ensure_io(&mut self, gi: usize, cap: usize) {
        let g = &self.groups[gi];
        if g.io.as_ref().is_some_and(|io| io.cap >= cap) {
            return;
        }
        let shape = &self.layout.shape;
        let gpu = &self.gpu;
        let row = (shape.n_in() + shape.n_out()) as u64;
        let patterns = zeroed(gpu, "patterns", 4 * row * (g.len * cap) as u64, STORAGE);
        let readouts = zeroed(
            gpu,
            "readouts",
            4 * (g.len * cap * shape.n_out()) as u64,
            STORAGE,
        );
        let trace_words = match self.record.stride {
            0 => 1,
            _ => g.len * (1 + self.trace_cap(cap) * self.record_width),
        };
        let trace = zeroed(gpu, "trace", 4 * trace_words as u64, STORAGE);
        let bind = |state: &wgpu::Buffer| {
            self.kernel.bind(
                gpu,
                [
                    &g.meta,
                    &patterns,
                    state,
                    &g.scratch,
                    &g.counters,
                    &readouts,
                    &self.dispatch,
                    &trace,
                    state,
                ],
                DISPATCH_BYTES,
            )
        };
        let (train, eval) = (bind(&g.state), bind(&g.eval_state));
        self.groups[gi].io = Some(Io {
            cap,
            patterns,
            readouts,
            trace,
            train,
            eval,
        });
    }

    /// The training step counters of group `gi`'s instances.
    fn counters(&self, gi: usize) -> anyhow::Result<Vec<u64>> {
        let g = &self.groups[gi];
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&read_back(
            &self.gpu,
            &g.counters,
            &[(0, 8 * g.len as u64)],
        )?);
        Ok(words
            .chunks_exact(2)
            .map(|c| u64::from(c[0]) | u64::from(c[1]) << 32)
            .collect())
    }

    /// Appends the samples of a piece of `pc` patterns to the traces of group `gi`'s
    /// instances: instance k's sample j (of `cap`) is stream step `first_sample[k] + j·stride`,
    /// global training step `first_step[k]` further on.
    fn append_samples(
        &mut self,
        gi: usize,
        pc: usize,
        cap: usize,
        first_step: &[u64],
        first_sample: &[u32],
        samples: &[u32],
    ) {
        let (first, len) = (self.groups[gi].first, self.groups[gi].len);
        let (stride, width) = (self.record.stride, self.record_width);
        for k in 0..len {
            let trace = &mut self.traces[first + k];
            let stream = pc * self.steps[first + k];
            let ts = (first_sample[k] as usize..stream).step_by(stride);
            for (j, t) in ts.enumerate() {
                if trace.arrays.is_empty() {
                    trace.arrays = self
                        .record_columns
                        .iter()
                        .map(|(name, w)| (name.clone(), *w, Vec::new()))
                        .collect();
                }
                trace.step.push(first_step[k] + t as u64);
                let mut words = samples[(k * cap + j) * width..].iter();
                for (_, w, dst) in &mut trace.arrays {
                    dst.extend(
                        words
                            .by_ref()
                            .take(*w)
                            .map(|&b| f64::from(f32::from_bits(b))),
                    );
                }
            }
        }
    }
}

impl pieces::InPieces for GpuBackend {
    type Mode = Mode;

    fn widths(&self) -> (usize, usize) {
        (self.layout.shape.n_in(), self.layout.shape.n_out())
    }

    fn spans(&self) -> Vec<(usize, usize)> {
        self.groups.iter().map(|g| (g.first, g.len)).collect()
    }

    fn prepare(&mut self, gi: usize, patterns: usize, mode: Mode) -> usize {
        let g = &self.groups[gi];
        if mode == Mode::Eval {
            pieces::copy_to_eval(&self.gpu, &g.state, &g.eval_state);
        }
        let cap = self.piece_cap(g.len, patterns);
        self.ensure_io(gi, cap);
        cap
    }

    /// Uploads one piece of `pc` patterns per instance to group `gi`, runs it and returns the
    /// readouts (instance-major, pattern, output).
    fn run_piece(
        &mut self,
        gi: usize,
        data: &[f32],
        pc: usize,
        mode: Mode,
    ) -> anyhow::Result<Vec<f32>> {
        // recording: every instance's first sample is at the first stream step whose global
        // training step is a multiple of the stride
        let stride = match mode {
            Mode::Train => self.record.stride,
            Mode::Eval => 0,
        };
        let first_step = match stride {
            0 => Vec::new(),
            _ => self.counters(gi)?,
        };
        let first_sample: Vec<u32> = first_step
            .iter()
            .map(|&g0| (g0.next_multiple_of(stride as u64) - g0) as u32)
            .collect();
        let trace_cap = match stride {
            0 => 0,
            _ => self.trace_cap(pc),
        };
        let g = &self.groups[gi];
        let io = g.io.as_ref().context("pattern buffers allocated")?;
        let gpu = &self.gpu;
        gpu.queue
            .write_buffer(&io.patterns, 0, bytemuck::cast_slice(data));
        if stride > 0 {
            gpu.queue
                .write_buffer(&io.trace, 0, bytemuck::cast_slice(&first_sample));
        }
        let (bind, pipelines) = match mode {
            Mode::Train => (&io.train, &self.kernel.train),
            Mode::Eval => (&io.eval, &self.kernel.eval),
        };
        let workgroups = match self.layout.kernel {
            KernelKind::Workgroup
            | KernelKind::Phased
            | KernelKind::Resident
            | KernelKind::Register => [self.tiles, g.len],
            KernelKind::Serial => [g.len.div_ceil(self.layout.wg), 1],
        };
        // windows of the instances' step streams; each instance stops at its own end
        let total = pc * self.max_steps;
        let ranges: Vec<(usize, usize)> = (0..total)
            .step_by(self.window)
            .map(|b| (b, (b + self.window).min(total)))
            .collect();
        let timing = self.timing.as_ref().filter(|_| mode == Mode::Train);
        let passes = ranges.len().div_ceil(DISPATCH_CAP);
        let timed = match timing {
            Some(_) => passes.min(TIMED_PASSES),
            None => 0,
        };
        for (pi, batch) in ranges.chunks(DISPATCH_CAP).enumerate() {
            let mut records = vec![0u32; batch.len() * DISPATCH_STRIDE / 4];
            for (k, &(b, e)) in batch.iter().enumerate() {
                records[k * DISPATCH_STRIDE / 4..][..8].copy_from_slice(&[
                    b as u32,
                    e as u32,
                    u32::from(mode == Mode::Train),
                    pc as u32,
                    g.len as u32,
                    stride as u32,
                    self.record_width as u32,
                    trace_cap as u32,
                ]);
            }
            gpu.queue
                .write_buffer(&self.dispatch, 0, bytemuck::cast_slice(&records));
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            {
                let timestamp_writes =
                    timing
                        .filter(|_| pi < timed)
                        .map(|t| wgpu::ComputePassTimestampWrites {
                            query_set: &t.queries,
                            beginning_of_pass_write_index: Some(2 * pi as u32),
                            end_of_pass_write_index: Some(2 * pi as u32 + 1),
                        });
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: None,
                    timestamp_writes,
                });
                for k in 0..batch.len() {
                    pass.set_bind_group(0, bind, &[(k * DISPATCH_STRIDE) as u32]);
                    for pipeline in pipelines {
                        pass.set_pipeline(pipeline);
                        pass.dispatch_workgroups(workgroups[0] as u32, workgroups[1] as u32, 1);
                    }
                }
            }
            gpu.queue.submit([enc.finish()]);
        }
        let bytes = 4 * (g.len * pc * self.layout.shape.n_out()) as u64;
        let readouts = bytemuck::pod_collect_to_vec(&read_back(gpu, &io.readouts, &[(0, bytes)])?);
        if stride > 0 {
            let words = 4 * (g.len * trace_cap * self.record_width) as u64;
            let samples: Vec<u32> = bytemuck::pod_collect_to_vec(&read_back(
                gpu,
                &io.trace,
                &[(4 * g.len as u64, words)],
            )?);
            self.append_samples(gi, pc, trace_cap, &first_step, &first_sample, &samples);
        }
        if timed > 0 {
            let (first, len) = (self.groups[gi].first, self.groups[gi].len);
            let steps: usize = self.steps[first..first + len].iter().map(|s| pc * s).sum();
            self.add_device_time(timed, steps as u64)?;
            if let Some(t) = &mut self.timing {
                t.incomplete |= timed < passes;
            }
        }
        Ok(readouts)
    }
}

impl Backend for GpuBackend {
    /// One sub-batch: more instances would need more buffers of the binding limit's size.
    fn batch_capacity(&self) -> Option<usize> {
        Some(self.per_group)
    }

    fn name(&self) -> String {
        format!("gpu {}", self.gpu.label())
    }

    fn train(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>> {
        self.start_filters(chunk)?;
        pieces::run(self, chunk, Mode::Train)
    }

    fn evaluate(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>> {
        pieces::run(self, chunk, Mode::Eval)
    }

    /// Reads back every instance's state words and step counter; f32 widens to f64 exactly.
    fn snapshot(&mut self) -> anyhow::Result<Vec<State<f64>>> {
        let stride = self.layout.state_len;
        let mut out = Vec::with_capacity(self.groups.iter().map(|g| g.len).sum());
        for (gi, g) in self.groups.iter().enumerate() {
            let words = read_records(&self.gpu, &g.state, g.len, stride, stride)?;
            let counters = self.counters(gi)?;
            for (w, &step) in words.chunks_exact(stride).zip(&counters) {
                out.push(self.layout.unpack(w, step));
            }
        }
        Ok(out)
    }

    /// Uploads the states (values rounded to f32, exact for states of an f32 backend) and step
    /// counters; the scratch needs no restoring, as every pattern starts by clearing its sums.
    fn restore(&mut self, states: &[State<f64>]) -> anyhow::Result<()> {
        let n: usize = self.groups.iter().map(|g| g.len).sum();
        crate::microcircuit::backend::check_restore_len(states.len(), n)?;
        // pack everything first, so that a state of the wrong shape leaves the backend as it was
        let packed = self
            .groups
            .iter()
            .map(|g| {
                let mut words = Vec::with_capacity(g.len * self.layout.state_len);
                let mut counters = Vec::with_capacity(2 * g.len);
                for st in &states[g.first..g.first + g.len] {
                    words.extend(self.layout.pack(st)?);
                    counters.extend([st.step as u32, (st.step >> 32) as u32]);
                }
                Ok((words, counters))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        for (g, (words, counters)) in self.groups.iter().zip(packed) {
            self.gpu
                .queue
                .write_buffer(&g.state, 0, bytemuck::cast_slice(&words));
            self.gpu
                .queue
                .write_buffer(&g.counters, 0, bytemuck::cast_slice(&counters));
        }
        self.filters_checked = false;
        Ok(())
    }

    fn take_traces(&mut self) -> Vec<Trace> {
        let n = self.traces.len();
        std::mem::replace(&mut self.traces, vec![Trace::default(); n])
    }

    fn weights(&mut self) -> anyhow::Result<Vec<Weights<f64>>> {
        let (stride, w) = (self.layout.state_len, self.layout.weight_words());
        let mut out = Vec::new();
        for g in &self.groups {
            let words = read_records(&self.gpu, &g.state, g.len, stride, w)?;
            out.extend(words.chunks_exact(w).map(|c| self.layout.unpack_weights(c)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::microcircuit::{InstanceParams, Shape, Transfer};

    /// One instance of `dims` (bias) with the bench's plasticity (`bench::plastic_batch`):
    /// W_up, W_pi, W_ip plastic, W_down frozen.
    fn plastic_batch(dims: &[usize]) -> Batch {
        let shape = Shape::new(dims.to_vec(), true);
        let n = shape.n_layers();
        let mut p = InstanceParams::reference(n);
        p.eta_up = (0..n)
            .map(|l| if l + 1 == n { 7.32e-4 } else { 6.1 })
            .collect();
        p.eta_pi = vec![4.22e-4; n - 1];
        p.eta_ip = vec![1.464e-3; n - 1];
        Batch::from_params(shape, Transfer::Sigmoid, vec![p])
    }

    /// A discrete GPU as Vulkan on NVIDIA describes it: 48 KB of workgroup memory.
    fn nvidia() -> Adapter {
        Adapter {
            cpu_driver: false,
            int64: true,
            workgroup_storage: 49152,
            max_tiles: 65535,
        }
    }

    /// On a GPU the whole-state resident kernel is the default where it fits; [784,20,10]
    /// keeps the fused kernel, the reason naming the spilled placement's bytes and traffic
    /// (what `pyralnet devices --dims 784,20,10` prints there); on lavapipe the serial kernel,
    /// the reason naming the spilled placement's bytes.
    #[test]
    fn gpu_selection_names_the_spilled_placement() {
        let (p, c) = auto_program(&plastic_batch(&[4, 120, 3]), 64, nvidia(), 0);
        assert_eq!((c.kind, p.layout.spilled.len()), (KernelKind::Resident, 0));
        assert_eq!(c.reason, "19 448 B of workgroup memory ≤ 49 152");
        let (p, c) = auto_program(&plastic_batch(&[784, 20, 10]), 64, nvidia(), 0);
        assert_eq!(c.kind, KernelKind::Workgroup);
        assert!(p.layout.spilled.is_empty());
        assert!(
            c.reason.starts_with(
                "resident needs 139 444 B of workgroup memory > 49 152 (spilling layer0.W_up to \
                 global memory it would need 13 844 B, but moves 314 000 B per step there, \
                 against the fused kernel's 538 224 B in all"
            ),
            "{}",
            c.reason
        );
        // lavapipe: the serial kernel, the reason naming the spilled placement too
        let lavapipe = Adapter {
            cpu_driver: true,
            workgroup_storage: 32768,
            ..nvidia()
        };
        let (_, c) = auto_program(&plastic_batch(&[784, 20, 10]), 8, lavapipe, 0);
        assert_eq!(c.kind, KernelKind::Serial);
        assert!(
            c.reason.ends_with(
                "never resident there, which would need 139 444 B of workgroup memory of \
                 32 768 (13 844 B with layer0.W_up in global memory, when forced)"
            ),
            "{}",
            c.reason
        );
    }
}
