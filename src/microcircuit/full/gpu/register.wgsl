// The register-resident integrator (`KernelKind::Register`) for networks with one hidden layer
// [n_in, n_hid, n_out]: the Euler steps of MODEL.md section 3 with every weight, Delta and
// soma of an instance held in the private variables (registers) of the thread that owns it
// for a whole dispatch window (docs/gpu.md section 3.1). One workgroup of RT threads per
// instance (workgroup_id.y); the host (`register.rs`) prepends the shape as literals (RT, RH,
// RC, RO, RI, RN0, RBIAS, the state offsets RS_*) and the workgroup arrays:
//   red:   2 RO rows of RT words for the partial sums of W_ip0 phi(u^P) and W_up1 phi(u^P)
//   rates: phi(u^I) then phi(u^P_out) (RO + RO words)
//   errs:  e_ip then e_up of the output layer (RO + RO words)
// and LEARN_UP0, LEARN_PI0, LEARN_DOWN0, LEARN_IP0, LEARN_UP1: whether some instance of the
// batch trains the matrix. A matrix no instance trains (dt eta = 0 in all) is frozen: its W is
// loaded but never stored, its Delta is neither loaded nor held nor updated (its registers and
// its eta test go), and where reset_deltas zeroes every Delta the window writes 0 for it at its
// end: the same bits as the general path, whose Delta of a frozen matrix only a reset changes.
//   u_top: the output somas u^P_out (RO words), for the interneurons' nudging
// and appends one of two ways to sum the columns, each with the entry point `main`:
// `register_subgroup.wgsl` after the generated `column_sums` (a transpose-reduce butterfly of
// subgroupShuffleXor over all 2 RO rows per subgroup, the partials summed in subgroup order;
// where the device has Features::SUBGROUP and its subgroups hold the rows padded to a power of 2) or `register_tree.wgsl` (a fixed-order tree over the
// RT slots in workgroup memory, one barrier per level). Either way an instance's sums do not
// depend on its batch.
//
// Ownership (thread tid; RP hidden cells per thread, `register.rs` `cells_per_thread`):
//   column slot m < RP of thread tid is column c = tid RP + m of the hidden layer's output
//   side: c < RH: hidden pyramidal cell i = c: its soma, row i of W_up0 (RN0 = n_in + bias
//   columns), of W_down0 and of W_pi0 (RO each), column i of W_ip0 and of W_up1 (RO each),
//   each with its Delta; c == RH < RC: the bias column of W_ip0 and W_up1 (presynaptic rate
//   b); c >= RC: nothing (a padding slot: its values stay 0 or are never stored). Threads with
//   tid RP < RC are the column threads (`column`).
//   tid < 2 RO, besides its columns: owner of row r = tid of the output side: interneuron
//   k = r for r < RO, output cell k = r - RO after (soma u_o; the output cell also u_tgt and
//   the readout sums). Both run one code path: a soma nudged towards a target by a dendrite
//   sum (column_sum(r)), with the role's constants.
// Every thread filters the stimulus r_0 itself (the same arithmetic, the same bits). A padding
// or bias slot runs the hidden cell's arithmetic on zero rows like the others (the same
// instructions for the whole warp, no branch); what it computes is never stored nor read.
//
// One step (all values from the state at time t, MODEL.md section 3):
//   1. r_0 += dt/tau0 (x - r_0); owner r writes its rate (phi(u^I_k) or phi(u^P_out k)) to
//      rates[r], output cell k also u^P_out k to `u_top` (and filters u_tgt);
//      `column_sums` sums W_ip0[k,i] r_i and W_up1[k,i] r_i over the columns i (barrier
//      included), `column_sum(k)` returns row k's sum;
//   2. hidden cell i: v_B = W_up0[i] pre0, v_A = W_down0[i] phi(u^P_out) + W_pi0[i] phi(u^I),
//      du, e_up, e_pi, e_down (own row, registers); owner r: its dendrite v = column_sum(r)
//      (v_D of interneuron k, v_B of output k), du = dt (-g_l u + g (v - u) + g_n (target - u))
//      with g = g_d, g_n = g_som, target = u^P_out k (interneuron) or g = g_b, g_n = g_som when
//      training else 0, target = u_tgt k (output), e = phi(u) - phi(c v) to errs[r]; barrier;
//   3. plasticity of every owned entry: W += dt eta Delta (old Delta), then
//      Delta += dt/tau_w (e r - Delta), or Delta = 0 after the last step of a training pattern
//      with reset_deltas; u += du; readout sums; trace sample.
// Step t+1 writes `red`, `rates` and `u_top` only after every thread passed step t's last barrier
// but one, after which nothing of step t reads them (hidden threads keep the rates of step 2 in
// registers for step 3); `errs` are written after step t+1's first barrier. So two barriers
// plus the tree's per step, no double buffer.
//
// A window of stream steps [disp.t_begin, disp.t_end) reads the owned values from the state
// (and the readout sums from the scratch) at its start and writes them back at its end: all of
// them when training, only the somas and the filtered stimulus when evaluating (the state is
// the evaluation copy, W and Delta do not change). Needs the prelude (word indices) and
// common.wgsl (Dispatch, noise, phi).

// The bindings are bindings.wgsl, which the host prepends.

// The stream state per invocation (tid, inst, bases, stream settings, s, row, sample), `par`,
// `paru`, `begin_stream`, `sample_at` and `next_step` are invocation.wgsl, which the host
// prepends.
// The thread's role: column thread (owns RP column slots), owner of row r_own of the output
// side (out_cell: an output cell, else an interneuron; k_own: its index k), and the owner's
// constants: dendritic conductance g_dend (g_d or g_b), nudging conductance g_nudge (g_som; an
// output cell's only when training), the error's dendritic scale c_own (c_inter or c_output)
// and its noise index.
var<private> column: bool;
var<private> owner: bool;
var<private> out_cell: bool;
var<private> r_own: u32;
var<private> k_own: u32;
var<private> g_dend: f32;
var<private> g_nudge: f32;
var<private> c_own: f32;
var<private> noise_own: u32;
// The instance's per-step constants, read from the parameter table once per window (`begin`):
// dt/tau_0 of the stimulus filter, the bias rate b, dt, g_l, g_b, g_a, the noise amplitude, the
// hidden error's dendritic scale c_hidden, dt/tau_w, and dt eta of the five owned matrices.
var<private> c_k0: f32;
var<private> c_b: f32;
var<private> c_dt: f32;
var<private> c_gl: f32;
var<private> c_gb: f32;
var<private> c_ga: f32;
var<private> c_amp: f32;
var<private> c_ch: f32;
var<private> c_kw: f32;
var<private> eta_up: f32;
var<private> eta_pi: f32;
var<private> eta_down: f32;
var<private> eta_ip: f32;
var<private> eta_out: f32;

// Owned values (registers), slot m at m RN0 + j or m RO + k. Hidden cell: row of W_up0 (w_up,
// d_up), of W_down0 (w_down, d_down) and W_pi0 (w_pi, d_pi); column: column of W_ip0 (w_ip,
// d_ip) and of W_up1 (w_out, d_out).
var<private> w_up: array<f32, RP * RN0>;
var<private> d_up: array<f32, RP * RN0>;
var<private> w_down: array<f32, RP * RO>;
var<private> d_down: array<f32, RP * RO>;
var<private> w_pi: array<f32, RP * RO>;
var<private> d_pi: array<f32, RP * RO>;
var<private> w_ip: array<f32, RP * RO>;
var<private> d_ip: array<f32, RP * RO>;
var<private> w_out: array<f32, RP * RO>;
var<private> d_out: array<f32, RP * RO>;
// Some step of this window zeroed the Deltas (reset_deltas after a training pattern).
var<private> zeroed: bool;
// The filtered stimulus (every thread), the somas of the hidden cells, the presynaptic rates of
// the column slots (phi(u_p), b or 0) of the step; the owner's soma (interneuron k or output
// cell k), the output cell's filtered target and readout sums (total and current block).
var<private> r0: array<f32, RI>;
var<private> u_p: array<f32, RP>;
// Per column slot, set once per window: a hidden cell (its rate is phi(u_p)), else the rate it
// always has (b for the bias column, 0 for padding).
var<private> slot_hidden: array<bool, RP>;
var<private> slot_rate: array<f32, RP>;
var<private> rc: array<f32, RP>;
var<private> u_o: f32;
var<private> u_tgt: f32;
var<private> acc: f32;
var<private> acc_block: f32;
// A hidden cell's copies of phi(u^I) and phi(u^P_out) of the step (for its plasticity).
var<private> r_int: array<f32, RO>;
var<private> r_top: array<f32, RO>;

// dt * eta of matrix kind k (0 up, 1 pi, 2 ip, 3 down) of layer l (two layers).
fn eta(k: u32, l: u32) -> f32 {
    return par(P_ETA + k * 2u + l);
}

// (3) one entry of a matrix that learns at this step, (W, Delta) -> (W + dt eta Delta,
// Delta + dt/tau_w (e r - Delta)): the weight takes the old Delta; three fused multiply-adds.
fn learn(w: f32, d: f32, e: f32, r: f32, eta_dt: f32, kw: f32) -> vec2<f32> {
    return vec2<f32>(fma(eta_dt, d, w), fma(kw, fma(e, r, -d), d));
}

// Column c of slot m of this thread (a hidden cell where c < RH, the bias column where
// c == RH < RC, padding after).
fn slot(m: u32) -> u32 {
    return tid * RP + m;
}

// Row k of the W_ip0 phi(u^P) and W_up1 phi(u^P) products of this thread's columns: the sum
// of its slots' W_ip0[k, c] r_c (k < RO), W_up1[k - RO, c] r_c (after), in slot order.
fn column_product(k: u32) -> f32 {
    var x = 0.0;
    for (var m = 0u; m < RP; m++) {
        if k < RO {
            x += w_ip[m * RO + k] * rc[m];
        } else {
            x += w_out[m * RO + k - RO] * rc[m];
        }
    }
    return x;
}

// Sets the invocation's instance, thread, role and stream constants.
fn begin(instance: u32, thread: u32) {
    begin_stream(instance, thread);
    column = tid * RP < RC;
    owner = tid < 2u * RO;
    out_cell = owner && tid >= RO;
    r_own = tid;
    k_own = select(r_own, r_own - RO, out_cell);
    let gsom = par(P_GSOM);
    g_dend = select(par(P_GD), par(P_GB), out_cell);
    g_nudge = select(gsom, select(0.0, gsom, train), out_cell);
    c_own = select(par(P_C_INTER), par(P_C_OUTPUT), out_cell);
    noise_own = select(RS_NOISE_I0 + k_own, RS_NOISE_P1 + k_own, out_cell);
    zeroed = false;
    c_k0 = par(P_K0);
    c_b = par(P_BIAS);
    c_dt = par(P_DT);
    c_gl = par(P_GL);
    c_gb = par(P_GB);
    c_ga = par(P_GA);
    c_amp = par(P_NOISE);
    c_ch = par(P_C_HIDDEN);
    c_kw = par(P_KW);
    eta_up = eta(0u, 0u);
    eta_pi = eta(1u, 0u);
    eta_down = eta(3u, 0u);
    eta_ip = eta(2u, 0u);
    eta_out = eta(0u, 1u);
    for (var m = 0u; m < RP; m++) {
        let c = slot(m);
        slot_hidden[m] = c < RH;
        slot_rate[m] = select(0.0, c_b, c < RC);
    }
}

// Sets the step index in the pattern and the pattern row from stream step t (once per window;
// `run` advances them step by step).
fn at_step(t: u32) {
    let p = t / steps;
    s = t - p * steps;
    row = inst * disp.n_patterns + p;
}

// Reads the thread's owned values from the state (and scratch) at the start of a window
// (padding slots keep their zeros).
fn load_window() {
    let d = RS_W_TOTAL;
    for (var m = 0u; m < RP; m++) {
        let c = slot(m);
        if c < RH {
            u_p[m] = st[sb + RS_U_P0 + c];
            let up = sb + RS_W_UP0 + c * RN0;
            for (var j = 0u; j < RN0; j++) {
                w_up[m * RN0 + j] = st[up + j];
                if LEARN_UP0 {
                    d_up[m * RN0 + j] = st[up + d + j];
                }
            }
            let down = sb + RS_W_DOWN0 + c * RO;
            let pi = sb + RS_W_PI0 + c * RO;
            for (var k = 0u; k < RO; k++) {
                w_down[m * RO + k] = st[down + k];
                w_pi[m * RO + k] = st[pi + k];
                if LEARN_DOWN0 {
                    d_down[m * RO + k] = st[down + d + k];
                }
                if LEARN_PI0 {
                    d_pi[m * RO + k] = st[pi + d + k];
                }
            }
        }
        if c < RC {
            for (var k = 0u; k < RO; k++) {
                let ip = sb + RS_W_IP0 + k * RC + c;
                let out = sb + RS_W_UP1 + k * RC + c;
                w_ip[m * RO + k] = st[ip];
                w_out[m * RO + k] = st[out];
                if LEARN_IP0 {
                    d_ip[m * RO + k] = st[ip + d];
                }
                if LEARN_UP1 {
                    d_out[m * RO + k] = st[out + d];
                }
            }
        }
    }
    if out_cell {
        u_o = st[sb + RS_U_P1 + k_own];
        u_tgt = st[sb + RS_UTGT + k_own];
        acc = sc[cb + RS_ACC + k_own];
        acc_block = sc[cb + RS_ACC + RO + k_own];
    } else if owner {
        u_o = st[sb + RS_U_I0 + k_own];
    }
    for (var j = 0u; j < RI; j++) {
        r0[j] = st[sb + RS_R0 + j];
    }
}

// Writes the owned values back at the end of a window: W and Delta only when training.
fn store_window() {
    let d = RS_W_TOTAL;
    for (var m = 0u; m < RP; m++) {
        let c = slot(m);
        if c < RH {
            st[sb + RS_U_P0 + c] = u_p[m];
        }
        if !train {
            continue;
        }
        if c < RH {
            let up = sb + RS_W_UP0 + c * RN0;
            for (var j = 0u; j < RN0; j++) {
                if LEARN_UP0 {
                    st[up + j] = w_up[m * RN0 + j];
                    st[up + d + j] = d_up[m * RN0 + j];
                } else if zeroed {
                    st[up + d + j] = 0.0;
                }
            }
            let down = sb + RS_W_DOWN0 + c * RO;
            let pi = sb + RS_W_PI0 + c * RO;
            for (var k = 0u; k < RO; k++) {
                if LEARN_DOWN0 {
                    st[down + k] = w_down[m * RO + k];
                    st[down + d + k] = d_down[m * RO + k];
                } else if zeroed {
                    st[down + d + k] = 0.0;
                }
                if LEARN_PI0 {
                    st[pi + k] = w_pi[m * RO + k];
                    st[pi + d + k] = d_pi[m * RO + k];
                } else if zeroed {
                    st[pi + d + k] = 0.0;
                }
            }
        }
        if c < RC {
            for (var k = 0u; k < RO; k++) {
                let ip = sb + RS_W_IP0 + k * RC + c;
                let out = sb + RS_W_UP1 + k * RC + c;
                if LEARN_IP0 {
                    st[ip] = w_ip[m * RO + k];
                    st[ip + d] = d_ip[m * RO + k];
                } else if zeroed {
                    st[ip + d] = 0.0;
                }
                if LEARN_UP1 {
                    st[out] = w_out[m * RO + k];
                    st[out + d] = d_out[m * RO + k];
                } else if zeroed {
                    st[out + d] = 0.0;
                }
            }
        }
    }
    if out_cell {
        st[sb + RS_U_P1 + k_own] = u_o;
        st[sb + RS_UTGT + k_own] = u_tgt;
        sc[cb + RS_ACC + k_own] = acc;
        sc[cb + RS_ACC + RO + k_own] = acc_block;
    } else if owner {
        st[sb + RS_U_I0 + k_own] = u_o;
    }
    if tid == 0u {
        for (var j = 0u; j < RI; j++) {
            st[sb + RS_R0 + j] = r0[j];
        }
    }
}

// One Euler step (1.–3. above); `plastic`: the matrices with eta != 0 learn at this step;
// `step`: the training step counter (noise key).
fn euler_step(plastic: bool, step: vec2<u32>) {
    let k0 = c_k0;
    let b = c_b;
    let xo = row * (RI + RO);
    // 1. the stimulus filter, the presynaptic rates of the owned columns, the partial sums
    for (var j = 0u; j < RI; j++) {
        r0[j] = r0[j] + k0 * (patterns[xo + j] - r0[j]);
    }
    if column {
        for (var m = 0u; m < RP; m++) {
            rc[m] = select(slot_rate[m], phi(u_p[m]), slot_hidden[m]);
        }
    }
    // the owner's rate phi(u^I_k) or phi(u^P_out k)
    var ru = 0.0;
    if owner {
        if out_cell {
            u_tgt = u_tgt + k0 * (patterns[xo + RI + k_own] - u_tgt);
            u_top[k_own] = u_o;
        }
        ru = phi(u_o);
        rates[r_own] = ru;
    }
    column_sums();
    // 2. dendrites, soma increments, errors
    let dt = c_dt;
    let gl = c_gl;
    let gb = c_gb;
    let amp = c_amp;
    var du: array<f32, RP>;
    var e_up: array<f32, RP>;
    var e_pi: array<f32, RP>;
    var e_down: array<f32, RP>;
    var du_o = 0.0;
    if column {
        let ga = c_ga;
        for (var k = 0u; k < RO; k++) {
            r_int[k] = rates[k];
            r_top[k] = rates[RO + k];
        }
        for (var m = 0u; m < RP; m++) {
            var vb = 0.0;
            for (var j = 0u; j < RI; j++) {
                vb += w_up[m * RN0 + j] * r0[j];
            }
            if RBIAS {
                vb += w_up[m * RN0 + RN0 - 1u] * b;
            }
            var vdown = 0.0;
            var vpi = 0.0;
            for (var k = 0u; k < RO; k++) {
                vdown += w_down[m * RO + k] * r_top[k];
                vpi += w_pi[m * RO + k] * r_int[k];
            }
            let va = vpi + vdown;
            let u = u_p[m];
            var du_m = dt * (-gl * u + gb * (vb - u) + ga * (va - u));
            if noisy {
                du_m += amp * normal(seed, step, RS_NOISE_P0 + slot(m));
            }
            du[m] = du_m;
            e_up[m] = rc[m] - phi(c_ch * vb);
            e_pi[m] = -va;
            if LEARN_DOWN0 {
                e_down[m] = rc[m] - phi(vdown);
            }
        }
    }
    if owner {
        // v_D of interneuron k (row k of W_ip0 phi(u^P)) or v_B of output cell k (row k of
        // W_up1 phi(u^P)); the target: output soma k, or the output cell's u_tgt
        let v = column_sum(r_own);
        var nudge_to = u_tgt;
        if !out_cell {
            nudge_to = u_top[k_own];
        }
        du_o = dt * (-gl * u_o + g_dend * (v - u_o) + g_nudge * (nudge_to - u_o));
        if noisy {
            du_o += amp * normal(seed, step, noise_own);
        }
        errs[r_own] = ru - phi(c_own * v);
    }
    workgroupBarrier();
    // 3. plasticity of the owned entries: each matrix that learns at this step (a branch the
    // whole workgroup takes alike: eta and the step are the instance's) updates its entries
    // with `learn`; after the last step of a training pattern with reset_deltas every owned
    // Delta is zeroed (the weights took the old Delta first)
    let last = s + 1u == steps;
    let zero = reset && last;
    if plastic && column {
        let kw = c_kw;
        if LEARN_UP0 && eta_up != 0.0 {
            for (var m = 0u; m < RP; m++) {
                for (var j = 0u; j < RI; j++) {
                    let i = m * RN0 + j;
                    let wd = learn(w_up[i], d_up[i], e_up[m], r0[j], eta_up, kw);
                    w_up[i] = wd.x;
                    d_up[i] = wd.y;
                }
                if RBIAS {
                    let i = m * RN0 + RN0 - 1u;
                    let wd = learn(w_up[i], d_up[i], e_up[m], b, eta_up, kw);
                    w_up[i] = wd.x;
                    d_up[i] = wd.y;
                }
            }
        }
        if LEARN_PI0 && eta_pi != 0.0 {
            for (var m = 0u; m < RP; m++) {
                for (var k = 0u; k < RO; k++) {
                    let i = m * RO + k;
                    let wd = learn(w_pi[i], d_pi[i], e_pi[m], r_int[k], eta_pi, kw);
                    w_pi[i] = wd.x;
                    d_pi[i] = wd.y;
                }
            }
        }
        if LEARN_DOWN0 && eta_down != 0.0 {
            for (var m = 0u; m < RP; m++) {
                for (var k = 0u; k < RO; k++) {
                    let i = m * RO + k;
                    let wd = learn(w_down[i], d_down[i], e_down[m], r_top[k], eta_down, kw);
                    w_down[i] = wd.x;
                    d_down[i] = wd.y;
                }
            }
        }
        if LEARN_IP0 && eta_ip != 0.0 {
            for (var k = 0u; k < RO; k++) {
                let e = errs[k];
                for (var m = 0u; m < RP; m++) {
                    let i = m * RO + k;
                    let wd = learn(w_ip[i], d_ip[i], e, rc[m], eta_ip, kw);
                    w_ip[i] = wd.x;
                    d_ip[i] = wd.y;
                }
            }
        }
        if LEARN_UP1 && eta_out != 0.0 {
            for (var k = 0u; k < RO; k++) {
                let e = errs[RO + k];
                for (var m = 0u; m < RP; m++) {
                    let i = m * RO + k;
                    let wd = learn(w_out[i], d_out[i], e, rc[m], eta_out, kw);
                    w_out[i] = wd.x;
                    d_out[i] = wd.y;
                }
            }
        }
    }
    if zero && column {
        zeroed = true;
        for (var i = 0u; i < RP * RN0; i++) {
            if LEARN_UP0 {
                d_up[i] = 0.0;
            }
        }
        for (var i = 0u; i < RP * RO; i++) {
            if LEARN_PI0 {
                d_pi[i] = 0.0;
            }
            if LEARN_DOWN0 {
                d_down[i] = 0.0;
            }
            if LEARN_IP0 {
                d_ip[i] = 0.0;
            }
            if LEARN_UP1 {
                d_out[i] = 0.0;
            }
        }
    }
    // 4. the somas, the readout sums (two-level: blocks of ACC_BLOCK steps folded into the
    // total, from step index out_lag on; the mean after the last step), the trace sample
    let record = sample != NO_SAMPLE;
    if column {
        for (var m = 0u; m < RP; m++) {
            u_p[m] = u_p[m] + du[m];
            let c = slot(m);
            if record && c < RH && RS_REC_P0 < disp.rec_width {
                trace[sample + RS_REC_P0 + c] = bitcast<u32>(u_p[m]);
            }
        }
    }
    if out_cell {
        let k = k_own;
        u_o = u_o + du_o;
        if s >= out_lag {
            var bs = acc_block + u_o;
            if last || (s + 1u) % ACC_BLOCK == 0u {
                acc += bs;
                bs = 0.0;
            }
            acc_block = bs;
        }
        if last {
            readouts[row * RO + k] = acc / f32(max(steps, out_lag + 1u) - out_lag);
        }
        if record {
            trace[sample + k] = bitcast<u32>(u_o);
            trace[sample + RO + k] = bitcast<u32>(u_tgt);
        }
    } else if owner {
        u_o = u_o + du_o;
        if record && RS_REC_I0 < disp.rec_width {
            trace[sample + RS_REC_I0 + k_own] = bitcast<u32>(u_o);
        }
    }
    if record && tid == 0u {
        for (var j = 0u; j < RI; j++) {
            trace[sample + 2u * RO + j] = bitcast<u32>(r0[j]);
        }
    }
}

// One workgroup per instance (`main`, appended, calls this with workgroup_id.y and the
// local invocation index) runs the window of stream steps on the values its threads own.
fn run(instance: u32, thread: u32) {
    begin(instance, thread);
    var step = vec2<u32>(counters[2u * inst], counters[2u * inst + 1u]);
    // from uniform values only (the barriers below need uniform control flow)
    let p_steps = table[table[H_PARAMS] + instance * table[H_PARAMS_STRIDE] + P_STEPS];
    let t_end = min(disp.t_end, disp.n_patterns * p_steps);
    if disp.t_begin >= t_end {
        return;
    }
    load_window();
    at_step(disp.t_begin);
    for (var t = disp.t_begin; t < t_end; t++) {
        sample_at(t);
        if s == 0u {
            acc = 0.0;
            acc_block = 0.0;
        }
        euler_step(train && s >= lag, step);
        step = next_step(step);
        s += 1u;
        if s == steps {
            s = 0u;
            row += 1u;
        }
    }
    store_window();
    if train && tid == 0u {
        counters[2u * inst] = step.x;
        counters[2u * inst + 1u] = step.y;
    }
}
