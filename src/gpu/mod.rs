//! What every model shares on a GPU (wgpu, Vulkan; on machines without a GPU Mesa's lavapipe
//! runs it on the CPU): adapter discovery and device creation ([`device`]); pipelines, buffers,
//! dispatch and read-back helpers, the loop budget and the dispatch stride ([`compute`]). The
//! models' GPU backends live in their own rooms, each beside its shaders:
//! `microcircuit::full::gpu`, `microcircuit::steady::gpu` and `gclusteron::gpu`.

pub mod compute;
pub mod device;

pub use device::{
    has_hardware, is_cpu_driver, list_adapters, open, open_hardware, AdapterSummary, Gpu, GpuError,
};
