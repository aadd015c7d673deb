//! Throughput measurement shared by `pyralnet bench` and the criterion benchmark: instance-steps
//! per second of a backend with every standard pathway plastic.

use crate::backend::{Backend, Batch, Chunk};
use crate::model::{init, InitMode, InstanceParams, Shape, Transfer};
use std::time::Instant;

/// A batch of `n` instances of `dims` (sigmoid, bias) with the Yin-Yang parameters of
/// experiment C: random start, W_up, W_pi and W_ip all plastic, no learning lag.
pub fn plastic_batch(dims: &[usize], n: usize, t_pattern: f64) -> Batch {
    let shape = Shape::new(dims.to_vec(), true);
    let layers = shape.n_layers();
    let params: Vec<InstanceParams> = (0..n)
        .map(|i| {
            let mut p = InstanceParams::reference(layers);
            p.ga = 0.28;
            p.gsom = 0.34;
            p.t_pattern = t_pattern;
            p.out_lag = 0.8 * t_pattern;
            p.eta_up = (0..layers)
                .map(|l| if l + 1 == layers { 7.32e-4 } else { 6.1 })
                .collect();
            p.eta_pi = vec![4.22e-4; layers - 1];
            p.eta_ip = vec![1.464e-3; layers - 1];
            p.init = InitMode::Random;
            p.init_up = 0.1;
            p.init_ip = 0.1;
            p.seed = i as u64;
            p
        })
        .collect();
    let init = params
        .iter()
        .map(|p| init::init_weights(&shape, p))
        .collect();
    Batch {
        shape,
        phi: Transfer::Sigmoid,
        params,
        init,
    }
}

/// `patterns` random input patterns for every instance of `batch`.
pub fn random_chunk(batch: &Batch, patterns: usize) -> Chunk {
    let (n_in, n_out) = (batch.shape.n_in(), batch.shape.n_out());
    let val = |i: usize, k: usize| ((i * 31 + k * 17) % 97) as f64 / 97.0;
    Chunk {
        x: (0..batch.len())
            .map(|i| (0..patterns * n_in).map(|k| val(i, k)).collect())
            .collect(),
        y: (0..batch.len())
            .map(|i| {
                (0..patterns * n_out)
                    .map(|k| if (i + k) % n_out == 0 { 1.0 } else { 0.1 })
                    .collect()
            })
            .collect(),
    }
}

/// Trains `backend` on chunks of `patterns` patterns until at least `min_seconds` have passed
/// (after one warm-up chunk) and returns instance-steps per second.
pub fn throughput(
    backend: &mut dyn Backend,
    batch: &Batch,
    patterns: usize,
    min_seconds: f64,
) -> anyhow::Result<f64> {
    let chunk = random_chunk(batch, patterns);
    backend.train(&chunk)?;
    let steps_per_chunk: f64 = batch
        .params
        .iter()
        .map(|p| (p.steps_per_pattern() * patterns) as f64)
        .sum();
    let start = Instant::now();
    let mut steps = 0.0;
    while start.elapsed().as_secs_f64() < min_seconds || steps == 0.0 {
        backend.train(&chunk)?;
        steps += steps_per_chunk;
    }
    Ok(steps / start.elapsed().as_secs_f64())
}
