//! [`GcGpuBackend`]: the G-clusteron ([`GcBackend`]) on a wgpu device, in f32
//! (`gclusteron.wgsl`, beside this file).
//!
//! The data sets go up once (inputs in pieces no larger than the device's storage binding, so
//! a 60 000-pattern MNIST set fits lavapipe's 128 MiB limit), the state of every instance lives
//! in one buffer, and each `train` call uploads only the minibatch indices and records all its
//! steps (six dispatches each; the step index lives on the device) into a few submissions with
//! no host round trip. The products U = S F and Z = (S∘l) F − l∘U dominate; the kernel
//! computes the kernel's complement G = 1 − F tile by tile from l instead of storing N × N per
//! unit, so memory stays O(N·B) per unit, and forms U = S·1 − S G from the compensated drive
//! sums S·1 (no cancellation where F ≈ 1, see `crate::gclusteron::cpu::kernel`). Every dispatch
//! loops at most about 2N + B times per invocation (one step per dispatch), under llvmpipe's
//! silent stop at 65535 loop iterations for any N the constructor accepts. The instances are independent, and nothing an instance computes depends on the
//! others or on the batch size, so an instance alone and in a batch give the same bits.

use crate::gclusteron::{
    ErrorMode, GcBackend, GcBatch, GcData, GcState, KernelAt, Moments, Readout,
};
use crate::gpu::compute::{
    bind_whole, compile, dispatch_and_read, layouts, max_workgroup_size, read_back, storage_init,
    workgroup_size, zeroed, LOOP_BUDGET, STORAGE,
};
use crate::gpu::device::{open, Gpu};
use anyhow::{ensure, Context};
use std::sync::Arc;

const SOURCE: &str = include_str!("gclusteron.wgsl");
/// `expm1_nonpositive`, WGSL's missing `expm1` (prepended to [`SOURCE`]).
const EXPM1: &str = include_str!("expm1.wgsl");
/// Input pieces a set may be split into (bindings 7–10 of the shader).
const PIECES: usize = 4;
/// Steps recorded per submission.
const STEPS_PER_SUBMIT: usize = 64;
/// Largest evaluation scratch (partial sums) in bytes.
const EVAL_BYTES: u64 = 64 << 20;
/// Patterns one workgroup of the tiled product covers (two vec4s).
const GROUP_PATTERNS: usize = 8;
/// Minibatch patterns one workgroup of the training product covers when no minibatch has
/// more (one vec4: half the loads and products of [`GROUP_PATTERNS`]).
const SMALL_GROUP_PATTERNS: usize = 4;
/// Synapses i one thread of the tiled product covers (`RI` in the shader).
const SYNAPSES_PER_THREAD: usize = 4;
/// Words per instance in the hyper-parameter buffer (`struct Hyper`).
const HYPER_WORDS: usize = 12;

/// How the per-pattern sums over the N synapses (the drive sums S_p and the outputs
/// y_p = Σ_i s_pi U_pi) are formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// One invocation per (instance, unit, pattern) loops over the N synapses: few, long
    /// threads, which suits CPU drivers (lavapipe) whose threads are few.
    Serial,
    /// One workgroup per (instance, unit, pattern): its threads read consecutive synapses
    /// (coalesced) and a fixed tree in workgroup memory adds their compensated partial sums,
    /// so M·K·B workgroups run where a GPU would otherwise see M·K·B/WG.
    Workgroup,
}

impl Reduction {
    /// Both, by name.
    pub const ALL: [Reduction; 2] = [Reduction::Serial, Reduction::Workgroup];

    /// Its name in reports and benchmarks.
    pub fn name(self) -> &'static str {
        match self {
            Reduction::Serial => "serial",
            Reduction::Workgroup => "workgroup",
        }
    }

    /// The reduction for an adapter: serial on CPU drivers, workgroup on GPUs.
    pub fn auto(info: &wgpu::AdapterInfo) -> Reduction {
        if crate::gpu::device::is_cpu_driver(info) {
            Reduction::Serial
        } else {
            Reduction::Workgroup
        }
    }

    /// The entry points of the three sums (training drive sums, training outputs, evaluation
    /// drive sums).
    fn entries(self) -> [&'static str; 3] {
        match self {
            Reduction::Serial => ["sums_train", "dot_train", "sums_eval"],
            Reduction::Workgroup => ["sums_train_wg", "dot_train_wg", "sums_eval_wg"],
        }
    }
}

/// Choices [`GcGpuBackend::with_options`] leaves to the adapter when `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcGpuOptions {
    /// How the per-pattern sums are formed ([`Reduction::auto`] when `None`).
    pub reduction: Option<Reduction>,
    /// Threads per workgroup ([`workgroup_size`] when `None`): tests run GPU-sized
    /// workgroups on a CPU driver with it.
    pub workgroup_size: Option<usize>,
}

/// The device buffers of one data set and the bind group that reads it.
struct SetBuffers {
    len: usize,
    bind: wgpu::BindGroup,
}

/// The compiled kernels: the six of a training step and the three of an evaluation block.
struct Kernels {
    sums_train: wgpu::ComputePipeline,
    forward_train: wgpu::ComputePipeline,
    dot_train: wgpu::ComputePipeline,
    errors: wgpu::ComputePipeline,
    update: wgpu::ComputePipeline,
    advance: wgpu::ComputePipeline,
    sums_eval: wgpu::ComputePipeline,
    forward_eval: wgpu::ComputePipeline,
    dot_eval: wgpu::ComputePipeline,
}

/// Sizes of the dispatch grids and the source constants.
#[derive(Clone, Copy, Debug)]
struct Dims {
    n: usize,
    k: usize,
    m: usize,
    bmax: usize,
    wg: usize,
    /// Workgroups of synapses i of the tiled product.
    nx: usize,
    /// Tiles of synapses j (and workgroups of the update).
    nt: usize,
    /// Minibatch patterns per workgroup of the training product.
    pg: usize,
    /// Patterns per input piece.
    rpp: usize,
    /// Patterns per evaluation block.
    pblk: usize,
    /// State words per instance.
    st: usize,
}

impl Dims {
    /// The shader source with `expm1_nonpositive` and its constants.
    fn source(&self, readout: Readout) -> String {
        let consts = [
            ("N", self.n),
            ("K", self.k),
            ("M", self.m),
            ("BMAX", self.bmax),
            ("WG", self.wg),
            ("WG_TREE", self.wg.next_power_of_two()),
            ("NX", self.nx),
            ("NT", self.nt),
            ("PG", self.pg),
            ("RPP", self.rpp),
            ("PBLK", self.pblk),
            ("ST", self.st),
            ("READOUT", usize::from(readout == Readout::Sigmoid)),
        ];
        let mut s: String = consts
            .iter()
            .map(|(name, v)| format!("const {name}: u32 = {v}u;\n"))
            .collect();
        s.push_str(EXPM1);
        s.push_str(SOURCE);
        s
    }
}

/// A batch of G-clusteron instances on the GPU (f32).
pub struct GcGpuBackend {
    gpu: Gpu,
    dims: Dims,
    reduction: Reduction,
    batch: GcBatch,
    kernels: Kernels,
    bind_layout: wgpu::BindGroupLayout,
    hyper: wgpu::Buffer,
    rows: wgpu::Buffer,
    state: wgpu::Buffer,
    ctrl: wgpu::Buffer,
    /// Scratch shared by every set's bind group: U, Z, o/e/S, the evaluation's partial sums and
    /// outputs/S (see [`GcGpuBackend::bind`]).
    shared: [wgpu::Buffer; 5],
    sets: Vec<SetBuffers>,
    set_data: Vec<(wgpu::Buffer, Vec<wgpu::Buffer>)>,
}

/// Storage bindings in order, read-only or not.
const BINDINGS: [bool; 14] = [
    true, true, false, false, false, false, true, true, true, true, true, false, false, false,
];

impl GcGpuBackend {
    /// Opens the adapter named `adapter` (the best one when `None`) and uploads `batch` and
    /// `sets` (`sets[0]` is the training set).
    pub fn new(
        batch: &GcBatch,
        sets: &[Arc<GcData>],
        adapter: Option<&str>,
    ) -> anyhow::Result<Self> {
        Self::with_gpu(open(adapter)?, batch, sets)
    }

    /// Uploads `batch` and `sets` to an open device, with the adapter's choices.
    pub fn with_gpu(gpu: Gpu, batch: &GcBatch, sets: &[Arc<GcData>]) -> anyhow::Result<Self> {
        Self::with_options(gpu, batch, sets, GcGpuOptions::default())
    }

    /// Uploads `batch` and `sets` to an open device with the choices of `opts`.
    pub fn with_options(
        gpu: Gpu,
        batch: &GcBatch,
        sets: &[Arc<GcData>],
        opts: GcGpuOptions,
    ) -> anyhow::Result<Self> {
        let reduction = opts.reduction.unwrap_or_else(|| Reduction::auto(&gpu.info));
        ensure!(!batch.is_empty(), "empty batch");
        ensure!(
            !sets.is_empty(),
            "a G-clusteron backend needs a training set"
        );
        let (n, k, m) = (batch.n, batch.k, batch.len());
        ensure!(
            n > 0 && k > 0,
            "instances need at least one synapse and one unit"
        );
        for d in sets {
            ensure!(
                d.n == n && d.k == k,
                "data set of {} inputs and {} targets does not fit instances of {n} synapses and {k} units",
                d.n,
                d.k
            );
        }
        let bmax = batch.hyper.iter().map(|h| h.batch).max().unwrap_or(1);
        ensure!(bmax > 0, "minibatch size must be at least 1");
        let lim = &gpu.limits;
        let wg = opts
            .workgroup_size
            .unwrap_or_else(|| workgroup_size(&gpu))
            .min(max_workgroup_size(&gpu));
        ensure!(wg > 0, "a workgroup needs at least one thread");
        let max_binding = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
        // one dispatch: the tile loop (N/WG tiles of WG trips), the update's B trips
        let trips = (n.next_multiple_of(wg) + n + bmax) as u64;
        ensure!(
            !crate::gpu::device::is_cpu_driver(&gpu.info) || trips <= LOOP_BUDGET,
            "{n} synapses and minibatches of {bmax} need {trips} loop iterations per shader \
             invocation; llvmpipe stops a shader after 65535"
        );
        let max_groups = lim.max_compute_workgroups_per_dimension as usize;
        ensure!(
            m * k <= max_groups && m * k * bmax <= max_groups * wg && bmax <= max_groups,
            "{m} instances of {k} units and minibatches of {bmax} exceed the device's \
             {max_groups} workgroups per dimension; run fewer instances at once"
        );
        let rpp = (max_binding / (4 * n as u64)) as usize;
        let longest = sets.iter().map(|d| d.len()).max().unwrap_or(0);
        ensure!(
            rpp > 0 && longest <= PIECES * rpp,
            "a data set of {longest} patterns of {n} inputs needs more than {PIECES} storage \
             bindings of {max_binding} bytes"
        );
        let nx = n.div_ceil(SYNAPSES_PER_THREAD * wg);
        let per_pattern = (m * k * nx * 4) as u64;
        let chunk = GROUP_PATTERNS;
        // the partial sums fit the budget, and both evaluation grids the workgroup limit
        // (rounded down to whole groups of patterns, so that rounding cannot exceed a limit)
        let cap = ((EVAL_BYTES.min(max_binding) / per_pattern) as usize)
            .min(max_groups * wg / (m * k))
            .min(max_groups / chunk * chunk);
        let pblk = longest
            .next_multiple_of(chunk)
            .min(cap / chunk * chunk)
            .max(chunk);
        let dims = Dims {
            n,
            k,
            m,
            bmax,
            wg,
            nx,
            nt: n.div_ceil(wg),
            pg: if bmax <= SMALL_GROUP_PATTERNS {
                SMALL_GROUP_PATTERNS
            } else {
                GROUP_PATTERNS
            },
            rpp,
            pblk,
            st: 7 * k * n + 3 * k,
        };
        let state_bytes = (m * dims.st * 4) as u64;
        let ub_bytes = (m * k * bmax * n * 4) as u64;
        ensure!(
            state_bytes <= max_binding && ub_bytes <= max_binding,
            "{m} instances need {} MiB of state and scratch, more than the device's storage \
             binding of {} MiB; run fewer instances at once",
            state_bytes.max(ub_bytes) >> 20,
            max_binding >> 20
        );
        let bindings: Vec<(bool, Option<bool>)> = BINDINGS
            .iter()
            .map(|&read_only| (false, Some(read_only)))
            .collect();
        let (bind_layout, layout) = layouts(&gpu, "gclusteron", &bindings);
        let [sums_t, dot_t, sums_e] = reduction.entries();
        let entries = [
            sums_t,
            "forward_train",
            dot_t,
            "errors",
            "update",
            "advance",
            sums_e,
            "forward_eval",
            "dot_eval",
        ];
        let [sums_train, forward_train, dot_train, errors, update, advance, sums_eval, forward_eval, dot_eval] =
            <[wgpu::ComputePipeline; 9]>::try_from(compile(
                &gpu,
                "gclusteron",
                &dims.source(batch.readout),
                &entries,
                Some(&layout),
            )?)
            .map_err(|_| anyhow::anyhow!("one pipeline per entry point"))?;
        let kernels = Kernels {
            sums_train,
            forward_train,
            dot_train,
            errors,
            update,
            advance,
            sums_eval,
            forward_eval,
            dot_eval,
        };
        let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        let state: Vec<f32> = batch
            .init
            .iter()
            .flat_map(|s| state_words(&s.map(|a| a as f32)))
            .collect();
        ensure!(
            state.len() == m * dims.st,
            "initial states do not match {m} instances of {k} units of {n} synapses"
        );
        let scratch = |label: &str, bytes: u64| zeroed(&gpu, label, bytes, STORAGE);
        let shared = [
            scratch("gc u", ub_bytes),
            scratch("gc z", ub_bytes),
            scratch("gc oe", (3 * m * bmax * k * 4) as u64),
            scratch("gc partial", (m * k * pblk * nx * 4) as u64),
            scratch("gc oeval", (2 * m * pblk * k * 4) as u64),
        ];
        let mut backend = GcGpuBackend {
            hyper: storage_init(&gpu, "gc hyper", &[0; 4 * HYPER_WORDS].repeat(m)),
            rows: scratch("gc rows", 4),
            state: storage_init(&gpu, "gc state", bytemuck::cast_slice(&state)),
            ctrl: scratch("gc ctrl", 16),
            shared,
            sets: Vec::new(),
            set_data: sets
                .iter()
                .map(|d| {
                    let x = f32s(&d.x);
                    let pieces = (0..PIECES)
                        .map(|p| {
                            let lo = (p * rpp * n).min(x.len());
                            let hi = ((p + 1) * rpp * n).min(x.len());
                            storage_init(&gpu, "gc x", bytemuck::cast_slice(&x[lo..hi]))
                        })
                        .collect();
                    (
                        storage_init(&gpu, "gc t", bytemuck::cast_slice(&f32s(&d.t))),
                        pieces,
                    )
                })
                .collect(),
            gpu,
            dims,
            reduction,
            batch: batch.clone(),
            kernels,
            bind_layout,
        };
        backend.write_hyper(&vec![(0, 0); m]);
        backend.sets = sets
            .iter()
            .enumerate()
            .map(|(s, d)| SetBuffers {
                len: d.len(),
                bind: backend.bind(s),
            })
            .collect();
        Ok(backend)
    }

    /// The bind group of set `s`: hyper, rows, state, U, Z, o/e/S, the set's targets and input
    /// pieces, ctrl, partial sums, evaluation outputs.
    fn bind(&self, s: usize) -> wgpu::BindGroup {
        let (t, x) = &self.set_data[s];
        let [u, z, oe, partial, oeval] = &self.shared;
        let buffers: [&wgpu::Buffer; 14] = [
            &self.hyper,
            &self.rows,
            &self.state,
            u,
            z,
            oe,
            t,
            &x[0],
            &x[1],
            &x[2],
            &x[3],
            &self.ctrl,
            partial,
            oeval,
        ];
        bind_whole(&self.gpu, "gclusteron", &self.bind_layout, &buffers)
    }

    /// Writes every instance's hyper-parameters with its (rows offset, steps) of this call.
    fn write_hyper(&self, calls: &[(usize, usize)]) {
        let words: Vec<u32> = self
            .batch
            .hyper
            .iter()
            .zip(calls)
            .flat_map(|(h, &(off, steps))| {
                let f = |v: f64| (v as f32).to_bits();
                let (error, fixed) = match h.error {
                    ErrorMode::Thresholded => (0, 0.0),
                    ErrorMode::Probability => (1, 0.0),
                    ErrorMode::Fixed(e) => (2, e),
                };
                let flags =
                    u32::from(h.learn_l) | u32::from(h.learn_w) << 1 | u32::from(h.adam) << 2;
                [
                    f(h.r),
                    f(h.eta_l),
                    f(h.eta_w),
                    f(h.eta_b),
                    h.batch as u32,
                    flags,
                    error,
                    f(fixed),
                    off as u32,
                    steps as u32,
                    0,
                    0,
                ]
            })
            .collect();
        self.gpu
            .queue
            .write_buffer(&self.hyper, 0, bytemuck::cast_slice(&words));
    }

    /// Workgroups along x for `invocations` threads of `wg`.
    /// The grid of a per-(instance, unit, pattern) sum over `patterns` patterns per unit:
    /// invocations in workgroups along x ([`Reduction::Serial`]), or one workgroup per pattern
    /// along x and per (instance, unit) along y ([`Reduction::Workgroup`]).
    fn sums_grid(&self, patterns: usize) -> (u32, u32) {
        let d = self.dims;
        match self.reduction {
            Reduction::Serial => (self.groups(d.m * d.k * patterns), 1),
            Reduction::Workgroup => (patterns as u32, (d.m * d.k) as u32),
        }
    }

    fn groups(&self, invocations: usize) -> u32 {
        invocations.div_ceil(self.dims.wg) as u32
    }
}

/// `e^x − 1` of every `x[i]` (≤ 0) as the shaders compute it (`expm1.wgsl`).
pub fn probe_expm1(gpu: &Gpu, x: &[f32]) -> anyhow::Result<Vec<f32>> {
    const PROBE: &str = "
@group(0) @binding(0) var<storage, read> xs: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x < arrayLength(&xs) {
        out[id.x] = expm1_nonpositive(xs[id.x]);
    }
}
";
    ensure!(!x.is_empty(), "nothing to probe");
    let pipe = compile(
        gpu,
        "expm1 probe",
        &format!("{EXPM1}{PROBE}"),
        &["main"],
        None,
    )?
    .remove(0);
    let xs = storage_init(gpu, "expm1 x", bytemuck::cast_slice(x));
    let bytes = 4 * x.len() as u64;
    let out = zeroed(gpu, "expm1 out", bytes, STORAGE);
    let bind = bind_whole(
        gpu,
        "expm1 probe",
        &pipe.get_bind_group_layout(0),
        &[&xs, &out],
    );
    Ok(bytemuck::pod_collect_to_vec(&dispatch_and_read(
        gpu,
        &pipe,
        &bind,
        x.len().div_ceil(64),
        &out,
    )?))
}

/// The words of one instance's state in the shader's layout: l, w, l_kernel, m_l, v_l, m_w,
/// v_w, b, m_b, v_b.
fn state_words(s: &GcState<f32>) -> Vec<f32> {
    [
        &s.l,
        &s.w,
        &s.l_kernel,
        &s.adam_l.m,
        &s.adam_l.v,
        &s.adam_w.m,
        &s.adam_w.v,
        &s.b,
        &s.adam_b.m,
        &s.adam_b.v,
    ]
    .into_iter()
    .flat_map(|v| v.iter().copied())
    .collect()
}

/// The inverse of [`state_words`] for `k` units of `n` synapses, widened to f64.
fn state_of(words: &[f32], n: usize, k: usize) -> GcState<f64> {
    let mut at = 0;
    let mut take = |len: usize| {
        let v: Vec<f64> = words[at..at + len].iter().map(|&a| f64::from(a)).collect();
        at += len;
        v
    };
    let (kn, l, w, lk) = (k * n, take(k * n), take(k * n), take(k * n));
    let (ml, vl, mw, vw) = (take(kn), take(kn), take(kn), take(kn));
    let (b, mb, vb) = (take(k), take(k), take(k));
    GcState {
        l,
        w,
        b,
        adam_l: Moments { m: ml, v: vl },
        adam_w: Moments { m: mw, v: vw },
        adam_b: Moments { m: mb, v: vb },
        l_kernel: lk,
    }
}

impl GcBackend for GcGpuBackend {
    fn name(&self) -> String {
        format!("gc-gpu-f32 ({})", self.gpu.label())
    }

    fn train(&mut self, steps: usize, rows: &[Vec<u32>]) -> anyhow::Result<()> {
        let d = self.dims;
        ensure!(rows.len() == d.m, "one row list per instance");
        let train_len = self.sets[0].len;
        let mut calls = Vec::with_capacity(d.m);
        let mut all: Vec<u32> = Vec::new();
        for (i, (r, h)) in rows.iter().zip(&self.batch.hyper).enumerate() {
            ensure!(
                r.is_empty() || r.len() == steps * h.batch,
                "instance {i}: {} minibatch indices for {steps} steps of {}",
                r.len(),
                h.batch
            );
            ensure!(
                r.iter().all(|&p| (p as usize) < train_len),
                "instance {i}: minibatch index beyond the {train_len} training patterns"
            );
            calls.push((all.len(), if r.is_empty() { 0 } else { steps }));
            all.extend_from_slice(r);
        }
        if steps == 0 || all.is_empty() {
            return Ok(());
        }
        let bytes = (all.len() * 4) as u64;
        if self.rows.size() < bytes {
            let max = self.gpu.limits.max_storage_buffer_binding_size;
            ensure!(
                bytes <= max,
                "{bytes} bytes of minibatch indices exceed the device's storage binding of {max}; \
                 train fewer steps per call"
            );
            self.rows = zeroed(&self.gpu, "gc rows", bytes, STORAGE);
            self.sets = (0..self.sets.len())
                .map(|s| SetBuffers {
                    len: self.sets[s].len,
                    bind: self.bind(s),
                })
                .collect();
        }
        let q = &self.gpu.queue;
        q.write_buffer(&self.rows, 0, bytemuck::cast_slice(&all));
        self.write_hyper(&calls);
        q.write_buffer(&self.ctrl, 0, bytemuck::cast_slice(&[0u32; 4]));
        let k = &self.kernels;
        let bind = &self.sets[0].bind;
        let mk = (d.m * d.k) as u32;
        let zt = d.bmax.div_ceil(d.pg) as u32;
        for window in (0..steps).step_by(STEPS_PER_SUBMIT) {
            let mut enc = self.gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_bind_group(0, bind, &[]);
                let sums = self.sums_grid(d.bmax);
                for _ in window..(window + STEPS_PER_SUBMIT).min(steps) {
                    pass.set_pipeline(&k.sums_train);
                    pass.dispatch_workgroups(sums.0, sums.1, 1);
                    pass.set_pipeline(&k.forward_train);
                    pass.dispatch_workgroups(d.nx as u32, mk, zt);
                    pass.set_pipeline(&k.dot_train);
                    pass.dispatch_workgroups(sums.0, sums.1, 1);
                    pass.set_pipeline(&k.errors);
                    pass.dispatch_workgroups(self.groups(d.m * d.bmax), 1, 1);
                    pass.set_pipeline(&k.update);
                    pass.dispatch_workgroups(d.nt as u32, mk, 1);
                    pass.set_pipeline(&k.advance);
                    pass.dispatch_workgroups(1, 1, 1);
                }
            }
            q.submit([enc.finish()]);
        }
        Ok(())
    }

    fn outputs(&mut self, set: usize, kernel: KernelAt) -> anyhow::Result<Vec<Vec<f64>>> {
        ensure!(set < self.sets.len(), "no data set {set}");
        let d = self.dims;
        let len = self.sets[set].len;
        let mut out = vec![Vec::with_capacity(len * d.k); d.m];
        let use_lk = u32::from(kernel == KernelAt::LastStep);
        let mk = (d.m * d.k) as u32;
        for base in (0..len).step_by(d.pblk) {
            let ctrl = [0u32, base as u32, use_lk, len as u32];
            self.gpu
                .queue
                .write_buffer(&self.ctrl, 4, bytemuck::cast_slice(&ctrl[1..]));
            let mut enc = self.gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_bind_group(0, &self.sets[set].bind, &[]);
                pass.set_pipeline(&self.kernels.sums_eval);
                let sums = self.sums_grid(d.pblk);
                pass.dispatch_workgroups(sums.0, sums.1, 1);
                pass.set_pipeline(&self.kernels.forward_eval);
                pass.dispatch_workgroups(d.nx as u32, mk, (d.pblk / GROUP_PATTERNS) as u32);
                pass.set_pipeline(&self.kernels.dot_eval);
                pass.dispatch_workgroups(self.groups(d.m * d.k * d.pblk), 1, 1);
            }
            self.gpu.queue.submit([enc.finish()]);
            let count = d.pblk.min(len - base);
            let ranges: Vec<(u64, u64)> = (0..d.m)
                .map(|i| (((i * d.pblk * d.k) * 4) as u64, (count * d.k * 4) as u64))
                .collect();
            let o: Vec<f32> =
                bytemuck::pod_collect_to_vec(&read_back(&self.gpu, &self.shared[4], &ranges)?);
            for (inst, chunk) in out.iter_mut().zip(o.chunks_exact(count * d.k)) {
                inst.extend(chunk.iter().map(|&v| f64::from(v)));
            }
        }
        Ok(out)
    }

    fn states(&mut self) -> anyhow::Result<Vec<GcState<f64>>> {
        let d = self.dims;
        let words: Vec<f32> = bytemuck::pod_collect_to_vec(
            &read_back(&self.gpu, &self.state, &[(0, (d.m * d.st * 4) as u64)])
                .context("reading the G-clusteron state")?,
        );
        Ok(words
            .chunks_exact(d.st)
            .map(|w| state_of(w, d.n, d.k))
            .collect())
    }
}
