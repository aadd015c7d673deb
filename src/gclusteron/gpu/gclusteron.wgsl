// G-clusteron kernels (GCLUSTERON.md §1–2, f32). The host prepends expm1.wgsl and the constants:
//   N synapses, K units, M instances, BMAX largest minibatch, WG threads per workgroup,
//   NT = ceil(N / WG) tiles of synapses j, NX = ceil(N / (RI·WG)) workgroups of synapses i
//   (the tiled product covers RI synapses i per thread and 8 patterns per workgroup; PG
//   minibatch patterns, 4 when BMAX ≤ 4, else 8),
//   RPP patterns per data piece, PBLK patterns per evaluation block, ST state words per
//   instance, READOUT (0 softmax, 1 sigmoid).
//
// State of instance m at m·ST (each K × N block row-major, unit k's synapse i at k·N + i):
//   l, w, l_kernel, Adam m_l, v_l, m_w, v_w (K × N each), then b, m_b, v_b (K each).
// The kernel is used as its complement G = 1 − F = −expm1(−d²/r): U_pi = Σ_j F_ij s_pj is
// computed as S_p − Σ_j G_ij s_pj with the drive sum S_p = Σ_j s_pj, which is nearly 0 for
// z-scored inputs (then F ≈ 1 and the direct sum would cancel; see src/gclusteron/kernel.rs).
// One training step is six dispatches: sums_train, forward_train, dot_train, errors, update,
// advance;
// every kernel reads the step index from ctrl[0] (advance increments it), so the host records
// many steps into one submission without a round trip.

const KN: u32 = K * N;
// Synapses i per thread of the tiled product (mod.rs: SYNAPSES_PER_THREAD): every
// value a thread reads from workgroup memory serves RI synapses (llvmpipe loads lane by lane).
const RI: u32 = 4u;
const O_L: u32 = 0u;
const O_W: u32 = KN;
const O_LK: u32 = 2u * KN;
const O_ML: u32 = 3u * KN;
const O_VL: u32 = 4u * KN;
const O_MW: u32 = 5u * KN;
const O_VW: u32 = 6u * KN;
const O_B: u32 = 7u * KN;
const O_MB: u32 = 7u * KN + K;
const O_VB: u32 = 7u * KN + 2u * K;
// Errors e follow the outputs o in `oe`, then the drive sums S of the minibatch,
// (M·K) × BMAX.
const E_OFF: u32 = M * BMAX * K;
const S_OFF: u32 = 2u * M * BMAX * K;
// The drive sums of an evaluation block follow its outputs in `oeval`, (M·K) × PBLK.
const SE_OFF: u32 = M * PBLK * K;

const LEARN_L: u32 = 1u;
const LEARN_W: u32 = 2u;
const ADAM: u32 = 4u;
const ERR_THRESHOLDED: u32 = 0u;
const ERR_PROBABILITY: u32 = 1u;
const ERR_FIXED: u32 = 2u;

struct Hyper {
    r: f32,
    eta_l: f32,
    eta_w: f32,
    eta_b: f32,
    batch: u32,
    flags: u32,
    error: u32,
    fixed: f32,
    // where this instance's minibatch indices start in `rows`, and its steps in this call
    // (0: the instance does not train)
    rows_off: u32,
    steps: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> hyper: array<Hyper>;
@group(0) @binding(1) var<storage, read> rows: array<u32>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;
// U = S F and Z = Σ_j F_ij S_pj (l_j − l_i) (= V − l∘U), (M·K·BMAX) × N
@group(0) @binding(3) var<storage, read_write> ubuf: array<f32>;
@group(0) @binding(4) var<storage, read_write> gbuf: array<f32>;
@group(0) @binding(5) var<storage, read_write> oe: array<f32>;
// targets t (patterns × K) of the bound set and its inputs x (patterns × N) in pieces of RPP
// patterns (a whole set may exceed the largest storage binding)
@group(0) @binding(6) var<storage, read> targets: array<f32>;
@group(0) @binding(7) var<storage, read> x0: array<f32>;
@group(0) @binding(8) var<storage, read> x1: array<f32>;
@group(0) @binding(9) var<storage, read> x2: array<f32>;
@group(0) @binding(10) var<storage, read> x3: array<f32>;
// [step, evaluation block start, evaluate with l_kernel (1) or l (0), patterns of the set]
@group(0) @binding(11) var<storage, read_write> ctrl: array<u32>;
// evaluation: per-workgroup partial sums of y, (M·K·PBLK) × NX, the outputs (M·PBLK) × K and
// the drive sums
@group(0) @binding(12) var<storage, read_write> partial: array<f32>;
@group(0) @binding(13) var<storage, read_write> oeval: array<f32>;

var<workgroup> tile_l: array<f32, WG>;
var<workgroup> tile_s: array<vec4<f32>, 2u * WG>;
var<workgroup> shared_u: vec4<u32>;
// (sum, compensation) of every thread for the workgroup reductions
var<workgroup> red: array<vec2<f32>, WG>;

/// x_{row, j} of the bound set.
fn xat(row: u32, j: u32) -> f32 {
    let pc = row / RPP;
    let idx = (row - pc * RPP) * N + j;
    if pc == 0u {
        return x0[idx];
    }
    if pc == 1u {
        return x1[idx];
    }
    if pc == 2u {
        return x2[idx];
    }
    return x3[idx];
}

/// Training row of minibatch pattern p of instance `inst` at step `step`.
fn train_row(h: Hyper, step: u32, p: u32) -> u32 {
    return rows[h.rows_off + step * h.batch + p];
}

/// s_pj = w_j x_pj of minibatch pattern p (0 for padding).
fn s_train(h: Hyper, step: u32, wbase: u32, p: u32, j: u32) -> f32 {
    if p >= h.batch || j >= N {
        return 0.0;
    }
    return state[wbase + j] * xat(train_row(h, step, p), j);
}

/// s_pj = w_j x_pj of set pattern p (0 beyond the set).
fn s_eval(count: u32, wbase: u32, p: u32, j: u32) -> f32 {
    if p >= count || j >= N {
        return 0.0;
    }
    return state[wbase + j] * xat(p, j);
}

/// Accumulators of the tiled product for 8 patterns (lane c of h0 is pattern p0 + c, of h1
/// pattern p0 + 4 + c): h = Σ_j G_ij s_pj, z = Σ_j F_ij (l_j − l_i) s_pj. Named vectors, not an
/// array: llvmpipe keeps dynamically indexed local arrays in memory.
struct Acc {
    h0: vec4<f32>,
    h1: vec4<f32>,
    z0: vec4<f32>,
    z1: vec4<f32>,
}

/// (sum, compensation) after adding v (Neumaier's compensated summation: the rounding error
/// of every addition is collected in the compensation).
fn add_compensated(acc: vec2<f32>, v: f32) -> vec2<f32> {
    let t = acc.x + v;
    var c = acc.y;
    if abs(acc.x) >= abs(v) {
        c += (acc.x - t) + v;
    } else {
        c += (v - t) + acc.x;
    }
    return vec2(t, c);
}

/// The drive sum S = Σ_j w_j x_{row, j} of unit weights at `wbase`, compensated: S is a small
/// difference of O(1) terms for z-scored inputs.
fn drive_sum(wbase: u32, row: u32) -> f32 {
    var acc = vec2(0.0, 0.0);
    for (var j = 0u; j < N; j++) {
        acc = add_compensated(acc, state[wbase + j] * xat(row, j));
    }
    return acc.x + acc.y;
}

/// The compensated pairs (sum, compensation) of the WG threads summed by a fixed tree in
/// workgroup memory (level s adds thread lid + s into lid for lid < s, s = WG_TREE/2, …, 1;
/// WG_TREE is WG rounded up to a power of two), each addition compensated: the same bits for
/// any batch. Every thread of the workgroup must call it (it has barriers); all get the sum.
fn reduce_compensated(lid: u32, acc: vec2<f32>) -> f32 {
    red[lid] = acc;
    for (var s = WG_TREE / 2u; s > 0u; s = s / 2u) {
        workgroupBarrier();
        if lid < s && lid + s < WG {
            let b = red[lid + s];
            let t = add_compensated(red[lid], b.x);
            red[lid] = vec2(t.x, t.y + b.y);
        }
    }
    let r = workgroupUniformLoad(&red[0]);
    return r.x + r.y;
}

/// The drive sum S = Σ_j w_j x_{row, j} of unit weights at `wbase` by the whole workgroup:
/// thread lid sums synapses lid, lid + WG, … (consecutive threads read consecutive words),
/// compensated, then [`reduce_compensated`].
fn drive_sum_wg(lid: u32, wbase: u32, row: u32) -> f32 {
    var acc = vec2(0.0, 0.0);
    for (var j = lid; j < N; j += WG) {
        acc = add_compensated(acc, state[wbase + j] * xat(row, j));
    }
    return reduce_compensated(lid, acc);
}

/// s of the 4 patterns p..p+4 at synapse j, from the minibatch of `step` (`train`) or the
/// bound set (`count` patterns).
fn s4(train: bool, h: Hyper, step: u32, wbase: u32, count: u32, p: u32, j: u32) -> vec4<f32> {
    if train {
        return vec4(s_train(h, step, wbase, p, j), s_train(h, step, wbase, p + 1u, j),
                    s_train(h, step, wbase, p + 2u, j), s_train(h, step, wbase, p + 3u, j));
    }
    return vec4(s_eval(count, wbase, p, j), s_eval(count, wbase, p + 1u, j),
                s_eval(count, wbase, p + 2u, j), s_eval(count, wbase, p + 3u, j));
}

/// The accumulators of the RI = 4 synapses of a thread.
struct Acc4 {
    a0: Acc,
    a1: Acc,
    a2: Acc,
    a3: Acc,
}

/// `a` plus synapse pair (i, j)'s terms for 8 patterns (4 unless `eight`) with drives (s0, s1)
/// at j: h += G_ij s_pj and, if `with_z`, z += F_ij (l_j − l_i) s_pj, with
/// G_ij = 1 − F_ij = −expm1((l_i − l_j)² · nr), `nr` = −1/r.
fn pair(a: Acc, li: f32, lj: f32, s0: vec4<f32>, s1: vec4<f32>, nr: f32, with_z: bool,
        eight: bool) -> Acc {
    let d = li - lj;
    let g = -expm1_nonpositive(d * d * nr);
    var b = a;
    b.h0 += g * s0;
    if eight {
        b.h1 += g * s1;
    }
    if with_z {
        let fd = (1.0 - g) * (lj - li);
        b.z0 += fd * s0;
        if eight {
            b.z1 += fd * s1;
        }
    }
    return b;
}

/// Synapse i of slot q (0..RI) of thread `lid` in i-workgroup `gx`: the RI·WG synapses of a
/// workgroup in RI runs of WG consecutive ones.
fn syn(gx: u32, q: u32, lid: u32) -> u32 {
    return (gx * RI + q) * WG + lid;
}

/// The tiled products of one unit for the 8 patterns p0 + 0..8 (4 unless `eight`: the
/// accumulators of the other 4 stay 0), with the kernel computed on
/// the fly instead of stored: H_pi = Σ_j G_ij s_pj (so U_pi = S_p − H_pi) and, if `with_z`,
/// Z_pi = Σ_j F_ij (l_j − l_i) s_pj (= V_pi − l_i U_pi with V = (S∘l) F, without the
/// cancellation), where G_ij = 1 − F_ij = −expm1(−(l_i − l_j)² / r) and `nr` = −1/r. The
/// thread covers the RI synapses i = syn(wid.x, q, lid) (`li` = their l_i); each tile of WG
/// synapses j puts l_j and s_pj into workgroup memory. Must be called in uniform control flow
/// (it has barriers).
fn tiled_product(lbase: u32, wbase: u32, li: vec4<f32>, nr: f32, with_z: bool, eight: bool,
                 lid: u32, train: bool, h: Hyper, step: u32, p0: u32, count: u32) -> Acc4 {
    var acc: Acc4;
    for (var t = 0u; t < NT; t++) {
        let j = t * WG + lid;
        tile_l[lid] = state[lbase + min(j, N - 1u)];
        tile_s[2u * lid] = s4(train, h, step, wbase, count, p0, j);
        if eight {
            tile_s[2u * lid + 1u] = s4(train, h, step, wbase, count, p0 + 4u, j);
        }
        workgroupBarrier();
        for (var jj = 0u; jj < WG; jj++) {
            let lj = tile_l[jj];
            let s0 = tile_s[2u * jj];
            var s1 = vec4(0.0);
            if eight {
                s1 = tile_s[2u * jj + 1u];
            }
            acc.a0 = pair(acc.a0, li.x, lj, s0, s1, nr, with_z, eight);
            acc.a1 = pair(acc.a1, li.y, lj, s0, s1, nr, with_z, eight);
            acc.a2 = pair(acc.a2, li.z, lj, s0, s1, nr, with_z, eight);
            acc.a3 = pair(acc.a3, li.w, lj, s0, s1, nr, with_z, eight);
        }
        workgroupBarrier();
    }
    return acc;
}

/// l_i of the RI synapses of thread `lid` in i-workgroup `gx` (the last synapse's beyond N).
fn locations4(lbase: u32, gx: u32, lid: u32) -> vec4<f32> {
    return vec4(state[lbase + min(syn(gx, 0u, lid), N - 1u)],
                state[lbase + min(syn(gx, 1u, lid), N - 1u)],
                state[lbase + min(syn(gx, 2u, lid), N - 1u)],
                state[lbase + min(syn(gx, 3u, lid), N - 1u)]);
}

/// Lane c of the 8-pattern vector pair (a0, a1).
fn lane8(a0: vec4<f32>, a1: vec4<f32>, c: u32) -> f32 {
    if c < 4u {
        return a0[c];
    }
    return a1[c - 4u];
}

/// One training step, part 1: the drive sums S_p of every active instance's unit for its
/// minibatch, one invocation per (instance, unit, p).
@compute @workgroup_size(WG)
fn sums_train(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = train_slot(gid.x);
    if !t.busy {
        return;
    }
    let h = hyper[t.inst];
    let wbase = t.inst * ST + O_W + t.unit * N;
    oe[S_OFF + (t.inst * K + t.unit) * BMAX + t.p] = drive_sum(wbase, train_row(h, ctrl[0], t.p));
}

/// The (instance, unit, minibatch pattern) of invocation g of a per-(instance, unit, p) training
/// dispatch, and whether it has work: g in range, the instance still training, p in its batch.
struct TrainSlot {
    inst: u32,
    unit: u32,
    p: u32,
    busy: bool,
}

fn train_slot(g: u32) -> TrainSlot {
    if g >= M * K * BMAX {
        return TrainSlot(0u, 0u, 0u, false);
    }
    let s = slot(g, BMAX);
    let h = hyper[s.inst];
    return TrainSlot(s.inst, s.unit, s.p, ctrl[0] < h.steps && s.p < h.batch);
}

/// Invocation g of a dispatch over (instance, unit, pattern) with `per` patterns per unit:
/// g = (inst·K + unit)·per + p.
struct Slot {
    inst: u32,
    unit: u32,
    p: u32,
}

fn slot(g: u32, per: u32) -> Slot {
    return Slot(g / (K * per), (g / per) % K, g % per);
}

/// Part 2: U = S·1 − H and Z of every active instance's unit for its minibatch, PG patterns
/// per workgroup. Grid (NX, M·K, ceil(BMAX / PG)).
@compute @workgroup_size(WG)
fn forward_train(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if lid == 0u {
        shared_u = vec4(ctrl[0], 0u, 0u, 0u);
    }
    let step = workgroupUniformLoad(&shared_u).x;
    let inst = wid.y / K;
    let unit = wid.y % K;
    let h = hyper[inst];
    let p0 = wid.z * PG;
    if step >= h.steps || p0 >= h.batch {
        return;
    }
    let lbase = inst * ST + O_L + unit * N;
    let wbase = inst * ST + O_W + unit * N;
    let li = locations4(lbase, wid.x, lid);
    let acc = tiled_product(lbase, wbase, li, -1.0 / h.r, (h.flags & LEARN_L) != 0u, PG == 8u,
                            lid, true, h, step, p0, 0u);
    let sb = S_OFF + (inst * K + unit) * BMAX;
    let ub = (inst * K + unit) * BMAX;
    store_train(acc.a0, syn(wid.x, 0u, lid), p0, h.batch, sb, ub);
    store_train(acc.a1, syn(wid.x, 1u, lid), p0, h.batch, sb, ub);
    store_train(acc.a2, syn(wid.x, 2u, lid), p0, h.batch, sb, ub);
    store_train(acc.a3, syn(wid.x, 3u, lid), p0, h.batch, sb, ub);
}

/// U_pi = S_p − H_pi and Z_pi of synapse i (if i < N) for the minibatch patterns p0 + 0..PG
/// below `batch`; the drive sums S_p are at oe[sb + p], row p of U and Z at (ub + p)·N.
fn store_train(acc: Acc, i: u32, p0: u32, batch: u32, sb: u32, ub: u32) {
    if i >= N {
        return;
    }
    for (var c = 0u; c < PG; c++) {
        let p = p0 + c;
        if p < batch {
            let at = (ub + p) * N + i;
            ubuf[at] = oe[sb + p] - lane8(acc.h0, acc.h1, c);
            gbuf[at] = lane8(acc.z0, acc.z1, c);
        }
    }
}

/// Part 3: o_p = y_p − b with y_p = Σ_i s_pi U_pi, one invocation per (instance, unit, p).
@compute @workgroup_size(WG)
fn dot_train(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = train_slot(gid.x);
    if !t.busy {
        return;
    }
    let inst = t.inst;
    let unit = t.unit;
    let p = t.p;
    let row = train_row(hyper[inst], ctrl[0], p);
    let wbase = inst * ST + O_W + unit * N;
    let ub = ((inst * K + unit) * BMAX + p) * N;
    var y = 0.0;
    for (var i = 0u; i < N; i++) {
        y += state[wbase + i] * xat(row, i) * ubuf[ub + i];
    }
    oe[(inst * BMAX + p) * K + unit] = y - state[inst * ST + O_B + unit];
}

/// Part 1 with a workgroup per (instance, unit, p) (the `workgroup` reduction; grid
/// (BMAX, M·K)): the drive sum S_p by [`drive_sum_wg`].
@compute @workgroup_size(WG)
fn sums_train_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = train_group(wid, lid);
    if !t.busy {
        return;
    }
    let row = train_row(hyper[t.inst], t.step, t.p);
    let s = drive_sum_wg(lid, t.inst * ST + O_W + t.unit * N, row);
    if lid == 0u {
        oe[S_OFF + (t.inst * K + t.unit) * BMAX + t.p] = s;
    }
}

/// The (instance, unit, minibatch pattern) of workgroup `wid` of a (BMAX, M·K) grid, the step
/// (ctrl[0], loaded uniformly) and whether the workgroup has work: the instance still training
/// and p in its minibatch. The same for every thread, so `busy` may end the workgroup before
/// its barriers.
struct TrainGroup {
    inst: u32,
    unit: u32,
    p: u32,
    step: u32,
    busy: bool,
}

fn train_group(wid: vec3<u32>, lid: u32) -> TrainGroup {
    if lid == 0u {
        shared_u = vec4(ctrl[0], 0u, 0u, 0u);
    }
    let step = workgroupUniformLoad(&shared_u).x;
    let inst = wid.y / K;
    let h = hyper[inst];
    return TrainGroup(inst, wid.y % K, wid.x, step, step < h.steps && wid.x < h.batch);
}

/// Part 3 with a workgroup per (instance, unit, p) (grid (BMAX, M·K)): o_p = y_p − b with
/// y_p = Σ_i s_pi U_pi, thread lid summing synapses lid, lid + WG, … compensated, then the tree.
@compute @workgroup_size(WG)
fn dot_train_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = train_group(wid, lid);
    if !t.busy {
        return;
    }
    let inst = t.inst;
    let unit = t.unit;
    let p = t.p;
    let row = train_row(hyper[inst], t.step, p);
    let wbase = inst * ST + O_W + unit * N;
    let ub = ((inst * K + unit) * BMAX + p) * N;
    var acc = vec2(0.0, 0.0);
    for (var i = lid; i < N; i += WG) {
        acc = add_compensated(acc, state[wbase + i] * xat(row, i) * ubuf[ub + i]);
    }
    let y = reduce_compensated(lid, acc);
    if lid == 0u {
        oe[(inst * BMAX + p) * K + unit] = y - state[inst * ST + O_B + unit];
    }
}

/// σ(o) = 1 / (1 + e^{−o}).
fn sigmoid(o: f32) -> f32 {
    return 1.0 / (1.0 + exp(-o));
}

/// Part 4: the errors e of one minibatch pattern's K units (spec §2.2): softmax
/// e_k = softmax_k(o) − t_k (maximum subtracted), or per sigmoid unit 1[o ≥ 0] − t,
/// σ(o) − t or the fixed value. One invocation per (instance, p).
@compute @workgroup_size(WG)
fn errors(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = gid.x;
    if g >= M * BMAX {
        return;
    }
    let inst = g / BMAX;
    let p = g % BMAX;
    let h = hyper[inst];
    let step = ctrl[0];
    if step >= h.steps || p >= h.batch {
        return;
    }
    let tb = train_row(h, step, p) * K;
    let ob = (inst * BMAX + p) * K;
    if READOUT == 0u {
        var mx = oe[ob];
        for (var k = 1u; k < K; k++) {
            mx = max(mx, oe[ob + k]);
        }
        var z = 0.0;
        for (var k = 0u; k < K; k++) {
            let ek = exp(oe[ob + k] - mx);
            oe[E_OFF + ob + k] = ek;
            z += ek;
        }
        for (var k = 0u; k < K; k++) {
            oe[E_OFF + ob + k] = oe[E_OFF + ob + k] / z - targets[tb + k];
        }
    } else {
        for (var k = 0u; k < K; k++) {
            let o = oe[ob + k];
            let t = targets[tb + k];
            var e = h.fixed;
            if h.error == ERR_THRESHOLDED {
                e = select(0.0, 1.0, o >= 0.0) - t;
            } else if h.error == ERR_PROBABILITY {
                e = sigmoid(o) - t;
            }
            oe[E_OFF + ob + k] = e;
        }
    }
}

/// The optimiser step of one parameter (spec §2.3): Adam without bias correction,
/// m ← 0.9 m + 0.1 Δ, v ← 0.999 v + 0.001 Δ², θ ← θ + η m / (sqrt(v) + 1e-8); or SGD θ ← θ + η Δ.
fn optimise(theta: u32, mo: u32, vo: u32, delta: f32, eta: f32, adam: bool) {
    if adam {
        let b1 = 0.9;
        let b2 = 0.999;
        let m = b1 * state[mo] + (1.0 - b1) * delta;
        let v = b2 * state[vo] + (1.0 - b2) * delta * delta;
        state[mo] = m;
        state[vo] = v;
        state[theta] = state[theta] + eta * m / (sqrt(v) + 1e-8);
    } else {
        state[theta] = state[theta] + eta * delta;
    }
}

/// Part 5: Δl_i = −(1/B) Σ_p e_p s_pi Z_pi, Δw_i = −(1/B) Σ_p e_p x_pi U_pi, both from the
/// pre-update state; l_kernel ← l; then l (if it learns), w (if it learns) and, by thread 0 of
/// the unit, b with Δb = (1/B) Σ_p e_p. Grid (NT, M·K).
@compute @workgroup_size(WG)
fn update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let inst = wid.y / K;
    let unit = wid.y % K;
    let h = hyper[inst];
    let step = ctrl[0];
    let i = wid.x * WG + lid;
    if step >= h.steps || i >= N {
        return;
    }
    let adam = (h.flags & ADAM) != 0u;
    let base = inst * ST + unit * N + i;
    let li = state[base + O_L];
    let wi = state[base + O_W];
    let eb = E_OFF + inst * BMAX * K + unit;
    let scale = -1.0 / f32(h.batch);
    var dl = 0.0;
    var dw = 0.0;
    var esum = 0.0;
    for (var p = 0u; p < h.batch; p++) {
        let xi = xat(train_row(h, step, p), i);
        let e = oe[eb + p * K];
        let at = ((inst * K + unit) * BMAX + p) * N + i;
        dl += e * (wi * xi) * gbuf[at];
        dw += e * xi * ubuf[at];
        esum += e;
    }
    state[base + O_LK] = li;
    if (h.flags & LEARN_L) != 0u {
        optimise(base + O_L, base + O_ML, base + O_VL, dl * scale, h.eta_l, adam);
    }
    if (h.flags & LEARN_W) != 0u {
        optimise(base + O_W, base + O_MW, base + O_VW, dw * scale, h.eta_w, adam);
    }
    if i == 0u {
        let b = inst * ST + unit;
        optimise(b + O_B, b + O_MB, b + O_VB, esum / f32(h.batch), h.eta_b, adam);
    }
}

/// Part 6: the next step.
@compute @workgroup_size(1)
fn advance() {
    ctrl[0] += 1u;
}

/// Evaluation, part 1: the drive sums S_p of patterns ctrl[1] + 0..PBLK of the bound set
/// (ctrl[3] patterns; 0 beyond it), one invocation per (instance, unit, pattern).
@compute @workgroup_size(WG)
fn sums_eval(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = gid.x;
    if g >= M * K * PBLK {
        return;
    }
    let s = slot(g, PBLK);
    let inst = s.inst;
    let unit = s.unit;
    let pl = s.p;
    let p = ctrl[1] + pl;
    var sum = 0.0;
    if p < ctrl[3] {
        sum = drive_sum(inst * ST + O_W + unit * N, p);
    }
    oeval[SE_OFF + (inst * K + unit) * PBLK + pl] = sum;
}

/// Evaluation, part 1 with a workgroup per (instance, unit, pattern) (grid (PBLK, M·K)).
@compute @workgroup_size(WG)
fn sums_eval_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if lid == 0u {
        shared_u = vec4(ctrl[1], ctrl[3], 0u, 0u);
    }
    let c = workgroupUniformLoad(&shared_u);
    let inst = wid.y / K;
    let unit = wid.y % K;
    let pl = wid.x;
    let p = c.x + pl;
    var sum = 0.0;
    if p < c.y {
        sum = drive_sum_wg(lid, inst * ST + O_W + unit * N, p);
    }
    if lid == 0u {
        oeval[SE_OFF + (inst * K + unit) * PBLK + pl] = sum;
    }
}

/// Evaluation, part 2: per workgroup of synapses, the partial sums Σ_i s_pi U_pi of patterns
/// ctrl[1] + wid.z·8 + 0..8 of the bound set (ctrl[3] patterns), with the kernel built
/// from l_kernel (ctrl[2] = 1) or l. Grid (NX, M·K, PBLK / 8).
@compute @workgroup_size(WG)
fn forward_eval(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if lid == 0u {
        shared_u = vec4(ctrl[1], ctrl[2], ctrl[3], 0u);
    }
    let c = workgroupUniformLoad(&shared_u);
    let inst = wid.y / K;
    let unit = wid.y % K;
    let h = hyper[inst];
    let pl0 = wid.z * 8u;
    let p0 = c.x + pl0;
    if p0 >= c.z {
        return;
    }
    let lbase = inst * ST + select(O_L, O_LK, c.y == 1u) + unit * N;
    let wbase = inst * ST + O_W + unit * N;
    let li = locations4(lbase, wid.x, lid);
    let acc = tiled_product(lbase, wbase, li, -1.0 / h.r, false, true, lid, false, h, 0u, p0,
                            c.z);
    let sb = SE_OFF + (inst * K + unit) * PBLK + pl0;
    let s0 = vec4(oeval[sb], oeval[sb + 1u], oeval[sb + 2u], oeval[sb + 3u]);
    let s1 = vec4(oeval[sb + 4u], oeval[sb + 5u], oeval[sb + 6u], oeval[sb + 7u]);
    // Σ over the thread's synapses of s_pi U_pi (s = 0 beyond N)
    var y0 = vec4(0.0);
    var y1 = vec4(0.0);
    let accs = array(acc.a0, acc.a1, acc.a2, acc.a3);
    for (var q = 0u; q < RI; q++) {
        let i = syn(wid.x, q, lid);
        let a = accs[q];
        y0 += s4(false, h, 0u, wbase, c.z, p0, i) * (s0 - a.h0);
        y1 += s4(false, h, 0u, wbase, c.z, p0 + 4u, i) * (s1 - a.h1);
    }
    tile_s[2u * lid] = y0;
    tile_s[2u * lid + 1u] = y1;
    workgroupBarrier();
    if lid < 2u {
        var y = vec4(0.0);
        for (var t = 0u; t < WG; t++) {
            y += tile_s[2u * t + lid];
        }
        for (var k = 0u; k < 4u; k++) {
            let pl = pl0 + 4u * lid + k;
            partial[((inst * K + unit) * PBLK + pl) * NX + wid.x] = y[k];
        }
    }
}

/// Evaluation, part 3: o_p = Σ (partial sums) − b, one invocation per (instance, unit, p).
@compute @workgroup_size(WG)
fn dot_eval(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = gid.x;
    if g >= M * K * PBLK {
        return;
    }
    let s = slot(g, PBLK);
    let inst = s.inst;
    let unit = s.unit;
    let pl = s.p;
    if ctrl[1] + pl >= ctrl[3] {
        return;
    }
    let pb = ((inst * K + unit) * PBLK + pl) * NX;
    var y = 0.0;
    for (var t = 0u; t < NX; t++) {
        y += partial[pb + t];
    }
    oeval[(inst * PBLK + pl) * K + unit] = y - state[inst * ST + O_B + unit];
}
