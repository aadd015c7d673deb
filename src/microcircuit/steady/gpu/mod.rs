//! [`SteadyGpuBackend`]: the steady-state model "SteadNet" (MODEL.md section 7, sweep order in
//! [`crate::microcircuit::steady`]) on a wgpu device, in f32, computing what
//! [`crate::microcircuit::steady::cpu::SteadyBackend`]
//! computes.
//!
//! **Kernel** (`steady.wgsl`): one workgroup per instance, its threads dealt over the
//! rows of the matrices of one layer (each thread a row's dot product, soma and rate; in the
//! plasticity step the row's dendrite, error and update, since a row's update reads only rates,
//! which the step does not change). One dispatch runs one operation on one layer of every
//! instance of a group: an up-sweep update (`OP_UP`), a down-sweep update (`OP_DOWN`) or the
//! plasticity step (`OP_LEARN`); dispatches run in order, so a pattern is the sequence of the
//! CPU's layer updates. Instances with fewer passes or exposures than the batch's most skip the
//! surplus dispatches. Dot products sum in the CPU's order (`microcircuit::weights::dot`).
//!
//! **Loop limit.** llvmpipe (lavapipe) ends an invocation after 65535 loop iterations: the
//! costliest dispatch is bounded per thread ([`Layout::max_trips`]), and on CPU drivers the
//! workgroup grows (doubling from 8 threads) until it fits under the full model's budget; a
//! shape that fits no workgroup size is an error.
//!
//! The buffer helpers, read-back and loop budget are every model's (`crate::gpu::compute`); the
//! bind group layout is the full model's step kernel's
//! (`crate::microcircuit::full::gpu::kernel::StepKernel`, the same room), and the pieces the
//! patterns go up in are the full model's too (`crate::microcircuit::full::gpu::pieces`); the
//! kernel ignores the step kernel's scratch, counter and trace bindings.
//!
//! **The blocks kernel** (`blocks.wgsl`, [`SteadyGpuKernel::Blocks`], plan in the `blocks`
//! module), for GPUs: the same state layout and the same layer updates, but a team of lanes per
//! matrix row reading consecutive aligned `vec4` chunks of it (the layout starts every instance
//! and the Δ block on a multiple of 4 words) with a fixed-order tree reduction, a grid over (row
//! blocks, instances), `v_B[0]` computed once per exposure, and one dispatch for the whole
//! plasticity step. Its sums run in another order than the CPU's, so it agrees with the CPU to
//! f32 rounding, not bit for bit; an instance alone and in a batch agree bit for bit. The backend
//! runs it on GPUs (discrete, integrated, virtual) where it fits the device; CPU drivers keep the
//! rows kernel ([`default_steady_kernel`]; [`GpuOptions::steady_kernel`] forces either).

mod blocks;
mod layout;

use crate::gpu::compute::{
    max_workgroup_size, read_back, read_records, storage_init, workgroup_size, zeroed,
    DISPATCH_STRIDE, LOOP_BUDGET, STORAGE, WG_GPU,
};
use crate::gpu::device::{is_cpu_driver, open, Gpu};
use crate::microcircuit::backend::{Backend, Batch, Chunk};
use crate::microcircuit::full::cpu::State;
use crate::microcircuit::full::gpu::kernel::StepKernel;
use crate::microcircuit::full::gpu::{pieces, GpuOptions};
use crate::microcircuit::Weights;
use anyhow::{ensure, Context};
use blocks::Blocks;
use layout::{Layout, OP_DOWN, OP_LEARN, OP_UP};

const STEADY: &str = include_str!("steady.wgsl");
const BLOCKS: &str = include_str!("blocks.wgsl");

/// Which kernel runs the steady-state model on the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SteadyGpuKernel {
    /// `steady.wgsl`: one workgroup per instance, one matrix row per thread, sums in the CPU's
    /// order. For CPU drivers (lavapipe), whose workgroups are SIMD vectors.
    Rows,
    /// `blocks.wgsl`: a team of lanes per row with coalesced loads and a tree reduction, a grid
    /// over (row blocks, instances), `v_B[0]` reused, one plasticity dispatch. For GPUs.
    Blocks,
}

impl SteadyGpuKernel {
    /// Every kernel, in the order `--gpu-kernel` lists them.
    pub const ALL: [SteadyGpuKernel; 2] = [SteadyGpuKernel::Rows, SteadyGpuKernel::Blocks];

    /// The name `--gpu-kernel` takes: `rows`, `blocks`.
    pub fn name(self) -> &'static str {
        match self {
            SteadyGpuKernel::Rows => "rows",
            SteadyGpuKernel::Blocks => "blocks",
        }
    }

    /// The kernel `--gpu-kernel NAME` forces: `None` for `auto`, an error naming the allowed
    /// names for anything else.
    pub fn forced(name: &str) -> Result<Option<SteadyGpuKernel>, String> {
        if name == "auto" {
            return Ok(None);
        }
        SteadyGpuKernel::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .map(Some)
            .ok_or_else(|| {
                let names: Vec<&str> = SteadyGpuKernel::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown `{name}` for the steady model, allowed: auto, {}",
                    names.join(", ")
                )
            })
    }
}

/// Dispatch records in the uniform buffer, i.e. dispatches per submission.
const JOB_CAP: usize = 1024;
/// Bytes of one dispatch record as the kernel reads it (`struct Job`, 7 words), rounded up to 16.
const JOB_BYTES: u64 = 32;
/// Largest pattern upload per group; longer chunks run in pieces.
const PATTERN_BYTES_CAP: u64 = 64 << 20;

/// Pattern buffers of a group for `cap` patterns per instance, with the bind groups using them.
struct Io {
    cap: usize,
    patterns: wgpu::Buffer,
    readouts: wgpu::Buffer,
    train: wgpu::BindGroup,
    eval: wgpu::BindGroup,
}

/// Instances `first..first+len`, with buffers small enough to bind.
struct Group {
    first: usize,
    len: usize,
    table: wgpu::Buffer,
    state: wgpu::Buffer,
    /// Copy of `state` that evaluation runs on.
    eval_state: wgpu::Buffer,
    io: Option<Io>,
}

/// The steady-state model on the GPU: states live on the device, each chunk uploads its
/// patterns and reads back the readouts.
pub struct SteadyGpuBackend {
    gpu: Gpu,
    layout: Layout,
    kernel: StepKernel,
    wg: usize,
    /// The blocks kernel's sizes and dispatch plan (`None`: the rows kernel runs).
    blocks: Option<BlocksPlan>,
    groups: Vec<Group>,
    jobs: wgpu::Buffer,
    /// Bound to the scratch, counter and trace slots of the shared bind group layout.
    unused: [wgpu::Buffer; 3],
    /// Bias value of each instance (the bias slots of its rate vectors).
    bias: Vec<f64>,
    max_passes: usize,
    /// Most relaxation + update rounds of a training pattern.
    max_exposures: usize,
    learns: bool,
    max_binding: u64,
    piece_patterns: Option<usize>,
}

/// One dispatch of the rows kernel: operation, layer, pattern (in the piece), pass, exposure.
type Job = (usize, usize, usize, usize, usize);

/// The blocks kernel's sizes and the dispatches of one pass and of one plasticity step.
struct BlocksPlan {
    sizes: Blocks,
    pass: Vec<blocks::Dispatch>,
    learn: Vec<blocks::Dispatch>,
}

/// One dispatch as recorded: its uniform words and its workgroups (x, y).
struct Record {
    words: Vec<u32>,
    grid: (u32, u32),
}

impl SteadyGpuBackend {
    /// Opens the adapter named in `opts` and uploads the batch.
    pub fn new(batch: &Batch, opts: &GpuOptions) -> anyhow::Result<Self> {
        let gpu = open(opts.adapter.as_deref())?;
        Self::with_gpu(gpu, batch, opts)
    }

    /// Uploads the batch to an open device: `opts.steady_kernel` picks the kernel (`None`: by
    /// adapter class, [`default_steady_kernel`]: the rows kernel on CPU drivers such as
    /// lavapipe, the blocks kernel on GPUs where it fits the device, else the rows kernel);
    /// `opts.kernel` and `opts.tiles` do not apply to this model; recording is refused: the
    /// steady state has no time course.
    pub fn with_gpu(gpu: Gpu, batch: &Batch, opts: &GpuOptions) -> anyhow::Result<Self> {
        batch.shape.validate().map_err(anyhow::Error::msg)?;
        ensure!(
            opts.record.stride == 0,
            "the steady-state model has no time course to record"
        );
        ensure!(!batch.is_empty(), "empty batch");
        ensure!(
            batch.init.len() == batch.len(),
            "batch has {} parameter sets but {} initial weights",
            batch.len(),
            batch.init.len()
        );
        let layout = Layout::new(&batch.shape, batch.phi);
        let lim = &gpu.limits;
        let cpu_driver = is_cpu_driver(&gpu.info);
        // CPU drivers (lavapipe) keep the rows kernel; GPUs get the blocks kernel wherever it
        // can run the shape, else the rows kernel
        let (wg, blocks, body) = match opts.steady_kernel {
            Some(SteadyGpuKernel::Rows) => rows_kernel(&gpu, &layout, opts.workgroup_size)?,
            Some(SteadyGpuKernel::Blocks) => blocks_kernel(&gpu, &layout, opts.workgroup_size)?,
            None if cpu_driver => rows_kernel(&gpu, &layout, opts.workgroup_size)?,
            None => match blocks_kernel(&gpu, &layout, opts.workgroup_size) {
                Ok(k) => k,
                Err(_) => rows_kernel(&gpu, &layout, opts.workgroup_size)?,
            },
        };
        let kernel = StepKernel::new(&gpu, wg, &body, &body, &["main"])?;
        let max_binding = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
        let widest = 4 * layout.stride.max(batch.shape.n_in() + batch.shape.n_out()) as u64;
        let mut per_group = (max_binding / widest)
            .min(u64::from(lim.max_compute_workgroups_per_dimension))
            as usize;
        if let Some(m) = opts.max_group {
            per_group = per_group.min(m.max(1));
        }
        ensure!(
            per_group > 0,
            "one instance of {} needs {widest} bytes in one buffer, more than the device's \
             binding limit of {max_binding} bytes",
            batch.shape.label()
        );
        let bias: Vec<f64> = batch.params.iter().map(|p| p.bias).collect();
        let groups = (0..batch.len())
            .step_by(per_group)
            .map(|first| {
                let len = per_group.min(batch.len() - first);
                let range = first..first + len;
                let table = layout.table(&batch.params[range.clone()]);
                let mut state = Vec::with_capacity(len * layout.stride);
                for (w, &b) in batch.init[range.clone()].iter().zip(&bias[range]) {
                    state.extend(layout.pack(&State::new(&batch.shape, w.clone()), b)?);
                }
                Ok(Group {
                    first,
                    len,
                    table: storage_init(&gpu, "steady table", bytemuck::cast_slice(&table)),
                    state: storage_init(&gpu, "steady state", bytemuck::cast_slice(&state)),
                    eval_state: zeroed(&gpu, "steady eval state", 4 * state.len() as u64, STORAGE),
                    io: None,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let coefs = batch
            .params
            .iter()
            .map(crate::microcircuit::steady::cpu::Coef::<f32>::new);
        let learns = coefs.clone().any(|k| k.any_plastic());
        let max_exposures = batch
            .params
            .iter()
            .zip(coefs)
            .map(|(p, k)| if k.any_plastic() { p.n_exposures } else { 1 })
            .max()
            .unwrap_or(1);
        let jobs = zeroed(
            &gpu,
            "steady jobs",
            (JOB_CAP * DISPATCH_STRIDE) as u64,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let unused = [0, 1, 2].map(|_| zeroed(&gpu, "unused", 4, STORAGE));
        Ok(SteadyGpuBackend {
            max_passes: batch.params.iter().map(|p| p.n_passes).max().unwrap_or(1),
            max_exposures,
            learns,
            gpu,
            layout,
            kernel,
            wg,
            blocks,
            groups,
            jobs,
            unused,
            bias,
            max_binding,
            piece_patterns: opts.piece_patterns,
        })
    }

    /// The dispatches of pattern `p`: for each exposure, every pass up through every layer and
    /// then down through the hidden layers (pass 1's up sweep without apical input or
    /// interneuron nudging), then (training with plasticity) the
    /// plasticity step of every layer. Evaluation relaxes once.
    fn pattern_jobs(&self, p: usize, train: bool) -> Vec<Job> {
        let n = self.layout.shape.n_layers();
        let learn = train && self.learns;
        let exposures = if learn { self.max_exposures } else { 1 };
        let mut jobs = Vec::new();
        for e in 0..exposures {
            for pass in 0..self.max_passes {
                jobs.extend((0..n).map(|l| (OP_UP, l, p, pass, e)));
                jobs.extend((0..n - 1).rev().map(|l| (OP_DOWN, l, p, pass, e)));
            }
            if learn {
                jobs.extend((0..n).map(|l| (OP_LEARN, l, p, 0, e)));
            }
        }
        jobs
    }

    /// The dispatch records of pattern `p` of a piece of `pc` patterns for a group of `len`
    /// instances, in order (the rows kernel's [`Self::pattern_jobs`], or the blocks kernel's
    /// plan: per exposure the passes, then the plasticity step).
    fn pattern_records(&self, p: usize, pc: usize, len: usize, train: bool) -> Vec<Record> {
        let t = u32::from(train);
        let Some(plan) = &self.blocks else {
            return self
                .pattern_jobs(p, train)
                .into_iter()
                .map(|(op, layer, p, pass, e)| Record {
                    words: [op, layer, p, pass, e]
                        .map(|v| v as u32)
                        .into_iter()
                        .chain([t, pc as u32])
                        .collect(),
                    grid: (len as u32, 1),
                })
                .collect();
        };
        let learn = train && self.learns;
        let exposures = if learn { self.max_exposures } else { 1 };
        let record = |d: &blocks::Dispatch, pass: usize, e: usize| {
            let mut words = vec![p as u32, pass as u32, e as u32, t, pc as u32];
            words.extend([d.segs.len() as u32, u32::from(p + 1 < pc), 0]);
            words.extend(d.segs.iter().flatten());
            Record {
                words,
                grid: (d.blocks, len as u32),
            }
        };
        let mut out = Vec::new();
        for e in 0..exposures {
            for pass in 0..self.max_passes {
                out.extend(plan.pass.iter().map(|d| record(d, pass, e)));
            }
            if learn {
                out.extend(plan.learn.iter().map(|d| record(d, 0, e)));
            }
        }
        out
    }

    /// Patterns per instance that one upload of a group of `len` may hold.
    fn piece_cap(&self, len: usize, patterns: usize) -> usize {
        let shape = &self.layout.shape;
        let per_pattern = 4 * (len * (shape.n_in() + shape.n_out())) as u64;
        let cap = (self.max_binding.min(PATTERN_BYTES_CAP) / per_pattern) as usize;
        patterns
            .min(cap)
            .min(self.piece_patterns.unwrap_or(usize::MAX))
            .max(1)
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
        let outs = 4 * (g.len * cap * shape.n_out()) as u64;
        let readouts = zeroed(gpu, "readouts", outs, STORAGE);
        let bind = |state: &wgpu::Buffer| {
            let [scratch, counters, trace] = &self.unused;
            let buffers = [
                &g.table, &patterns, state, scratch, counters, &readouts, &self.jobs, trace, state,
            ];
            let job_bytes = match self.blocks {
                Some(_) => blocks::JOB_BYTES,
                None => JOB_BYTES,
            };
            self.kernel.bind(gpu, buffers, job_bytes)
        };
        let (train, eval) = (bind(&g.state), bind(&g.eval_state));
        self.groups[gi].io = Some(Io {
            cap,
            patterns,
            readouts,
            train,
            eval,
        });
    }
}

impl pieces::InPieces for SteadyGpuBackend {
    /// `true` to train, `false` to evaluate a copy of the state.
    type Mode = bool;

    fn widths(&self) -> (usize, usize) {
        (self.layout.shape.n_in(), self.layout.shape.n_out())
    }

    fn spans(&self) -> Vec<(usize, usize)> {
        self.groups.iter().map(|g| (g.first, g.len)).collect()
    }

    fn prepare(&mut self, gi: usize, patterns: usize, mode: bool) -> usize {
        let g = &self.groups[gi];
        if !mode {
            pieces::copy_to_eval(&self.gpu, &g.state, &g.eval_state);
        }
        let cap = self.piece_cap(g.len, patterns);
        self.ensure_io(gi, cap);
        cap
    }

    /// Uploads `pc` patterns per instance to group `gi`, runs their dispatches in submissions of
    /// up to [`JOB_CAP`] and returns the readouts (instance-major, pattern, output).
    fn run_piece(
        &mut self,
        gi: usize,
        data: &[f32],
        pc: usize,
        train: bool,
    ) -> anyhow::Result<Vec<f32>> {
        let g = &self.groups[gi];
        let io = g.io.as_ref().context("pattern buffers allocated")?;
        let gpu = &self.gpu;
        gpu.queue
            .write_buffer(&io.patterns, 0, bytemuck::cast_slice(data));
        let bind = if train { &io.train } else { &io.eval };
        let records: Vec<Record> = (0..pc)
            .flat_map(|p| self.pattern_records(p, pc, g.len, train))
            .collect();
        for batch in records.chunks(JOB_CAP) {
            let mut words = vec![0u32; batch.len() * DISPATCH_STRIDE / 4];
            for (k, r) in batch.iter().enumerate() {
                words[k * DISPATCH_STRIDE / 4..][..r.words.len()].copy_from_slice(&r.words);
            }
            gpu.queue
                .write_buffer(&self.jobs, 0, bytemuck::cast_slice(&words));
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(&self.kernel.train[0]);
                for (k, r) in batch.iter().enumerate() {
                    pass.set_bind_group(0, bind, &[(k * DISPATCH_STRIDE) as u32]);
                    pass.dispatch_workgroups(r.grid.0, r.grid.1, 1);
                }
            }
            gpu.queue.submit([enc.finish()]);
        }
        let bytes = 4 * (g.len * pc * self.layout.shape.n_out()) as u64;
        Ok(bytemuck::pod_collect_to_vec(&read_back(
            gpu,
            &io.readouts,
            &[(0, bytes)],
        )?))
    }
}

impl Backend for SteadyGpuBackend {
    fn name(&self) -> String {
        match &self.blocks {
            None => format!(
                "steady-gpu {} ({} threads/workgroup)",
                self.gpu.label(),
                self.wg
            ),
            Some(plan) => format!(
                "steady-gpu {} (blocks kernel, {} threads/workgroup, {} lanes/row)",
                self.gpu.label(),
                self.wg,
                plan.sizes.team
            ),
        }
    }

    fn train(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>> {
        pieces::run(self, chunk, true)
    }

    fn evaluate(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>> {
        pieces::run(self, chunk, false)
    }

    fn weights(&mut self) -> anyhow::Result<Vec<Weights<f64>>> {
        let (stride, w) = (self.layout.stride, self.layout.w_total);
        let mut out = Vec::new();
        for g in &self.groups {
            let words = read_records(&self.gpu, &g.state, g.len, stride, w)?;
            out.extend(words.chunks_exact(w).map(|c| self.layout.unpack_weights(c)));
        }
        Ok(out)
    }

    /// Reads back every instance's state words; f32 widens to f64 exactly.
    fn snapshot(&mut self) -> anyhow::Result<Vec<State<f64>>> {
        let stride = self.layout.stride;
        let mut out = Vec::new();
        for g in &self.groups {
            let words = read_records(&self.gpu, &g.state, g.len, stride, stride)?;
            out.extend(words.chunks_exact(stride).map(|w| self.layout.unpack(w)));
        }
        Ok(out)
    }

    /// Uploads the states (rounded to f32, exact for states of an f32 backend), with the rates
    /// recomputed from the somas.
    fn restore(&mut self, states: &[State<f64>]) -> anyhow::Result<()> {
        let n: usize = self.groups.iter().map(|g| g.len).sum();
        crate::microcircuit::backend::check_restore_len(states.len(), n)?;
        // pack everything first, so that a state of the wrong shape leaves the backend as it was
        let packed = self
            .groups
            .iter()
            .map(|g| {
                let mut words = Vec::with_capacity(g.len * self.layout.stride);
                let range = g.first..g.first + g.len;
                for (st, &b) in states[range.clone()].iter().zip(&self.bias[range]) {
                    words.extend(self.layout.pack(st, b)?);
                }
                Ok(words)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        for (g, words) in self.groups.iter().zip(packed) {
            self.gpu
                .queue
                .write_buffer(&g.state, 0, bytemuck::cast_slice(&words));
        }
        Ok(())
    }
}

/// Workgroup size and source of the rows kernel for `layout` (`wg`: forced workgroup size); on
/// CPU drivers the workgroup grows until the costliest dispatch fits llvmpipe's loop limit.
fn rows_kernel(
    gpu: &Gpu,
    layout: &Layout,
    wg: Option<usize>,
) -> anyhow::Result<(usize, Option<BlocksPlan>, String)> {
    let max_wg = max_workgroup_size(gpu);
    let cpu_driver = is_cpu_driver(&gpu.info);
    let fits = |wg: usize| !cpu_driver || layout.max_trips(wg) <= LOOP_BUDGET;
    let wg = match wg {
        Some(wg) => wg,
        None => {
            let mut wg = workgroup_size(gpu);
            while !fits(wg) && 2 * wg <= max_wg {
                wg *= 2;
            }
            wg
        }
    };
    ensure!(
        (1..=max_wg).contains(&wg),
        "workgroup size {wg} not supported by the device"
    );
    ensure!(
        fits(wg),
        "{} is too large for a CPU Vulkan driver with {wg} threads per workgroup: one \
             dispatch needs {} loop iterations per invocation, llvmpipe stops a shader \
             after 65535",
        layout.shape.label(),
        layout.max_trips(wg)
    );
    let body = format!("{}\n{STEADY}", layout::wgsl_constants());
    Ok((wg, None, body))
}

/// Whether the blocks kernel with `sizes` can run `shape` on a device with
/// `(max_compute_workgroup_storage_size, max_compute_workgroups_per_dimension)`; on CPU drivers
/// also within llvmpipe's loop limit. The error says why not.
fn blocks_fit(
    sizes: &Blocks,
    shape: &crate::microcircuit::Shape,
    (storage, max_x): (u32, u32),
    cpu_driver: bool,
) -> Result<(), String> {
    let label = shape.label();
    let need = sizes.workgroup_bytes();
    if need > u64::from(storage) {
        return Err(format!(
            "the blocks kernel cannot run {label}: a workgroup needs {need} bytes of workgroup \
             memory, the device's max_compute_workgroup_storage_size is {storage}"
        ));
    }
    let x = sizes.max_blocks();
    if x > max_x {
        return Err(format!(
            "the blocks kernel cannot run {label}: a dispatch needs {x} workgroups along x, the \
             device allows {max_x}"
        ));
    }
    if cpu_driver && sizes.max_trips() > LOOP_BUDGET {
        return Err(format!(
            "the blocks kernel cannot run {label} on a CPU Vulkan driver with {} threads per \
             workgroup: one dispatch needs {} loop iterations per invocation, llvmpipe stops a \
             shader after 65535",
            sizes.wg,
            sizes.max_trips()
        ));
    }
    Ok(())
}

/// The steady kernel [`SteadyGpuBackend::with_gpu`] runs on `adapter` for `shape` when
/// [`GpuOptions::steady_kernel`] names none, with the reason (for `pyralnet devices --dims`):
/// the rows kernel on CPU drivers, else the blocks kernel where it fits the device, else the
/// rows kernel.
pub fn default_steady_kernel(
    shape: &crate::microcircuit::Shape,
    adapter: &crate::gpu::AdapterSummary,
) -> (SteadyGpuKernel, String) {
    if is_cpu_driver(&adapter.info) {
        return (SteadyGpuKernel::Rows, "CPU driver".into());
    }
    let layout = Layout::new(shape, crate::microcircuit::Transfer::Sigmoid);
    let limits = (
        adapter.max_compute_workgroup_storage_size,
        adapter.max_compute_workgroups_per_dimension,
    );
    let wg = WG_GPU.min(adapter.max_compute_invocations_per_workgroup as usize);
    match Blocks::new(&layout, wg).map_err(|e| e.to_string()) {
        Ok(sizes) => match blocks_fit(&sizes, shape, limits, false) {
            Ok(()) => (
                SteadyGpuKernel::Blocks,
                format!(
                    "{} lanes per row, {} B of workgroup memory",
                    sizes.team,
                    sizes.workgroup_bytes()
                ),
            ),
            Err(why) => (SteadyGpuKernel::Rows, why),
        },
        Err(why) => (SteadyGpuKernel::Rows, why),
    }
}

/// Workgroup size, plan and source of the blocks kernel for `layout` (`wg`: forced workgroup
/// size, default 64); refused, with the reason, where the device cannot run it.
fn blocks_kernel(
    gpu: &Gpu,
    layout: &Layout,
    wg: Option<usize>,
) -> anyhow::Result<(usize, Option<BlocksPlan>, String)> {
    let lim = &gpu.limits;
    let max_wg = max_workgroup_size(gpu);
    let cpu_driver = is_cpu_driver(&gpu.info);
    let wg = wg.unwrap_or(WG_GPU.min(max_wg));
    ensure!(
        (1..=max_wg).contains(&wg),
        "workgroup size {wg} not supported by the device"
    );
    let sizes = Blocks::new(layout, wg)?;
    let limits = (
        lim.max_compute_workgroup_storage_size,
        lim.max_compute_workgroups_per_dimension,
    );
    blocks_fit(&sizes, &layout.shape, limits, cpu_driver).map_err(anyhow::Error::msg)?;
    let body = format!("{}\n{}\n{BLOCKS}", layout::wgsl_constants(), sizes.wgsl());
    let plan = BlocksPlan {
        pass: sizes.pass(),
        learn: sizes.learn(),
        sizes,
    };
    Ok((wg, Some(plan), body))
}
