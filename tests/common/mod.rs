//! Helpers shared by test files: for the GPU test files (microcircuit and G-clusteron) the
//! device (or a skip), batches and random chunks; in [`process`] those for the tests that run
//! the binary as a process.
#![allow(dead_code)] // each test file uses its own subset

pub mod process;

use pyralnet::gpu::{self, Gpu, GpuError};
use pyralnet::microcircuit::backend::{Batch, Chunk};
use pyralnet::microcircuit::init::init_weights;
use pyralnet::microcircuit::{InstanceParams, Shape, Transfer};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// The device, or `None` (test skipped) when the machine has no adapter; with
/// `PYRALNET_REQUIRE_GPU` set (CI: lavapipe) a missing adapter fails the test instead.
pub fn device() -> Option<Gpu> {
    match gpu::open(None) {
        Ok(g) => Some(g),
        Err(GpuError::NoAdapter) if std::env::var_os("PYRALNET_REQUIRE_GPU").is_none() => {
            eprintln!("skipping GPU test: {}", GpuError::NoAdapter);
            None
        }
        Err(e) => panic!("opening the GPU: {e}"),
    }
}

/// A batch of these instances, each starting from its configured initial weights.
pub fn batch(shape: &Shape, phi: Transfer, params: Vec<InstanceParams>) -> Batch {
    let init = params.iter().map(|p| init_weights(shape, p)).collect();
    Batch {
        shape: shape.clone(),
        phi,
        params,
        init,
    }
}

/// `patterns` random inputs in [0, 1) and targets in [0.1, 1) per instance.
pub fn chunk(shape: &Shape, instances: usize, patterns: usize, seed: u64) -> Chunk {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut draw = |n: usize, lo: f64| -> Vec<f64> {
        (0..n * patterns).map(|_| rng.gen_range(lo..1.0)).collect()
    };
    let (x, y) = (0..instances)
        .map(|_| (draw(shape.n_in(), 0.0), draw(shape.n_out(), 0.1)))
        .unzip();
    Chunk { x, y }
}
