//! [`GpuBackend`]: the [`Backend`] contract on a wgpu device.

use super::device::{open, Gpu};
use super::kernel::{read_back, storage_init, workgroup_size, zeroed, StepKernel, STORAGE};
use super::layout::{Layout, DISPATCH_STRIDE, LOOP_BUDGET};
use crate::backend::{Backend, Batch, Chunk};
use crate::model::Weights;
use anyhow::{ensure, Context};

/// Dispatch records in the uniform buffer, i.e. dispatches per submission.
const DISPATCH_CAP: usize = 256;
/// Bytes of one dispatch record as the kernel reads it (`struct Dispatch`).
const DISPATCH_BYTES: u64 = 16;
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
    /// Threads per workgroup (`None`: 8 on CPU drivers such as lavapipe, 64 on GPUs).
    pub workgroup_size: Option<usize>,
}

/// Pattern buffers of one sub-batch, sized for `cap` patterns per instance, with the bind
/// groups that use them.
struct Io {
    cap: usize,
    patterns: wgpu::Buffer,
    readouts: wgpu::Buffer,
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
/// patterns, runs them in a few dispatches and reads back only the readouts. Recording traces
/// is not supported (`take_traces` returns nothing).
pub struct GpuBackend {
    gpu: Gpu,
    layout: Layout,
    kernel: StepKernel,
    groups: Vec<Group>,
    dispatch: wgpu::Buffer,
    /// Steps per pattern of the slowest instance.
    max_steps: usize,
    /// Stream steps one dispatch runs (see [`Layout::steps_per_dispatch`]).
    window: usize,
    /// Largest binding (bytes) any buffer may have.
    max_binding: u64,
    piece_patterns: Option<usize>,
}

/// Whether a run trains (nudging, plasticity, noise) or evaluates a copy of the state.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
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
    /// the device's binding limits.
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
            (1..=gpu.limits.max_compute_invocations_per_workgroup as usize).contains(&wg)
                && wg <= gpu.limits.max_compute_workgroup_size_x as usize,
            "workgroup size {wg} not supported by the device"
        );
        let layout = Layout::new(&batch.shape, batch.phi, wg);
        let kernel = StepKernel::new(&gpu, wg)?;
        let lim = &gpu.limits;
        let max_binding = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
        let shape = &batch.shape;
        let widest = layout
            .state_len
            .max(layout.scratch_len)
            .max(layout.params_len())
            .max(shape.n_in() + shape.n_out()) as u64
            * 4;
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
            shape.label()
        );
        let groups = (0..batch.len())
            .step_by(per_group)
            .map(|first| {
                let len = per_group.min(batch.len() - first);
                Self::group(&gpu, &layout, batch, first, len)
            })
            .collect();
        let steps = batch.params.iter().map(|p| p.steps_per_pattern());
        let (min_steps, max_steps) = (steps.clone().min().unwrap(), steps.max().unwrap());
        ensure!(
            min_steps > 0,
            "every instance needs at least one Euler step per pattern (t_pattern ≥ dt/2)"
        );
        let dispatch = zeroed(
            &gpu,
            "dispatch",
            DISPATCH_CAP as u64 * DISPATCH_STRIDE as u64,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        if gpu.info.device_type == wgpu::DeviceType::Cpu {
            let need = layout.loop_trips_per_step() + 2 * layout.loop_trips_per_pattern();
            ensure!(
                need <= LOOP_BUDGET,
                "{} is too large for a CPU Vulkan driver: one step and pattern boundary need \
                 up to {need} loop iterations per thread, llvmpipe stops a shader after 65535",
                shape.label()
            );
        }
        let window = layout.steps_per_dispatch(min_steps);
        Ok(GpuBackend {
            gpu,
            layout,
            kernel,
            groups,
            dispatch,
            max_steps,
            window,
            max_binding,
            piece_patterns: opts.piece_patterns,
        })
    }

    fn group(gpu: &Gpu, layout: &Layout, batch: &Batch, first: usize, len: usize) -> Group {
        let range = first..first + len;
        let meta = layout.meta(&batch.params[range.clone()]);
        let state: Vec<f32> = batch.init[range]
            .iter()
            .flat_map(|w| layout.pack(w))
            .collect();
        let state_bytes = 4 * state.len() as u64;
        Group {
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
        }
    }

    /// The device this backend runs on.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// Number of sub-batches the batch was split into.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Patterns per instance that one upload of sub-batch `len` may hold.
    fn piece_cap(&self, len: usize, patterns: usize) -> usize {
        let shape = &self.layout.shape;
        let per_pattern = 4 * (len * (shape.n_in() + shape.n_out())) as u64;
        let cap = (self.max_binding.min(PATTERN_BYTES_CAP) / per_pattern) as usize;
        patterns
            .min(cap)
            .min(self.piece_patterns.unwrap_or(usize::MAX))
            .min(u32::MAX as usize / self.max_steps)
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
        let readouts = zeroed(
            gpu,
            "readouts",
            4 * (g.len * cap * shape.n_out()) as u64,
            STORAGE,
        );
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
                ],
                DISPATCH_BYTES,
            )
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

    /// Runs every instance through its patterns of `chunk` and returns the readouts.
    fn run(&mut self, chunk: &Chunk, mode: Mode) -> anyhow::Result<Vec<Vec<f64>>> {
        let shape = self.layout.shape.clone();
        let (n_in, n_out) = (shape.n_in(), shape.n_out());
        let n = self.groups.iter().map(|g| g.len).sum::<usize>();
        ensure!(
            chunk.x.len() == n && chunk.y.len() == n,
            "chunk has inputs for {} and targets for {} instances, batch has {n}",
            chunk.x.len(),
            chunk.y.len()
        );
        let patterns = chunk.patterns(n_in);
        for (x, y) in chunk.x.iter().zip(&chunk.y) {
            ensure!(
                x.len() == patterns * n_in && y.len() == patterns * n_out,
                "every instance needs {patterns} patterns of {n_in} inputs and {n_out} targets"
            );
        }
        let mut out = vec![vec![0.0; patterns * n_out]; n];
        if patterns == 0 {
            return Ok(out);
        }
        for gi in 0..self.groups.len() {
            let (first, len) = (self.groups[gi].first, self.groups[gi].len);
            if mode == Mode::Eval {
                let g = &self.groups[gi];
                let mut enc = self.gpu.device.create_command_encoder(&Default::default());
                enc.copy_buffer_to_buffer(&g.state, 0, &g.eval_state, 0, None);
                self.gpu.queue.submit([enc.finish()]);
            }
            let cap = self.piece_cap(len, patterns);
            self.ensure_io(gi, cap);
            for start in (0..patterns).step_by(cap) {
                let pc = cap.min(patterns - start);
                let mut data = Vec::with_capacity(len * pc * (n_in + n_out));
                for i in first..first + len {
                    for p in start..start + pc {
                        data.extend(
                            chunk.x[i][p * n_in..(p + 1) * n_in]
                                .iter()
                                .map(|&v| v as f32),
                        );
                        data.extend(
                            chunk.y[i][p * n_out..(p + 1) * n_out]
                                .iter()
                                .map(|&v| v as f32),
                        );
                    }
                }
                let readouts = self.run_piece(gi, &data, pc, mode)?;
                for (k, o) in out[first..first + len].iter_mut().enumerate() {
                    let src = &readouts[k * pc * n_out..(k + 1) * pc * n_out];
                    for (d, &v) in o[start * n_out..].iter_mut().zip(src) {
                        *d = f64::from(v);
                    }
                }
            }
        }
        Ok(out)
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
        let g = &self.groups[gi];
        let io = g.io.as_ref().context("pattern buffers allocated")?;
        let gpu = &self.gpu;
        gpu.queue
            .write_buffer(&io.patterns, 0, bytemuck::cast_slice(data));
        let bind = match mode {
            Mode::Train => &io.train,
            Mode::Eval => &io.eval,
        };
        // windows of the instances' step streams; each instance stops at its own end
        let total = pc * self.max_steps;
        let ranges: Vec<(usize, usize)> = (0..total)
            .step_by(self.window)
            .map(|b| (b, (b + self.window).min(total)))
            .collect();
        for batch in ranges.chunks(DISPATCH_CAP) {
            let mut records = vec![0u32; batch.len() * DISPATCH_STRIDE / 4];
            for (k, &(b, e)) in batch.iter().enumerate() {
                records[k * DISPATCH_STRIDE / 4..][..4].copy_from_slice(&[
                    b as u32,
                    e as u32,
                    u32::from(mode == Mode::Train),
                    pc as u32,
                ]);
            }
            gpu.queue
                .write_buffer(&self.dispatch, 0, bytemuck::cast_slice(&records));
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(&self.kernel.pipeline);
                for k in 0..batch.len() {
                    pass.set_bind_group(0, bind, &[(k * DISPATCH_STRIDE) as u32]);
                    pass.dispatch_workgroups(g.len as u32, 1, 1);
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

impl Backend for GpuBackend {
    fn name(&self) -> String {
        format!("gpu {}", self.gpu.label())
    }

    fn train(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>> {
        self.run(chunk, Mode::Train)
    }

    fn evaluate(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>> {
        self.run(chunk, Mode::Eval)
    }

    fn snapshot(&mut self) -> anyhow::Result<Vec<crate::cpu::State<f64>>> {
        anyhow::bail!("checkpoints of the GPU backend are not implemented yet")
    }

    fn restore(&mut self, _states: &[crate::cpu::State<f64>]) -> anyhow::Result<()> {
        anyhow::bail!("checkpoints of the GPU backend are not implemented yet")
    }

    fn weights(&mut self) -> anyhow::Result<Vec<Weights<f64>>> {
        let (stride, w) = (
            4 * self.layout.state_len as u64,
            4 * self.layout.w_total as u64,
        );
        let mut out = Vec::new();
        for g in &self.groups {
            let ranges: Vec<(u64, u64)> = (0..g.len as u64).map(|k| (k * stride, w)).collect();
            let words: Vec<f32> =
                bytemuck::pod_collect_to_vec(&read_back(&self.gpu, &g.state, &ranges)?);
            out.extend(
                words
                    .chunks_exact(self.layout.w_total)
                    .take(g.len)
                    .map(|c| self.layout.unpack_weights(c)),
            );
        }
        Ok(out)
    }
}
