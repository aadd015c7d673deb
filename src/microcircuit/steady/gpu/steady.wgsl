// The steady-state model "SteadNet" (MODEL.md section 7; the sweep order is documented in
// src/microcircuit/steady/mod.rs and steady/gpu/mod.rs). One workgroup per instance; its WG threads
// share the matrix rows of one layer. Every dispatch runs one operation on one layer of every
// instance of the group, chosen by the uniform `job`:
//   OP_UP     up-sweep update of layer `layer` (pass `pass_i`, pass 0 = dendritic prediction),
//   OP_DOWN   down-sweep update of hidden layer `layer`,
//   OP_LEARN  the plasticity step of the matrices of layer `layer`.
// Needs the generated S_*/SL_*/SP_*/OP_* constants and common.wgsl (phi).

struct Job {
    op: u32,
    layer: u32,
    // pattern index inside the uploaded piece
    pattern: u32,
    pass_i: u32,
    exposure: u32,
    // 1: training pattern (output nudged towards the target, plasticity may run)
    train: u32,
    // patterns per instance in the uploaded piece (row stride of `patterns` and `readouts`)
    n_patterns: u32,
}

@group(0) @binding(0) var<storage, read> table: array<u32>;
@group(0) @binding(1) var<storage, read> patterns: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;
@group(0) @binding(5) var<storage, read_write> readouts: array<f32>;
@group(0) @binding(6) var<uniform> job: Job;

// state offset of this instance, its parameter record, its layer record
var<private> base: u32;
var<private> prm: u32;
var<private> lay: u32;

fn pf(k: u32) -> f32 {
    return bitcast<f32>(table[prm + k]);
}

fn lw(k: u32) -> u32 {
    return table[lay + k];
}

// dT·eta of matrix kind k (0 up, 1 pi, 2 ip, 3 down) of layer l.
fn eta(k: u32, l: u32) -> f32 {
    return pf(SP_ETA + k * table[S_N] + l);
}

// Row i of the matrix at state offset w (row-major, `cols` columns) times the vector at state
// offset x, summed in the order of `microcircuit::weights::dot`: eight interleaved partial sums
// combined pairwise, then the tail.
fn dot_row(w: u32, cols: u32, i: u32, x: u32) -> f32 {
    let r = base + w + i * cols;
    let v = base + x;
    var lo = vec4<f32>(0.0);
    var hi = vec4<f32>(0.0);
    let chunks = cols / 8u;
    for (var c = 0u; c < chunks; c++) {
        let a = r + 8u * c;
        let b = v + 8u * c;
        lo += vec4<f32>(state[a], state[a + 1u], state[a + 2u], state[a + 3u])
            * vec4<f32>(state[b], state[b + 1u], state[b + 2u], state[b + 3u]);
        hi += vec4<f32>(state[a + 4u], state[a + 5u], state[a + 6u], state[a + 7u])
            * vec4<f32>(state[b + 4u], state[b + 5u], state[b + 6u], state[b + 7u]);
    }
    var s = 0.0;
    for (var j = chunks * 8u; j < cols; j++) {
        s += state[r + j] * state[v + j];
    }
    return ((lo.x + hi.x) + (lo.y + hi.y)) + ((lo.z + hi.z) + (lo.w + hi.w)) + s;
}

// The low-pass plasticity step on row i of the matrix at state offset w (its Δ lies S_W_TOTAL
// words further): Δ = (1−a)·Δ + a·e·r_pre, W += eta_dt·Δ with the new Δ; `zero` stores Δ = 0
// afterwards (reset_deltas after the pattern's last update).
fn update_row(w: u32, cols: u32, i: u32, pre: u32, e: f32, eta_dt: f32, zero: bool) {
    let a = pf(SP_A);
    let keep = 1.0 - a;
    let ae = a * e;
    let r = base + w + i * cols;
    let d_r = r + table[S_W_TOTAL];
    let v = base + pre;
    for (var j = 0u; j < cols; j++) {
        let d = keep * state[d_r + j] + ae * state[v + j];
        state[d_r + j] = select(d, 0.0, zero);
        state[r + j] = state[r + j] + eta_dt * d;
    }
}

// v_A[i] = W_down[i]·φ(u^P[l+1]) + W_pi[i]·φ(u^I[l]), keeping the first term in v_down[i].
fn apical(i: u32) -> f32 {
    let mi = lw(SL_NINT);
    let v_down = dot_row(lw(SL_W_DOWN), mi, i, lw(SL_PRE_ABOVE));
    let v_a = dot_row(lw(SL_W_PI), mi, i, lw(SL_R_I)) + v_down;
    state[base + lw(SL_V_DOWN) + i] = v_down;
    state[base + lw(SL_V_A) + i] = v_a;
    return v_a;
}

// Hidden pyramidal fixed point u = (g_B v_B + g_A v_A)/(g_l+g_B+g_A); stores u and φ(u).
fn set_pyramidal(i: u32, v_b: f32, v_a: f32) {
    let u = (pf(SP_GB) * v_b + pf(SP_GA) * v_a) / (pf(SP_GL) + pf(SP_GB) + pf(SP_GA));
    state[base + lw(SL_U_P) + i] = u;
    state[base + lw(SL_PRE_NEXT) + i] = phi(u);
}

// Interneuron j: v_D from the current rates when `fresh`, then the fixed point
// u = (g_D v_D + g_som u^P[l+1])/(g_l+g_D+g_som) (`nudged`) or g_D v_D/(g_l+g_D); stores u, φ(u).
fn set_interneuron(j: u32, fresh: bool, nudged: bool) {
    var v_d = state[base + lw(SL_V_D) + j];
    if fresh {
        v_d = dot_row(lw(SL_W_IP), lw(SL_NPYR) + table[S_BIAS], j, lw(SL_PRE_NEXT));
        state[base + lw(SL_V_D) + j] = v_d;
    }
    var u = pf(SP_C_INTER) * v_d;
    if nudged {
        let above = base + table[lay + S_LAYER_STRIDE + SL_U_P];
        u = (pf(SP_GD) * v_d + pf(SP_GSOM) * state[above + j]) / (pf(SP_GL) + pf(SP_GD) + pf(SP_GSOM));
    }
    state[base + lw(SL_U_I) + j] = u;
    state[base + lw(SL_R_I) + j] = phi(u);
}

// Up-sweep update of layer l. Pass 0 first copies the pattern into r_0 and u_tgt (layer 0),
// and sets v_A = 0 and the interneurons without nudging. `on` = 0 skips the work (the
// barriers still run in uniform control flow).
fn up(tid: u32, on: bool) {
    let l = job.layer;
    let first = job.pass_i == 0u;
    let n_in = table[S_N_IN];
    let n_out = table[S_N_OUT];
    if on && first && l == 0u {
        let src = (workgroup_index * job.n_patterns + job.pattern) * (n_in + n_out);
        for (var k = tid; k < n_in + n_out; k += WG) {
            let dst = select(table[S_TGT] + k - n_in, table[S_X] + k, k < n_in);
            state[base + dst] = patterns[src + k];
        }
    }
    storageBarrier();
    let m = select(0u, lw(SL_NPYR), on);
    let hidden = lw(SL_HIDDEN) == 1u;
    for (var i = tid; i < m; i += WG) {
        let v_b = dot_row(lw(SL_W_UP), lw(SL_NPRE), i, lw(SL_PRE));
        state[base + lw(SL_V_B) + i] = v_b;
        if hidden {
            var v_a = 0.0;
            if first {
                state[base + lw(SL_V_A) + i] = 0.0;
            } else {
                v_a = apical(i);
            }
            set_pyramidal(i, v_b, v_a);
        } else {
            var u = pf(SP_C_OUTPUT) * v_b;
            if job.train == 1u {
                let t = state[base + table[S_TGT] + i];
                u = (pf(SP_GB) * v_b + pf(SP_GSOM) * t) / (pf(SP_GL) + pf(SP_GB) + pf(SP_GSOM));
            }
            state[base + lw(SL_U_P) + i] = u;
            state[base + lw(SL_PRE_NEXT) + i] = phi(u);
            readouts[(workgroup_index * job.n_patterns + job.pattern) * n_out + i] = u;
        }
    }
    storageBarrier();
    let mi = select(0u, lw(SL_NINT), on);
    for (var j = tid; j < mi; j += WG) {
        set_interneuron(j, true, !first);
    }
}

// Down-sweep update of hidden layer l: interneurons nudged by the new u^P[l+1], then the
// apical potentials and pyramidal somas (v_D and v_B are current).
fn down(tid: u32, on: bool) {
    let mi = select(0u, lw(SL_NINT), on);
    for (var j = tid; j < mi; j += WG) {
        set_interneuron(j, false, true);
    }
    storageBarrier();
    let m = select(0u, lw(SL_NPYR), on);
    for (var i = tid; i < m; i += WG) {
        set_pyramidal(i, state[base + lw(SL_V_B) + i], apical(i));
    }
}

// The plasticity step of layer l's matrices from the relaxed somas. Every row recomputes its
// dendrite from the rates (which this step does not change) and then updates itself, so rows
// need no barrier: W_up e = φ(u^P) − φ(c v_B), W_pi e = −v_A, W_down e = φ(u^P) − φ(v_down),
// W_ip e = φ(u^I) − φ(c_I v_D). Matrices with eta = 0 stay as they are.
fn learn(tid: u32, on: bool) {
    let l = job.layer;
    let zero = table[prm + SP_RESET] == 1u && job.exposure + 1u == table[prm + SP_EXPOSURES];
    let hidden = lw(SL_HIDDEN) == 1u;
    let m = select(0u, lw(SL_NPYR), on);
    let mi = lw(SL_NINT);
    let c = select(pf(SP_C_OUTPUT), pf(SP_C_HIDDEN), hidden);
    let r_i = lw(SL_R_I);
    for (var i = tid; i < m; i += WG) {
        let rate = state[base + lw(SL_PRE_NEXT) + i];
        let v_b = dot_row(lw(SL_W_UP), lw(SL_NPRE), i, lw(SL_PRE));
        state[base + lw(SL_V_B) + i] = v_b;
        learn_row(lw(SL_W_UP), lw(SL_NPRE), i, lw(SL_PRE), rate - phi(c * v_b), eta(0u, l), zero);
        if hidden {
            let v_a = apical(i);
            learn_row(lw(SL_W_PI), mi, i, r_i, -v_a, eta(1u, l), zero);
            let v_down = state[base + lw(SL_V_DOWN) + i];
            learn_row(lw(SL_W_DOWN), mi, i, lw(SL_PRE_ABOVE), rate - phi(v_down), eta(3u, l), zero);
        }
    }
    let ni = select(0u, mi, on);
    let n_ip = lw(SL_NPYR) + table[S_BIAS];
    for (var j = tid; j < ni; j += WG) {
        let v_d = dot_row(lw(SL_W_IP), n_ip, j, lw(SL_PRE_NEXT));
        state[base + lw(SL_V_D) + j] = v_d;
        let e = state[base + r_i + j] - phi(pf(SP_C_INTER) * v_d);
        learn_row(lw(SL_W_IP), n_ip, j, lw(SL_PRE_NEXT), e, eta(2u, l), zero);
    }
}

// One matrix row of the plasticity step when the matrix is plastic (eta ≠ 0; otherwise its Δ
// stays 0 and W unchanged).
fn learn_row(w: u32, cols: u32, i: u32, pre: u32, e: f32, eta_dt: f32, zero: bool) {
    if eta_dt != 0.0 {
        update_row(w, cols, i, pre, e, eta_dt, zero);
    }
}

var<private> workgroup_index: u32;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    workgroup_index = wid.x;
    phi_kind = table[S_PHI];
    phi_gamma = bitcast<f32>(table[S_PHI + 1u]);
    phi_beta = bitcast<f32>(table[S_PHI + 2u]);
    phi_theta = bitcast<f32>(table[S_PHI + 3u]);
    base = wid.x * table[S_STRIDE];
    prm = table[S_PARAMS] + wid.x * table[S_PARAMS_STRIDE];
    lay = S_LAYERS + job.layer * S_LAYER_STRIDE;
    // instances with fewer exposures or passes than the batch's most skip the surplus
    let exposed = job.exposure < table[prm + SP_EXPOSURES];
    switch job.op {
        case OP_UP: {
            up(tid, exposed && job.pass_i < table[prm + SP_PASSES]);
        }
        case OP_DOWN: {
            down(tid, exposed && job.pass_i < table[prm + SP_PASSES]);
        }
        default: {
            learn(tid, exposed && table[prm + SP_LEARN] == 1u);
        }
    }
}
