// The steady-state model "SteadNet" (MODEL.md section 7), blocks kernel for GPUs (sweep order in
// src/microcircuit/steady/mod.rs, dispatch plan in steady/gpu/blocks.rs). A dispatch is a grid of
// workgroups: y the instance, x the row blocks of the dispatch's segments (a segment is a set of
// matrix rows of one layer: `job.segs[k]` = kind, layer, first block, flags). A workgroup of WG
// threads is WG/TEAM teams of TEAM lanes; a team owns one row. The state is read as aligned
// `vec4` chunks: lane k of a team takes the chunks c0+k, c0+k+TEAM, … that hold the row's words
// (c0 the chunk of its first word; the first and last chunk may hold words of the neighbouring
// rows, masked out: `in_row`), so a team's loads of a W row are consecutive 16-byte loads, and
// its partial sums (4 words of a chunk in order, then the next chunk) are combined by a fixed tree
// in workgroup memory (`team_sum`). Every instance starts on a multiple of 4 words and a matrix
// and its Δ lie a multiple of 4 words apart (the layout pads them), so a row's chunks, and thus
// the order of its sums, are the same in every instance, whatever the batch. Needs the generated S_*/SL_*/SP_* and K_*/F_* constants, TEAM, WV, SEG_CAP
// and `team_sum`, and common.wgsl (phi).
//   K_UP         up sweep of layer l: row i is interneuron i of layer l−1 (for l > 0; it reads
//                the old u^P[l][i], which the same team then overwrites) and pyramidal cell i of l
//   K_DOWN       down sweep of hidden layer l: the interneurons (every workgroup computes all of
//                φ(u^I[l]) into `wv`, the first block stores them), then pyramidal row i
//   K_LEARN_PYR  plasticity of W_up[l] (and W_pi[l], W_down[l]) row i
//   K_LEARN_INT  plasticity of W_ip[l] row i

struct Job {
    // pattern index inside the uploaded piece
    pattern: u32,
    pass_i: u32,
    exposure: u32,
    // 1: training pattern (output nudged towards the target, plasticity may run)
    train: u32,
    // patterns per instance in the uploaded piece (row stride of `patterns` and `readouts`)
    n_patterns: u32,
    n_seg: u32,
    // 1: the piece holds the pattern after this one (the plasticity step may compute its v_B[0])
    has_next: u32,
    pad1: u32,
    segs: array<vec4<u32>, SEG_CAP>,
}

@group(0) @binding(0) var<storage, read> table: array<u32>;
@group(0) @binding(1) var<storage, read> patterns: array<f32>;
// the state as aligned chunks of 4 words; word i is `sget(i)`
@group(0) @binding(2) var<storage, read_write> state: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> readouts: array<f32>;
@group(0) @binding(6) var<uniform> job: Job;

// partial sums of the teams' lanes
var<workgroup> part: array<f32, WG>;
// a presynaptic vector shared by the workgroup: φ(u^I[l])
var<workgroup> wv: array<f32, WV>;
// this workgroup's segment (kind, layer, first block, flags), the same for all its threads
var<workgroup> seg: vec4<u32>;

// instance (in the group), its state offset and parameter record; thread, lane in its team,
// block inside the segment
var<private> inst: u32;
var<private> base: u32;
var<private> prm: u32;
var<private> tid: u32;
var<private> lane: u32;
var<private> blk: u32;

// State word i.
fn sget(i: u32) -> f32 {
    return state[i >> 2u][i & 3u];
}

// Stores state word i (a 4-byte store: the other words of its chunk are not touched).
fn sset(i: u32, v: f32) {
    state[i >> 2u][i & 3u] = v;
}

// One past the last chunk holding words [r, r + n) (the first is r >> 2); no chunk when n = 0.
fn chunk_end(r: u32, n: u32) -> u32 {
    return select((r + n + 3u) >> 2u, r >> 2u, n == 0u);
}

// Which words of chunk c lie in [r, r + n).
fn in_row(c: u32, r: u32, n: u32) -> vec4<bool> {
    let g = vec4<u32>(4u * c) + vec4<u32>(0u, 1u, 2u, 3u);
    return (g >= vec4<u32>(r)) & (g < vec4<u32>(r + n));
}

// The state words vr + 4c + q (q = 0..3) under mask m, 0 elsewhere: the vector words of the
// columns that chunk c holds, vr being the vector's start minus the row's (wrapping).
fn gather(vr: u32, c: u32, m: vec4<bool>) -> vec4<f32> {
    let g = vr + 4u * c;
    var x = vec4<f32>(0.0);
    if m.x {
        x.x = sget(g);
    }
    if m.y {
        x.y = sget(g + 1u);
    }
    if m.z {
        x.z = sget(g + 2u);
    }
    if m.w {
        x.w = sget(g + 3u);
    }
    return x;
}

// s plus the products w·x of the words under mask m, in word order. Every row sum of the kernel
// goes through here, so the fused and the unfused v_B[0] add the same products alike.
fn acc4(s: f32, w: vec4<f32>, x: vec4<f32>, m: vec4<bool>) -> f32 {
    var t = s;
    if m.x {
        t += w.x * x.x;
    }
    if m.y {
        t += w.y * x.y;
    }
    if m.z {
        t += w.z * x.z;
    }
    if m.w {
        t += w.w * x.w;
    }
    return t;
}

// Stores v to chunk c where m holds: one 16-byte store when the whole chunk is the row's, else
// word by word (a partial chunk's other words belong to rows that other teams write).
fn put4(c: u32, v: vec4<f32>, m: vec4<bool>) {
    if all(m) {
        state[c] = v;
        return;
    }
    if m.x {
        state[c].x = v.x;
    }
    if m.y {
        state[c].y = v.y;
    }
    if m.z {
        state[c].z = v.z;
    }
    if m.w {
        state[c].w = v.w;
    }
}

fn pf(k: u32) -> f32 {
    return bitcast<f32>(table[prm + k]);
}

// dT·eta of matrix kind k (0 up, 1 pi, 2 ip, 3 down) of layer l.
fn eta(k: u32, l: u32) -> f32 {
    return pf(SP_ETA + k * table[S_N] + l);
}

// Where this instance's current pattern (stimulus, then target) starts in `patterns`.
fn pattern_at() -> u32 {
    return (inst * job.n_patterns + job.pattern) * (table[S_N_IN] + table[S_N_OUT]);
}

// This lane's share of row `row` (of `cols` columns) of the matrix at state offset w times the
// state vector at offset x, over the columns below n (cols, or 0 for no work): the row's chunks
// lane, lane+TEAM, … (see the top), each one vec4 load of W.
fn share_state(w: u32, cols: u32, row: u32, x: u32, n: u32) -> f32 {
    let r = base + w + row * cols;
    let vr = base + x - r;
    var s = 0.0;
    for (var c = (r >> 2u) + lane; c < chunk_end(r, n); c += TEAM) {
        let m = in_row(c, r, n);
        s = acc4(s, state[c], gather(vr, c, m), m);
    }
    return s;
}

// The `wv` words of the columns (4c + q − r, q = 0..3) that chunk c holds under mask m.
fn gather_wv(r: u32, c: u32, m: vec4<bool>) -> vec4<f32> {
    let j = 4u * c - r;
    var x = vec4<f32>(0.0);
    if m.x {
        x.x = wv[j];
    }
    if m.y {
        x.y = wv[j + 1u];
    }
    if m.z {
        x.z = wv[j + 2u];
    }
    if m.w {
        x.w = wv[j + 3u];
    }
    return x;
}

// The same with the vector in `wv`.
fn share_wv(w: u32, cols: u32, row: u32, n: u32) -> f32 {
    let r = base + w + row * cols;
    var s = 0.0;
    for (var c = (r >> 2u) + lane; c < chunk_end(r, n); c += TEAM) {
        let m = in_row(c, r, n);
        s = acc4(s, state[c], gather_wv(r, c, m), m);
    }
    return s;
}

// Word j of pre[0] = [x, b] with x read from the pattern at `src` (the bias slot from the state
// at b = the offset of r_0).
fn input_word(src: u32, b: u32, j: u32) -> f32 {
    if j < table[S_N_IN] {
        return patterns[src + j];
    }
    return sget(b + j);
}

// The words of pre[0] (pattern at `src`, see `input_word`) of the columns that chunk c of the
// row starting at r holds under mask m.
fn gather_input(src: u32, b: u32, r: u32, c: u32, m: vec4<bool>) -> vec4<f32> {
    let j = 4u * c - r;
    var x = vec4<f32>(0.0);
    if m.x {
        x.x = input_word(src, b, j);
    }
    if m.y {
        x.y = input_word(src, b, j + 1u);
    }
    if m.z {
        x.z = input_word(src, b, j + 2u);
    }
    if m.w {
        x.w = input_word(src, b, j + 3u);
    }
    return x;
}

// The same for W_up[0] times pre[0] = [x, b] with x read from the pattern (the state's r_0 is
// being overwritten with it in the same dispatch; the bias slot stays).
fn share_input(w: u32, cols: u32, row: u32, n: u32) -> f32 {
    let r = base + w + row * cols;
    let src = pattern_at();
    let b = base + table[S_X];
    var s = 0.0;
    for (var c = (r >> 2u) + lane; c < chunk_end(r, n); c += TEAM) {
        let m = in_row(c, r, n);
        s = acc4(s, state[c], gather_input(src, b, r, c, m), m);
    }
    return s;
}

// The low-pass plasticity step on this lane's chunks of row `row` (columns below n) of the
// matrix at state offset w (its Δ lies S_W_TOTAL words further, a multiple of 4, so chunk c of
// the row has its Δ in chunk c + S_W_TOTAL/4): Δ = (1−a)·Δ + a·e·r_pre, W += eta_dt·Δ with the
// new Δ; `zero` stores Δ = 0 afterwards (reset_deltas after the last update). W and Δ are read
// as vec4s and written by `put4`.
fn update_share(w: u32, cols: u32, row: u32, pre: u32, e: f32, eta_dt: f32, zero: bool, n: u32) {
    let a = pf(SP_A);
    let keep = 1.0 - a;
    let ae = a * e;
    let r = base + w + row * cols;
    let dc = table[S_W_TOTAL] >> 2u;
    let vr = base + pre - r;
    for (var c = (r >> 2u) + lane; c < chunk_end(r, n); c += TEAM) {
        let m = in_row(c, r, n);
        let d = keep * state[c + dc] + ae * gather(vr, c, m);
        put4(c + dc, select(d, vec4<f32>(0.0), zero), m);
        put4(c, state[c] + eta_dt * d, m);
    }
}

// update_share for W_up[0] (its Δ S_W_TOTAL words further) fused with the next relaxation's
// v_B[0]: returns this lane's share of W_new·[x_next, b] over the columns below n_dot, x_next read
// from the pattern at `src_next` (n_dot = 0: no product). The update is update_share's, on the
// columns below n_upd.
fn update_share_next(w: u32, cols: u32, row: u32, e: f32, eta_dt: f32, zero: bool, n_upd: u32, n_dot: u32, src_next: u32) -> f32 {
    let a = pf(SP_A);
    let keep = 1.0 - a;
    let ae = a * e;
    let r = base + w + row * cols;
    let dc = table[S_W_TOTAL] >> 2u;
    let v = base + table[S_X];
    var s = 0.0;
    for (var c = (r >> 2u) + lane; c < chunk_end(r, max(n_upd, n_dot)); c += TEAM) {
        var wc = state[c];
        let mu = in_row(c, r, n_upd);
        if n_upd > 0u {
            let d = keep * state[c + dc] + ae * gather(v - r, c, mu);
            put4(c + dc, select(d, vec4<f32>(0.0), zero), mu);
            wc = wc + eta_dt * d;
            put4(c, wc, mu);
        }
        let md = in_row(c, r, n_dot);
        s = acc4(s, wc, gather_input(src_next, v, r, c, md), md);
    }
    return s;
}

// `cols` when the matrix is plastic and the row is this thread's, else 0 (no update).
fn plastic_cols(go: bool, eta_dt: f32, cols: u32) -> u32 {
    return select(0u, cols, go && eta_dt != 0.0);
}

// Copies the state vector at offset `at` (n words, none when !on) into `wv`.
fn load_wv(at: u32, n: u32, on: bool) {
    for (var k = tid; k < select(0u, n, on); k += WG) {
        wv[k] = sget(base + at + k);
    }
    workgroupBarrier();
}

// Hidden pyramidal fixed point u = (g_B v_B + g_A v_A)/(g_l+g_B+g_A) of row i of the layer with
// record `lay`; stores u and φ(u).
fn set_pyramidal(lay: u32, i: u32, v_b: f32, v_a: f32) {
    let u = (pf(SP_GB) * v_b + pf(SP_GA) * v_a) / (pf(SP_GL) + pf(SP_GB) + pf(SP_GA));
    sset(base + table[lay + SL_U_P] + i, u);
    sset(base + table[lay + SL_PRE_NEXT] + i, phi(u));
}

// Interneuron i of hidden layer lm in the up sweep: v_D = W_ip·pre[lm+1], then
// u = (g_D v_D + g_som u^P[lm+1])/(g_l+g_D+g_som), or g_D v_D/(g_l+g_D) in pass 1.
fn inter_up(lm: u32, i: u32, go: bool, first: bool) {
    let lay = S_LAYERS + lm * S_LAYER_STRIDE;
    let cols = table[lay + SL_NPYR] + table[S_BIAS];
    let n = select(0u, cols, go);
    let v_d = team_sum(share_state(table[lay + SL_W_IP], cols, i, table[lay + SL_PRE_NEXT], n));
    if go && lane == 0u {
        sset(base + table[lay + SL_V_D] + i, v_d);
        var u = pf(SP_C_INTER) * v_d;
        if !first {
            let above = base + table[lay + S_LAYER_STRIDE + SL_U_P];
            u = (pf(SP_GD) * v_d + pf(SP_GSOM) * sget(above + i)) / (pf(SP_GL) + pf(SP_GD) + pf(SP_GSOM));
        }
        sset(base + table[lay + SL_U_I] + i, u);
        sset(base + table[lay + SL_R_I] + i, phi(u));
    }
}

// K_UP on row i of layer l = seg.y.
fn up(i: u32) {
    let l = seg.y;
    let hidden = (seg.w & F_HIDDEN) != 0u;
    let first = job.pass_i == 0u;
    let on = job.exposure < table[prm + SP_EXPOSURES] && job.pass_i < table[prm + SP_PASSES];
    let lay = S_LAYERS + l * S_LAYER_STRIDE;
    let go = on && i < table[lay + SL_NPYR];
    if l > 0u {
        inter_up(l - 1u, i, go, first);
    }
    let n_in = table[S_N_IN];
    let n_out = table[S_N_OUT];
    let src = pattern_at();
    if on && first && l == 0u && blk == 0u {
        // r_0 and u_tgt for the snapshot and the plasticity step; this dispatch reads the pattern
        for (var k = tid; k < n_in + n_out; k += WG) {
            let dst = select(table[S_TGT] + k - n_in, table[S_X] + k, k < n_in);
            sset(base + dst, patterns[src + k]);
        }
    }
    let npre = table[lay + SL_NPRE];
    let n = select(0u, npre, go);
    var v_b = 0.0;
    if l == 0u && !first {
        // W_up[0] and r_0 have not changed since pass 1 of this exposure
        if go {
            v_b = sget(base + table[lay + SL_V_B] + i);
        }
    } else if l == 0u {
        // training: the plasticity step before this (of the previous exposure or pattern) has
        // computed v_B[0] with the updated W_up[0] (learning instances only)
        let pre = job.train == 1u && table[prm + SP_LEARN] == 1u && (job.exposure > 0u || job.pattern > 0u);
        v_b = team_sum(share_input(table[lay + SL_W_UP], npre, i, select(0u, n, !pre)));
        if pre && go {
            v_b = sget(base + table[lay + SL_V_B] + i);
        }
    } else {
        v_b = team_sum(share_state(table[lay + SL_W_UP], npre, i, table[lay + SL_PRE], n));
    }
    if hidden {
        var v_a = 0.0;
        var v_down = 0.0;
        if !first {
            let mi = table[lay + SL_NINT];
            load_wv(table[lay + SL_R_I], mi, on);
            let nm = select(0u, mi, go);
            v_down = team_sum(share_state(table[lay + SL_W_DOWN], mi, i, table[lay + SL_PRE_ABOVE], nm));
            v_a = team_sum(share_wv(table[lay + SL_W_PI], mi, i, nm)) + v_down;
        }
        if go && lane == 0u {
            sset(base + table[lay + SL_V_B] + i, v_b);
            sset(base + table[lay + SL_V_A] + i, v_a);
            if !first {
                sset(base + table[lay + SL_V_DOWN] + i, v_down);
            }
            set_pyramidal(lay, i, v_b, v_a);
        }
    } else if go && lane == 0u {
        sset(base + table[lay + SL_V_B] + i, v_b);
        var u = pf(SP_C_OUTPUT) * v_b;
        if job.train == 1u {
            let t = patterns[src + n_in + i];
            u = (pf(SP_GB) * v_b + pf(SP_GSOM) * t) / (pf(SP_GL) + pf(SP_GB) + pf(SP_GSOM));
        }
        sset(base + table[lay + SL_U_P] + i, u);
        sset(base + table[lay + SL_PRE_NEXT] + i, phi(u));
        readouts[(inst * job.n_patterns + job.pattern) * n_out + i] = u;
    }
}

// K_DOWN on row i of hidden layer l = seg.y: interneurons nudged by the new u^P[l+1] (v_D is
// current), then v_A = W_down·φ(u^P[l+1]) + W_pi·φ(u^I[l]) and the pyramidal soma (v_B current).
fn down(i: u32) {
    let l = seg.y;
    let on = job.exposure < table[prm + SP_EXPOSURES] && job.pass_i < table[prm + SP_PASSES];
    let lay = S_LAYERS + l * S_LAYER_STRIDE;
    let go = on && i < table[lay + SL_NPYR];
    let mi = table[lay + SL_NINT];
    let above = base + table[lay + S_LAYER_STRIDE + SL_U_P];
    for (var j = tid; j < select(0u, mi, on); j += WG) {
        let v_d = sget(base + table[lay + SL_V_D] + j);
        let u = (pf(SP_GD) * v_d + pf(SP_GSOM) * sget(above + j)) / (pf(SP_GL) + pf(SP_GD) + pf(SP_GSOM));
        let r = phi(u);
        wv[j] = r;
        if blk == 0u {
            sset(base + table[lay + SL_U_I] + j, u);
            sset(base + table[lay + SL_R_I] + j, r);
        }
    }
    workgroupBarrier();
    let nm = select(0u, mi, go);
    let v_down = team_sum(share_state(table[lay + SL_W_DOWN], mi, i, table[lay + SL_PRE_ABOVE], nm));
    let v_a = team_sum(share_wv(table[lay + SL_W_PI], mi, i, nm)) + v_down;
    if go && lane == 0u {
        sset(base + table[lay + SL_V_DOWN] + i, v_down);
        sset(base + table[lay + SL_V_A] + i, v_a);
        set_pyramidal(lay, i, sget(base + table[lay + SL_V_B] + i), v_a);
    }
}

// K_LEARN_PYR on row i of layer l = seg.y, from the relaxed somas: W_up e = φ(u^P) − φ(c v_B),
// W_pi e = −v_A, W_down e = φ(u^P) − φ(v_down). The dendrites are those of the relaxed somas:
// v_B[0] as stored for this exposure (W_up[0] and r_0 unchanged since), v_A and
// v_down as the last down sweep left them (nothing they read has changed since: the same sums of
// the same numbers), v_B of the layers above recomputed (the down sweep moved their input).
// Layer 0's update also computes the next relaxation's v_B[0] from the weights it writes.
fn learn_pyr(i: u32) {
    let l = seg.y;
    let hidden = (seg.w & F_HIDDEN) != 0u;
    let on = job.exposure < table[prm + SP_EXPOSURES] && table[prm + SP_LEARN] == 1u;
    let zero = table[prm + SP_RESET] == 1u && job.exposure + 1u == table[prm + SP_EXPOSURES];
    let lay = S_LAYERS + l * S_LAYER_STRIDE;
    let go = on && i < table[lay + SL_NPYR];
    let npre = table[lay + SL_NPRE];
    let c = select(pf(SP_C_OUTPUT), pf(SP_C_HIDDEN), hidden);
    let e_up = eta(0u, l);
    var rate = 0.0;
    if go {
        rate = sget(base + table[lay + SL_PRE_NEXT] + i);
    }
    if l == 0u {
        // v_B[0] of this exposure; the update also computes the next relaxation's v_B[0] (the
        // next exposure's, or the next pattern's after the last) when the piece holds it
        var v_b = 0.0;
        if go {
            v_b = sget(base + table[lay + SL_V_B] + i);
        }
        let last = job.exposure + 1u == table[prm + SP_EXPOSURES];
        let fuse = go && (!last || job.has_next == 1u);
        let n_in = table[S_N_IN];
        let src_next = (inst * job.n_patterns + job.pattern + select(0u, 1u, last)) * (n_in + table[S_N_OUT]);
        let share = update_share_next(table[lay + SL_W_UP], npre, i, rate - phi(c * v_b), e_up, zero, plastic_cols(go, e_up, npre), select(0u, npre, fuse), src_next);
        let v_next = team_sum(share);
        if fuse && lane == 0u {
            sset(base + table[lay + SL_V_B] + i, v_next);
        }
        if !go {
            return;
        }
    } else {
        let v_b = team_sum(share_state(table[lay + SL_W_UP], npre, i, table[lay + SL_PRE], select(0u, npre, go)));
        if !go {
            return;
        }
        if lane == 0u {
            sset(base + table[lay + SL_V_B] + i, v_b);
        }
        update_share(table[lay + SL_W_UP], npre, i, table[lay + SL_PRE], rate - phi(c * v_b), e_up, zero, plastic_cols(go, e_up, npre));
    }
    if hidden {
        let mi = table[lay + SL_NINT];
        let e_pi = eta(1u, l);
        let v_a = sget(base + table[lay + SL_V_A] + i);
        update_share(table[lay + SL_W_PI], mi, i, table[lay + SL_R_I], -v_a, e_pi, zero, plastic_cols(go, e_pi, mi));
        let e_down = eta(3u, l);
        let v_down = sget(base + table[lay + SL_V_DOWN] + i);
        update_share(table[lay + SL_W_DOWN], mi, i, table[lay + SL_PRE_ABOVE], rate - phi(v_down), e_down, zero, plastic_cols(go, e_down, mi));
    }
}

// K_LEARN_INT on row j of hidden layer l = seg.y: v_D = W_ip·pre[l+1] recomputed (the down sweep
// moved u^P[l]), W_ip e = φ(u^I) − φ(c_I v_D).
fn learn_int(j: u32) {
    let l = seg.y;
    let on = job.exposure < table[prm + SP_EXPOSURES] && table[prm + SP_LEARN] == 1u;
    let zero = table[prm + SP_RESET] == 1u && job.exposure + 1u == table[prm + SP_EXPOSURES];
    let lay = S_LAYERS + l * S_LAYER_STRIDE;
    let go = on && j < table[lay + SL_NINT];
    let cols = table[lay + SL_NPYR] + table[S_BIAS];
    let v_d = team_sum(share_state(table[lay + SL_W_IP], cols, j, table[lay + SL_PRE_NEXT], select(0u, cols, go)));
    if go && lane == 0u {
        sset(base + table[lay + SL_V_D] + j, v_d);
    }
    if go {
        let e = sget(base + table[lay + SL_R_I] + j) - phi(pf(SP_C_INTER) * v_d);
        let e_ip = eta(2u, l);
        update_share(table[lay + SL_W_IP], cols, j, table[lay + SL_PRE_NEXT], e, e_ip, zero, plastic_cols(go, e_ip, cols));
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    tid = t;
    lane = t % TEAM;
    inst = wid.y;
    phi_kind = table[S_PHI];
    phi_gamma = bitcast<f32>(table[S_PHI + 1u]);
    phi_beta = bitcast<f32>(table[S_PHI + 2u]);
    phi_theta = bitcast<f32>(table[S_PHI + 3u]);
    base = wid.y * table[S_STRIDE];
    prm = table[S_PARAMS] + wid.y * table[S_PARAMS_STRIDE];
    if t == 0u {
        var k = 0u;
        for (var s = 1u; s < job.n_seg; s++) {
            if wid.x >= job.segs[s].z {
                k = s;
            }
        }
        seg = job.segs[k];
    }
    workgroupBarrier();
    blk = wid.x - seg.z;
    let row = blk * (WG / TEAM) + t / TEAM;
    switch seg.x {
        case K_UP: {
            up(row);
        }
        case K_DOWN: {
            down(row);
        }
        case K_LEARN_PYR: {
            learn_pyr(row);
        }
        default: {
            learn_int(row);
        }
    }
}
