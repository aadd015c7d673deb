//! The resident-state kernel ([`KernelKind::Resident`]) for GPUs: `resident.wgsl` with the
//! shape's sizes prepended as literals.
//!
//! One workgroup per instance keeps the instance's whole state in workgroup memory for a
//! dispatch window: `ws` holds `[W | Δ | u^P | u^I | r_0 | u_tgt]` (the `state` buffer's words
//! of the instance, [`Layout::state_len`]), `wc` the step's work vectors (presynaptic rates
//! `pre[l]`, `φ(u^I)`, soma increments `du`, plasticity errors `e`, readout sums;
//! [`Layout::scratch_len`]). At the start of a window each thread copies the words
//! `k ≡ tid (mod NT)` in, the steps run the fused workgroup kernel's phases on the copies with
//! `workgroupBarrier()` between them, and at the end of the window the same threads write the
//! words back (evaluation: only the somas and filtered stimulus, the copy's W and Δ never
//! change). The arithmetic of every value is the workgroup kernel's (MODEL.md §3: dendrites,
//! `du` and `e` from the state at time t; `W += dt·η·Δ` with the old Δ, then
//! `Δ += dt/τ_w (e r_preᵀ − Δ)`; Δ zeroed after a training pattern with `reset_deltas`;
//! `u += du`), so both kernels give the same numbers bit for bit.
//!
//! The phases are not a copy: [`phases`] takes `step.wgsl`'s functions (between its two
//! marker lines) and rewrites their addressing, `st[`/`sc[` (the storage buffers) to
//! `ws[`/`wc[` and the instance bases `sb + `/`cb + ` away, so the two kernels cannot drift
//! apart (`tests/gpu.rs` checks them equal bit for bit).
//!
//! Workgroup memory per instance is `4·(state_len + scratch_len)` bytes
//! ([`workgroup_bytes`]). Where that exceeds the device's `max_compute_workgroup_storage_size`
//! the kernel runs a spilled placement ([`check_fits`] picks the matrices, largest first;
//! [`spilled_source`]): those matrices' W and Δ stay in the `state` buffer, read and written
//! in place by the same phase functions, the rest is in workgroup memory as above, the
//! numbers are still the fused kernel's bit for bit. Only a shape whose somas, stimulus and
//! work vectors alone exceed the limit cannot run it.

use super::kernel::{SHARED, STEP};
use super::layout::{KernelKind, Layout};
use anyhow::ensure;

/// The kernel body without its per-shape prelude and without the phases ([`PHASES_AT`]).
const RESIDENT: &str = include_str!("resident.wgsl");
/// The line of `resident.wgsl` that [`phases`] replaces.
const PHASES_AT: &str = "// PHASES (resident.rs inserts step.wgsl's phases here)";
/// The lines of `step.wgsl` around the functions the resident kernel shares.
const STEP_BEGIN: &str = "// ---- phases: resident.rs copies from here to the end marker into \
                          resident.wgsl, addressing ws/wc ----";
const STEP_END: &str = "// ---- end of the phases resident.wgsl shares ----";

/// `text` with every `from` that does not continue an identifier (the character before it is
/// not alphanumeric or `_`) replaced by `to`.
fn replace_word(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let continues = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        out.push_str(&rest[..at]);
        out.push_str(if continues { from } else { to });
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

/// `step.wgsl`'s phase functions (and the per-invocation variables they use) addressing the
/// workgroup copies: `st[` → `ws[`, `sc[` → `wc[`, and the instance bases `sb + `, `cb + `
/// dropped (the copies start at the instance's first word).
fn phases() -> String {
    let begin = STEP
        .find(STEP_BEGIN)
        .expect("step.wgsl has the begin marker");
    let end = STEP.find(STEP_END).expect("step.wgsl has the end marker");
    let shared = &STEP[begin + STEP_BEGIN.len()..end];
    let mut text = replace_word(shared, "st[", "ws[");
    text = replace_word(&text, "sc[", "wc[");
    text = replace_word(&text, "sb + ", "");
    replace_word(&text, "cb + ", "")
}

/// Bytes of workgroup memory one instance of `layout`'s shape needs: its state words (W, Δ,
/// somas, filtered stimulus) less the spilled matrices' W and Δ ([`Layout::spilled`]), and its
/// scratch words, 4 bytes each.
pub(crate) fn workgroup_bytes(layout: &Layout) -> u64 {
    4 * (layout.state_len - 2 * layout.spilled_words() + layout.scratch_len) as u64
}

/// The matrices (indices in [`Layout::matrices`] order, ascending) whose W and Δ the resident
/// kernel leaves in global memory so that one instance of `layout` fits `limit` bytes of
/// workgroup memory (`max_compute_workgroup_storage_size`): none when the whole state fits,
/// else the largest first (ties in order) until the rest fits. An error naming the shape, the
/// bytes needed and the limit when even the somas, stimulus and work vectors alone (every
/// matrix spilled) do not fit.
pub(crate) fn check_fits(layout: &Layout, limit: u32) -> anyhow::Result<Vec<usize>> {
    let mats = layout.matrices();
    let mut order: Vec<usize> = (0..mats.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(mats[i].2));
    let mut spill = layout.clone();
    spill.spilled.clear();
    for i in order {
        if workgroup_bytes(&spill) <= u64::from(limit) {
            break;
        }
        spill.spilled.push(i);
    }
    let need = workgroup_bytes(&spill);
    ensure!(
        need <= u64::from(limit),
        "the resident kernel cannot run {}: one instance needs {need} bytes of workgroup \
         memory for its somas, stimulus and work vectors even with W and Δ ({} bytes) in \
         global memory, more than the device's max_compute_workgroup_storage_size of {limit} \
         bytes",
        layout.shape.label(),
        8 * layout.w_total,
    );
    spill.spilled.sort_unstable();
    Ok(spill.spilled)
}

/// The names of `layout`'s spilled matrices (`layer0.W_up, …`; empty when none).
pub(crate) fn spilled_names(layout: &Layout) -> Vec<String> {
    let mats = layout.matrices();
    layout
        .spilled
        .iter()
        .map(|&i| mats[i].0.to_string())
        .collect()
}

/// The kernel body for `layout` (a [`KernelKind::Resident`] layout) with `threads` threads per
/// instance: the thread count, the state and scratch sizes as literals and the workgroup
/// arrays, then [`SHARED`] and `resident.wgsl` with [`phases`] in place; with spilled
/// matrices ([`Layout::spilled`]) the spilled placement, [`spilled_source`].
pub(crate) fn source(layout: &Layout, threads: usize) -> String {
    debug_assert_eq!(layout.kernel, KernelKind::Resident);
    if !layout.spilled.is_empty() {
        return spilled_source(layout, threads);
    }
    format!(
        "const NT: u32 = {threads}u;\n\
         const RS_STATE: u32 = {}u;\n\
         const RS_SCRATCH: u32 = {}u;\n\
         var<workgroup> ws: array<f32, {}>;\n\
         var<workgroup> wc: array<f32, {}>;\n\
         {SHARED}{}",
        layout.state_len,
        layout.scratch_len,
        layout.state_len,
        layout.scratch_len,
        RESIDENT.replacen(PHASES_AT, &phases(), 1)
    )
}

/// `text` with its `n` occurrences of `from` replaced by `to` (the templates this module
/// rewrites have them; a test builds every variant).
fn replace_n(text: &str, from: &str, to: &str, n: usize) -> String {
    debug_assert_eq!(text.matches(from).count(), n, "{from}");
    text.replace(from, to)
}

/// The function `fn name(` … `\n}\n` of `text`.
fn function<'a>(text: &'a str, name: &str) -> &'a str {
    let at = text
        .find(&format!("\nfn {name}("))
        .expect("step.wgsl defines the function")
        + 1;
    let len = text[at..].find("\n}\n").expect("the function ends") + 3;
    &text[at..at + len]
}

/// The spilled placement: the matrices of [`Layout::spilled`] keep W and Δ in the `st` buffer
/// (the instance's own region, `st[sb + w]`), everything else is in workgroup memory as in the
/// whole placement, compacted: `ws = [W of the kept matrices | their Δ | somas, r_0, u_tgt]`.
///
/// Generated from `step.wgsl`'s phases like [`phases`], with these differences:
/// * the matrix accessors `dot_row`, `learn` and `zero_delta` come twice, `*_ws` (addressing
///   `ws`, Δ `RS_W_TOTAL` = the kept matrices' words after W) and `*_st` (step.wgsl's text
///   addressing `st`, the scratch in `wc`), and `dot_row`/`learn`/`zero_delta` dispatch on the
///   state offset of the matrix (one branch per call, the same for all threads of a matrix):
///   spilled → `*_st(sb + w, …)`, kept → `*_ws(rs_kept(w), …)`, `rs_kept` the offset less the
///   spilled words before it (constant bounds);
/// * the other state words (somas, r_0, u_tgt) are at `ws[k − 2S]` (S the spilled words of W):
///   `sb + ` becomes `RS_REST + ` with `RS_REST` = 2³² − 2S (u32 arithmetic wraps);
/// * the copies in and out run over the `ws` words, the state word of `ws[k]` being
///   `rs_word(k)` (k plus the spilled runs before it), so they skip the spilled words.
///
/// Why the spilled words need no copies and the numbers stay the fused kernel's: every word
/// of a spilled W or Δ is read and written by the same phase and the same function as in the
/// fused kernel (W read by `dot_row` in phase B, W and Δ read and written by `learn` and Δ by
/// `zero_delta` in phase C, each entry by one thread, which reads it before writing it), and
/// only this workgroup touches the instance's region. Phase B's readers and phase C's writer
/// of an entry are different threads, so the barriers between the phases must order storage
/// memory too: `workgroupBarrier()` orders only workgroup memory, so the spilled kernel adds
/// `storageBarrier()` before each of them in the step loop, as the fused kernel separates its
/// phases. Evaluation never writes W or Δ (phase C learns only when training), so the spilled
/// words are unchanged by it like the copy's.
fn spilled_source(layout: &Layout, threads: usize) -> String {
    let mats = layout.matrices();
    let s = layout.spilled_words();
    let w_kept = layout.w_total - s;
    let ws_len = layout.state_len - 2 * s;
    // runs of adjacent spilled matrices: (first state word, words)
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &i in &layout.spilled {
        let (_, at, len) = mats[i];
        match runs.last_mut() {
            Some((a, n)) if *a + *n == at => *n += len,
            _ => runs.push((at, len)),
        }
    }
    let spilled_test = runs
        .iter()
        .map(|(a, n)| format!("(w >= {a}u && w < {}u)", a + n))
        .collect::<Vec<_>>()
        .join(" || ");
    let kept = runs
        .iter()
        .map(|(a, n)| format!(" - select(0u, {n}u, w >= {}u)", a + n))
        .collect::<String>();
    // ws word → state word: each run of W, then of Δ, adds its words from its place in ws on
    let mut before = 0;
    let mut to_state = String::new();
    for (a, n) in &runs {
        to_state.push_str(&format!(" + select(0u, {n}u, k >= {}u)", a - before));
        before += n;
    }
    let mut before = 0;
    for (a, n) in &runs {
        to_state.push_str(&format!(
            " + select(0u, {n}u, k >= {}u)",
            w_kept + a - before
        ));
        before += n;
    }
    let begin = STEP
        .find(STEP_BEGIN)
        .expect("step.wgsl has the begin marker");
    let end = STEP.find(STEP_END).expect("step.wgsl has the end marker");
    let shared = &STEP[begin + STEP_BEGIN.len()..end];
    // the accessors on st: step.wgsl's text, the scratch in wc
    let mut on_st = String::new();
    for name in ["dot_row", "learn", "zero_delta"] {
        let f = replace_word(function(shared, name), "sc[", "wc[");
        on_st.push_str(&f.replacen(&format!("fn {name}("), &format!("fn {name}_st("), 1));
        on_st.push('\n');
    }
    // the phases on ws: matrix offsets stay state offsets (the accessors place them)
    let mut text = replace_n(shared, "sb + lay(l, L_W_", "lay(l, L_W_", 8);
    text = replace_word(&text, "st[", "ws[");
    text = replace_word(&text, "sc[", "wc[");
    text = replace_word(&text, "sb + ", "RS_REST + ");
    text = replace_word(&text, "cb + ", "");
    text = replace_n(&text, "table[H_W_TOTAL]", "RS_W_TOTAL", 2);
    for name in ["dot_row", "learn", "zero_delta"] {
        text = text.replacen(&format!("fn {name}("), &format!("fn {name}_ws("), 1);
    }
    let accessors = format!(
        "{on_st}\
         // Whether state word w of W lies in a spilled matrix (in st), and a kept matrix's word\n\
         // in ws (the spilled words before it removed).\n\
         fn rs_spilled(w: u32) -> bool {{\n    return {spilled_test};\n}}\n\n\
         fn rs_kept(w: u32) -> u32 {{\n    return w{kept};\n}}\n\n\
         // The state word of ws[k] (for the copies in and out).\n\
         fn rs_word(k: u32) -> u32 {{\n    return k{to_state};\n}}\n\n\
         fn dot_row(w: u32, x: u32, n: u32) -> f32 {{\n    \
             if rs_spilled(w) {{\n        return dot_row_st(sb + w, x, n);\n    }}\n    \
             return dot_row_ws(rs_kept(w), x, n);\n}}\n\n\
         fn learn(g: u32, w: u32, e: u32, r: u32, rows: u32, cols: u32, eta_dt: f32, kw: f32, \
         zero: bool) {{\n    \
             if rs_spilled(w) {{\n        learn_st(g, sb + w, e, r, rows, cols, eta_dt, kw, zero);\n    \
             }} else {{\n        learn_ws(g, rs_kept(w), e, r, rows, cols, eta_dt, kw, zero);\n    }}\n}}\n\n\
         fn zero_delta(g: u32, w: u32, n: u32) {{\n    \
             if rs_spilled(w) {{\n        zero_delta_st(g, sb + w, n);\n    \
             }} else {{\n        zero_delta_ws(g, rs_kept(w), n);\n    }}\n}}\n"
    );
    let mut body = RESIDENT.replacen(PHASES_AT, &format!("{text}\n{accessors}"), 1);
    body = replace_n(&body, "st[sb + k]", "st[sb + rs_word(k)]", 2);
    body = replace_n(&body, "2u * table[H_W_TOTAL]", "2u * RS_W_TOTAL", 1);
    body = replace_n(
        &body,
        "        workgroupBarrier();\n",
        "        storageBarrier();\n        workgroupBarrier();\n",
        3,
    );
    let names = spilled_names(layout).join(", ");
    format!(
        "// spilled to the state buffer: {names}\n\
         const NT: u32 = {threads}u;\n\
         const RS_STATE: u32 = {ws_len}u;\n\
         const RS_SCRATCH: u32 = {}u;\n\
         const RS_W_TOTAL: u32 = {w_kept}u;\n\
         const RS_REST: u32 = {}u;\n\
         var<workgroup> ws: array<f32, {ws_len}>;\n\
         var<workgroup> wc: array<f32, {}>;\n\
         {SHARED}{body}",
        layout.scratch_len,
        (1u64 << 32) - 2 * s as u64,
        layout.scratch_len,
    )
}

/// Upper bound of the loop iterations one thread spends per window on copying the state and
/// scratch in and out (each loop counted with two extra trips, as
/// [`Layout::workgroup_trips_per_step`] counts them): the words in workgroup memory, the
/// spilled matrices' W and Δ not among them. (The spilled placement runs the same loops per
/// step, its accessors dispatching without loops.)
pub(crate) fn io_trips(layout: &Layout, threads: usize) -> u64 {
    let per_thread = |k: usize| k.div_ceil(threads) as u64 + 2;
    2 * (per_thread(layout.state_len - 2 * layout.spilled_words()) + per_thread(layout.scratch_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::compute::WG_GPU;
    use crate::microcircuit::{Shape, Transfer};

    fn layout(dims: &[usize], bias: bool) -> Layout {
        Layout::new(
            &Shape::new(dims.to_vec(), bias),
            Transfer::Sigmoid,
            WG_GPU,
            KernelKind::Resident,
        )
    }

    #[test]
    fn workgroup_bytes_per_shape() {
        // [2,3,2] without bias: W 6 + 6 + 6 + 6 + 6 = 30 words, Δ 30, somas 3 + 2 + 2, r_0 2,
        // u_tgt 2; scratch: pre 2 + 3 + 2, per layer du/e_up/e_pi/e_down of the pyramids
        // (4·3, 4·2) and φ(u^I)/du^I/e_ip of the interneurons (3·2), readout sums 2·2
        let small = layout(&[2, 3, 2], false);
        assert_eq!(small.state_len, 2 * 30 + 7 + 2 + 2);
        assert_eq!(small.scratch_len, 7 + 4 * 3 + 4 * 2 + 3 * 2 + 2 * 2);
        assert_eq!(workgroup_bytes(&small), 432);
        // [4,120,3] with bias: W 120·5 + 120·3 + 120·3 + 3·121 + 3·121 = 2046 words
        let yy = layout(&[4, 120, 3], true);
        assert_eq!(yy.w_total, 2046);
        assert_eq!(yy.state_len, 2 * 2046 + 120 + 3 + 3 + 4 + 3);
        // scratch: pre 5 + 121 + 4, du/e_up/e_pi/e_down 4·(120 + 3), φ(u^I)/du^I/e_ip 3·3,
        // readout sums 2·3
        assert_eq!(yy.scratch_len, 130 + 492 + 9 + 6);
        assert_eq!(workgroup_bytes(&yy), 4 * (4225 + 637));
        assert!(check_fits(&yy, 32768).is_ok());
        // with WG_GPU threads and 1000-step patterns a window is about 150 steps (the bound of
        // llvmpipe's loop budget, the copies in and out included; docs/gpu.md section 3.0)
        let window = yy.steps_per_dispatch(1000, yy.workgroup_trips_per_step(WG_GPU), WG_GPU);
        assert!((140..=160).contains(&window), "{window}");
        // [784,20,10] with bias: W and Δ alone are 132 160 bytes; the whole state does not
        // fit 48 KB (NVIDIA) or 32 KB (lavapipe), with W_up0 (20×785) spilled it does
        let mut mnist = layout(&[784, 20, 10], true);
        assert_eq!(8 * mnist.w_total, 132_160);
        assert_eq!(workgroup_bytes(&mnist), 139_444);
        for limit in [49152, 32768] {
            assert_eq!(check_fits(&mnist, limit).unwrap(), vec![0]);
        }
        mnist.spilled = vec![0];
        assert_eq!(spilled_names(&mnist), ["layer0.W_up"]);
        assert_eq!(mnist.spilled_words(), 20 * 785);
        assert_eq!(workgroup_bytes(&mnist), 139_444 - 8 * 20 * 785);
        // fewer words to copy per window than the whole state
        assert!(io_trips(&mnist, WG_GPU) < io_trips(&layout(&[784, 20, 10], true), WG_GPU));
        // the largest first: W_up0, then W_ip0 (10×21, index 3; W_up1 10×21 ties after it),
        // W_down0, W_pi0 (20×10 each)
        let rest = workgroup_bytes(&mnist) as u32;
        assert_eq!(check_fits(&mnist, rest).unwrap(), vec![0]);
        assert_eq!(check_fits(&mnist, rest - 1).unwrap(), vec![0, 3]);
        // whole fit: nothing spilled
        assert_eq!(check_fits(&yy, 32768).unwrap(), Vec::<usize>::new());
        // [784,500,10]: 3 318 964 B whole; W_up0 (500×785), then W_ip0, W_up1 (10×501),
        // W_down0, W_pi0 (500×10) all have to go for 48 KB: 18 804 B remain
        let mut big = layout(&[784, 500, 10], true);
        assert_eq!(workgroup_bytes(&big), 3_318_964);
        big.spilled = check_fits(&big, 49152).unwrap();
        assert_eq!(big.spilled, [0, 1, 2, 3, 4]);
        assert_eq!(workgroup_bytes(&big), 18_804);
        // everything spilled and still too large: refused naming shape, bytes and limit
        let mut all = layout(&[784, 20, 10], true);
        all.spilled = (0..all.matrices().len()).collect();
        let floor = workgroup_bytes(&all);
        assert_eq!(
            floor,
            4 * (all.state_len - 2 * all.w_total + all.scratch_len) as u64
        );
        assert_eq!(
            check_fits(&mnist, floor as u32).unwrap(),
            (0..all.matrices().len()).collect::<Vec<_>>()
        );
        let err = check_fits(&mnist, floor as u32 - 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("784-20-10")
                && err.contains(&format!("of {} bytes", floor - 1))
                && err.contains(&format!("needs {floor} bytes")),
            "{err}"
        );
    }

    #[test]
    fn phases_address_the_workgroup_copies_only() {
        let p = phases();
        assert!(
            p.contains("fn phase_a(") && p.contains("fn phase_c(") && p.contains("fn plastic_now(")
        );
        // no storage access and no instance base left in the phases (a bare occurrence is
        // one replace_word would replace)
        for gone in ["st[", "sc[", "sb + ", "cb + "] {
            assert_eq!(replace_word(&p, gone, "\0"), p, "{gone} left in the phases");
        }
        assert!(p.contains("ws[") && p.contains("wc["));
        assert_eq!(
            replace_word("st[i] + first[j] + sb + k", "st[", "ws["),
            "ws[i] + first[j] + sb + k"
        );
        assert_eq!(replace_word("sb + x, lsb + y", "sb + ", ""), "x, lsb + y");
        let src = source(&layout(&[2, 3, 2], true), 64);
        assert!(!src.contains(PHASES_AT) && src.contains("fn load_window()"));
        // the stream state comes with the shared prefix, once
        assert_eq!(src.matches("fn next_step(").count(), 1);
        assert_eq!(src.matches("fn begin_stream(").count(), 1);
    }

    fn validate(src: &str) {
        super::super::kernel::assert_valid(src, 64);
    }

    /// The spilled placement of [2,3,2] with bias (W_up0 spilled, then W_up0, W_down0 and
    /// W_up1): the accessors dispatch on the spilled runs, the copies skip them, the phases'
    /// other state words shift by 2S, storage barriers separate the phases; it validates.
    #[test]
    fn spilled_source_places_and_validates() {
        let mut lay = layout(&[2, 3, 2], true);
        let whole = source(&lay, 64);
        assert!(!whole.contains("rs_word") && !whole.contains("storageBarrier"));
        // W_up0 3×3 (with bias) at 0, W_down0 3×2 at 9, W_pi0 3×2 at 15, W_ip0 2×4 at 21,
        // W_up1 2×4 at 29: w_total 37
        let mats = lay.matrices();
        assert_eq!(
            mats.iter().map(|m| (m.1, m.2)).collect::<Vec<_>>(),
            [(0, 9), (9, 6), (15, 6), (21, 8), (29, 8)]
        );
        lay.spilled = vec![0];
        let src = source(&lay, 64);
        assert!(src.contains("return (w >= 0u && w < 9u);"), "{src}");
        assert!(src.contains("return w - select(0u, 9u, w >= 9u);"));
        assert!(src.contains("return k + select(0u, 9u, k >= 0u) + select(0u, 9u, k >= 28u);"));
        assert!(src.contains(&format!("const RS_STATE: u32 = {}u;", lay.state_len - 18)));
        assert!(src.contains("const RS_W_TOTAL: u32 = 28u;"));
        assert!(src.contains(&format!("const RS_REST: u32 = {}u;", (1u64 << 32) - 18)));
        assert_eq!(src.matches("storageBarrier();").count(), 3);
        assert!(src.contains("let r0 = RS_REST + table[H_R0];"));
        assert!(src.contains("let w_up = lay(l, L_W_UP);"));
        assert!(src.contains("return dot_row_st(sb + w, x, n);"));
        assert!(src.contains("st[sb + rs_word(k)]"));
        validate(&src);
        // two runs: W_up0 and W_down0 adjacent (one run), W_up1 at the end
        lay.spilled = vec![0, 1, 4];
        let src = source(&lay, 64);
        assert!(
            src.contains("return (w >= 0u && w < 15u) || (w >= 29u && w < 37u);"),
            "{src}"
        );
        assert!(src.contains("return w - select(0u, 15u, w >= 15u) - select(0u, 8u, w >= 37u);"));
        // ws: kept W 14 words (15..29), then kept Δ: Δ of the first run at ws 14, of W_up1 at
        // 14 + 29 − 15 = 28
        assert!(src.contains(
            "return k + select(0u, 15u, k >= 0u) + select(0u, 8u, k >= 14u) \
             + select(0u, 15u, k >= 14u) + select(0u, 8u, k >= 28u);"
        ));
        validate(&src);
    }

    #[test]
    fn source_sizes_the_workgroup_arrays_and_validates() {
        let lay = layout(&[3, 5, 4, 2], true);
        let src = source(&lay, 64);
        assert!(src.contains(&format!(
            "var<workgroup> ws: array<f32, {}>;",
            lay.state_len
        )));
        assert!(src.contains(&format!(
            "var<workgroup> wc: array<f32, {}>;",
            lay.scratch_len
        )));
        // workgroup barriers only
        assert!(!src.contains("storageBarrier") && src.contains("workgroupBarrier()"));
        validate(&src);
    }
}
