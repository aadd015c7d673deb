//! What every model's kernels share on the device: threads per workgroup, the loop budget and
//! dispatch stride that bound one dispatch, pipeline and bind group layout creation, storage
//! buffers, one-shot dispatches and read-back.

use super::device::{is_cpu_driver, Gpu};
use anyhow::{bail, Context};
use wgpu::util::DeviceExt;

/// Loop iterations a kernel invocation may run in one dispatch. llvmpipe (lavapipe) ends a
/// shader after 65535 loop iterations counted over all its loops (`LP_MAX_TGSI_LOOP_ITERATIONS`);
/// dispatch windows are sized to stay below this with a margin. On other drivers it only
/// bounds how long one dispatch runs.
pub const LOOP_BUDGET: u64 = 60_000;

/// Threads per workgroup on a GPU: two warps, enough for the rows of typical hidden layers.
pub const WG_GPU: usize = 64;
/// Threads per workgroup on a CPU driver: llvmpipe runs 8 f32 lanes (256 bits) per thread of
/// the workgroup and switches between them at every barrier, so one vector's worth is fastest
/// (2.2× faster than 64 for 4-120-3 on lavapipe).
pub const WG_CPU: usize = 8;

/// Bytes between consecutive records of a per-dispatch uniform read at a dynamic offset (a
/// multiple of every offset alignment).
pub const DISPATCH_STRIDE: usize = 256;

/// The most threads a one-dimensional workgroup may have on this device: the smaller of
/// `max_compute_invocations_per_workgroup` and `max_compute_workgroup_size_x`.
pub fn max_workgroup_size(gpu: &Gpu) -> usize {
    let lim = &gpu.limits;
    lim.max_compute_invocations_per_workgroup
        .min(lim.max_compute_workgroup_size_x) as usize
}

/// Threads per workgroup for this device: one SIMD vector on CPU drivers, two warps on GPUs.
pub fn workgroup_size(gpu: &Gpu) -> usize {
    workgroup_size_of(&gpu.info)
}

/// Threads per workgroup for an adapter (what [`workgroup_size`] gives its device).
pub fn workgroup_size_of(info: &wgpu::AdapterInfo) -> usize {
    if is_cpu_driver(info) {
        WG_CPU
    } else {
        WG_GPU
    }
}

/// Compiles the complete WGSL `source` once and builds a compute pipeline for each of the
/// `entries` (entry point names) with `layout`. Compilation and validation errors come back
/// as errors instead of panics.
pub fn compile(
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
pub fn layouts(
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

/// A storage buffer holding `data` (at least 4 bytes, as wgpu needs non-empty bindings).
pub fn storage_init(gpu: &Gpu, label: &str, data: &[u8]) -> wgpu::Buffer {
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
pub fn zeroed(gpu: &Gpu, label: &str, bytes: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
    gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4).next_multiple_of(4),
        usage,
        mapped_at_creation: false,
    })
}

/// Usage of the buffers the kernels read and write.
pub const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Copies the byte ranges `(offset, len)` of `src` back to the host, concatenated, after all
/// work submitted so far has finished.
pub fn read_back(gpu: &Gpu, src: &wgpu::Buffer, ranges: &[(u64, u64)]) -> anyhow::Result<Vec<u8>> {
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
pub fn read_records(
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
pub fn dispatch_and_read(
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
