// The Euler integrator of MODEL.md section 3 on NT threads per instance, spread over the
// neurons, matrix rows and matrix entries of that instance (NT is prepended by the host). Each
// instance runs through the steps of its patterns as one stream (pattern p = t / steps, step
// index s = t % steps, its own `steps` per pattern). Two ways to run it:
//
// * `main` (fused): one workgroup per instance (NT = WG), one dispatch runs stream steps
//   [disp.t_begin, disp.t_end), the phases A, B, C of a step separated by storageBarrier().
// * `phase_a`, `phase_b`, `phase_c` (phased): NT / WG workgroups per instance (workgroup_id.x
//   the tile, .y the instance), each entry point runs one phase of the one stream step
//   disp.t_begin; the dispatch boundaries between them replace the barriers.
//
// A phase reads only what earlier phases of the step wrote or what the same thread wrote in
// it, so both give the same numbers bit for bit. Loop trips per step are bounded on the host
// (`layout::loop_trips_*`), which sizes the windows: llvmpipe/lavapipe stops a shader after
// 65535 loop iterations in total (LP_MAX_TGSI_LOOP_ITERATIONS). Keep both in step when
// changing a loop here. Needs the prelude (word indices) and common.wgsl (Dispatch, noise, phi).

// The bindings (table, patterns, st, sc, counters, readouts, disp, trace) are bindings.wgsl,
// the per-invocation stream state invocation.wgsl, which the host prepends.

// ---- phases: resident.rs copies from here to the end marker into resident.wgsl, addressing ws/wc ----
// The stream state per invocation (tid, inst, bases, stream settings, s, row, sample), `par`,
// `paru`, `begin_stream`, `sample_at` and `next_step` are invocation.wgsl, which the host
// prepends; the layers of this kernel's instance:
var<private> n_layers: u32;

fn lay(l: u32, field: u32) -> u32 {
    return table[H_LAYERS + l * L_STRIDE + field];
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
    for (var j = tid; j < n_in; j += NT) {
        let r = st[r0 + j] + k0 * (patterns[xo + j] - st[r0 + j]);
        st[r0 + j] = r;
        sc[pre0 + j] = r;
    }
    let ut = sb + table[H_UTGT];
    for (var j = tid; j < n_out; j += NT) {
        st[ut + j] = st[ut + j] + k0 * (patterns[xo + n_in + j] - st[ut + j]);
    }
    var g = n_in;
    for (var l = 0u; l < n_layers; l++) {
        let np = lay(l, L_NPYR);
        let up = sb + lay(l, L_U_P);
        let nx = cb + lay(l, L_PRE_NEXT);
        for (var i = first(g); i < np; i += NT) {
            sc[nx + i] = phi(st[up + i]);
        }
        g += np;
        let ni = lay(l, L_NINT);
        let ui = sb + lay(l, L_U_I);
        let ri = cb + lay(l, L_R_I);
        for (var j = first(g); j < ni; j += NT) {
            sc[ri + j] = phi(st[ui + j]);
        }
        g += ni;
    }
    if table[H_BIAS] != 0u && tid == NT - 1u {
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
fn phase_b(plastic: bool, step: vec2<u32>) {
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
            for (var i = first(g); i < np; i += NT) {
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
            for (var j = first(g); j < ni; j += NT) {
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
            for (var i = first(g); i < np; i += NT) {
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
        let dv = st[d + k];
        st[w + k] = st[w + k] + eta_dt * dv;
        st[d + k] = select(dv + kw * (sc[e + i] * sc[r + j] - dv), 0.0, zero);
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
        st[d + k] = 0.0;
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
            let nx = cb + lay(l, L_PRE_NEXT);
            g = plasticity(g, 0u, l, sb + lay(l, L_W_UP), cb + lay(l, L_E_UP), cb + lay(l, L_PRE),
                           np, ncol, plastic, zero);
            if lay(l, L_HIDDEN) == 0u {
                continue;
            }
            let nip = lay(l + 1u, L_NPRE);
            let above = cb + lay(l + 1u, L_PRE_NEXT);
            g = plasticity(g, 2u, l, sb + lay(l, L_W_IP), cb + lay(l, L_E_IP), nx, ni, nip,
                           plastic, zero);
            g = plasticity(g, 1u, l, sb + lay(l, L_W_PI), cb + lay(l, L_E_PI), cb + lay(l, L_R_I),
                           np, ni, plastic, zero);
            g = plasticity(g, 3u, l, sb + lay(l, L_W_DOWN), cb + lay(l, L_E_DOWN), above, np, ni,
                           plastic, zero);
        }
    }
    let acc_on = s >= out_lag;
    let fold = last || (s + 1u) % ACC_BLOCK == 0u;
    let n_mean = f32(max(steps, out_lag + 1u) - out_lag);
    let acc = cb + table[H_ACC];
    let record = sample != NO_SAMPLE;
    for (var l = 0u; l < n_layers; l++) {
        let np = lay(l, L_NPYR);
        let up = sb + lay(l, L_U_P);
        let du_p = cb + lay(l, L_DU_P);
        let output = lay(l, L_HIDDEN) == 0u;
        // the columns of this layer's somas in a sample (hidden ones only when recording all)
        let col_p = lay(l, L_REC_P);
        let rec_p = record && col_p < disp.rec_width;
        for (var i = first(g); i < np; i += NT) {
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
            if output && last {
                readouts[row * np + i] = sc[acc + i] / n_mean;
            }
            if rec_p {
                trace[sample + col_p + i] = bitcast<u32>(u);
            }
        }
        g += np;
        let ni = lay(l, L_NINT);
        let ui = sb + lay(l, L_U_I);
        let du_i = cb + lay(l, L_DU_I);
        let col_i = lay(l, L_REC_I);
        let rec_i = record && col_i < disp.rec_width;
        for (var j = first(g); j < ni; j += NT) {
            let u = st[ui + j] + sc[du_i + j];
            st[ui + j] = u;
            if rec_i {
                trace[sample + col_i + j] = bitcast<u32>(u);
            }
        }
        g += ni;
    }
    if record {
        // u_tgt and r_0 as phase A left them (no thread writes them in this phase)
        let n_out = table[H_N_OUT];
        let ut = sb + table[H_UTGT];
        for (var i = first(g); i < n_out; i += NT) {
            trace[sample + n_out + i] = bitcast<u32>(st[ut + i]);
        }
        g += n_out;
        let r0 = sb + table[H_R0];
        for (var j = first(g); j < table[H_N_IN]; j += NT) {
            trace[sample + 2u * n_out + j] = bitcast<u32>(st[r0 + j]);
        }
    }
}

// Sets the invocation's instance, thread and stream constants.
fn begin(instance: u32, thread: u32) {
    begin_stream(instance, thread);
    n_layers = table[H_N];
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
    sample_at(t);
}

// At the start of a pattern: clear the readout sums (total and block).
fn clear_readout_sums() {
    let acc = cb + table[H_ACC];
    for (var i = tid; i < 2u * table[H_N_OUT]; i += NT) {
        sc[acc + i] = 0.0;
    }
}

// Phase A's pattern row: the inputs then the targets of the current pattern.
fn pattern_offset() -> u32 {
    return row * (table[H_N_IN] + table[H_N_OUT]);
}

fn plastic_now() -> bool {
    return train && s >= lag;
}
// ---- end of the phases resident.wgsl shares ----

// Fused: one workgroup (y) per instance runs the window of stream steps.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    begin(wg.y, lid);
    var step = vec2<u32>(counters[2u * inst], counters[2u * inst + 1u]);
    // from uniform values only (the barriers below need uniform control flow)
    let p_steps = table[table[H_PARAMS] + wg.y * table[H_PARAMS_STRIDE] + P_STEPS];
    let t_end = min(disp.t_end, disp.n_patterns * p_steps);
    for (var t = disp.t_begin; t < t_end; t++) {
        at_step(t);
        if s == 0u {
            clear_readout_sums();
        }
        phase_a(pattern_offset());
        storageBarrier();
        let plastic = plastic_now();
        phase_b(plastic, step);
        storageBarrier();
        phase_c(plastic);
        storageBarrier();
        step = next_step(step);
    }
    if train && tid == 0u {
        counters[2u * inst] = step.x;
        counters[2u * inst + 1u] = step.y;
    }
}

// Phased: workgroup (x, y) is tile x of instance y; each entry point runs one phase of stream
// step disp.t_begin, and returns at once when the instance's stream has ended.
fn begin_phase(wg: vec3<u32>, lid: u32) -> bool {
    begin(wg.y, wg.x * WG + lid);
    if disp.t_begin >= stream_end() {
        return false;
    }
    at_step(disp.t_begin);
    return true;
}

@compute @workgroup_size(WG)
fn phase_a_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if begin_phase(wg, lid) {
        if s == 0u {
            clear_readout_sums();
        }
        phase_a(pattern_offset());
    }
}

@compute @workgroup_size(WG)
fn phase_b_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if begin_phase(wg, lid) {
        phase_b(plastic_now(), vec2<u32>(counters[2u * inst], counters[2u * inst + 1u]));
    }
}

@compute @workgroup_size(WG)
fn phase_c_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if begin_phase(wg, lid) {
        phase_c(plastic_now());
        if train && tid == 0u {
            let step = next_step(vec2<u32>(counters[2u * inst], counters[2u * inst + 1u]));
            counters[2u * inst] = step.x;
            counters[2u * inst + 1u] = step.y;
        }
    }
}
