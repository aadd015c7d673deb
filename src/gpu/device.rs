//! Adapter discovery and device creation.
//!
//! Only wgpu's Vulkan backend is compiled in. On machines without a GPU, Mesa's lavapipe
//! (a Vulkan driver running on the CPU) provides an adapter, so the GPU path can be built and
//! tested everywhere.

use std::fmt;

/// What to install when no adapter is found.
pub const INSTALL_HINT: &str = "no Vulkan adapter found; on a machine without a GPU install \
     Mesa's CPU driver lavapipe: `apt-get install mesa-vulkan-drivers libvulkan1`";

/// Why no device could be opened.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No adapter at all: the GPU path is unavailable on this machine.
    #[error("{INSTALL_HINT}")]
    NoAdapter,
    /// Adapters exist, but none matches the requested name.
    #[error("no adapter matches {wanted:?}; available: {available:?}")]
    NoMatch {
        wanted: String,
        available: Vec<String>,
    },
    /// The adapter refused to create a device.
    #[error("could not open a device on adapter {adapter:?}: {source}")]
    RequestDevice {
        adapter: String,
        source: wgpu::RequestDeviceError,
    },
}

/// An adapter as listed by [`list_adapters`]: its identity and the limits that matter to the
/// simulator.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub info: wgpu::AdapterInfo,
    /// Largest storage buffer a shader can bind (bytes); bigger batches are split.
    pub max_storage_buffer_binding_size: u64,
    /// Largest buffer the device can allocate (bytes).
    pub max_buffer_size: u64,
    /// Largest dispatch along one dimension (workgroups = instances per dispatch).
    pub max_compute_workgroups_per_dimension: u32,
    /// Storage buffers one shader stage may bind.
    pub max_storage_buffers_per_shader_stage: u32,
    /// Threads one workgroup may have.
    pub max_compute_invocations_per_workgroup: u32,
    /// Workgroup memory one workgroup may declare (bytes): what the full model's resident
    /// kernel needs to hold one instance.
    pub max_compute_workgroup_storage_size: u32,
    /// 64-bit integers in shaders (`Features::SHADER_INT64`; the serial kernel needs them).
    pub shader_int64: bool,
    /// GPU timestamps (`Features::TIMESTAMP_QUERY`), which `pyralnet bench` reports beside
    /// wall time.
    pub timestamp_query: bool,
    /// Subgroup operations (`Features::SUBGROUP`; the register kernel's column sums use them)
    /// and the adapter's range of subgroup sizes (lanes), as it reports them.
    pub subgroups: Option<(u32, u32)>,
}

impl AdapterSummary {
    fn of(adapter: &wgpu::Adapter) -> Self {
        let l = adapter.limits();
        let info = adapter.get_info();
        let subgroups = adapter
            .features()
            .contains(wgpu::Features::SUBGROUP)
            .then_some((info.subgroup_min_size, info.subgroup_max_size));
        AdapterSummary {
            info,
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_buffer_size: l.max_buffer_size,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            shader_int64: adapter.features().contains(wgpu::Features::SHADER_INT64),
            timestamp_query: adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY),
            subgroups,
        }
    }
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.info;
        write!(
            f,
            "{} ({:?}, {:?}, driver {} {}; max storage binding {} MiB, max buffer {} MiB, \
             max workgroups/dim {}, max threads/workgroup {}, storage buffers/stage {}, \
             workgroup storage {} B; 64-bit integers {}, timestamps {}, subgroups {})",
            i.name,
            i.device_type,
            i.backend,
            i.driver,
            i.driver_info,
            self.max_storage_buffer_binding_size >> 20,
            self.max_buffer_size >> 20,
            self.max_compute_workgroups_per_dimension,
            self.max_compute_invocations_per_workgroup,
            self.max_storage_buffers_per_shader_stage,
            self.max_compute_workgroup_storage_size,
            yes_no(self.shader_int64),
            yes_no(self.timestamp_query),
            match self.subgroups {
                None => "no".to_string(),
                Some((lo, hi)) if lo == hi => format!("{lo} lanes"),
                Some((lo, hi)) => format!("{lo}–{hi} lanes"),
            },
        )
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// An open device with its queue and the limits it was created with.
#[derive(Clone, Debug)]
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
}

impl Gpu {
    /// A one-line description, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) (Cpu, Vulkan)`.
    pub fn label(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.info.name, self.info.device_type, self.info.backend
        )
    }
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::VULKAN;
    wgpu::Instance::new(desc)
}

fn adapters(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN))
}

/// Every adapter wgpu can see, with its key limits.
pub fn list_adapters() -> Vec<AdapterSummary> {
    adapters(&instance())
        .iter()
        .map(AdapterSummary::of)
        .collect()
}

/// Preference when no adapter is named: discrete, integrated, virtual GPU, then CPU drivers.
fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// Whether an adapter is a CPU driver (lavapipe/llvmpipe, SwiftShader): a fallback that
/// runs the kernels on the CPU, not a GPU.
pub fn is_cpu_driver(info: &wgpu::AdapterInfo) -> bool {
    info.device_type == wgpu::DeviceType::Cpu
}

/// Opens a device. `adapter_name` selects the first adapter whose name contains it
/// (case-insensitive); `None` takes the best-ranked adapter (discrete GPU first, CPU drivers
/// such as lavapipe last).
pub fn open(adapter_name: Option<&str>) -> Result<Gpu, GpuError> {
    let inst = instance();
    let all = adapters(&inst);
    if all.is_empty() {
        return Err(GpuError::NoAdapter);
    }
    let adapter = choose(all, adapter_name)?;
    request(adapter)
}

/// Opens the best adapter that is a GPU, not a CPU driver (restricted by name like [`open`]),
/// or returns `None` when there is none: what `--backend auto` runs on.
pub fn open_hardware(adapter_name: Option<&str>) -> Result<Option<Gpu>, GpuError> {
    let inst = instance();
    let gpus: Vec<wgpu::Adapter> = adapters(&inst)
        .into_iter()
        .filter(|a| !is_cpu_driver(&a.get_info()))
        .collect();
    if gpus.is_empty() {
        return Ok(None);
    }
    match choose(gpus, adapter_name) {
        Ok(a) => request(a).map(Some),
        Err(GpuError::NoMatch { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether [`open_hardware`] would find a GPU (without opening it): which backend `--backend
/// auto` resolves to, recorded with a run so that `--resume` keeps it.
pub fn has_hardware(adapter_name: Option<&str>) -> bool {
    let gpus: Vec<wgpu::Adapter> = adapters(&instance())
        .into_iter()
        .filter(|a| !is_cpu_driver(&a.get_info()))
        .collect();
    !gpus.is_empty() && choose(gpus, adapter_name).is_ok()
}

/// The adapter whose name contains `adapter_name` (case-insensitive), or the best-ranked one.
fn choose(
    mut all: Vec<wgpu::Adapter>,
    adapter_name: Option<&str>,
) -> Result<wgpu::Adapter, GpuError> {
    match adapter_name {
        Some(wanted) => {
            let w = wanted.to_lowercase();
            let pos = all
                .iter()
                .position(|a| a.get_info().name.to_lowercase().contains(&w))
                .ok_or_else(|| GpuError::NoMatch {
                    wanted: wanted.to_string(),
                    available: all.iter().map(|a| a.get_info().name).collect(),
                })?;
            Ok(all.swap_remove(pos))
        }
        None => {
            all.sort_by_key(|a| rank(a.get_info().device_type));
            Ok(all.swap_remove(0))
        }
    }
}

/// Creates the device with the adapter's own limits, not wgpu's conservative defaults, so
/// that large storage buffers and many workgroups are available, with 64-bit integers in
/// shaders where the adapter has them (the serial kernel moves W and Δ as 64-bit words), with
/// subgroup operations where it has them (the register kernel's column sums), and
/// with timestamp queries where it has them (`pyralnet bench` reports GPU time; nothing writes
/// timestamps unless asked).
fn request(adapter: wgpu::Adapter) -> Result<Gpu, GpuError> {
    let info = adapter.get_info();
    let limits = adapter.limits();
    let desc = wgpu::DeviceDescriptor {
        label: Some("pyralnet"),
        required_features: adapter.features()
            & (wgpu::Features::SHADER_INT64
                | wgpu::Features::TIMESTAMP_QUERY
                | wgpu::Features::SUBGROUP),
        required_limits: limits.clone(),
        memory_hints: wgpu::MemoryHints::Performance,
        ..Default::default()
    };
    let (device, queue) = pollster::block_on(adapter.request_device(&desc)).map_err(|source| {
        GpuError::RequestDevice {
            adapter: info.name.clone(),
            source,
        }
    })?;
    Ok(Gpu {
        device,
        queue,
        info,
        limits,
    })
}
