//! The traffic model of docs/gpu.md (and `scripts/gpu_traffic.py`, which prints its tables):
//! bytes one instance-step moves to and from global memory, per kernel, counted from the code
//! rather than measured. `pyralnet bench` turns a measured rate into GB/s with it, so a device
//! session can compare the achieved bandwidth with the device's (the model's B/step × the
//! measured instance-steps/s; not a profiler reading).

use super::layout::{KernelKind, Layout};
use crate::microcircuit::{InstanceParams, Shape};

/// A weight matrix as the kernels see it: rows, columns, plastic (η ≠ 0 for the instance).
struct Matrix {
    rows: usize,
    cols: usize,
    plastic: bool,
}

/// The matrices of `shape` in `Weights::named` order (per layer W_up, then for hidden layers
/// W_down, W_pi, W_ip), with `params`' plasticity.
fn matrices(shape: &Shape, params: &InstanceParams) -> Vec<Matrix> {
    let on = InstanceParams::learns;
    let mut out = Vec::new();
    for l in 0..shape.n_layers() {
        let m = shape.n_pyr(l);
        out.push(Matrix {
            rows: m,
            cols: shape.with_bias(shape.dims[l]),
            plastic: on(&params.eta_up, l),
        });
        if shape.is_hidden(l) {
            let mi = shape.n_inter(l);
            out.push(Matrix {
                rows: m,
                cols: mi,
                plastic: on(&params.eta_down, l),
            });
            out.push(Matrix {
                rows: m,
                cols: mi,
                plastic: on(&params.eta_pi, l),
            });
            out.push(Matrix {
                rows: mi,
                cols: shape.with_bias(m),
                plastic: on(&params.eta_ip, l),
            });
        }
    }
    out
}

/// Words per instance-step of `step.wgsl` (fused and phased kernels alike), state buffer plus
/// scratch buffer: phase A reads and writes the filtered stimulus r_0/u_tgt and reads the
/// pattern row and the somas; phase B reads every weight and its presynaptic value, the somas
/// (interneurons also the soma above) and writes du and the errors; phase C reads and writes
/// W and Δ of every plastic entry with its error and presynaptic rate, and updates the somas
/// and readout sums (`fused_words` in the script).
fn fused_words(shape: &Shape, params: &InstanceParams) -> usize {
    let mats = matrices(shape, params);
    let w: usize = mats.iter().map(|m| m.rows * m.cols).sum();
    let p: usize = mats
        .iter()
        .filter(|m| m.plastic)
        .map(|m| m.rows * m.cols)
        .sum();
    let s = shape.n_somas();
    let io = shape.n_in() + shape.n_out();
    let layers = 0..shape.n_layers();
    let ninter: usize = layers.clone().map(|l| shape.n_inter(l)).sum();
    let pyr: usize = layers.clone().map(|l| shape.n_pyr(l)).sum();
    let hidden_pyr: usize = layers
        .filter(|&l| shape.is_hidden(l))
        .map(|l| shape.n_pyr(l))
        .sum();
    // errors e_up, e_ip, e_pi
    let err_rows = pyr + ninter + hidden_pyr;
    let state = 3 * io + s + w + s + ninter + 4 * p + 2 * s;
    let scratch = s + shape.n_in() + w + s + 2 * err_rows + 2 * p + s + 2 * shape.n_out();
    state + scratch
}

/// Words per instance-step that the resident kernel's spilled matrices ([`Layout::spilled`])
/// move through global memory: W read by phase B's dendrites (the presynaptic rates are in
/// workgroup memory), and for a plastic matrix W and Δ read and written by phase C, as the
/// fused kernel moves them (`fused_words`' `w + 4p` of those matrices).
pub(crate) fn spilled_words(layout: &Layout, params: &InstanceParams) -> usize {
    let mats = matrices(&layout.shape, params);
    layout
        .spilled
        .iter()
        .map(|&i| {
            let m = &mats[i];
            m.rows * m.cols * if m.plastic { 5 } else { 1 }
        })
        .sum()
}

/// Bytes per instance-step of the fused kernel (4·`fused_words`), for comparing the spilled
/// resident placement with it.
pub(crate) fn fused_bytes_per_step(shape: &Shape, params: &InstanceParams) -> f64 {
    4.0 * fused_words(shape, params) as f64
}

/// Words per instance-step of the serial kernel (`serial.rs`): matrices of ≤ 16 columns in
/// blocks of 4 rows (a plastic entry moves W and Δ as one 64-bit chunk, read and written: 4
/// words; a frozen one 1), wider ones row-major with columns padded to 4 (plastic 1 + 4, frozen
/// 1); plus the somas (4 words each) and the stimulus (3 per input and target).
fn serial_words(shape: &Shape, params: &InstanceParams) -> usize {
    let weights: usize = matrices(shape, params)
        .iter()
        .map(|m| {
            if m.cols <= 16 {
                m.rows.next_multiple_of(4) * m.cols * if m.plastic { 4 } else { 1 }
            } else {
                m.rows * m.cols.next_multiple_of(4) * if m.plastic { 5 } else { 1 }
            }
        })
        .sum();
    weights + 4 * shape.n_somas() + 3 * (shape.n_in() + shape.n_out())
}

/// Global bytes per training instance-step of `layout`'s kernel for an instance with
/// `params`, `steps_per_pattern` steps per pattern and `window` steps per dispatch. The
/// resident kernel reads the pattern row every step, writes the readout once per pattern and
/// copies its state and scratch in and out once per window:
/// `4 (n_in + n_out) + 4 n_out / steps_per_pattern + 2 · 4 (state_len + scratch_len) / window`;
/// with spilled matrices the copies leave out their W and Δ (`state_len − 2S`), which move
/// every step instead ([`spilled_words`]);
/// the register kernel likewise, with only the words its threads own (W, Δ, somas, r_0,
/// u_tgt, readout sums) in place of the state and scratch.
pub(crate) fn bytes_per_step(
    layout: &Layout,
    params: &InstanceParams,
    steps_per_pattern: usize,
    window: usize,
) -> f64 {
    let shape = &layout.shape;
    match layout.kernel {
        KernelKind::Serial => 4.0 * serial_words(shape, params) as f64,
        KernelKind::Workgroup | KernelKind::Phased => 4.0 * fused_words(shape, params) as f64,
        KernelKind::Resident | KernelKind::Register => {
            let row = 4.0 * (shape.n_in() + shape.n_out()) as f64;
            let readout = 4.0 * shape.n_out() as f64 / steps_per_pattern.max(1) as f64;
            let words = match layout.kernel {
                // W, Δ, somas, r_0, u_tgt and the two readout sums of each output
                KernelKind::Register => {
                    2 * layout.w_total + shape.n_somas() + shape.n_in() + 3 * shape.n_out()
                }
                _ => layout.state_len - 2 * layout.spilled_words() + layout.scratch_len,
            } as f64;
            let spilled = match layout.kernel {
                KernelKind::Resident => 4.0 * spilled_words(layout, params) as f64,
                _ => 0.0,
            };
            row + readout + spilled + 8.0 * words / window.max(1) as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::microcircuit::Transfer;

    /// The figures docs/gpu.md quotes for [4,120,3] with the bench's plasticity
    /// (`bench::plastic_batch`: W_up, W_pi, W_ip plastic, W_down frozen), computed by hand from the formulas: W = 2046 words, 1686
    /// of them plastic, 126 somas, 7 stimulus words.
    #[test]
    fn yinyang_shape_moves_what_the_docs_say() {
        let shape = &Shape::new(vec![4, 120, 3], true);
        let mut p = InstanceParams::reference(2);
        p.eta_up = vec![6.1, 7.32e-4];
        p.eta_pi = vec![4.22e-4];
        p.eta_ip = vec![1.464e-3];
        let p = &p;
        let mats = matrices(shape, p);
        let w: usize = mats.iter().map(|m| m.rows * m.cols).sum();
        let plastic: usize = mats
            .iter()
            .filter(|m| m.plastic)
            .map(|m| m.rows * m.cols)
            .sum();
        assert_eq!((w, plastic, shape.n_somas()), (2046, 1686, 126));
        // state: 3·7 + 126 + 2046 + 126 + 3 + 4·1686 + 2·126 = 9318; scratch: 126 + 4 + 2046
        // + 126 + 2·(123 + 3 + 120) + 2·1686 + 126 + 6 = 6298
        assert_eq!(fused_words(shape, p), 9318 + 6298);
        // W_up0 120×5 plastic 2400, W_down0 120×3 frozen 360, W_pi0 120×3 plastic 1440,
        // W_ip0 3×121 row-major 3·124·5 = 1860, W_up1 3×121 plastic 1860; + 504 + 21
        assert_eq!(
            serial_words(shape, p),
            2400 + 360 + 1440 + 1860 + 1860 + 504 + 21
        );
        let layout = Layout::new(shape, Transfer::Sigmoid, 64, KernelKind::Resident);
        let words = layout.state_len + layout.scratch_len;
        assert_eq!(
            4 * words,
            19_448,
            "docs/gpu.md 3.0: resident workgroup bytes"
        );
        // 16 patterns of 1000 steps per window: 28 + 0.012 + 2.43 = 30.4 B
        let bytes = bytes_per_step(&layout, p, 1000, 16_000);
        assert!((bytes - 30.443).abs() < 1e-3, "{bytes}");
        // the register kernel: W and Δ 4092, somas 126, r_0 4, u_tgt 3, readout sums 6 words
        // in and out per window: 28 + 0.012 + 8·4231/16 000 = 30.13 B
        let layout = Layout::new(shape, Transfer::Sigmoid, 64, KernelKind::Register);
        let bytes = bytes_per_step(&layout, p, 1000, 16_000);
        assert!((bytes - 30.1275).abs() < 1e-3, "{bytes}");
    }

    /// docs/gpu.md 3.0's [784,20,10] figures with the bench's plasticity: the fused kernel
    /// and the resident kernel with W_up0 (20×785, plastic) spilled to global memory.
    #[test]
    fn mnist_shape_spilled_moves_what_the_docs_say() {
        let shape = &Shape::new(vec![784, 20, 10], true);
        let mut p = InstanceParams::reference(2);
        p.eta_up = vec![6.1, 7.32e-4];
        p.eta_pi = vec![4.22e-4];
        p.eta_ip = vec![1.464e-3];
        // W 16 520 words, 16 320 plastic (W_down0 20×10 frozen), 40 somas, 794 stimulus words;
        // state 3·794 + 40 + 16 520 + 40 + 10 + 4·16 320 + 2·40 = 84 352, scratch 40 + 784 +
        // 16 520 + 40 + 2·60 + 2·16 320 + 40 + 20 = 50 204
        assert_eq!(fused_words(shape, &p), 84_352 + 50_204);
        assert_eq!(fused_bytes_per_step(shape, &p), 538_224.0);
        let mut layout = Layout::new(shape, Transfer::Sigmoid, 64, KernelKind::Resident);
        layout.spilled = vec![0];
        // W_up0 read by the dendrites, W and Δ read and written by the update: 5 words/entry
        assert_eq!(spilled_words(&layout, &p), 5 * 15_700);
        // in workgroup memory 13 844 B: 2·13 844 / 16 000 per step for the copies, the
        // pattern row 4·794, the readout 40/1000 and W_up0's 314 000
        assert_eq!(
            4 * (layout.state_len - 2 * layout.spilled_words() + layout.scratch_len),
            13_844
        );
        let bytes = bytes_per_step(&layout, &p, 1000, 16_000);
        let want = 3176.0 + 0.04 + 314_000.0 + 2.0 * 13_844.0 / 16_000.0;
        assert!((bytes - want).abs() < 1e-6, "{bytes} {want}");
    }
}
