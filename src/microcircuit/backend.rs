//! The contract every backend of the microcircuit (full and steady model, CPU and GPU) fulfils:
//! take a batch of instances, advance them through chunks of pattern streams, return readouts.
//! Backends are interchangeable behind it, which is what makes `check` and the equivalence
//! tests simple.

use crate::microcircuit::full::cpu::{CpuKernel, State};
use crate::microcircuit::{InstanceParams, Shape, Transfer, Weights};

/// What a pattern is for: training patterns nudge the output, learn and carry noise; evaluation
/// patterns do none of these (MODEL.md section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternKind {
    Train,
    Eval,
}

/// Instances that run together: they share shape and φ, each has its own parameters and
/// initial weights.
#[derive(Clone, Debug)]
pub struct Batch {
    pub shape: Shape,
    pub phi: Transfer,
    pub params: Vec<InstanceParams>,
    pub init: Vec<Weights<f64>>,
}

impl Batch {
    /// A batch of instances with these parameters, each starting from its configured initial
    /// weights ([`crate::microcircuit::init::init_weights`]).
    pub fn from_params(shape: Shape, phi: Transfer, params: Vec<InstanceParams>) -> Self {
        let init = params
            .iter()
            .map(|p| crate::microcircuit::init::init_weights(&shape, p))
            .collect();
        Batch {
            shape,
            phi,
            params,
            init,
        }
    }
    pub fn len(&self) -> usize {
        self.params.len()
    }
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }
}

/// A chunk of patterns for every instance of a batch. All instances get the same number of
/// patterns; `x[i]` holds instance i's inputs row-major (patterns × n_in), `y[i]` its targets
/// (patterns × n_out).
#[derive(Clone, Debug, Default)]
pub struct Chunk {
    pub x: Vec<Vec<f64>>,
    pub y: Vec<Vec<f64>>,
}

impl Chunk {
    /// Number of patterns per instance (given the input width).
    pub fn patterns(&self, n_in: usize) -> usize {
        self.x.first().map_or(0, |x| x.len() / n_in)
    }
}

/// Which compartments a recording keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordSpec {
    /// Keep every `stride`-th step (0 = no recording).
    pub stride: usize,
    /// Also keep hidden pyramidal somas, interneuron somas and apical potentials.
    pub all_compartments: bool,
}

/// Traces of one instance, each a flat row-major (samples × width) array.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// Global training step of each sample.
    pub step: Vec<u64>,
    /// Named arrays with their width, e.g. ("u_out", 3, values).
    pub arrays: Vec<(String, usize, Vec<f64>)>,
}

impl Trace {
    /// Appends the sample of global training step `step` if it is on `spec`'s stride: the
    /// columns `u_out`, `u_tgt`, `r0` and, with `all_compartments`, `layer<l>.u_p` and
    /// `layer<l>.u_i` of every hidden layer, read from the somas `u_p` (per layer), `u_i` (per
    /// hidden layer), `r0`, `u_tgt` through `value` (one entry as f64). Every CPU kernel records
    /// through it, so their traces have the same arrays.
    #[allow(clippy::too_many_arguments)]
    pub fn push_sample<T>(
        &mut self,
        step: u64,
        spec: &RecordSpec,
        u_p: &[Vec<T>],
        u_i: &[Vec<T>],
        r0: &[T],
        u_tgt: &[T],
        value: impl Fn(&T) -> f64,
    ) {
        if !step.is_multiple_of(spec.stride as u64) {
            return;
        }
        let mut columns: Vec<(String, &[T])> = vec![
            ("u_out".into(), u_p.last().expect("an output layer")),
            ("u_tgt".into(), u_tgt),
            ("r0".into(), r0),
        ];
        if spec.all_compartments {
            for l in 0..u_p.len() - 1 {
                columns.push((format!("layer{l}.u_p"), &u_p[l]));
                columns.push((format!("layer{l}.u_i"), &u_i[l]));
            }
        }
        if self.arrays.is_empty() {
            self.arrays = columns
                .iter()
                .map(|(n, v)| (n.clone(), v.len(), Vec::new()))
                .collect();
        }
        self.step.push(step);
        for ((_, _, dst), (_, v)) in self.arrays.iter_mut().zip(&columns) {
            dst.extend(v.iter().map(&value));
        }
    }
}

/// A simulator backend.
pub trait Backend {
    /// Human-readable name, e.g. `cpu-f64 reference (2 threads)` or the GPU adapter.
    fn name(&self) -> String;
    /// The CPU kernel that runs the full model (a backend opened by
    /// [`crate::microcircuit::full::cpu::open_cpu`]); `None` for every other backend.
    fn cpu_kernel(&self) -> Option<CpuKernel> {
        None
    }
    /// Runs every instance through its training patterns (nudging, plasticity, noise on) and
    /// returns the readout of each pattern (patterns × n_out per instance).
    fn train(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>>;
    /// Runs evaluation patterns (no nudging, plasticity or noise) on a copy of each instance's
    /// state, which is left unchanged, and returns the readouts.
    fn evaluate(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>>;
    /// The current weights of every instance.
    fn weights(&mut self) -> anyhow::Result<Vec<Weights<f64>>>;
    /// The full dynamic state of every instance, widened to f64 (exact for f32 states too), for
    /// checkpoints.
    fn snapshot(&mut self) -> anyhow::Result<Vec<State<f64>>>;
    /// Puts every instance back into a state taken by [`Backend::snapshot`].
    fn restore(&mut self, states: &[State<f64>]) -> anyhow::Result<()>;
    /// Most instances one batch may hold where the device's memory limits it (the GPU: one
    /// sub-batch whose buffers fit the adapter's binding limits); `None` where only host memory
    /// does.
    fn batch_capacity(&self) -> Option<usize> {
        None
    }
    /// Traces recorded during training so far (drained), when recording was requested.
    fn take_traces(&mut self) -> Vec<Trace> {
        Vec::new()
    }
}

/// The check every [`Backend::restore`] starts with: a checkpoint of `states` instances fits a
/// batch of `batch` only if the counts agree.
pub fn check_restore_len(states: usize, batch: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        states == batch,
        "a checkpoint of {states} instances cannot restore a batch of {batch}"
    );
    Ok(())
}
