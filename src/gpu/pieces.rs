//! Moving a chunk's patterns to the device and its readouts back, in pieces of whole patterns
//! (shared by the full-model and the steady-state GPU backends).

use crate::backend::Chunk;
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
