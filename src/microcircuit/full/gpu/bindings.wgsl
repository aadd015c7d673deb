// The storage bindings of the f32 integrators (step.wgsl's fused and phased kernels,
// resident.wgsl, register.wgsl), in the order of kernel.rs `STEP_BINDINGS`: the parameter and
// layout table, the uploaded patterns, state and scratch words, the training step counters,
// readouts, the dispatch record and the trace samples. (serial.wgsl reads st and sc as vec4
// and declares its own.)
@group(0) @binding(0) var<storage, read> table: array<u32>;
@group(0) @binding(1) var<storage, read> patterns: array<f32>;
@group(0) @binding(2) var<storage, read_write> st: array<f32>;
@group(0) @binding(3) var<storage, read_write> sc: array<f32>;
@group(0) @binding(4) var<storage, read_write> counters: array<u32>;
@group(0) @binding(5) var<storage, read_write> readouts: array<f32>;
@group(0) @binding(6) var<uniform> disp: Dispatch;
// trace: one word per instance (the stream step of its first sample in this piece), then
// rec_cap samples of rec_width words (f32 bits) per instance
@group(0) @binding(7) var<storage, read_write> trace: array<u32>;
