// The resident-state integrator (`KernelKind::Resident`): the Euler steps of MODEL.md section
// 3 exactly as `step.wgsl`'s fused kernel computes them (same functions, same order of every
// sum, so the numbers are that kernel's), but with the instance's whole state and scratch in
// workgroup memory for the length of a dispatch window. One workgroup of NT = WG threads per
// instance (workgroup_id.y); the host prepends `NT`, `RS_STATE`, `RS_SCRATCH` (the shape's
// state and scratch words, literals) and the two `var<workgroup>` arrays `ws` (W, Delta, somas,
// r_0, u_tgt: the layout of the `st` buffer without the instance base) and `wc` (scratch: the
// presynaptic vectors, soma increments, errors and readout sums).
//
// A window of stream steps [disp.t_begin, disp.t_end):
//   1. every thread copies the words k = tid, tid + NT, ... of the instance's state and scratch
//      from the storage buffers into ws / wc (consecutive threads, consecutive words: coalesced);
//   2. workgroupBarrier(); then per step the phases A, B, C of step.wgsl on ws / wc, separated
//      by workgroupBarrier() (every value a phase reads that another thread wrote is in
//      workgroup memory; the storage writes of a window, readouts and trace samples, are never
//      read back inside it, so no barrier on storage memory is needed);
//   3. the same threads copy ws / wc back: when training all of it, when evaluating (the state
//      is the evaluation copy, W and Delta never change) the words from 2 W_TOTAL on.
// The loop trips of the copies are bounded on the host (`resident::io_trips`) beside those of
// step.wgsl's loops. Needs the prelude (word indices) and common.wgsl (Dispatch, noise, phi).

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

// Per invocation: thread index within the instance, the instance's bases in the state and
// scratch buffers (used only by the copies in and out; the phases address ws / wc from 0) and
// in the parameter table.
var<private> tid: u32;
var<private> inst: u32;
var<private> sb: u32;
var<private> cb: u32;
var<private> pb: u32;
var<private> n_layers: u32;
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

fn lay(l: u32, field: u32) -> u32 {
    return table[H_LAYERS + l * L_STRIDE + field];
}

fn par(field: u32) -> f32 {
    return bitcast<f32>(table[pb + field]);
}

fn paru(field: u32) -> u32 {
    return table[pb + field];
}

// dt * eta of matrix kind k (0 up, 1 pi, 2 ip, 3 down) of layer l.
fn eta(k: u32, l: u32) -> f32 {
    return par(P_ETA + k * n_layers + l);
}

// First index this thread handles in a segment that starts at global position g, so that
// consecutive segments continue one round-robin over the threads.
fn first(g: u32) -> u32 {
    return (tid + NT - g % NT) % NT;
}

// sum_j W[w + j] x[x + j], W in the state, x in the scratch; four partial sums (fewer loop
// trips, more independent work), then the remainder.
fn dot_row(w: u32, x: u32, n: u32) -> f32 {
    var s = vec4<f32>();
    var j = 0u;
    for (; j + 4u <= n; j += 4u) {
        s += vec4<f32>(ws[w + j], ws[w + j + 1u], ws[w + j + 2u], ws[w + j + 3u])
            * vec4<f32>(wc[x + j], wc[x + j + 1u], wc[x + j + 2u], wc[x + j + 3u]);
    }
    var r = (s.x + s.y) + (s.z + s.w);
    for (; j < n; j++) {
        r += ws[w + j] * wc[x + j];
    }
    return r;
}

// Phase A: (1) filter the stimulus, r_0 += dt/tau0 (x - r_0), u_tgt += dt/tau0 (y - u_tgt);
// then the rates of the old somas, pre[l+1] = phi(u^P[l]), r_I[l] = phi(u^I[l]), bias slots.
fn phase_a(xo: u32) {
    let k0 = par(P_K0);
    let n_in = table[H_N_IN];
    let n_out = table[H_N_OUT];
    let r0 = table[H_R0];
    let pre0 = lay(0u, L_PRE);
    for (var j = tid; j < n_in; j += NT) {
        let r = ws[r0 + j] + k0 * (patterns[xo + j] - ws[r0 + j]);
        ws[r0 + j] = r;
        wc[pre0 + j] = r;
    }
    let ut = table[H_UTGT];
    for (var j = tid; j < n_out; j += NT) {
        ws[ut + j] = ws[ut + j] + k0 * (patterns[xo + n_in + j] - ws[ut + j]);
    }
    var g = n_in;
    for (var l = 0u; l < n_layers; l++) {
        let np = lay(l, L_NPYR);
        let up = lay(l, L_U_P);
        let nx = lay(l, L_PRE_NEXT);
        for (var i = first(g); i < np; i += NT) {
            wc[nx + i] = phi(ws[up + i]);
        }
        g += np;
        let ni = lay(l, L_NINT);
        let ui = lay(l, L_U_I);
        let ri = lay(l, L_R_I);
        for (var j = first(g); j < ni; j += NT) {
            wc[ri + j] = phi(ws[ui + j]);
        }
        g += ni;
    }
    if table[H_BIAS] != 0u && tid == NT - 1u {
        let b = par(P_BIAS);
        for (var l = 0u; l < n_layers; l++) {
            wc[lay(l, L_PRE) + lay(l, L_NPRE) - 1u] = b;
        }
        let top = n_layers - 1u;
        wc[lay(top, L_PRE_NEXT) + lay(top, L_NPYR)] = b;
    }
}

// Phase B: (2) dendrites and soma increments from the old somas, and the plasticity errors
// of the rows whose matrices learn at this step.
//   hidden: v_B = W_up pre, v_A = W_down phi(u^P[l+1]) + W_pi phi(u^I),
//           du^P = dt (-g_l u + g_B (v_B - u) + g_A (v_A - u)),
//           e_up = phi(u) - phi(c_h v_B), e_pi = -v_A, e_down = phi(u) - phi(W_down phi(u^P[l+1]))
//   interneuron: v_D = W_ip phi(u^P[l]), du^I = dt (-g_l u^I + g_D (v_D - u^I) + g_som (u^P[l+1] - u^I)),
//           e_ip = phi(u^I) - phi(c_i v_D)
//   output: du^P = dt (-g_l u + g_B (v_B - u) + g_nudge (u_tgt - u)), e_up = phi(u) - phi(c_o v_B)
// plus sqrt(dt) sigma xi on every soma when noisy.
fn phase_b(plastic: bool, step: vec2<u32>) {
    let dt = par(P_DT);
    let gl = par(P_GL);
    let gb = par(P_GB);
    let ga = par(P_GA);
    let gd = par(P_GD);
    let gsom = par(P_GSOM);
    let amp = par(P_NOISE);
    let g_nudge = select(0.0, gsom, train);
    let ut = table[H_UTGT];
    var g = 0u;
    for (var l = 0u; l < n_layers; l++) {
        let np = lay(l, L_NPYR);
        let ni = lay(l, L_NINT);
        let ncol = lay(l, L_NPRE);
        let hidden = lay(l, L_HIDDEN) != 0u;
        let w_up = lay(l, L_W_UP);
        let pre = lay(l, L_PRE);
        let nx = lay(l, L_PRE_NEXT);
        let up = lay(l, L_U_P);
        let du_p = lay(l, L_DU_P);
        let e_up = lay(l, L_E_UP);
        let learn_up = plastic && eta(0u, l) != 0.0;
        let noise_p = lay(l, L_NOISE_P);
        if hidden {
            let w_down = lay(l, L_W_DOWN);
            let w_pi = lay(l, L_W_PI);
            let above = lay(l + 1u, L_PRE_NEXT);
            let ri = lay(l, L_R_I);
            let ch = par(P_C_HIDDEN);
            let learn_pi = plastic && eta(1u, l) != 0.0;
            let learn_down = plastic && eta(3u, l) != 0.0;
            let e_pi = lay(l, L_E_PI);
            let e_down = lay(l, L_E_DOWN);
            for (var i = first(g); i < np; i += NT) {
                let vb = dot_row(w_up + i * ncol, pre, ncol);
                let vdown = dot_row(w_down + i * ni, above, ni);
                let va = dot_row(w_pi + i * ni, ri, ni) + vdown;
                let u = ws[up + i];
                var du = dt * (-gl * u + gb * (vb - u) + ga * (va - u));
                if noisy {
                    du += amp * normal(seed, step, noise_p + i);
                }
                wc[du_p + i] = du;
                if learn_up {
                    wc[e_up + i] = wc[nx + i] - phi(ch * vb);
                }
                if learn_pi {
                    wc[e_pi + i] = -va;
                }
                if learn_down {
                    wc[e_down + i] = wc[nx + i] - phi(vdown);
                }
            }
            g += np;
            let w_ip = lay(l, L_W_IP);
            let nip = lay(l + 1u, L_NPRE);
            let ui = lay(l, L_U_I);
            let up_above = lay(l + 1u, L_U_P);
            let du_i = lay(l, L_DU_I);
            let e_ip = lay(l, L_E_IP);
            let ci = par(P_C_INTER);
            let learn_ip = plastic && eta(2u, l) != 0.0;
            let noise_i = lay(l, L_NOISE_I);
            for (var j = first(g); j < ni; j += NT) {
                let vd = dot_row(w_ip + j * nip, nx, nip);
                let u = ws[ui + j];
                var du = dt * (-gl * u + gd * (vd - u) + gsom * (ws[up_above + j] - u));
                if noisy {
                    du += amp * normal(seed, step, noise_i + j);
                }
                wc[du_i + j] = du;
                if learn_ip {
                    wc[e_ip + j] = wc[ri + j] - phi(ci * vd);
                }
            }
            g += ni;
        } else {
            let co = par(P_C_OUTPUT);
            for (var i = first(g); i < np; i += NT) {
                let vb = dot_row(w_up + i * ncol, pre, ncol);
                let u = ws[up + i];
                var du = dt * (-gl * u + gb * (vb - u) + g_nudge * (ws[ut + i] - u));
                if noisy {
                    du += amp * normal(seed, step, noise_p + i);
                }
                wc[du_p + i] = du;
                if learn_up {
                    wc[e_up + i] = wc[nx + i] - phi(co * vb);
                }
            }
            g += np;
        }
    }
}

// (3) for one plastic matrix (rows x cols at state offset w, Delta at w + W_TOTAL):
// W += dt eta Delta (old Delta), then Delta += dt/tau_w (e r^T - Delta), or Delta = 0 when
// `zero` (the last step of a pattern with reset_deltas). Entries are spread over the threads
// round-robin from global position g; (i, j) is advanced without divisions.
fn learn(g: u32, w: u32, e: u32, r: u32, rows: u32, cols: u32, eta_dt: f32, kw: f32, zero: bool) {
    let n = rows * cols;
    let d = w + table[H_W_TOTAL];
    var k = first(g);
    var i = k / cols;
    var j = k % cols;
    let di = NT / cols;
    let dj = NT % cols;
    while k < n {
        let dv = ws[d + k];
        ws[w + k] = ws[w + k] + eta_dt * dv;
        ws[d + k] = select(dv + kw * (wc[e + i] * wc[r + j] - dv), 0.0, zero);
        k += NT;
        i += di;
        j += dj;
        if j >= cols {
            j -= cols;
            i += 1u;
        }
    }
}

// Delta = 0 for the n entries of a matrix at state offset w that does not learn at this step
// (reset_deltas at the end of a pattern), entries spread round-robin from position g.
fn zero_delta(g: u32, w: u32, n: u32) {
    let d = w + table[H_W_TOTAL];
    for (var k = first(g); k < n; k += NT) {
        ws[d + k] = 0.0;
    }
}

// (3) for matrix kind k of layer l (rows x cols at state offset w, errors at scratch e,
// presynaptic rates at scratch r) when it learns at this step, else Delta = 0 when `zero`;
// returns the next round-robin position.
fn plasticity(g: u32, k: u32, l: u32, w: u32, e: u32, r: u32, rows: u32, cols: u32,
              plastic: bool, zero: bool) -> u32 {
    if plastic && eta(k, l) != 0.0 {
        learn(g, w, e, r, rows, cols, eta(k, l), par(P_KW), zero);
    } else if zero {
        zero_delta(g, w, rows * cols);
    }
    return g + rows * cols;
}

// Phase C: (3) plasticity of every learning matrix (Delta zeroed after the last step of a
// training pattern with reset_deltas), then (4) u += du for every soma; the output somas after
// the step enter the readout sum from step index out_lag on (the block sum of ACC_BLOCK steps
// folded into the total at block ends), and after the last step of a pattern the readout is the
// mean of the sum. The step's trace sample takes the new somas and the filtered stimulus.
fn phase_c(plastic: bool) {
    let last = s + 1u == steps;
    let zero = reset && last;
    var g = 0u;
    if plastic || zero {
        for (var l = 0u; l < n_layers; l++) {
            let np = lay(l, L_NPYR);
            let ni = lay(l, L_NINT);
            let ncol = lay(l, L_NPRE);
            let nx = lay(l, L_PRE_NEXT);
            g = plasticity(g, 0u, l, lay(l, L_W_UP), lay(l, L_E_UP), lay(l, L_PRE),
                           np, ncol, plastic, zero);
            if lay(l, L_HIDDEN) == 0u {
                continue;
            }
            let nip = lay(l + 1u, L_NPRE);
            let above = lay(l + 1u, L_PRE_NEXT);
            g = plasticity(g, 2u, l, lay(l, L_W_IP), lay(l, L_E_IP), nx, ni, nip,
                           plastic, zero);
            g = plasticity(g, 1u, l, lay(l, L_W_PI), lay(l, L_E_PI), lay(l, L_R_I),
                           np, ni, plastic, zero);
            g = plasticity(g, 3u, l, lay(l, L_W_DOWN), lay(l, L_E_DOWN), above, np, ni,
                           plastic, zero);
        }
    }
    let acc_on = s >= out_lag;
    let fold = last || (s + 1u) % ACC_BLOCK == 0u;
    let n_mean = f32(max(steps, out_lag + 1u) - out_lag);
    let acc = table[H_ACC];
    let record = sample != NO_SAMPLE;
    for (var l = 0u; l < n_layers; l++) {
        let np = lay(l, L_NPYR);
        let up = lay(l, L_U_P);
        let du_p = lay(l, L_DU_P);
        let output = lay(l, L_HIDDEN) == 0u;
        // the columns of this layer's somas in a sample (hidden ones only when recording all)
        let col_p = lay(l, L_REC_P);
        let rec_p = record && col_p < disp.rec_width;
        for (var i = first(g); i < np; i += NT) {
            let u = ws[up + i] + wc[du_p + i];
            ws[up + i] = u;
            if output && acc_on {
                // two-level sum: blocks of ACC_BLOCK steps, folded into the total (f32 sums of
                // thousands of steps would otherwise drift; Kahan's trick does not survive
                // driver optimisers)
                var b = wc[acc + np + i] + u;
                if fold {
                    wc[acc + i] += b;
                    b = 0.0;
                }
                wc[acc + np + i] = b;
            }
            if output && last {
                readouts[row * np + i] = wc[acc + i] / n_mean;
            }
            if rec_p {
                trace[sample + col_p + i] = bitcast<u32>(u);
            }
        }
        g += np;
        let ni = lay(l, L_NINT);
        let ui = lay(l, L_U_I);
        let du_i = lay(l, L_DU_I);
        let col_i = lay(l, L_REC_I);
        let rec_i = record && col_i < disp.rec_width;
        for (var j = first(g); j < ni; j += NT) {
            let u = ws[ui + j] + wc[du_i + j];
            ws[ui + j] = u;
            if rec_i {
                trace[sample + col_i + j] = bitcast<u32>(u);
            }
        }
        g += ni;
    }
    if record {
        // u_tgt and r_0 as phase A left them (no thread writes them in this phase)
        let n_out = table[H_N_OUT];
        let ut = table[H_UTGT];
        for (var i = first(g); i < n_out; i += NT) {
            trace[sample + n_out + i] = bitcast<u32>(ws[ut + i]);
        }
        g += n_out;
        let r0 = table[H_R0];
        for (var j = first(g); j < table[H_N_IN]; j += NT) {
            trace[sample + 2u * n_out + j] = bitcast<u32>(ws[r0 + j]);
        }
    }
}

// Sets the invocation's instance, thread and stream constants.
fn begin(instance: u32, thread: u32) {
    inst = instance;
    tid = thread;
    sb = inst * table[H_STATE_STRIDE];
    cb = inst * table[H_SCRATCH_STRIDE];
    pb = table[H_PARAMS] + inst * table[H_PARAMS_STRIDE];
    n_layers = table[H_N];
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

// End of the instance's stream in this piece.
fn stream_end() -> u32 {
    return disp.n_patterns * steps;
}

// Sets the current step from stream step t: index in the pattern, pattern row, and the trace
// word of the sample when training records this step (every rec_stride-th stream step from
// the instance's first sample, trace[inst]).
fn at_step(t: u32) {
    let p = t / steps;
    s = t - p * steps;
    row = inst * disp.n_patterns + p;
    sample = NO_SAMPLE;
    if train && disp.rec_stride != 0u {
        let first_sample = trace[inst];
        if t >= first_sample && (t - first_sample) % disp.rec_stride == 0u {
            let k = (t - first_sample) / disp.rec_stride;
            sample = disp.n_instances + (inst * disp.rec_cap + k) * disp.rec_width;
        }
    }
}

// At the start of a pattern: clear the readout sums (total and block).
fn clear_readout_sums() {
    let acc = table[H_ACC];
    for (var i = tid; i < 2u * table[H_N_OUT]; i += NT) {
        wc[acc + i] = 0.0;
    }
}

// Phase A's pattern row: the inputs then the targets of the current pattern.
fn pattern_offset() -> u32 {
    return row * (table[H_N_IN] + table[H_N_OUT]);
}

fn plastic_now() -> bool {
    return train && s >= lag;
}

// The 64-bit training step counter (lo, hi) plus one.
fn next_step(step: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(step.x + 1u, step.y + u32(step.x == 0xffffffffu));
}

// Copies the instance's state and scratch into workgroup memory (1. above).
fn load_window() {
    for (var k = tid; k < RS_STATE; k += NT) {
        ws[k] = st[sb + k];
    }
    for (var k = tid; k < RS_SCRATCH; k += NT) {
        wc[k] = sc[cb + k];
    }
}

// Writes the window's state back (3. above): all of it when training, only the words after W
// and Delta when evaluating.
fn store_window() {
    let lo = select(2u * table[H_W_TOTAL], 0u, train);
    for (var k = lo + tid; k < RS_STATE; k += NT) {
        st[sb + k] = ws[k];
    }
    for (var k = tid; k < RS_SCRATCH; k += NT) {
        sc[cb + k] = wc[k];
    }
}

// Resident: one workgroup (y) per instance runs the window of stream steps on its copy of the
// state in workgroup memory.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    begin(wg.y, lid);
    var step = vec2<u32>(counters[2u * inst], counters[2u * inst + 1u]);
    // from uniform values only (the barriers below need uniform control flow)
    let p_steps = table[table[H_PARAMS] + wg.y * table[H_PARAMS_STRIDE] + P_STEPS];
    let t_end = min(disp.t_end, disp.n_patterns * p_steps);
    if disp.t_begin >= t_end {
        return;
    }
    load_window();
    workgroupBarrier();
    for (var t = disp.t_begin; t < t_end; t++) {
        at_step(t);
        if s == 0u {
            clear_readout_sums();
        }
        phase_a(pattern_offset());
        workgroupBarrier();
        let plastic = plastic_now();
        phase_b(plastic, step);
        workgroupBarrier();
        phase_c(plastic);
        workgroupBarrier();
        step = next_step(step);
    }
    store_window();
    if train && tid == 0u {
        counters[2u * inst] = step.x;
        counters[2u * inst + 1u] = step.y;
    }
}
