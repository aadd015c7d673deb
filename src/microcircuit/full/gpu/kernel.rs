//! The full model's shader assembly, its step kernel's pipelines and bindings, and the probe of
//! the shared shader functions (the device helpers every model uses are in `crate::gpu::compute`).

use super::layout::wgsl_prelude;
use crate::gpu::compute::{
    bind_whole, compile, dispatch_and_read, layouts, storage_init, zeroed, STORAGE, WG_GPU,
};
use crate::gpu::device::Gpu;
use wgpu::util::DeviceExt;

const COMMON: &str = include_str!("common.wgsl");
/// The workgroup kernel.
pub(crate) const STEP: &str = include_str!("step.wgsl");
/// What `step.wgsl`, `resident.wgsl` and `register.wgsl` share, prepended to each: their
/// bindings (`bindings.wgsl`) and their per-invocation stream state (`invocation.wgsl`).
pub(crate) const SHARED: &str = concat!(
    include_str!("bindings.wgsl"),
    include_str!("invocation.wgsl")
);
/// The serial kernel without its generated `euler_step` (see [`super::serial`]).
pub(crate) const SERIAL: &str = include_str!("serial.wgsl");
const PROBE: &str = include_str!("probe.wgsl");

/// The full source of a kernel with `wg` threads per workgroup: the prelude of word indices,
/// the shared functions, the body.
pub(crate) fn source(body: &str, wg: usize) -> String {
    format!("{}\n{COMMON}\n{body}", wgsl_prelude(wg))
}

/// Panics unless `body`, assembled by [`source`] for `wg` threads per workgroup, parses and
/// validates with naga (every capability allowed): the generated kernels' unit tests check
/// their text without a device.
#[cfg(test)]
pub(crate) fn assert_valid(body: &str, wg: usize) {
    use wgpu::naga;
    let module = naga::front::wgsl::parse_str(&source(body, wg)).expect("parses");
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .expect("valid");
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
