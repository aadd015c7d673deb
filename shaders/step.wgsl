// The Euler integrator of MODEL.md section 3: one workgroup per instance, WG threads spread over
// the neurons, matrix rows and matrix entries of that instance. Each instance runs through the
// steps of its patterns as one stream (pattern p = t / steps, step index s = t % steps, its own
// `steps` per pattern); one dispatch runs stream steps [disp.t_begin, disp.t_end).
//
// Loop trips per step are bounded on the host (`layout::loop_trips_*`), which sizes the
// windows: llvmpipe/lavapipe stops a shader after 65535 loop iterations in total
// (LP_MAX_TGSI_LOOP_ITERATIONS). Keep both in step when changing a loop here.
// Needs the prelude (word indices) and common.wgsl (noise, phi).

struct Dispatch {
    t_begin: u32,
    t_end: u32,
    // 1 for training patterns (nudging, plasticity, noise), 0 for evaluation
    train: u32,
    // patterns per instance in the uploaded piece (row stride of `patterns` and `readouts`)
    n_patterns: u32,
}

@group(0) @binding(0) var<storage, read> table: array<u32>;
@group(0) @binding(1) var<storage, read> patterns: array<f32>;
@group(0) @binding(2) var<storage, read_write> st: array<f32>;
@group(0) @binding(3) var<storage, read_write> sc: array<f32>;
@group(0) @binding(4) var<storage, read_write> counters: array<u32>;
@group(0) @binding(5) var<storage, read_write> readouts: array<f32>;
@group(0) @binding(6) var<uniform> disp: Dispatch;

// Per invocation: thread index, state / scratch / parameter bases of the instance.
var<private> tid: u32;
var<private> sb: u32;
var<private> cb: u32;
var<private> pb: u32;
var<private> n_layers: u32;

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
    return (tid + WG - g % WG) % WG;
}

// sum_j W[w + j] x[x + j], W in the state, x in the scratch; four partial sums (fewer loop
// trips, more independent work), then the remainder.
fn dot_row(w: u32, x: u32, n: u32) -> f32 {
    var s = vec4<f32>();
    var j = 0u;
    for (; j + 4u <= n; j += 4u) {
        s += vec4<f32>(st[w + j], st[w + j + 1u], st[w + j + 2u], st[w + j + 3u])
            * vec4<f32>(sc[x + j], sc[x + j + 1u], sc[x + j + 2u], sc[x + j + 3u]);
    }
    var r = (s.x + s.y) + (s.z + s.w);
    for (; j < n; j++) {
        r += st[w + j] * sc[x + j];
    }
    return r;
}

// Phase A: (1) filter the stimulus, r_0 += dt/tau0 (x - r_0), u_tgt += dt/tau0 (y - u_tgt);
// then the rates of the old somas, pre[l+1] = phi(u^P[l]), r_I[l] = phi(u^I[l]), bias slots.
fn phase_a(xo: u32) {
    let k0 = par(P_K0);
    let n_in = table[H_N_IN];
    let n_out = table[H_N_OUT];
    let r0 = sb + table[H_R0];
    let pre0 = cb + lay(0u, L_PRE);
    for (var j = tid; j < n_in; j += WG) {
        let r = st[r0 + j] + k0 * (patterns[xo + j] - st[r0 + j]);
        st[r0 + j] = r;
        sc[pre0 + j] = r;
    }
    let ut = sb + table[H_UTGT];
    for (var j = tid; j < n_out; j += WG) {
        st[ut + j] = st[ut + j] + k0 * (patterns[xo + n_in + j] - st[ut + j]);
    }
    var g = n_in;
    for (var l = 0u; l < n_layers; l++) {
        let np = lay(l, L_NPYR);
        let up = sb + lay(l, L_U_P);
        let nx = cb + lay(l, L_PRE_NEXT);
        for (var i = first(g); i < np; i += WG) {
            sc[nx + i] = phi(st[up + i]);
        }
        g += np;
        let ni = lay(l, L_NINT);
        let ui = sb + lay(l, L_U_I);
        let ri = cb + lay(l, L_R_I);
        for (var j = first(g); j < ni; j += WG) {
            sc[ri + j] = phi(st[ui + j]);
        }
        g += ni;
    }
    if table[H_BIAS] != 0u && tid == WG - 1u {
        let b = par(P_BIAS);
        for (var l = 0u; l < n_layers; l++) {
            sc[cb + lay(l, L_PRE) + lay(l, L_NPRE) - 1u] = b;
        }
        let top = n_layers - 1u;
        sc[cb + lay(top, L_PRE_NEXT) + lay(top, L_NPYR)] = b;
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
fn phase_b(train: bool, plastic: bool, noisy: bool, seed: vec2<u32>, step: vec2<u32>) {
    let dt = par(P_DT);
    let gl = par(P_GL);
    let gb = par(P_GB);
    let ga = par(P_GA);
    let gd = par(P_GD);
    let gsom = par(P_GSOM);
    let amp = par(P_NOISE);
    let g_nudge = select(0.0, gsom, train);
    let ut = sb + table[H_UTGT];
    var g = 0u;
    for (var l = 0u; l < n_layers; l++) {
        let np = lay(l, L_NPYR);
        let ni = lay(l, L_NINT);
        let ncol = lay(l, L_NPRE);
        let hidden = lay(l, L_HIDDEN) != 0u;
        let w_up = sb + lay(l, L_W_UP);
        let pre = cb + lay(l, L_PRE);
        let nx = cb + lay(l, L_PRE_NEXT);
        let up = sb + lay(l, L_U_P);
        let du_p = cb + lay(l, L_DU_P);
        let e_up = cb + lay(l, L_E_UP);
        let learn_up = plastic && eta(0u, l) != 0.0;
        let noise_p = lay(l, L_NOISE_P);
        if hidden {
            let w_down = sb + lay(l, L_W_DOWN);
            let w_pi = sb + lay(l, L_W_PI);
            let above = cb + lay(l + 1u, L_PRE_NEXT);
            let ri = cb + lay(l, L_R_I);
            let ch = par(P_C_HIDDEN);
            let learn_pi = plastic && eta(1u, l) != 0.0;
            let learn_down = plastic && eta(3u, l) != 0.0;
            let e_pi = cb + lay(l, L_E_PI);
            let e_down = cb + lay(l, L_E_DOWN);
            for (var i = first(g); i < np; i += WG) {
                let vb = dot_row(w_up + i * ncol, pre, ncol);
                let vdown = dot_row(w_down + i * ni, above, ni);
                let va = dot_row(w_pi + i * ni, ri, ni) + vdown;
                let u = st[up + i];
                var du = dt * (-gl * u + gb * (vb - u) + ga * (va - u));
                if noisy {
                    du += amp * normal(seed, step, noise_p + i);
                }
                sc[du_p + i] = du;
                if learn_up {
                    sc[e_up + i] = sc[nx + i] - phi(ch * vb);
                }
                if learn_pi {
                    sc[e_pi + i] = -va;
                }
                if learn_down {
                    sc[e_down + i] = sc[nx + i] - phi(vdown);
                }
            }
            g += np;
            let w_ip = sb + lay(l, L_W_IP);
            let nip = lay(l + 1u, L_NPRE);
            let ui = sb + lay(l, L_U_I);
            let up_above = sb + lay(l + 1u, L_U_P);
            let du_i = cb + lay(l, L_DU_I);
            let e_ip = cb + lay(l, L_E_IP);
            let ci = par(P_C_INTER);
            let learn_ip = plastic && eta(2u, l) != 0.0;
            let noise_i = lay(l, L_NOISE_I);
            for (var j = first(g); j < ni; j += WG) {
                let vd = dot_row(w_ip + j * nip, nx, nip);
                let u = st[ui + j];
                var du = dt * (-gl * u + gd * (vd - u) + gsom * (st[up_above + j] - u));
                if noisy {
                    du += amp * normal(seed, step, noise_i + j);
                }
                sc[du_i + j] = du;
                if learn_ip {
                    sc[e_ip + j] = sc[ri + j] - phi(ci * vd);
                }
            }
            g += ni;
        } else {
            let co = par(P_C_OUTPUT);
            for (var i = first(g); i < np; i += WG) {
                let vb = dot_row(w_up + i * ncol, pre, ncol);
                let u = st[up + i];
                var du = dt * (-gl * u + gb * (vb - u) + g_nudge * (st[ut + i] - u));
                if noisy {
                    du += amp * normal(seed, step, noise_p + i);
                }
                sc[du_p + i] = du;
                if learn_up {
                    sc[e_up + i] = sc[nx + i] - phi(co * vb);
                }
            }
            g += np;
        }
    }
}

// (3) for one plastic matrix (rows x cols at state offset w, Delta at w + W_TOTAL):
// W += dt eta Delta (old Delta), then Delta += dt/tau_w (e r^T - Delta). Entries are spread over
// the threads round-robin from global position g; (i, j) is advanced without divisions.
fn learn(g: u32, w: u32, e: u32, r: u32, rows: u32, cols: u32, eta_dt: f32, kw: f32) {
    let n = rows * cols;
    let d = w + table[H_W_TOTAL];
    var k = first(g);
    var i = k / cols;
    var j = k % cols;
    let di = WG / cols;
    let dj = WG % cols;
    while k < n {
        let dv = st[d + k];
        st[w + k] = st[w + k] + eta_dt * dv;
        st[d + k] = dv + kw * (sc[e + i] * sc[r + j] - dv);
        k += WG;
        i += di;
        j += dj;
        if j >= cols {
            j -= cols;
            i += 1u;
        }
    }
}

// Phase C: (3) plasticity of every learning matrix, then (4) u += du for every soma; the output
// somas after the step enter the readout sum when `acc_on`, the block sum is folded into the
// total when `fold`.
fn phase_c(plastic: bool, acc_on: bool, fold: bool) {
    var g = 0u;
    if plastic {
        let kw = par(P_KW);
        for (var l = 0u; l < n_layers; l++) {
            let np = lay(l, L_NPYR);
            let ni = lay(l, L_NINT);
            let ncol = lay(l, L_NPRE);
            let nx = cb + lay(l, L_PRE_NEXT);
            if eta(0u, l) != 0.0 {
                learn(g, sb + lay(l, L_W_UP), cb + lay(l, L_E_UP), cb + lay(l, L_PRE), np, ncol, eta(0u, l), kw);
                g += np * ncol;
            }
            if lay(l, L_HIDDEN) == 0u {
                continue;
            }
            if eta(2u, l) != 0.0 {
                let nip = lay(l + 1u, L_NPRE);
                learn(g, sb + lay(l, L_W_IP), cb + lay(l, L_E_IP), nx, ni, nip, eta(2u, l), kw);
                g += ni * nip;
            }
            if eta(1u, l) != 0.0 {
                learn(g, sb + lay(l, L_W_PI), cb + lay(l, L_E_PI), cb + lay(l, L_R_I), np, ni, eta(1u, l), kw);
                g += np * ni;
            }
            if eta(3u, l) != 0.0 {
                let above = cb + lay(l + 1u, L_PRE_NEXT);
                learn(g, sb + lay(l, L_W_DOWN), cb + lay(l, L_E_DOWN), above, np, ni, eta(3u, l), kw);
                g += np * ni;
            }
        }
    }
    let acc = cb + table[H_ACC];
    for (var l = 0u; l < n_layers; l++) {
        let np = lay(l, L_NPYR);
        let up = sb + lay(l, L_U_P);
        let du_p = cb + lay(l, L_DU_P);
        let output = lay(l, L_HIDDEN) == 0u;
        for (var i = first(g); i < np; i += WG) {
            let u = st[up + i] + sc[du_p + i];
            st[up + i] = u;
            if output && acc_on {
                // two-level sum: blocks of ACC_BLOCK steps, folded into the total (f32 sums of
                // thousands of steps would otherwise drift; Kahan's trick does not survive
                // driver optimisers)
                var b = sc[acc + np + i] + u;
                if fold {
                    sc[acc + i] += b;
                    b = 0.0;
                }
                sc[acc + np + i] = b;
            }
        }
        g += np;
        let ni = lay(l, L_NINT);
        let ui = sb + lay(l, L_U_I);
        let du_i = cb + lay(l, L_DU_I);
        for (var j = first(g); j < ni; j += WG) {
            st[ui + j] = st[ui + j] + sc[du_i + j];
        }
        g += ni;
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let inst = wg.x;
    tid = lid;
    sb = inst * table[H_STATE_STRIDE];
    cb = inst * table[H_SCRATCH_STRIDE];
    pb = table[H_PARAMS] + inst * table[H_PARAMS_STRIDE];
    n_layers = table[H_N];
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
    let w_total = table[H_W_TOTAL];

    let t_end = min(disp.t_end, disp.n_patterns * steps);
    let n_mean = f32(max(steps, out_lag + 1u) - out_lag);
    for (var t = disp.t_begin; t < t_end; t++) {
        let p = t / steps;
        let s = t - p * steps;
        let row = inst * disp.n_patterns + p;
        if s == 0u {
            for (var i = tid; i < 2u * n_out; i += WG) {
                sc[acc + i] = 0.0;
            }
        }
        phase_a(row * (n_in + n_out));
        storageBarrier();
        let plastic = train && s >= lag;
        phase_b(train, plastic, noisy, seed, step);
        storageBarrier();
        phase_c(plastic, s >= out_lag, s + 1u == steps || (s + 1u) % ACC_BLOCK == 0u);
        storageBarrier();
        step.x += 1u;
        if step.x == 0u {
            step.y += 1u;
        }
        if s + 1u == steps {
            // end of the pattern: readout = mean output soma over steps >= out_lag
            for (var i = tid; i < n_out; i += WG) {
                readouts[row * n_out + i] = sc[acc + i] / n_mean;
            }
            if reset {
                for (var k = tid; k < w_total; k += WG) {
                    st[sb + w_total + k] = 0.0;
                }
                storageBarrier();
            }
        }
    }
    if train && tid == 0u {
        counters[2u * inst] = step.x;
        counters[2u * inst + 1u] = step.y;
    }
}
