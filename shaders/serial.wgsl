// The Euler integrator with one invocation per instance (MODEL.md section 3), for CPU Vulkan
// drivers: llvmpipe/lavapipe runs the WG invocations of a workgroup as the lanes of one SIMD
// vector and pays for every storage-buffer access per vector (a loop over the lanes), so
// WG instances side by side, each running its whole step with no barriers, keep every lane
// busy, and `vec4` accesses (matrix rows and scratch vectors padded to 4 words with zeros)
// move four values per lane per access.
//
// Within a step the layers are processed in ascending order and the rows of a layer one by
// one: a row's dendrite, soma increment and plasticity error use only the rates of the old
// somas (computed first), its own soma and, for interneurons of layer l, the old u^P[l+1],
// which is updated later; so each row's plasticity and soma update can follow its dendrite at
// once and the order equals the reference order (1) filter, (2) dendrites from the old somas,
// (3) W += dt eta Delta with the old Delta, then Delta += dt/tau_w (e r^T - Delta), (4) u += du.
// The loop trips are bounded on the host (`Layout::serial_trips_per_step`), which sizes the
// dispatch windows under llvmpipe's limit of 65535 loop iterations per invocation; keep both in
// step when changing a loop here. Needs the prelude (word indices, WG) and common.wgsl.

struct Dispatch {
    t_begin: u32,
    t_end: u32,
    // 1 for training patterns (nudging, plasticity, noise), 0 for evaluation
    train: u32,
    // patterns per instance in the uploaded piece (row stride of `patterns` and `readouts`)
    n_patterns: u32,
    // instances in the sub-batch (invocations beyond it return at once)
    n_instances: u32,
}

@group(0) @binding(0) var<storage, read> table: array<u32>;
@group(0) @binding(1) var<storage, read> patterns: array<f32>;
@group(0) @binding(2) var<storage, read_write> st: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> sc: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> counters: array<u32>;
@group(0) @binding(5) var<storage, read_write> readouts: array<f32>;
@group(0) @binding(6) var<uniform> disp: Dispatch;

// Word bases of the instance's state, scratch and parameter record; vec4 offset of Delta
// behind W.
var<private> sb: u32;
var<private> cb: u32;
var<private> pb: u32;
var<private> n_layers: u32;
var<private> dq: u32;

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

// sum_k W[k] x[k] over one padded row: n4 chunks of 4 at vec4 offsets w (state) and x
// (scratch), four partial sums added pairwise at the end.
fn dot4(w: u32, x: u32, n4: u32) -> f32 {
    var s = vec4<f32>();
    for (var k = 0u; k < n4; k++) {
        s += st[w + k] * sc[x + k];
    }
    return (s.x + s.y) + (s.z + s.w);
}

// (3) for one row with error e: W += dt eta Delta (old Delta), then
// Delta += dt/tau_w (e r - Delta), in n4 chunks; W at vec4 offset w, Delta at w + dq, the
// presynaptic rates r at scratch vec4 offset x (zero padding keeps the padding zero).
fn learn_row(w: u32, x: u32, n4: u32, e: f32, eta_dt: f32, kw: f32) {
    for (var k = 0u; k < n4; k++) {
        let d = st[w + dq + k];
        st[w + k] = st[w + k] + eta_dt * d;
        st[w + dq + k] = d + kw * (e * sc[x + k] - d);
    }
}

// One Euler step of this instance with the stimulus at word xo of `patterns`.
fn euler_step(xo: u32, train: bool, plastic: bool, noisy: bool, seed: vec2<u32>, step: vec2<u32>,
              acc_on: bool, fold: bool) {
    let dt = par(P_DT);
    let gl = par(P_GL);
    let gb = par(P_GB);
    let ga = par(P_GA);
    let gd = par(P_GD);
    let gsom = par(P_GSOM);
    let amp = par(P_NOISE);
    let kw = par(P_KW);
    let k0 = par(P_K0);
    let n_in = table[H_N_IN];
    let n_out = table[H_N_OUT];

    // (1) stimulus filter: r_0 += dt/tau0 (x - r_0) (also the first presynaptic vector),
    // u_tgt += dt/tau0 (y - u_tgt)
    let r0 = sb + table[H_R0];
    let pre0 = cb + lay(0u, L_PRE);
    for (var j = 0u; j < n_in; j++) {
        let r = sget(r0 + j) + k0 * (patterns[xo + j] - sget(r0 + j));
        sset(r0 + j, r);
        cset(pre0 + j, r);
    }
    let ut = sb + table[H_UTGT];
    for (var j = 0u; j < n_out; j++) {
        sset(ut + j, sget(ut + j) + k0 * (patterns[xo + n_in + j] - sget(ut + j)));
    }

    // rates of the old somas: pre[l+1] = phi(u^P[l]), r_I[l] = phi(u^I[l]), bias slots
    for (var l = 0u; l < n_layers; l++) {
        let np = lay(l, L_NPYR);
        let up = sb + lay(l, L_U_P);
        let nx = cb + lay(l, L_PRE_NEXT);
        for (var i = 0u; i < np; i++) {
            cset(nx + i, phi(sget(up + i)));
        }
        let ni = lay(l, L_NINT);
        let ui = sb + lay(l, L_U_I);
        let ri = cb + lay(l, L_R_I);
        for (var j = 0u; j < ni; j++) {
            cset(ri + j, phi(sget(ui + j)));
        }
    }
    if table[H_BIAS] != 0u {
        let b = par(P_BIAS);
        for (var l = 0u; l < n_layers; l++) {
            cset(cb + lay(l, L_PRE) + lay(l, L_NPRE) - 1u, b);
        }
        let top = n_layers - 1u;
        cset(cb + lay(top, L_PRE_NEXT) + lay(top, L_NPYR), b);
    }

    // (2)-(4) row by row:
    //   hidden: v_B = W_up pre, v_A = W_down phi(u^P[l+1]) + W_pi phi(u^I),
    //           du^P = dt (-g_l u + g_B (v_B - u) + g_A (v_A - u)),
    //           e_up = phi(u) - phi(c_h v_B), e_pi = -v_A, e_down = phi(u) - phi(W_down phi(u^P[l+1]))
    //   interneuron: v_D = W_ip phi(u^P[l]), du^I = dt (-g_l u^I + g_D (v_D - u^I) + g_som (u^P[l+1] - u^I)),
    //           e_ip = phi(u^I) - phi(c_i v_D)
    //   output: du^P = dt (-g_l u + g_B (v_B - u) + g_nudge (u_tgt - u)), e_up = phi(u) - phi(c_o v_B)
    // plus sqrt(dt) sigma xi on every soma when noisy; the output somas after the step enter the
    // readout sum (two-level: blocks of ACC_BLOCK steps folded into the total).
    let g_nudge = select(0.0, gsom, train);
    let acc = cb + table[H_ACC];
    for (var l = 0u; l < n_layers; l++) {
        let np = lay(l, L_NPYR);
        let up = sb + lay(l, L_U_P);
        let nx = cb + lay(l, L_PRE_NEXT);
        let w_up = (sb + lay(l, L_W_UP)) >> 2u;
        let pre = (cb + lay(l, L_PRE)) >> 2u;
        let s_up = lay(l, L_S_UP) >> 2u;
        let eta_up = select(0.0, eta(0u, l), plastic);
        let noise_p = lay(l, L_NOISE_P);
        if lay(l, L_HIDDEN) != 0u {
            let ni = lay(l, L_NINT);
            let s_int = lay(l, L_S_INT) >> 2u;
            let w_down = (sb + lay(l, L_W_DOWN)) >> 2u;
            let w_pi = (sb + lay(l, L_W_PI)) >> 2u;
            let above = (cb + lay(l + 1u, L_PRE_NEXT)) >> 2u;
            let ri = cb + lay(l, L_R_I);
            let ri4 = ri >> 2u;
            let ch = par(P_C_HIDDEN);
            let eta_pi = select(0.0, eta(1u, l), plastic);
            let eta_down = select(0.0, eta(3u, l), plastic);
            for (var i = 0u; i < np; i++) {
                let vb = dot4(w_up + i * s_up, pre, s_up);
                let vdown = dot4(w_down + i * s_int, above, s_int);
                let va = dot4(w_pi + i * s_int, ri4, s_int) + vdown;
                let u = sget(up + i);
                var du = dt * (-gl * u + gb * (vb - u) + ga * (va - u));
                if noisy {
                    du += amp * normal(seed, step, noise_p + i);
                }
                let r = cget(nx + i);
                if eta_up != 0.0 {
                    learn_row(w_up + i * s_up, pre, s_up, r - phi(ch * vb), eta_up, kw);
                }
                if eta_pi != 0.0 {
                    learn_row(w_pi + i * s_int, ri4, s_int, -va, eta_pi, kw);
                }
                if eta_down != 0.0 {
                    learn_row(w_down + i * s_int, above, s_int, r - phi(vdown), eta_down, kw);
                }
                sset(up + i, u + du);
            }
            let s_ip = lay(l, L_S_IP) >> 2u;
            let w_ip = (sb + lay(l, L_W_IP)) >> 2u;
            let nx4 = nx >> 2u;
            let ui = sb + lay(l, L_U_I);
            let up_above = sb + lay(l + 1u, L_U_P);
            let ci = par(P_C_INTER);
            let eta_ip = select(0.0, eta(2u, l), plastic);
            let noise_i = lay(l, L_NOISE_I);
            for (var j = 0u; j < ni; j++) {
                let vd = dot4(w_ip + j * s_ip, nx4, s_ip);
                let u = sget(ui + j);
                var du = dt * (-gl * u + gd * (vd - u) + gsom * (sget(up_above + j) - u));
                if noisy {
                    du += amp * normal(seed, step, noise_i + j);
                }
                if eta_ip != 0.0 {
                    learn_row(w_ip + j * s_ip, nx4, s_ip, cget(ri + j) - phi(ci * vd), eta_ip, kw);
                }
                sset(ui + j, u + du);
            }
        } else {
            let co = par(P_C_OUTPUT);
            for (var i = 0u; i < np; i++) {
                let vb = dot4(w_up + i * s_up, pre, s_up);
                let u = sget(up + i);
                var du = dt * (-gl * u + gb * (vb - u) + g_nudge * (sget(ut + i) - u));
                if noisy {
                    du += amp * normal(seed, step, noise_p + i);
                }
                if eta_up != 0.0 {
                    learn_row(w_up + i * s_up, pre, s_up, cget(nx + i) - phi(co * vb), eta_up, kw);
                }
                let un = u + du;
                sset(up + i, un);
                if acc_on {
                    var b = cget(acc + np + i) + un;
                    if fold {
                        cset(acc + i, cget(acc + i) + b);
                        b = 0.0;
                    }
                    cset(acc + np + i, b);
                }
            }
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
    pb = table[H_PARAMS] + inst * table[H_PARAMS_STRIDE];
    n_layers = table[H_N];
    dq = table[H_W_TOTAL] >> 2u;
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

    let t_end = min(disp.t_end, disp.n_patterns * steps);
    let n_mean = f32(max(steps, out_lag + 1u) - out_lag);
    for (var t = disp.t_begin; t < t_end; t++) {
        let p = t / steps;
        let s = t - p * steps;
        let row = inst * disp.n_patterns + p;
        if s == 0u {
            for (var i = 0u; i < 2u * n_out; i++) {
                cset(acc + i, 0.0);
            }
        }
        euler_step(row * (n_in + n_out), train, train && s >= lag, noisy, seed, step,
                   s >= out_lag, s + 1u == steps || (s + 1u) % ACC_BLOCK == 0u);
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
                for (var k = 0u; k < dq; k++) {
                    st[(sb >> 2u) + dq + k] = vec4<f32>();
                }
            }
        }
    }
    if train {
        counters[2u * inst] = step.x;
        counters[2u * inst + 1u] = step.y;
    }
}
