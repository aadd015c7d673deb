//! The full model's GPU backend (wgpu, Vulkan; on machines without a GPU Mesa's lavapipe runs it
//! on the CPU), with its shaders beside it: `step.wgsl`, `serial.wgsl`, `resident.wgsl`,
//! `register.wgsl`, `common.wgsl` (the functions the microcircuit's kernels share) and
//! `probe.wgsl`.
//!
//! # Design
//!
//! **The workgroup kernel: one workgroup per instance, many Euler steps inside one
//! dispatch.** A dispatch costs tens of µs even on lavapipe, an Euler step of a small network
//! far less, so launching one dispatch per step would be all overhead. Instead each instance runs through the steps of
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
//! with `reset_deltas` all Δ are zeroed (in phase C of the pattern's last step, each entry by
//! the thread that updates it); the readout is written in the same phase by the thread of each
//! output soma.
//!
//! **The phased kernel, for large networks.** One workgroup per instance stops paying off when a
//! step is much work ([784,500,10]: 400 000 weights): on a GPU one workgroup per instance leaves
//! the device idle, on lavapipe one phase C alone exceeds llvmpipe's loop limit (below). The
//! same shader (`step.wgsl`) then runs with `NT = WG·tiles` threads per instance in
//! `tiles` workgroups (workgroup x the tile, y the instance), the phases A, B, C as three entry
//! points, one dispatch each per Euler step: the dispatch boundaries replace the barriers, and
//! since a phase reads only what earlier phases wrote or what the same thread wrote, the numbers
//! are the fused kernel's bit for bit. The backend picks the kernel from the adapter at run time:
//! on CPU drivers the serial kernel, else the fused one, else the phased one, whichever first
//! fits the loop limit, the phased one with the fewest tiles (doubling) that fit; on GPUs the
//! resident kernel (below) where it fits the workgroup storage, else the fused kernel while a
//! step takes each thread at most 4096 loop trips, else the phased one with tiles doubled until
//! a step takes at most 1024 (`GpuOptions::kernel`/`tiles` override).
//! Measured on lavapipe: [784,500,10] runs with 4 tiles, [784,500,500,10] with 16.
//!
//! **The serial kernel, for CPU drivers.** llvmpipe (lavapipe, Mesa 22) runs the invocations
//! of a workgroup as the lanes of SIMD vectors (8 f32 lanes) and (1) compiles every
//! storage-buffer access into a loop over the lanes with a bounds check per lane, so an access
//! costs about the same whether one lane or eight need it, while a `vec4` access moves four
//! words per lane for little more than a scalar one (measured: 3.6 ns per lane and word
//! scalar, 0.8 ns as `vec4`); (2) runs the body of every `if` under an execution mask, never
//! branching around it, so code a batch does not need still costs its full time. The serial
//! kernel (`serial.wgsl` with an `euler_step` generated per shape and batch by the
//! `serial` module) therefore gives each invocation a whole instance: the lanes are instances
//! side by side, every lane is busy, there are no barriers, and the control flow is the same
//! in all lanes (all instances share the shape). Matrix rows, somas and scratch vectors are
//! aligned to 4 words with zero padding ([`KernelKind::Serial`]'s layout) and read and written
//! as `vec4`; each chunk of 4 weights lies next to its 4 Δ, and the plasticity update reads and
//! writes both with one `vec4<u64>` access (8 words; llvmpipe's loop costs about the same per
//! component whatever its width, so this halves the accesses of the update: 1.3× faster for
//! `[4,120,3]`, see `benches/RESULTS.md`; the serial kernel therefore needs 64-bit integers,
//! which the device is opened with where the adapter has them); short rows stay in registers
//! between the dendrite and the plasticity update, and their presynaptic vectors are read once
//! per step; the generated code holds only the pathways some instance trains, noise only when
//! some instance is noisy, and a separate evaluation kernel has neither; the step calls only the
//! batch's transfer function. Each row's dendrite, plasticity update and soma update follow
//! one another (layers in ascending order), which is the reference order because a row reads
//! only the rates of the old somas, its own soma and, for interneurons, the somas of the layer
//! above, which are updated later; so `du` and `e` need no scratch. The backend uses it on CPU
//! drivers whenever one step of the shape fits llvmpipe's loop limit (see below), the
//! workgroup kernel otherwise; GPUs get the resident, fused or phased kernel.
//!
//! **The resident kernel, for GPUs.** The fused kernel reads and writes W and Δ through global
//! memory at every step (about 35 KB per instance-step for [4,120,3]). The resident kernel
//! (`resident.wgsl`, prefixed by the `resident` module with the shape's sizes as literals) runs
//! the fused kernel's phases, with the same functions and therefore the same numbers bit for
//! bit, on a copy of the instance in workgroup memory: `ws` holds its state words (W, Δ, `u^P`,
//! `u^I`, `r_0`, `u_tgt`), `wc` its scratch words (presynaptic rates, `φ(u^I)`, `du`, `e`,
//! readout sums). Each thread copies the words `k ≡ tid (mod WG)` in at the start of a
//! dispatch window and back at its end (evaluation: only the somas and stimulus, the copy's W
//! and Δ do not change); in between only the pattern rows, the readouts and trace samples touch
//! global memory, and only `workgroupBarrier()` separates the phases. Workgroup memory per
//! instance is `4·(state_len + scratch_len)` bytes: 432 for [2,3,2], 19 448 for [4,120,3]
//! (16 368 of them W and Δ), 139 444 for [784,20,10] (132 160 W and Δ), which fits no usual
//! device (Vulkan on NVIDIA reports 48 KB, lavapipe 32 KB). There the kernel runs a **spilled
//! placement**: the largest matrices (largest first, until the rest fits; for [784,20,10]
//! `W_up0`, 20×785) keep W and Δ in the `state` buffer, read and written in place by the same
//! phase functions as in the fused kernel, with `storageBarrier()` beside the phases'
//! `workgroupBarrier()`; everything else is in workgroup memory as before (13 844 B for
//! [784,20,10]), and the numbers stay the fused kernel's bit for bit (`resident` module). Only
//! a shape whose somas, stimulus and work vectors alone exceed the limit is refused, naming the
//! shape, the bytes and the limit. The backend picks it on GPUs (not on CPU drivers, where
//! llvmpipe gains nothing from workgroup memory) whenever the whole state fits
//! `max_compute_workgroup_storage_size`; a spilled placement is only forced
//! ([`GpuOptions::kernel`]): its spilled matrices move as many global bytes per step as in the
//! fused kernel (for [784,20,10] `W_up0`'s 314 000 B against the fused kernel's 538 224 B in
//! all, 337 408 of them in the state buffer; docs/gpu.md section 3.0), with fewer workgroups
//! per SM, so without a device measurement the fused kernel stays the default there. Forced,
//! it runs anywhere, lavapipe included, within the loop limit below, which also counts its
//! copies.
//!
//! **The register kernel, for GPUs (forced only).** For networks with one hidden layer
//! (`register.wgsl`, prefixed by the `register` module with the shape's sizes and state offsets
//! as literals; docs/gpu.md section 3.1): one workgroup per instance whose threads own P hidden
//! cells each (`register::cells_per_thread`: 4, 2 or 1, as many as fit registers; 4 on
//! [4,120,3], one warp of 32 threads per instance), i.e. their somas, rows of `W_up0`,
//! `W_down0`, `W_pi0` and columns of `W_ip0` and `W_up1`, each entry with its Δ, in private
//! variables for a whole dispatch window (the bias column as one more column); threads
//! 0 … 2·n_out − 1 also run one interneuron or output cell each. Per step only the 2·n_out
//! column sums over the hidden cells (all 2·n_out rows at once by a transpose-reduce butterfly
//! of `subgroupShuffleXor` per subgroup where the device has `Features::SUBGROUP` and subgroups
//! wide enough, else a fixed-order tree in workgroup memory; either way the numbers do not
//! depend on the batch), 2·n_out rates, n_out output somas and 2·n_out errors cross threads. Its sums
//! run in another order than the fused kernel's, so it agrees with the CPU in f32 (≤ 1e-5
//! relative RMS in the tests), not bit for bit with the other kernels. Shapes outside its rule
//! (`register::check`: one hidden layer, cells fitting a workgroup of 256, at most 160 private
//! words per thread) are refused, naming the shape and the rule. `GpuOptions::workgroup_size`
//! does not apply to it: its threads per instance follow from the shape.
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
//! (`Layout::workgroup_trips_per_step` mirroring the workgroup kernel's loops for a number of
//! threads per instance, the generator's count for the serial kernel,
//! `Layout::loop_trips_per_pattern`, `Layout::record_trips_per_step` when recording) and sizes
//! the windows so that no invocation exceeds 60 000 iterations per dispatch (the phased kernel
//! runs one step per window; its tiles are chosen so that one phase fits). All windows of a piece are recorded
//! in one submission, each dispatch reading its window from a dynamic-offset uniform. On other
//! drivers the windows merely bound how long one dispatch runs (a watchdog concern); the
//! extra dispatches cost microseconds against milliseconds of work. The resident kernel, which
//! writes W and Δ back to global memory once per window, gets long windows on GPUs: 16 patterns
//! of the slowest instance, capped at 2^36 weight-steps per dispatch so that a dispatch stays
//! well under a display watchdog's limit ([`layout::window_steps`]); CPU drivers keep the loop
//! budget's windows. A window boundary only writes the state back and reads it in again, so the
//! numbers do not depend on the window length (`GpuOptions::window_steps` forces one).
//!
//! **Per chunk** only the patterns go up and the readouts (mean output soma per pattern) come
//! back. **Recording** (`GpuOptions::record`, what `CpuBackend` records: `u_out`, `u_tgt`, `r0`
//! and with all compartments `u^P`, `u^I` of every hidden layer, after every step whose global
//! training step is a multiple of the stride) writes samples into a `trace` buffer: per piece
//! the host reads the step counters, writes each instance's first sampled stream step into the
//! buffer's header, and reads the samples back after the piece (pieces shrink so that the trace
//! fits one binding). The kernels write a soma's sample where they update it (serial kernel: a
//! copy after the step), so recording adds no barrier or dispatch. **Checkpoints** (`snapshot`/`restore`) read back or upload each instance's state words
//! and its step counter; chunks end at pattern boundaries, where the scratch holds nothing
//! that the next pattern reads, so this is the whole state. **Evaluation** copies `state` into
//! a second buffer on the device and runs the kernel on the copy with nudging, plasticity and
//! noise off; the step counter that keys the
//! noise is only advanced by training. All arithmetic is f32 (WGSL has no portable f64); the
//! per-instance constants are the CPU's `Consts<f32>`; φ uses the stable softplus with
//! `ln(1+y)` summed as `2·atanh(y/(2+y))` (Vulkan lets `log` be off by 2^-21 absolute near 1);
//! the noise is `microcircuit::noise` ported to WGSL (the same u32 hash, Box–Muller in f32); the
//! readout mean is summed in blocks of 64 steps (a plain f32 sum over thousands of steps
//! drifts by 1e-4). The GPU agrees with `CpuBackend<f32>` to about 1e-7 relative RMS in
//! weights and readouts after a few patterns (`tests/gpu.rs`).
//!
//! The steady-state model has its own kernel and backend,
//! [`crate::microcircuit::steady::gpu::SteadyGpuBackend`], on the same device, pipeline and
//! buffer helpers.

mod backend;
pub(crate) mod kernel;
pub(crate) mod layout;
pub(crate) mod pieces;
mod register;
mod resident;
mod serial;
mod traffic;

pub use backend::{default_kernel, GpuBackend, GpuOptions, KernelChoice};
pub use kernel::probe;
pub use layout::KernelKind;
