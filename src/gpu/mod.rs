//! The GPU backend (wgpu, Vulkan; on machines without a GPU Mesa's lavapipe runs it on the CPU).
//!
//! # Design
//!
//! **One workgroup per instance, many Euler steps inside one dispatch.** A dispatch costs tens
//! of µs even on lavapipe, an Euler step of a small network far less, so launching one
//! dispatch per step would be all overhead. Instead each instance runs through the steps of
//! its patterns as one stream (pattern `p = t / steps`, step index `s = t % steps`, with the
//! instance's own `steps = round(t_pattern/dt)`), and one dispatch runs a window of stream
//! steps `[t_begin, t_end)` of every instance; instances with different `t_pattern`, `dt` or
//! lags share dispatches. The `WG` threads of a workgroup cooperate on one instance,
//! separated by `storageBarrier()` into three phases per step, which reproduce
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
//! `scratch` buffer; the `layout` module fixes the offsets and writes them, with each
//! instance's constants (`dt·η` per matrix, conductances, prediction factors, step counts),
//! into a word `table` the kernel reads. Storage buffers work for any network size, unlike workgroup
//! memory. Batches whose buffers would exceed the device's `max_storage_buffer_binding_size`
//! (or 65535 workgroups) are split into sub-batches with their own buffers; chunks with more
//! patterns than one upload holds run in pieces.
//!
//! **Dispatch windows.** llvmpipe (lavapipe) silently ends a shader invocation after 65535
//! loop iterations in total (`LP_MAX_TGSI_LOOP_ITERATIONS`, shared by all loops of a shader):
//! a dispatch running a whole 1000-step pattern would stop part-way without any error. The
//! host therefore bounds the loop iterations of one step and of one pattern boundary
//! (`Layout::loop_trips_per_step`, mirroring the kernel's loops) and sizes the windows so that
//! no invocation exceeds 60 000 iterations per dispatch. All windows of a piece are recorded
//! in one submission, each dispatch reading its window from a dynamic-offset uniform. On other
//! drivers the windows merely bound how long one dispatch runs (a watchdog concern); the
//! extra dispatches cost microseconds against milliseconds of work.
//!
//! **Per chunk** only the patterns go up and the readouts (mean output soma per pattern) come
//! back. **Evaluation** copies `state` into a second buffer on the device and runs the same
//! kernel on the copy with nudging, plasticity and noise off; the step counter that keys the
//! noise is only advanced by training. All arithmetic is f32 (WGSL has no portable f64); the
//! per-instance constants are the CPU's `Consts<f32>`; φ uses the stable softplus with
//! `ln(1+y)` summed as `2·atanh(y/(2+y))` (Vulkan lets `log` be off by 2^-21 absolute near 1);
//! the noise is `model::noise` ported to WGSL (the same u32 hash, Box–Muller in f32); the
//! readout mean is summed in blocks of 64 steps (a plain f32 sum over thousands of steps
//! drifts by 1e-4). The GPU agrees with `CpuBackend<f32>` to about 1e-7 relative RMS in
//! weights and readouts after a few patterns (`tests/gpu.rs`).

mod backend;
pub mod device;
mod kernel;
mod layout;

pub use backend::{GpuBackend, GpuOptions};
pub use device::{list_adapters, open, AdapterSummary, Gpu, GpuError};
pub use kernel::probe;
