
// The per-invocation stream state the f32 integrators share (step.wgsl's fused and phased
// kernels, resident.wgsl, register.wgsl; prepended by the host after bindings.wgsl): which
// thread of which instance this is, the instance's bases and stream settings, and the current
// step's pattern position and trace sample.

// Per invocation: thread index within the instance, state / scratch / parameter bases of
// the instance.
var<private> tid: u32;
var<private> inst: u32;
var<private> sb: u32;
var<private> cb: u32;
var<private> pb: u32;
// The instance's stream: steps per pattern, learning and readout lags, training flags.
var<private> steps: u32;
var<private> lag: u32;
var<private> out_lag: u32;
var<private> train: bool;
var<private> noisy: bool;
var<private> reset: bool;
var<private> seed: vec2<u32>;
// The current step: index in the pattern, row of the pattern in `patterns` / `readouts`,
// trace word of this step's sample (NO_SAMPLE when it records none).
var<private> s: u32;
var<private> row: u32;
var<private> sample: u32;

const NO_SAMPLE: u32 = 0xffffffffu;

fn par(field: u32) -> f32 {
    return bitcast<f32>(table[pb + field]);
}

fn paru(field: u32) -> u32 {
    return table[pb + field];
}

// Sets the invocation's instance, thread, bases, transfer function and stream constants.
fn begin_stream(instance: u32, thread: u32) {
    inst = instance;
    tid = thread;
    sb = inst * table[H_STATE_STRIDE];
    cb = inst * table[H_SCRATCH_STRIDE];
    pb = table[H_PARAMS] + inst * table[H_PARAMS_STRIDE];
    phi_kind = table[H_PHI];
    phi_gamma = bitcast<f32>(table[H_PHI_GAMMA]);
    phi_beta = bitcast<f32>(table[H_PHI_BETA]);
    phi_theta = bitcast<f32>(table[H_PHI_THETA]);
    train = disp.train != 0u;
    steps = paru(P_STEPS);
    lag = paru(P_LAG);
    out_lag = paru(P_OUT_LAG);
    noisy = train && par(P_NOISE) != 0.0;
    reset = train && paru(P_RESET) != 0u;
    seed = vec2<u32>(paru(P_SEED_LO), paru(P_SEED_HI));
}

// Sets the trace word of stream step t's sample when training records it (every
// rec_stride-th stream step from the instance's first sample, trace[inst]), else NO_SAMPLE.
fn sample_at(t: u32) {
    sample = NO_SAMPLE;
    if train && disp.rec_stride != 0u {
        let first_sample = trace[inst];
        if t >= first_sample && (t - first_sample) % disp.rec_stride == 0u {
            let k = (t - first_sample) / disp.rec_stride;
            sample = disp.n_instances + (inst * disp.rec_cap + k) * disp.rec_width;
        }
    }
}

// The 64-bit training step counter (lo, hi) plus one.
fn next_step(step: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(step.x + 1u, step.y + u32(step.x == 0xffffffffu));
}
