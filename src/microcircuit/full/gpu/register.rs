//! The register-resident kernel ([`KernelKind::Register`]) for networks with one hidden layer:
//! `register.wgsl` with the shape's sizes, state offsets and workgroup arrays prepended as
//! literals and one of two ways to sum columns over the threads appended:
//! `register_subgroup.wgsl` after a generated transpose-reduce butterfly (`subgroupShuffleXor`,
//! where the device has `Features::SUBGROUP` and [`butterfly_fits`]) or
//! `register_tree.wgsl` (a fixed-order tree in workgroup memory). docs/gpu.md section 3.1.
//!
//! One workgroup of [`threads`] threads per instance; thread i owns hidden pyramidal cell i
//! (its soma, its rows of `W_up0` (bias column included), `W_down0` and `W_pi0`, and column i
//! of `W_ip0` and `W_up1`, each entry with its Δ), one thread the bias column, one thread each
//! interneuron k and one thread each output cell k (the 2·n_out somas of the output side on
//! 2·n_out threads, one code path with the role's constants). These values stay in the threads' private
//! variables (registers) for a whole dispatch window; the only words that cross threads are
//! the partial sums of the 2·n_out rows `W_ip0·φ(u^P)` and `W_up1·φ(u^P)` (added in an
//! order fixed for the device, so an instance's numbers do not depend on its batch),
//! the 2·n_out rates `φ(u^I)`, `φ(u^P_out)`, the n_out output somas (the interneurons'
//! nudging) and the 2·n_out errors `e_ip`, `e_up` of the output layer. The arithmetic and its order per value are MODEL.md §3's: dendrites, `du`
//! and `e` from the state at time t; `W += dt·η·Δ` with the old Δ, then
//! `Δ += dt/τ_w (e r_preᵀ − Δ)`; Δ zeroed after a training pattern with `reset_deltas`;
//! `u += du`.
//!
//! The program is generated per batch: a matrix that no instance trains ([`learns`]) holds no
//! Δ in registers and is never updated or stored (with `reset_deltas` its Δ is written as 0 at
//! the window's end, as the general path would have zeroed it), so the bits do not depend on
//! what else is in the batch.
//!
//! The rule ([`check`]): one hidden layer; hidden cells, bias column, interneurons and output
//! cells fit one
//! workgroup of at most [`MAX_THREADS`] threads (and the device's limit); a thread's owned
//! words fit [`MAX_PRIVATE_WORDS`] registers. Other shapes are refused with the rule named.

use super::kernel::SHARED;
use super::layout::{
    KernelKind, Layout, H_ACC, H_R0, H_UTGT, H_W_TOTAL, L_NOISE_I, L_NOISE_P, L_REC_I, L_REC_P,
    L_U_I, L_U_P, L_W_DOWN, L_W_IP, L_W_PI, L_W_UP,
};
use super::serial::Features;
use crate::microcircuit::Shape;
use anyhow::ensure;

/// The kernel body without its per-shape prelude and its column sums.
const REGISTER: &str = include_str!("register.wgsl");
/// The column sums and entry point with subgroup operations.
const SUBGROUP_SUMS: &str = include_str!("register_subgroup.wgsl");
/// The column sums and entry point through a tree in workgroup memory.
const TREE_SUMS: &str = include_str!("register_tree.wgsl");

/// Most threads per instance (one workgroup): 256 is what WebGPU guarantees
/// (`max_compute_invocations_per_workgroup`).
pub(crate) const MAX_THREADS: usize = 256;

/// Most private words one thread may own (W and Δ of its rows and columns, the filtered
/// stimulus, the copies of the rates): with the working set of about 70 more (docs/gpu.md
/// section 3.1) that is about 230 of the 255 registers a thread may hold on NVIDIA and AMD
/// GPUs; beyond them the values spill to local memory, which is what this kernel exists to
/// avoid.
pub(crate) const MAX_PRIVATE_WORDS: usize = 160;

/// Most hidden cells one thread may own ([`cells_per_thread`] and the forced values of
/// `GpuOptions::register_cells`).
pub(crate) const MAX_CELLS: usize = 4;

/// Hidden cells per thread the kernel takes for `shape` unless told otherwise: the most of 4,
/// 2 and 1 whose words fit [`MAX_PRIVATE_WORDS`]. More cells per thread mean fewer threads per
/// instance and with them less of the per-thread work every step repeats whatever a thread
/// owns (loop and step bookkeeping, the stimulus filter, the butterfly's levels, the error
/// loads, the η tests) and fewer registers per instance (the working set is per thread): on
/// [4,120,3] 4 warps of 128 threads become one of 32 (docs/gpu.md section 3.1, where the
/// instruction count and the predictions for 1, 2 and 4 are).
pub(crate) fn cells_per_thread(shape: &Shape) -> usize {
    [4, 2]
        .into_iter()
        .find(|&p| private_words(shape, p) <= MAX_PRIVATE_WORDS)
        .unwrap_or(1)
}

/// Threads that own columns for `shape` with `cells` hidden cells per thread: the hidden cells
/// and the bias column, `cells` to a thread.
pub(crate) fn column_threads(shape: &Shape, cells: usize) -> usize {
    shape.with_bias(shape.n_pyr(0)).div_ceil(cells)
}

/// Threads per instance for `shape` (one hidden layer) with `cells` hidden cells per thread:
/// the column threads ([`column_threads`]), at least the 2·n_out owners of the output side
/// (the interneurons and output cells, which threads 0 … 2·n_out − 1 run beside their
/// columns), rounded up to a power of two (the reduction tree halves it).
pub(crate) fn threads(shape: &Shape, cells: usize) -> usize {
    column_threads(shape, cells)
        .max(2 * shape.n_out())
        .next_power_of_two()
}

/// Private words of the busiest thread (`cells` hidden cells): W and Δ of each cell's row of
/// `W_up0` (n_in + bias), of `W_down0` and `W_pi0` and of its columns of `W_ip0` and `W_up1`
/// (n_out each), the filtered stimulus (n_in) and its copies of the n_out + n_out rates.
pub(crate) fn private_words(shape: &Shape, cells: usize) -> usize {
    let (n_in, o) = (shape.n_in(), shape.n_out());
    2 * cells * (shape.with_bias(n_in) + 4 * o) + n_in + 2 * o
}

/// Lanes the butterfly of the column sums needs: the 2·n_out rows `W_ip0·φ(u^P)` and
/// `W_up1·φ(u^P)` padded to a power of two (a lane keeps one row after the transpose levels).
pub(crate) fn butterfly_lanes(shape: &Shape) -> usize {
    (2 * shape.n_out()).next_power_of_two()
}

/// Whether the column sums can run as the butterfly on a device whose subgroups have at least
/// `min_subgroup` lanes: its rows padded to a power of two must fit one subgroup and the
/// workgroup ([`threads`] with `cells` hidden cells per thread). Else the kernel sums through the workgroup-memory tree.
pub(crate) fn butterfly_fits(shape: &Shape, cells: usize, min_subgroup: u32) -> bool {
    let lanes = butterfly_lanes(shape);
    lanes <= min_subgroup as usize && lanes <= threads(shape, cells)
}

/// WGSL of `column_sums(rc)` as a transpose-reduce butterfly over a subgroup, generated for
/// `rows` = 2·n_out rows (x_r = W_ip0[r, i] r_i for r < n_out, W_up1[r − n_out, i] r_i after,
/// summed over the thread's column slots: `column_product`),
/// padded with zeros to L = next power of two lanes. Level j (lane mask h = 2^j, j < log₂ L)
/// halves the rows a lane holds: a lane with bit h set keeps the upper half and sends the
/// lower one to lane ⊕ h, the other the reverse, and each adds what it receives to what it
/// keeps (`subgroupShuffleXor`), so after log₂ L levels lane l holds one row, the one whose
/// index is the bit reverse of l mod L. The levels h = L, 2L, … below the lanes a subgroup
/// holds then add the lanes that hold the same row: below the smaller of the `subgroup_size`
/// builtin and the workgroup's threads per subgroup (RT / `num_subgroups`), which agree on a
/// conforming device; lavapipe at `LP_NATIVE_VECTOR_WIDTH=1024` reports 32 lanes but runs
/// subgroups of 16 (8 of them in a workgroup of 128), where a shuffle with lane ⊕ 16 would
/// read a lane that does not exist (`tests/gpu.rs` `subgroup_shuffles_reach_the_lane_xor_h`). Lane l < L writes
/// its row's partial to slot `sg_id` of `red`. Every sum is added in an order fixed by the
/// subgroup size alone (and x + y = y + x exactly), so an instance's numbers do not depend on
/// its batch. Straight-line code with constant indices: the owned columns stay in registers.
fn butterfly(rows: usize) -> String {
    let lanes = rows.next_power_of_two();
    let levels = lanes.trailing_zeros();
    let mut out = String::from("fn column_sums() {\n");
    // the products; None: a padding row (zero)
    let mut x: Vec<Option<String>> = (0..lanes)
        .map(|r| {
            (r < rows).then(|| {
                let v = format!("x0_{r}");
                out += &format!("    let {v} = column_product({r}u);\n");
                v
            })
        })
        .collect();
    for j in 0..levels {
        let h = 1usize << j;
        let half = x.len() / 2;
        out += &format!("    let b{j} = (sg_lane & {h}u) != 0u;\n");
        let mut next = Vec::with_capacity(half);
        for i in 0..half {
            let v = format!("x{}_{i}", j + 1);
            let (keep, send) = match (&x[i], &x[i + half]) {
                (None, _) => {
                    next.push(None);
                    continue;
                }
                (Some(lo), Some(hi)) => (
                    format!("select({lo}, {hi}, b{j})"),
                    format!("select({hi}, {lo}, b{j})"),
                ),
                (Some(lo), None) => (
                    format!("select({lo}, 0.0, b{j})"),
                    format!("select(0.0, {lo}, b{j})"),
                ),
            };
            out += &format!("    let {v} = {keep} + subgroupShuffleXor({send}, {h}u);\n");
            next.push(Some(v));
        }
        x = next;
    }
    let last = x[0].as_ref().expect("row 0 exists");
    out += &format!(
        "    var sum = {last};\n    let width = min(sg_size, RT / n_sg);\n    \
         for (var h = {lanes}u; h < width; h <<= 1u) {{\n        \
         sum += subgroupShuffleXor(sum, h);\n    }}\n    \
         if sg_lane < {lanes}u {{\n        \
         let r = reverseBits(sg_lane) >> {}u;\n        \
         if r < {rows}u {{\n            red[r * RT + sg_id] = sum;\n        }}\n    }}\n    \
         workgroupBarrier();\n}}\n",
        32 - levels
    );
    out
}

/// Which owned matrices some instance of the batch trains (`features` of the training step,
/// `dt·η ≠ 0` in f32), in the order W_up0, W_pi0, W_down0, W_ip0, W_up1: the kernel keeps Δ in
/// registers, loads and stores it and updates the matrix only for these (a matrix frozen in
/// every instance never changes W or Δ, so the numbers are the same bits either way).
pub(crate) fn learns(features: &Features) -> [bool; 5] {
    let p = &features.plastic;
    let at = |k: usize, l: usize| p[k].get(l).copied().unwrap_or(false);
    [at(0, 0), at(1, 0), at(3, 0), at(2, 0), at(0, 1)]
}

/// An error naming the shape and the rule when the register kernel cannot run `shape` with
/// `cells` hidden cells per thread on a device with at most `max_threads` invocations per
/// workgroup.
pub(crate) fn check(shape: &Shape, max_threads: usize, cells: usize) -> anyhow::Result<()> {
    let label = shape.label();
    ensure!(
        (1..=MAX_CELLS).contains(&cells),
        "the register kernel runs 1 to {MAX_CELLS} hidden cells per thread, not {cells}"
    );
    ensure!(
        shape.n_layers() == 2,
        "the register kernel cannot run {label}: it runs networks with one hidden layer \
         [n_in, n_hid, n_out] only, {label} has {} hidden layers",
        shape.n_layers() - 1
    );
    let limit = MAX_THREADS.min(max_threads);
    let t = threads(shape, cells);
    ensure!(
        t <= limit,
        "the register kernel cannot run {label}: {} hidden cells and bias column at {cells} per \
         thread, at least the {} interneurons and output cells ({t} threads, rounded up to a \
         power of two) must fit one workgroup of at most {limit} threads",
        shape.with_bias(shape.n_pyr(0)),
        2 * shape.n_out()
    );
    let words = private_words(shape, cells);
    ensure!(
        words <= MAX_PRIVATE_WORDS,
        "the register kernel cannot run {label}: a thread of {cells} hidden cell{} would own \
         {words} private words (W and Δ of their rows of W_up0, W_down0 and W_pi0 and columns \
         of W_ip0 and W_up1, the filtered stimulus, the rates), more than the \
         {MAX_PRIVATE_WORDS} that fit registers",
        if cells == 1 { "" } else { "s" }
    );
    Ok(())
}

/// The kernel body for `layout` (a [`KernelKind::Register`] layout of a shape [`check`]
/// accepts with `cells` hidden cells per thread): the thread count, the shape and the state
/// offsets as literals, the workgroup arrays, `register.wgsl`, then the column sums by the
/// subgroup butterfly (`subgroups`: the device has subgroup operations and [`butterfly_fits`])
/// or by the tree; `learns` ([`learns`]) as the constants LEARN_UP0, LEARN_PI0, LEARN_DOWN0,
/// LEARN_IP0, LEARN_UP1.
pub(crate) fn source(layout: &Layout, cells: usize, subgroups: bool, learns: [bool; 5]) -> String {
    debug_assert_eq!(layout.kernel, KernelKind::Register);
    let shape = &layout.shape;
    let t = threads(shape, cells);
    let (h, o, n_in) = (shape.n_pyr(0), shape.n_out(), shape.n_in());
    let consts = [
        ("RT", t),
        ("RP", cells),
        ("RH", h),
        ("RC", shape.with_bias(h)),
        ("RO", o),
        ("RI", n_in),
        ("RN0", shape.with_bias(n_in)),
        ("RS_W_TOTAL", layout.header_word(H_W_TOTAL)),
        ("RS_W_UP0", layout.layer_word(0, L_W_UP)),
        ("RS_W_DOWN0", layout.layer_word(0, L_W_DOWN)),
        ("RS_W_PI0", layout.layer_word(0, L_W_PI)),
        ("RS_W_IP0", layout.layer_word(0, L_W_IP)),
        ("RS_W_UP1", layout.layer_word(1, L_W_UP)),
        ("RS_U_P0", layout.layer_word(0, L_U_P)),
        ("RS_U_P1", layout.layer_word(1, L_U_P)),
        ("RS_U_I0", layout.layer_word(0, L_U_I)),
        ("RS_R0", layout.header_word(H_R0)),
        ("RS_UTGT", layout.header_word(H_UTGT)),
        ("RS_ACC", layout.header_word(H_ACC)),
        ("RS_NOISE_P0", layout.layer_word(0, L_NOISE_P)),
        ("RS_NOISE_P1", layout.layer_word(1, L_NOISE_P)),
        ("RS_NOISE_I0", layout.layer_word(0, L_NOISE_I)),
        ("RS_REC_P0", layout.layer_word(0, L_REC_P)),
        ("RS_REC_I0", layout.layer_word(0, L_REC_I)),
    ];
    let mut out: String = consts
        .iter()
        .map(|(name, v)| format!("const {name}: u32 = {v}u;\n"))
        .collect();
    out += &format!("const RBIAS: bool = {};\n", shape.bias);
    for (name, on) in ["UP0", "PI0", "DOWN0", "IP0", "UP1"].iter().zip(learns) {
        out += &format!("const LEARN_{name}: bool = {on};\n");
    }
    out += &format!("var<workgroup> red: array<f32, {}>;\n", 2 * o * t);
    out += &format!("var<workgroup> rates: array<f32, {}>;\n", 2 * o);
    out += &format!("var<workgroup> errs: array<f32, {}>;\n", 2 * o);
    out += &format!("var<workgroup> u_top: array<f32, {o}>;\n");
    out += SHARED;
    out += REGISTER;
    if subgroups {
        out += &butterfly(2 * o);
        out + SUBGROUP_SUMS
    } else {
        out + TREE_SUMS
    }
}

/// Upper bound of the loop iterations one thread runs per step (every loop of `euler_step`
/// counted with two extra trips, as [`Layout::workgroup_trips_per_step`] counts them; the
/// trace's loop over r_0 included), with the column sums by subgroups of at least
/// `subgroup` lanes, or by the tree (`None`).
pub(crate) fn step_trips(layout: &Layout, cells: usize, subgroup: Option<u32>) -> u64 {
    let shape = &layout.shape;
    let (n_in, o) = (shape.n_in() as u64, shape.n_out() as u64);
    let t = threads(shape, cells) as u64;
    let p = cells as u64;
    // `column_product` over the slots for each of the 2·n_out rows
    let products = 2 * o * (p + 2);
    let sums = match subgroup {
        // the butterfly's levels past the transpose (at most log₂ t), then each of the
        // 2·n_out rows adds at most t/subgroup partials
        Some(m) => {
            products
                + (u64::from(t.trailing_zeros()) + 2)
                + 2 * o * (t.div_ceil(u64::from(m.max(1))) + 2)
        }
        // products, then per level of the tree the 2·n_out rows
        None => (products + 2 * o + 2) + (u64::from(t.trailing_zeros()) + 2) * (2 * o + 2),
    };
    let n0 = shape.with_bias(shape.n_in()) as u64;
    // r_0 filter, the slots' rates, sums, the rates' copies, per slot v_B and v_A, plasticity
    // of the rows of W_up0, W_pi0 and W_down0 and of the two columns, zeroing Δ (rows and
    // columns), the somas and the trace's r_0
    (n_in + 2)
        + (p + 2)
        + sums
        + (o + 2)
        + (p + 2)
        + p * ((n_in + 2) + (o + 2))
        + (p + 2)
        + p * (n_in + 2)
        + 2 * ((p + 2) + p * (o + 2))
        + 2 * ((o + 2) + o * (p + 2))
        + (p * n0 + 2)
        + (p * o + 2)
        + (p + 2)
        + (n_in + 2)
}

/// Upper bound of the loop iterations one thread with `cells` hidden cells spends per window
/// on reading its values in and writing them back.
pub(crate) fn io_trips(layout: &Layout, cells: usize) -> u64 {
    let shape = &layout.shape;
    let (n0, o, n_in) = (
        shape.with_bias(shape.n_in()) as u64,
        shape.n_out() as u64,
        shape.n_in() as u64,
    );
    let p = cells as u64;
    2 * ((p + 2) + p * ((n0 + 2) + 2 * (o + 2)) + (n_in + 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::compute::WG_GPU;
    use crate::microcircuit::Transfer;

    fn layout(dims: &[usize], bias: bool) -> Layout {
        Layout::new(
            &Shape::new(dims.to_vec(), bias),
            Transfer::Sigmoid,
            WG_GPU,
            KernelKind::Register,
        )
    }

    #[test]
    fn threads_registers_and_the_rule() {
        let yy = Shape::new(vec![4, 120, 3], true);
        // one cell per thread: 120 hidden cells + bias column = 121 → 128 threads (the 6
        // output-side somas run on threads 0–5); two: 61 → 64
        assert_eq!(threads(&yy, 1), 128);
        assert_eq!(column_threads(&yy, 2), 61);
        assert_eq!(threads(&yy, 2), 64);
        // W + Δ: 2·(5 + 3 + 3 + 3 + 3) = 34 per cell, r_0 4, rates 6
        assert_eq!(private_words(&yy, 1), 44);
        assert_eq!(private_words(&yy, 2), 78);
        // four: 31 column threads, one warp of 32
        assert_eq!(private_words(&yy, 4), 146);
        assert_eq!((column_threads(&yy, 4), threads(&yy, 4)), (31, 32));
        assert_eq!(cells_per_thread(&yy), 4);
        assert!((1..=4).all(|p| check(&yy, 256, p).is_ok()));
        // [8,120,3]: 182 words at four cells, 98 at two
        let wider = Shape::new(vec![8, 120, 3], true);
        assert_eq!(private_words(&wider, 4), 2 * 4 * 21 + 14);
        assert_eq!(cells_per_thread(&wider), 2);
        assert!(check(&wider, 256, 4)
            .unwrap_err()
            .to_string()
            .contains("182"));
        // [2,3,2]: 3 columns at 2 per thread → 2 threads, but 4 owners → 4 threads
        let small = Shape::new(vec![2, 3, 2], false);
        assert_eq!((threads(&small, 2), threads(&small, 1)), (4, 4));
        assert!(check(&small, 256, 2).is_ok());
        let two = check(&Shape::new(vec![3, 5, 4, 2], true), 256, 1)
            .unwrap_err()
            .to_string();
        assert!(
            two.contains("3-5-4-2") && two.contains("one hidden layer"),
            "{two}"
        );
        // 301 columns: 512 threads at one per thread, 256 at two
        let wide = Shape::new(vec![4, 300, 3], true);
        assert_eq!(threads(&wide, 2), 256);
        let err = check(&wide, 256, 1).unwrap_err().to_string();
        assert!(
            err.contains("4-300-3") && err.contains("512 threads"),
            "{err}"
        );
        assert!(check(&wide, 256, 2).is_ok());
        let none = check(&yy, 256, 0).unwrap_err().to_string();
        assert!(none.contains("1 to 4 hidden cells per thread"), "{none}");
        assert!(check(&yy, 256, 5).is_err());
        // the butterfly: 6 rows padded to 8 lanes need subgroups (and workgroups) of 8
        assert_eq!(butterfly_lanes(&yy), 8);
        assert!(
            butterfly_fits(&yy, 2, 8) && butterfly_fits(&yy, 2, 32) && !butterfly_fits(&yy, 2, 4)
        );
        assert!(butterfly_fits(&small, 2, 4) && !butterfly_fits(&small, 2, 2));
        // [2,1,3]: 6 rows → 8 lanes; 6 owners → 8 threads: fits; [2,1,5]: 10 rows → 16 lanes
        // and 16 threads: fits 16-lane subgroups, not 8
        assert!(butterfly_fits(&Shape::new(vec![2, 1, 3], false), 1, 8));
        let five = Shape::new(vec![2, 1, 5], false);
        assert!(butterfly_fits(&five, 1, 16) && !butterfly_fits(&five, 1, 8));
        // a device that allows fewer threads per workgroup than WebGPU's 256
        assert!(check(&yy, 64, 1).is_err() && check(&yy, 64, 2).is_ok());
        assert!(check(&yy, 32, 2).is_err() && check(&yy, 32, 4).is_ok());
        // [784,20,10] does not fit registers even at one cell per thread (and so takes one)
        let mnist = Shape::new(vec![784, 20, 10], true);
        assert_eq!(cells_per_thread(&mnist), 1);
        let err = check(&mnist, 256, 1).unwrap_err().to_string();
        assert!(
            err.contains("784-20-10") && err.contains("registers"),
            "{err}"
        );
    }

    #[test]
    fn source_validates_for_each_supported_shape() {
        for (dims, bias, cells, subgroups, learns) in [
            (vec![2, 3, 2], false, 1, false, [true; 5]),
            (
                vec![2, 3, 2],
                false,
                2,
                true,
                [true, false, true, false, true],
            ),
            (
                vec![4, 120, 3],
                true,
                2,
                false,
                [true, true, false, true, true],
            ),
            (vec![4, 120, 3], true, 1, true, [false; 5]),
            (vec![4, 120, 3], true, 2, true, [true; 5]),
            (
                vec![4, 120, 3],
                true,
                4,
                true,
                [true, true, false, true, true],
            ),
            (vec![3, 9, 2], true, 4, false, [true; 5]),
        ] {
            let lay = layout(&dims, bias);
            let src = source(&lay, cells, subgroups, learns);
            assert_eq!(src.contains("const LEARN_DOWN0: bool = true;"), learns[2]);
            assert_eq!(src.contains("subgroupShuffleXor("), subgroups);
            assert!(!src.contains("subgroupAdd("));
            let t = threads(&lay.shape, cells);
            assert!(src.contains(&format!("const RT: u32 = {t}u;")));
            assert!(src.contains(&format!("const RP: u32 = {cells}u;")));
            assert!(src.contains(&format!(
                "var<workgroup> red: array<f32, {}>;",
                2 * lay.shape.n_out() * t
            )));
            assert!(!src.contains("storageBarrier") && src.contains("workgroupBarrier()"));
            super::super::kernel::assert_valid(&src, WG_GPU);
        }
        // [4,120,3] on lavapipe: a window of 150 steps or more fits llvmpipe's loop budget
        let yy = layout(&[4, 120, 3], true);
        for cells in [1, 2, 4] {
            let t = threads(&yy.shape, cells);
            let window = yy.steps_per_dispatch(1000, step_trips(&yy, cells, None), t);
            assert!(window >= 150, "{cells}: {window}");
            // with subgroups of 8 lanes (lavapipe) each row adds up to 16 partials
            let window = yy.steps_per_dispatch(1000, step_trips(&yy, cells, Some(8)), t);
            assert!(window >= 150, "{cells}: {window}");
        }
    }
}
