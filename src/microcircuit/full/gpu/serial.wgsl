// The Euler integrator with one invocation per instance (MODEL.md section 3), for CPU Vulkan
// drivers: llvmpipe/lavapipe runs the WG invocations of a workgroup as the lanes of one SIMD
// vector and pays for every storage-buffer access per vector (a loop over the lanes), so
// WG instances side by side, each running its whole step with no barriers, keep every lane
// busy, and `vec4` accesses (matrix rows, soma and scratch vectors aligned to 4 words, with
// zero padding) move four values per lane per access. Each chunk of 4 weights is stored next
// to its 4 Delta (`Layout::w_word`), and the plasticity update reads and writes both with one
// `vec4<u64>` access each (8 words; llvmpipe's per-lane loop costs about the same per
// component whatever its width).
//
// Within a step the layers are processed in ascending order and the rows of a layer one by
// one: a row's dendrite, soma increment and plasticity error use only the rates of the old
// somas (computed first), its own soma and, for interneurons of layer l, the old u^P[l+1],
// which is updated later; so each row's plasticity and soma update can follow its dendrite at
// once and the order equals the reference order (1) filter, (2) dendrites from the old somas,
// (3) W += dt eta Delta with the old Delta, then Delta += dt/tau_w (e r^T - Delta), (4) u += du.
// `fn euler_step` and `fn phi_batch` (the batch's transfer function alone: llvmpipe would
// evaluate every branch of `phi`) are generated per shape and batch (`serial.rs`) and
// appended; the host counts the loop trips of both parts (this file's:
// `Layout::loop_trips_per_pattern`) to size the dispatch windows under llvmpipe's limit of
// 65535 loop iterations per invocation. Needs the prelude (word indices, WG) and common.wgsl.

@group(0) @binding(0) var<storage, read> table: array<u32>;
@group(0) @binding(1) var<storage, read> patterns: array<f32>;
@group(0) @binding(2) var<storage, read_write> st: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> sc: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> counters: array<u32>;
@group(0) @binding(5) var<storage, read_write> readouts: array<f32>;
@group(0) @binding(6) var<uniform> disp: Dispatch;
// trace: one word per instance (the stream step of its first sample in this piece), then
// rec_cap samples of rec_width words (f32 bits) per instance
@group(0) @binding(7) var<storage, read_write> trace: array<u32>;
// the state again, as 64-bit words: W and Delta of a chunk of 4 weights in one vec4<u64>
@group(0) @binding(8) var<storage, read_write> wd: array<vec4<u64>>;

// Word, vec4 and vec4<u64> bases of the instance's state and scratch, its parameter record,
// the chunks of 4 weights.
var<private> sb: u32;
var<private> cb: u32;
var<private> sb4: u32;
var<private> sb8: u32;
var<private> cb4: u32;
var<private> pb: u32;
var<private> n_chunks: u32;
// The instance's constants (see `Consts`).
var<private> c_dt: f32;
var<private> c_gl: f32;
var<private> c_gb: f32;
var<private> c_ga: f32;
var<private> c_gd: f32;
var<private> c_gsom: f32;
var<private> c_amp: f32;
var<private> c_kw: f32;
var<private> c_k0: f32;
var<private> c_ch: f32;
var<private> c_ci: f32;
var<private> c_co: f32;
var<private> c_bias: f32;

fn par(field: u32) -> f32 {
    return bitcast<f32>(table[pb + field]);
}

fn paru(field: u32) -> u32 {
    return table[pb + field];
}

// Scalar words of the state and scratch buffers.
fn sget(a: u32) -> f32 {
    return st[a >> 2u][a & 3u];
}

fn sset(a: u32, v: f32) {
    st[a >> 2u][a & 3u] = v;
}

fn cget(a: u32) -> f32 {
    return sc[a >> 2u][a & 3u];
}

fn cset(a: u32, v: f32) {
    sc[a >> 2u][a & 3u] = v;
}

// W and Delta of weight chunk c: state words 8c..8c+3 and 8c+4..8c+7, as 64-bit words
// (lo, hi) = (W0, W1), (W2, W3), (D0, D1), (D2, D3).
struct Chunk {
    w: vec4<f32>,
    d: vec4<f32>,
}

fn chunk_get(c: u32) -> Chunk {
    let v = wd[sb8 + c];
    let lo = bitcast<vec4<f32>>(vec4<u32>(v));
    let hi = bitcast<vec4<f32>>(vec4<u32>(v >> vec4<u32>(32u)));
    return Chunk(vec4<f32>(lo.x, hi.x, lo.y, hi.y), vec4<f32>(lo.z, hi.z, lo.w, hi.w));
}

fn chunk_set(c: u32, w: vec4<f32>, d: vec4<f32>) {
    let lo = vec4<u64>(bitcast<vec4<u32>>(vec4<f32>(w.x, w.z, d.x, d.z)));
    let hi = vec4<u64>(bitcast<vec4<u32>>(vec4<f32>(w.y, w.w, d.y, d.w)));
    wd[sb8 + c] = lo | (hi << vec4<u32>(32u));
}

// W of weight chunk c alone.
fn w_get(c: u32) -> vec4<f32> {
    return st[sb4 + 2u * c];
}

fn phi4(x: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(phi_batch(x.x), phi_batch(x.y), phi_batch(x.z), phi_batch(x.w));
}

// n state words from word `src` into the trace at word `at`.
fn copy_to_trace(at: u32, src: u32, n: u32) {
    for (var i = 0u; i < n; i++) {
        trace[at + i] = bitcast<u32>(sget(src + i));
    }
}

fn layer_word(l: u32, field: u32) -> u32 {
    return table[H_LAYERS + l * L_STRIDE + field];
}

// The trace sample at word `at` (the columns of `Layout::record_columns`): output somas,
// u_tgt, r_0, then, when the sample is that wide, u^P and u^I of every hidden layer.
fn record_sample(at: u32) {
    let n = table[H_N];
    let n_out = table[H_N_OUT];
    copy_to_trace(at, sb + layer_word(n - 1u, L_U_P), n_out);
    copy_to_trace(at + n_out, sb + table[H_UTGT], n_out);
    copy_to_trace(at + 2u * n_out, sb + table[H_R0], table[H_N_IN]);
    for (var l = 0u; l + 1u < n; l++) {
        if layer_word(l, L_REC_P) < disp.rec_width {
            copy_to_trace(at + layer_word(l, L_REC_P), sb + layer_word(l, L_U_P), layer_word(l, L_NPYR));
            copy_to_trace(at + layer_word(l, L_REC_I), sb + layer_word(l, L_U_I), layer_word(l, L_NINT));
        }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let inst = gid.x;
    if inst >= disp.n_instances {
        return;
    }
    sb = inst * table[H_STATE_STRIDE];
    cb = inst * table[H_SCRATCH_STRIDE];
    sb4 = sb >> 2u;
    sb8 = sb >> 3u;
    cb4 = cb >> 2u;
    pb = table[H_PARAMS] + inst * table[H_PARAMS_STRIDE];
    n_chunks = table[H_W_TOTAL] >> 2u;
    c_dt = par(P_DT);
    c_gl = par(P_GL);
    c_gb = par(P_GB);
    c_ga = par(P_GA);
    c_gd = par(P_GD);
    c_gsom = par(P_GSOM);
    c_amp = par(P_NOISE);
    c_kw = par(P_KW);
    c_k0 = par(P_K0);
    c_ch = par(P_C_HIDDEN);
    c_ci = par(P_C_INTER);
    c_co = par(P_C_OUTPUT);
    c_bias = par(P_BIAS);
    phi_kind = table[H_PHI];
    phi_gamma = bitcast<f32>(table[H_PHI_GAMMA]);
    phi_beta = bitcast<f32>(table[H_PHI_BETA]);
    phi_theta = bitcast<f32>(table[H_PHI_THETA]);

    let train = disp.train != 0u;
    let steps = paru(P_STEPS);
    let lag = paru(P_LAG);
    let out_lag = paru(P_OUT_LAG);
    let noisy = train && par(P_NOISE) != 0.0;
    let reset = train && paru(P_RESET) != 0u;
    let seed = vec2<u32>(paru(P_SEED_LO), paru(P_SEED_HI));
    var step = vec2<u32>(counters[2u * inst], counters[2u * inst + 1u]);
    let n_in = table[H_N_IN];
    let n_out = table[H_N_OUT];
    let acc = cb + table[H_ACC];
    let acc_block = cb + table[H_ACC_BLOCK];

    let t_end = min(disp.t_end, disp.n_patterns * steps);
    let n_mean = f32(max(steps, out_lag + 1u) - out_lag);
    for (var t = disp.t_begin; t < t_end; t++) {
        let p = t / steps;
        let s = t - p * steps;
        let row = inst * disp.n_patterns + p;
        if s == 0u {
            for (var i = 0u; i < n_out; i++) {
                cset(acc + i, 0.0);
                cset(acc_block + i, 0.0);
            }
        }
        euler_step(row * (n_in + n_out), train, train && s >= lag, noisy, seed, step,
                   s >= out_lag, s + 1u == steps || (s + 1u) % ACC_BLOCK == 0u);
        if train && disp.rec_stride != 0u {
            // every rec_stride-th stream step from the instance's first sample
            let first_sample = trace[inst];
            if t >= first_sample && (t - first_sample) % disp.rec_stride == 0u {
                let k = (t - first_sample) / disp.rec_stride;
                record_sample(disp.n_instances + (inst * disp.rec_cap + k) * disp.rec_width);
            }
        }
        step.x += 1u;
        if step.x == 0u {
            step.y += 1u;
        }
        if s + 1u == steps {
            // end of the pattern: readout = mean output soma over steps >= out_lag
            for (var i = 0u; i < n_out; i++) {
                readouts[row * n_out + i] = cget(acc + i) / n_mean;
            }
            if reset {
                for (var k = 0u; k < n_chunks; k++) {
                    st[sb4 + 2u * k + 1u] = vec4<f32>();
                }
            }
        }
    }
    if train {
        counters[2u * inst] = step.x;
        counters[2u * inst + 1u] = step.y;
    }
}
