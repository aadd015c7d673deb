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
//! ([`workgroup_bytes`]): a network whose W and Δ alone exceed the device's
//! `max_compute_workgroup_storage_size` cannot run it ([`check_fits`]).

use super::kernel::{BINDINGS, STEP};
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
/// somas, filtered stimulus) and scratch words, 4 bytes each.
pub(crate) fn workgroup_bytes(layout: &Layout) -> u64 {
    4 * (layout.state_len + layout.scratch_len) as u64
}

/// An error naming the shape, the bytes needed and the limit when one instance of `layout`
/// does not fit `limit` bytes of workgroup memory (`max_compute_workgroup_storage_size`).
pub(crate) fn check_fits(layout: &Layout, limit: u32) -> anyhow::Result<()> {
    let need = workgroup_bytes(layout);
    ensure!(
        need <= u64::from(limit),
        "the resident kernel cannot run {}: one instance needs {need} bytes of workgroup \
         memory (W and Δ {} bytes, somas, stimulus and work vectors {} bytes), more than the \
         device's max_compute_workgroup_storage_size of {limit} bytes",
        layout.shape.label(),
        8 * layout.w_total,
        need - 8 * layout.w_total as u64
    );
    Ok(())
}

/// The kernel body for `layout` (a [`KernelKind::Resident`] layout) with `threads` threads per
/// instance: the thread count, the state and scratch sizes as literals and the workgroup
/// arrays, then [`BINDINGS`] and `resident.wgsl` with [`phases`] in place.
pub(crate) fn source(layout: &Layout, threads: usize) -> String {
    debug_assert_eq!(layout.kernel, KernelKind::Resident);
    format!(
        "const NT: u32 = {threads}u;\n\
         const RS_STATE: u32 = {}u;\n\
         const RS_SCRATCH: u32 = {}u;\n\
         var<workgroup> ws: array<f32, {}>;\n\
         var<workgroup> wc: array<f32, {}>;\n\
         {BINDINGS}{}",
        layout.state_len,
        layout.scratch_len,
        layout.state_len,
        layout.scratch_len,
        RESIDENT.replacen(PHASES_AT, &phases(), 1)
    )
}

/// Upper bound of the loop iterations one thread spends per window on copying the state and
/// scratch in and out (each loop counted with two extra trips, as
/// [`Layout::workgroup_trips_per_step`] counts them).
pub(crate) fn io_trips(layout: &Layout, threads: usize) -> u64 {
    let per_thread = |k: usize| k.div_ceil(threads) as u64 + 2;
    2 * (per_thread(layout.state_len) + per_thread(layout.scratch_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::compute::WG_GPU;
    use crate::microcircuit::{Shape, Transfer};
    use wgpu::naga;

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
        // [784,20,10] with bias: W and Δ alone are 132 160 bytes
        let mnist = layout(&[784, 20, 10], true);
        assert_eq!(8 * mnist.w_total, 132_160);
        assert_eq!(workgroup_bytes(&mnist), 139_444);
        let err = check_fits(&mnist, 49152).unwrap_err().to_string();
        assert!(
            err.contains("784-20-10")
                && err.contains("49152")
                && err.contains(&format!("{}", workgroup_bytes(&mnist))),
            "{err}"
        );
    }

    #[test]
    fn phases_address_the_workgroup_copies_only() {
        let p = phases();
        assert!(
            p.contains("fn phase_a(") && p.contains("fn phase_c(") && p.contains("fn next_step(")
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
        let full = super::super::kernel::source(&src, 64);
        let module = naga::front::wgsl::parse_str(&full).expect("parses");
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .expect("valid");
    }
}
