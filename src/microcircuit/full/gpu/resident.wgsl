// The resident-state integrator (`KernelKind::Resident`): the Euler steps of MODEL.md section
// 3 exactly as `step.wgsl`'s fused kernel computes them (same functions, same order of every
// sum, so the numbers are that kernel's), but with the instance's whole state and scratch in
// workgroup memory for the length of a dispatch window. One workgroup of NT = WG threads per
// instance (workgroup_id.y); the host prepends `NT`, `RS_STATE`, `RS_SCRATCH` (the shape's
// state and scratch words, literals) and the two `var<workgroup>` arrays `ws` (W, Delta, somas,
// r_0, u_tgt: the layout of the `st` buffer without the instance base) and `wc` (scratch: the
// presynaptic vectors, soma increments, errors and readout sums).
//
// A window of stream steps [disp.t_begin, disp.t_end):
//   1. every thread copies the words k = tid, tid + NT, ... of the instance's state and scratch
//      from the storage buffers into ws / wc (consecutive threads, consecutive words: coalesced);
//   2. workgroupBarrier(); then per step the phases A, B, C of step.wgsl on ws / wc, separated
//      by workgroupBarrier() (every value a phase reads that another thread wrote is in
//      workgroup memory; the storage writes of a window, readouts and trace samples, are never
//      read back inside it, so no barrier on storage memory is needed);
//   3. the same threads copy ws / wc back: when training all of it, when evaluating (the state
//      is the evaluation copy, W and Delta never change) the words from 2 W_TOTAL on.
// The loop trips of the copies are bounded on the host (`resident::io_trips`) beside those of
// step.wgsl's loops. Needs the prelude (word indices) and common.wgsl (Dispatch, noise, phi).
// Where the whole state does not fit, `resident::spilled_source` rewrites this text for the
// spilled placement (the largest matrices' W and Delta stay in st; the copies skip them, the
// phases also get storage barriers); as it is here, it is the whole placement.

// The bindings (st and sc are only read and written by the copies) are bindings.wgsl, which
// the host prepends.

// Per invocation: thread index within the instance, the instance's bases in the state and
// scratch buffers (used only by the copies in and out; the phases address ws / wc from 0) and
// in the parameter table.
// PHASES (resident.rs inserts step.wgsl's phases here)

// Copies the instance's state and scratch into workgroup memory (1. above).
fn load_window() {
    for (var k = tid; k < RS_STATE; k += NT) {
        ws[k] = st[sb + k];
    }
    for (var k = tid; k < RS_SCRATCH; k += NT) {
        wc[k] = sc[cb + k];
    }
}

// Writes the window's state back (3. above): all of it when training, only the words after W
// and Delta when evaluating.
fn store_window() {
    let lo = select(2u * table[H_W_TOTAL], 0u, train);
    for (var k = lo + tid; k < RS_STATE; k += NT) {
        st[sb + k] = ws[k];
    }
    for (var k = tid; k < RS_SCRATCH; k += NT) {
        sc[cb + k] = wc[k];
    }
}

// Resident: one workgroup (y) per instance runs the window of stream steps on its copy of the
// state in workgroup memory.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    begin(wg.y, lid);
    var step = vec2<u32>(counters[2u * inst], counters[2u * inst + 1u]);
    // from uniform values only (the barriers below need uniform control flow)
    let p_steps = table[table[H_PARAMS] + wg.y * table[H_PARAMS_STRIDE] + P_STEPS];
    let t_end = min(disp.t_end, disp.n_patterns * p_steps);
    if disp.t_begin >= t_end {
        return;
    }
    load_window();
    workgroupBarrier();
    for (var t = disp.t_begin; t < t_end; t++) {
        at_step(t);
        if s == 0u {
            clear_readout_sums();
        }
        phase_a(pattern_offset());
        workgroupBarrier();
        let plastic = plastic_now();
        phase_b(plastic, step);
        workgroupBarrier();
        phase_c(plastic);
        workgroupBarrier();
        step = next_step(step);
    }
    store_window();
    if train && tid == 0u {
        counters[2u * inst] = step.x;
        counters[2u * inst + 1u] = step.y;
    }
}
