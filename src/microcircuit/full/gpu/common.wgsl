// Shared by the kernels: the dispatch record of the step kernels, the counter-based noise of
// `microcircuit::noise` and the transfer functions of `microcircuit::phi`, in f32. Needs the
// prelude's PHI_* constants.

// One window of Euler steps, as `GpuBackend` writes it (`gpu::compute::DISPATCH_STRIDE` apart).
struct Dispatch {
    t_begin: u32,
    t_end: u32,
    // 1 for training patterns (nudging, plasticity, noise), 0 for evaluation
    train: u32,
    // patterns per instance in the uploaded piece (row stride of `patterns` and `readouts`)
    n_patterns: u32,
    // instances in the sub-batch (invocations beyond it return at once; words of the trace
    // header)
    n_instances: u32,
    // recording: every rec_stride-th training step (0: off), words per sample, samples per
    // instance in the trace buffer
    rec_stride: u32,
    rec_width: u32,
    rec_cap: u32,
}

// Chris Wellons' lowbias32 integer hash (identical to `noise::hash32`).
fn hash32(x0: u32) -> u32 {
    var x = x0;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

// A uniform word from the key (seed, step, index, lane), 64-bit seed and step as (lo, hi).
fn noise_word(seed: vec2<u32>, step: vec2<u32>, index: u32, lane: u32) -> u32 {
    var h = hash32((index * 2u + lane) ^ 0x9e3779b9u);
    h = hash32(h ^ step.x);
    h = hash32(h ^ step.y);
    h = hash32(h ^ seed.x);
    return hash32(h ^ seed.y);
}

// ln(1 + y) for y in [-0.5, 1] to f32 accuracy without the driver's log, which Vulkan lets be
// off by 2^-21 in absolute terms near 1: ln(1 + y) = 2 atanh(s), s = y / (2 + y), |s| <= 1/3,
// summed to s^15 (the first omitted term is below 1e-9 relative).
fn ln1p(y: f32) -> f32 {
    let s = y / (2.0 + y);
    let s2 = s * s;
    var p = 2.0 / 15.0;
    p = 2.0 / 13.0 + s2 * p;
    p = 2.0 / 11.0 + s2 * p;
    p = 2.0 / 9.0 + s2 * p;
    p = 2.0 / 7.0 + s2 * p;
    p = 2.0 / 5.0 + s2 * p;
    p = 2.0 / 3.0 + s2 * p;
    p = 2.0 + s2 * p;
    return s * p;
}

// Standard normal by Box–Muller: xi = sqrt(-2 ln u1) cos(2 pi u2), u1 in (0, 1], u2 in [0, 1);
// ln u1 = ln1p(u1 - 1) near 1 (u1 - 1 is exact there).
fn normal(seed: vec2<u32>, step: vec2<u32>, index: u32) -> f32 {
    let u1 = (f32(noise_word(seed, step, index, 0u) >> 8u) + 1.0) / 16777216.0;
    let u2 = f32(noise_word(seed, step, index, 1u) >> 8u) / 16777216.0;
    let ln_u1 = select(log(u1), ln1p(u1 - 1.0), u1 >= 0.5);
    return sqrt(-2.0 * ln_u1) * cos(6.2831853071795864 * u2);
}

// ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|), without overflow.
fn softplus(x: f32) -> f32 {
    return max(x, 0.0) + ln1p(exp(-abs(x)));
}

// The batch's transfer function; set once per invocation from the meta table.
var<private> phi_kind: u32;
var<private> phi_gamma: f32;
var<private> phi_beta: f32;
var<private> phi_theta: f32;

// 1/(1+e^-x).
fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// gamma softplus(beta (x - theta)).
fn scaled_softplus(x: f32) -> f32 {
    return phi_gamma * softplus(phi_beta * (x - phi_theta));
}

// r = phi(u): sigmoid, softplus or scaled softplus, as the meta table says.
fn phi(x: f32) -> f32 {
    if phi_kind == PHI_SIGMOID {
        return sigmoid(x);
    }
    if phi_kind == PHI_SOFTPLUS {
        return softplus(x);
    }
    return scaled_softplus(x);
}
