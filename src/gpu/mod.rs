//! The GPU backend (wgpu, Vulkan; on machines without a GPU Mesa's lavapipe runs it on the CPU).
//!
//! # Design
//!
//! **One workgroup per instance, the whole pattern loop inside one dispatch.** A dispatch
//! costs tens of µs even on lavapipe, an Euler step of a small network far less, so launching
//! one dispatch per step would be all overhead. Instead the kernel (`shaders/step.wgsl`) loops
//! over patterns and, for each instance, over that instance's own `round(t_pattern/dt)` steps;
//! the loop bounds come from the instance's parameter record, so instances with different
//! `t_pattern`, `dt` or lags share a dispatch. The `WG` threads of a workgroup cooperate on
//! one instance, separated by `storageBarrier()` into three phases per step, which reproduce
//! the reference order of MODEL.md section 3 (everything on the right-hand side read at time t):
//!
//! * **A** – filter the stimulus `r_0 += dt/τ0 (x − r_0)`, `u_tgt += dt/τ0 (y − u_tgt)`;
//!   rates of the old somas `φ(u^P)`, `φ(u^I)`, bias slots (one thread per neuron).
//! * **B** – dendrites `v_B = W_up r`, `v_A = W_down φ(u^P[l+1]) + W_pi φ(u^I)`,
//!   `v_D = W_ip φ(u^P)`, soma increments `du = dt·(…) + sqrt(dt)·σ·ξ` and the plasticity errors
//!   `e` of every row (one thread per matrix row, all layers at once, since every layer reads
//!   only old values).
//! * **C** – for every matrix with `η ≠ 0` when plasticity is on: `W += dt·η·Δ` (old Δ), then
//!   `Δ += dt/τ_w (e r_preᵀ − Δ)` (one thread per matrix entry, consecutive threads on
//!   consecutive entries, so memory accesses coalesce); then `u += du` and the readout sum of
//!   the output somas for step indices `≥ out_lag/dt`. The soma update may share the phase
//!   with plasticity because plasticity reads only the rates and errors stored in A and B.
//!
//! Work items are dealt round-robin over the threads continuing across layers and matrices,
//! so small layers do not leave the same threads idle every time. After a training pattern
//! with `reset_deltas` all Δ are zeroed.
//!
//! **State in storage buffers.** Weights, Δ, somas and the filtered stimulus of every instance
//! live in one flat f32 `state` buffer (per-instance stride), the work vectors of a step in a
//! `scratch` buffer; [`layout`] fixes the offsets and writes them, with each instance's
//! constants (`dt·η` per matrix, conductances, prediction factors, step counts), into a `meta`
//! word table the kernel reads. Storage buffers work for any network size, unlike workgroup
//! memory. Batches whose buffers would exceed the device's `max_storage_buffer_binding_size`
//! (or 65535 workgroups) are split into sub-batches with their own buffers; chunks with more
//! patterns than one upload holds run in pieces; long pieces are split into several
//! dispatches of at most ~20 000 steps, recorded in one submission with a dynamic-offset
//! uniform telling each dispatch its pattern range.
//!
//! **Per chunk** only the patterns go up and the readouts (mean output soma per pattern) come
//! back. **Evaluation** copies `state` into a second buffer on the device and runs the same
//! kernel on the copy with nudging, plasticity and noise off; the step counter that keys the
//! noise is only advanced by training. All arithmetic is f32 (WGSL has no portable f64); the
//! per-instance constants are the CPU's `Consts<f32>`, φ uses the stable softplus with an
//! accurate `log1p`, and the noise is `model::noise` ported to WGSL (the same u32 hash, Box–
//! Muller in f32), so the GPU agrees with `CpuBackend<f32>` up to f32 rounding.

mod backend;
pub mod device;
mod kernel;
mod layout;

pub use backend::{GpuBackend, GpuOptions};
pub use device::{list_adapters, open, AdapterSummary, Gpu, GpuError};
pub use kernel::probe;
