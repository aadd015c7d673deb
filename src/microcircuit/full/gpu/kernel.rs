//! Shader assembly, pipeline creation and buffer helpers.

use super::layout::{wgsl_prelude, WG_CPU, WG_GPU};
use crate::gpu::device::Gpu;
use anyhow::{bail, Context};
use wgpu::util::DeviceExt;

const COMMON: &str = include_str!("common.wgsl");
/// The workgroup kernel.
pub(crate) const STEP: &str = include_str!("step.wgsl");
/// The serial kernel without its generated `euler_step` (see [`super::serial`]).
pub(crate) const SERIAL: &str = include_str!("serial.wgsl");
const PROBE: &str = include_str!("probe.wgsl");

/// The full source of a kernel with `wg` threads per workgroup: the prelude of word indices,
/// the shared functions, the body.
fn source(body: &str, wg: usize) -> String {
    format!("{}\n{COMMON}\n{body}", wgsl_prelude(wg))
}

/// Threads per workgroup for this device: one SIMD vector on CPU drivers, two warps on GPUs.
pub(crate) fn workgroup_size(gpu: &Gpu) -> usize {
    if crate::gpu::device::is_cpu_driver(&gpu.info) {
        WG_CPU
    } else {
        WG_GPU
    }
}

/// Compiles `body` for `wg` threads per workgroup and builds a compute pipeline for each of
/// its entry points `entries`; `layout = None` lets wgpu derive the bind group layout from the
/// shader.
fn pipelines(
    gpu: &Gpu,
    label: &str,
    body: &str,
    wg: usize,
    layout: Option<&wgpu::PipelineLayout>,
    entries: &[&str],
) -> anyhow::Result<Vec<wgpu::ComputePipeline>> {
    compile(gpu, label, &source(body, wg), entries, layout)
}

/// Compiles the complete WGSL `source` once and builds a compute pipeline for each of the
/// `entries` (entry point names) with `layout`. Compilation and validation errors come back
/// as errors instead of panics.
pub(crate) fn compile(
    gpu: &Gpu,
    label: &str,
    source: &str,
    entries: &[&str],
    layout: Option<&wgpu::PipelineLayout>,
) -> anyhow::Result<Vec<wgpu::ComputePipeline>> {
    let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = gpu
        .device
        .create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
    let pipelines = entries
        .iter()
        .map(|&entry| {
            gpu.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(label),
                    layout,
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
        })
        .collect();
    if let Some(e) = pollster::block_on(scope.pop()) {
        bail!("building kernel {label}: {e}");
    }
    Ok(pipelines)
}

/// The bind group layout of buffer bindings `bindings` (binding i: has a dynamic offset;
/// `Some(read_only)` storage or `None` uniform) and the pipeline layout over it.
pub(crate) fn layouts(
    gpu: &Gpu,
    label: &str,
    bindings: &[(bool, Option<bool>)],
) -> (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
        .iter()
        .enumerate()
        .map(|(i, &(dynamic, storage))| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match storage {
                    Some(read_only) => wgpu::BufferBindingType::Storage { read_only },
                    None => wgpu::BufferBindingType::Uniform,
                },
                has_dynamic_offset: dynamic,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    let bind_layout = gpu
        .device
        .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(label),
            entries: &entries,
        });
    let layout = gpu
        .device
        .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(label),
            bind_group_layouts: &[Some(&bind_layout)],
            immediate_size: 0,
        });
    (bind_layout, layout)
}

/// The bindings of the step kernel, in binding order: meta (read), patterns (read), state,
/// scratch, counters, readouts (read-write storage), the per-dispatch uniform (dynamic offset),
/// the trace, the state once more (read-write storage; the serial kernel reads it as 64-bit
/// words, the other kernels leave it unused).
const STEP_BINDINGS: [(bool, Option<bool>); 9] = [
    (false, Some(true)),
    (false, Some(true)),
    (false, Some(false)),
    (false, Some(false)),
    (false, Some(false)),
    (false, Some(false)),
    (true, None),
    (false, Some(false)),
    (false, Some(false)),
];

/// Index of the dispatch uniform in [`STEP_BINDINGS`].
const UNIFORM_BINDING: usize = 6;

/// The integrator pipelines for training and evaluation (any kernel; all take the same
/// bindings) and their bind group layout. One Euler step window is one dispatch of each of
/// the pipelines in order (one for the fused and serial kernels, one per phase for the phased
/// kernel).
pub(crate) struct StepKernel {
    pub train: Vec<wgpu::ComputePipeline>,
    pub eval: Vec<wgpu::ComputePipeline>,
    pub bind_layout: wgpu::BindGroupLayout,
}

impl StepKernel {
    /// Builds the kernels with bodies `train` and `eval` (the same source compiles once) for
    /// `wg` threads per workgroup, with the entry points `entry_points`.
    pub fn new(
        gpu: &Gpu,
        wg: usize,
        train: &str,
        eval: &str,
        entry_points: &[&str],
    ) -> anyhow::Result<Self> {
        let (bind_layout, layout) = layouts(gpu, "step", &STEP_BINDINGS);
        let train_pipeline = pipelines(gpu, "step", train, wg, Some(&layout), entry_points)?;
        let eval_pipeline = match eval == train {
            true => train_pipeline.clone(),
            false => pipelines(
                gpu,
                "evaluation step",
                eval,
                wg,
                Some(&layout),
                entry_points,
            )?,
        };
        Ok(StepKernel {
            train: train_pipeline,
            eval: eval_pipeline,
            bind_layout,
        })
    }

    /// A bind group over the given buffers (in binding order); the dispatch uniform is bound
    /// with `uniform_size` bytes at a dynamic offset.
    pub fn bind(
        &self,
        gpu: &Gpu,
        buffers: [&wgpu::Buffer; STEP_BINDINGS.len()],
        uniform_size: u64,
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: b,
                    offset: 0,
                    size: (i == UNIFORM_BINDING)
                        .then(|| wgpu::BufferSize::new(uniform_size).unwrap()),
                }),
            })
            .collect();
        gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("step"),
            layout: &self.bind_layout,
            entries: &entries,
        })
    }
}

/// A storage buffer holding `data` (at least 4 bytes, as wgpu needs non-empty bindings).
pub(crate) fn storage_init(gpu: &Gpu, label: &str, data: &[u8]) -> wgpu::Buffer {
    let pad = [0u8; 4];
    gpu.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: if data.is_empty() { &pad } else { data },
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        })
}

/// A zeroed buffer of `bytes` (rounded up to 4) with the given usage.
pub(crate) fn zeroed(
    gpu: &Gpu,
    label: &str,
    bytes: u64,
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4).next_multiple_of(4),
        usage,
        mapped_at_creation: false,
    })
}

/// Usage of the buffers the kernels read and write.
pub(crate) const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Copies the byte ranges `(offset, len)` of `src` back to the host, concatenated, after all
/// work submitted so far has finished.
pub(crate) fn read_back(
    gpu: &Gpu,
    src: &wgpu::Buffer,
    ranges: &[(u64, u64)],
) -> anyhow::Result<Vec<u8>> {
    let total: u64 = ranges.iter().map(|r| r.1).sum();
    let staging = zeroed(
        gpu,
        "staging",
        total,
        wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
    );
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    let mut at = 0;
    for &(off, len) in ranges {
        enc.copy_buffer_to_buffer(src, off, &staging, at, len);
        at += len;
    }
    gpu.queue.submit([enc.finish()]);
    let (tx, rx) = std::sync::mpsc::channel();
    staging
        .slice(..)
        .map_async(wgpu::MapMode::Read, move |r| drop(tx.send(r)));
    gpu.device
        .poll(wgpu::PollType::wait_indefinitely())
        .context("waiting for the GPU")?;
    rx.recv()
        .context("map callback dropped")?
        .context("mapping the read-back buffer")?;
    let bytes = staging
        .slice(..)
        .get_mapped_range()
        .context("reading the mapped buffer")?[..total as usize]
        .to_vec();
    staging.unmap();
    Ok(bytes)
}

/// The first `take` f32 words of each of the `count` records of `stride` words at the start
/// of `src`, concatenated (one copy when whole records are read).
pub(crate) fn read_records(
    gpu: &Gpu,
    src: &wgpu::Buffer,
    count: usize,
    stride: usize,
    take: usize,
) -> anyhow::Result<Vec<f32>> {
    let (stride, take) = (4 * stride as u64, 4 * take as u64);
    let ranges: Vec<(u64, u64)> = if take == stride {
        vec![(0, count as u64 * stride)]
    } else {
        (0..count as u64).map(|k| (k * stride, take)).collect()
    };
    Ok(bytemuck::pod_collect_to_vec(&read_back(gpu, src, &ranges)?))
}

/// Runs `pipe` once over `groups` workgroups with bind group 0 = `bind`, and returns the whole
/// of `out` (the probes' one-shot kernels).
pub(crate) fn dispatch_and_read(
    gpu: &Gpu,
    pipe: &wgpu::ComputePipeline,
    bind: &wgpu::BindGroup,
    groups: usize,
    out: &wgpu::Buffer,
) -> anyhow::Result<Vec<u8>> {
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(pipe);
        pass.set_bind_group(0, bind, &[]);
        pass.dispatch_workgroups(groups as u32, 1, 1);
    }
    gpu.queue.submit([enc.finish()]);
    read_back(gpu, out, &[(0, out.size())])
}

/// A bind group binding each of `buffers` whole, at bindings 0, 1, … in order.
pub fn bind_whole(
    gpu: &Gpu,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    buffers: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect();
    gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}

/// Runs the known-answer probe of the shared shader functions: for every `x[i]` returns
/// `(hash32(i), ξ(seed, step, i), φ(x[i]))` as computed on the GPU (see `probe.wgsl`).
pub fn probe(
    gpu: &Gpu,
    phi: crate::microcircuit::Transfer,
    seed: u64,
    step: u64,
    x: &[f32],
) -> anyhow::Result<Vec<(u32, f32, f32)>> {
    use super::layout::{PHI_SCALED_SOFTPLUS, PHI_SIGMOID, PHI_SOFTPLUS};
    use crate::microcircuit::Transfer;
    let pipe = pipelines(gpu, "probe", PROBE, WG_GPU, None, &["main"])?.remove(0);
    let (code, g, b, t) = match phi {
        Transfer::Sigmoid => (PHI_SIGMOID, 0.0, 0.0, 0.0),
        Transfer::Softplus => (PHI_SOFTPLUS, 0.0, 0.0, 0.0),
        Transfer::ScaledSoftplus { gamma, beta, theta } => {
            (PHI_SCALED_SOFTPLUS, gamma, beta, theta)
        }
    };
    let f = |v: f64| (v as f32).to_bits();
    let header: [u32; 8] = [
        code as u32,
        f(g),
        f(b),
        f(t),
        seed as u32,
        (seed >> 32) as u32,
        step as u32,
        (step >> 32) as u32,
    ];
    let uniform = gpu
        .device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("probe"),
            contents: bytemuck::cast_slice(&header),
            usage: wgpu::BufferUsages::UNIFORM,
        });
    let xs = storage_init(gpu, "probe x", bytemuck::cast_slice(x));
    let out_bytes = 12 * x.len() as u64;
    let out = zeroed(gpu, "probe out", out_bytes, STORAGE);
    let bind = bind_whole(
        gpu,
        "probe",
        &pipe.get_bind_group_layout(0),
        &[&uniform, &xs, &out],
    );
    let words: Vec<u32> = bytemuck::pod_collect_to_vec(&dispatch_and_read(
        gpu,
        &pipe,
        &bind,
        x.len().div_ceil(WG_GPU),
        &out,
    )?);
    Ok(words
        .chunks_exact(3)
        .map(|c| (c[0], f32::from_bits(c[1]), f32::from_bits(c[2])))
        .collect())
}
