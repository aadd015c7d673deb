//! Moving a chunk's patterns to the device and its readouts back, in pieces of whole patterns
//! (shared by the full-model and the steady-state GPU backends).

use crate::microcircuit::backend::Chunk;
use anyhow::ensure;

/// Checks that `chunk` holds inputs and targets for `n` instances, each with the same number of
/// patterns of `n_in` inputs and `n_out` targets, and returns that number.
pub(crate) fn chunk_patterns(
    chunk: &Chunk,
    n: usize,
    n_in: usize,
    n_out: usize,
) -> anyhow::Result<usize> {
    ensure!(
        chunk.x.len() == n && chunk.y.len() == n,
        "chunk has inputs for {} and targets for {} instances, batch has {n}",
        chunk.x.len(),
        chunk.y.len()
    );
    let patterns = chunk.patterns(n_in);
    for (x, y) in chunk.x.iter().zip(&chunk.y) {
        ensure!(
            x.len() == patterns * n_in && y.len() == patterns * n_out,
            "every instance needs {patterns} patterns of {n_in} inputs and {n_out} targets"
        );
    }
    Ok(patterns)
}

/// The f32 upload of patterns `patterns` of the instances `instances`: instance-major, then
/// pattern, each pattern's `n_in` inputs followed by its `n_out` targets.
pub(crate) fn pack(
    chunk: &Chunk,
    instances: std::ops::Range<usize>,
    patterns: std::ops::Range<usize>,
    n_in: usize,
    n_out: usize,
) -> Vec<f32> {
    let mut data = Vec::with_capacity(instances.len() * patterns.len() * (n_in + n_out));
    for i in instances {
        for p in patterns.clone() {
            let x = &chunk.x[i][p * n_in..(p + 1) * n_in];
            let y = &chunk.y[i][p * n_out..(p + 1) * n_out];
            data.extend(x.iter().chain(y).map(|&v| v as f32));
        }
    }
    data
}

/// Widens a piece's readouts (instance-major, `pc` patterns of `n_out` each) into `out`, the
/// readouts of the piece's instances, from pattern `start` on.
pub(crate) fn unpack(
    out: &mut [Vec<f64>],
    readouts: &[f32],
    start: usize,
    pc: usize,
    n_out: usize,
) {
    for (o, src) in out.iter_mut().zip(readouts.chunks_exact(pc * n_out)) {
        for (d, &v) in o[start * n_out..].iter_mut().zip(src) {
            *d = f64::from(v);
        }
    }
}

/// A GPU backend whose instances sit in groups (sub-batches with their own buffers) and whose
/// chunks run in pieces of whole patterns that fit the pattern buffers.
pub(crate) trait InPieces {
    /// What the chunk is run for (training or evaluation).
    type Mode: Copy;
    /// Inputs and outputs per pattern.
    fn widths(&self) -> (usize, usize);
    /// (first instance, instances) of every group.
    fn spans(&self) -> Vec<(usize, usize)>;
    /// Readies group `gi` for a chunk of `patterns` patterns in `mode` and returns how many
    /// patterns one piece holds.
    fn prepare(&mut self, gi: usize, patterns: usize, mode: Self::Mode) -> usize;
    /// Runs one piece of `pc` patterns per instance (`data` from [`pack`]) on group `gi` and
    /// returns its readouts (instance-major, pattern, output).
    fn run_piece(
        &mut self,
        gi: usize,
        data: &[f32],
        pc: usize,
        mode: Self::Mode,
    ) -> anyhow::Result<Vec<f32>>;
}

/// Runs every instance of `backend` through its patterns of `chunk`, group by group and piece
/// by piece, and returns the readouts (patterns × n_out per instance).
pub(crate) fn run<B: InPieces>(
    backend: &mut B,
    chunk: &Chunk,
    mode: B::Mode,
) -> anyhow::Result<Vec<Vec<f64>>> {
    let (n_in, n_out) = backend.widths();
    let spans = backend.spans();
    let n = spans.iter().map(|&(_, len)| len).sum();
    let patterns = chunk_patterns(chunk, n, n_in, n_out)?;
    let mut out = vec![vec![0.0; patterns * n_out]; n];
    if patterns == 0 {
        return Ok(out);
    }
    for (gi, &(first, len)) in spans.iter().enumerate() {
        let cap = backend.prepare(gi, patterns, mode);
        for start in (0..patterns).step_by(cap) {
            let pc = cap.min(patterns - start);
            let data = pack(chunk, first..first + len, start..start + pc, n_in, n_out);
            let readouts = backend.run_piece(gi, &data, pc, mode)?;
            unpack(&mut out[first..first + len], &readouts, start, pc, n_out);
        }
    }
    Ok(out)
}

/// Copies a group's state into its evaluation copy, so that evaluation leaves the state as it
/// was.
pub(crate) fn copy_to_eval(
    gpu: &crate::gpu::device::Gpu,
    state: &wgpu::Buffer,
    eval: &wgpu::Buffer,
) {
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(state, 0, eval, 0, None);
    gpu.queue.submit([enc.finish()]);
}
