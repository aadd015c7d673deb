//! The boundary between the G-clusteron protocol (host: inits, minibatch draws, evaluation
//! cadence, metrics) and the backends that run the arithmetic (CPU now, GPU later).
//!
//! A batch holds independent instances of the same width: N synapses and K units each, with
//! their own hyper-parameters and state. Everything random (initial state, minibatch indices)
//! is drawn on the host from each instance's seed and handed over, so every backend sees the
//! same stream. All arrays are plain row-major `Vec`s that a GPU backend can upload as they are.

/// How the K units of an instance turn outputs `o_k` into class probabilities (batch-wide).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readout {
    /// All-vs-all: `p_k = softmax_k(o)`, error `e_k = p_k − t_k` (one-hot t).
    Softmax,
    /// Independent binary units: `p_k = σ(o_k)`, error per [`ErrorMode`] with `t_k ∈ {0, 1}`
    /// (binary, one-vs-rest and one-vs-all tasks).
    Sigmoid,
}

/// The error term `e` of a sigmoid unit (spec §2.2); ignored by softmax readouts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ErrorMode {
    /// `e = 1[o ≥ 0] − t`.
    Thresholded,
    /// `e = σ(o) − t`.
    Probability,
    /// `e` = this constant for every pattern (toy demos: −1 'pos', +1 'neg').
    Fixed(f64),
}

/// Per-instance hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GcHyper {
    /// Kernel width: `F_ij = exp(−(l_i − l_j)² / r)`.
    pub r: f64,
    pub eta_l: f64,
    pub eta_w: f64,
    pub eta_b: f64,
    /// Minibatch size B.
    pub batch: usize,
    /// Locations learn (rules 'L', 'B').
    pub learn_l: bool,
    /// Weights learn (rules 'W', 'B').
    pub learn_w: bool,
    /// Adam without bias correction on every group (spec §2.3); plain SGD otherwise.
    pub adam: bool,
    pub error: ErrorMode,
}

/// Adam moments of one parameter group of every unit (same layout as the group; zeros at the
/// start and whenever the optimiser is SGD).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Moments<T> {
    pub m: Vec<T>,
    pub v: Vec<T>,
}

impl<T: Clone + Default> Moments<T> {
    /// Zero moments for `len` parameters.
    pub fn zeros(len: usize) -> Self {
        Moments {
            m: vec![T::default(); len],
            v: vec![T::default(); len],
        }
    }
}

/// The state of one instance: K units of N synapses each.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct GcState<T> {
    /// Locations, K × N row-major (unit k's synapse i at `k·N + i`).
    pub l: Vec<T>,
    /// Weights, K × N.
    pub w: Vec<T>,
    /// Biases (thresholds), K.
    pub b: Vec<T>,
    /// Adam moments of l (K × N), w (K × N) and b (K).
    pub adam_l: Moments<T>,
    pub adam_w: Moments<T>,
    pub adam_b: Moments<T>,
    /// The locations the kernel of the last training step was built from (spec §2.4 step 1:
    /// the authors' binary loop tests with this stale kernel); equal to `l` before training.
    pub l_kernel: Vec<T>,
}

impl<T: Clone + Default> GcState<T> {
    /// A state with these locations, weights and biases and zero optimiser moments.
    pub fn new(l: Vec<T>, w: Vec<T>, b: Vec<T>) -> Self {
        GcState {
            adam_l: Moments::zeros(l.len()),
            adam_w: Moments::zeros(w.len()),
            adam_b: Moments::zeros(b.len()),
            l_kernel: l.clone(),
            l,
            w,
            b,
        }
    }
}

impl<T: Copy> GcState<T> {
    /// Converts every array with `f` (e.g. between precisions).
    pub fn map<U>(&self, f: impl Fn(T) -> U + Copy) -> GcState<U> {
        let m = |v: &[T]| v.iter().map(|&x| f(x)).collect::<Vec<U>>();
        let mm = |x: &Moments<T>| Moments {
            m: m(&x.m),
            v: m(&x.v),
        };
        GcState {
            l: m(&self.l),
            w: m(&self.w),
            b: m(&self.b),
            adam_l: mm(&self.adam_l),
            adam_w: mm(&self.adam_w),
            adam_b: mm(&self.adam_b),
            l_kernel: m(&self.l_kernel),
        }
    }
}

/// Instances that run together.
#[derive(Clone, Debug)]
pub struct GcBatch {
    /// Synapses per unit.
    pub n: usize,
    /// Units per instance (10 for softmax or one-vs-rest over 10 classes, 1 for binary).
    pub k: usize,
    pub readout: Readout,
    pub hyper: Vec<GcHyper>,
    pub init: Vec<GcState<f64>>,
}

impl GcBatch {
    pub fn len(&self) -> usize {
        self.hyper.len()
    }
    pub fn is_empty(&self) -> bool {
        self.hyper.is_empty()
    }
}

/// A data set shared by every instance: inputs `x` (patterns × N) and unit targets `t`
/// (patterns × K: one-hot for softmax, `t_k ∈ {0,1}` for sigmoid units).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct GcData {
    pub n: usize,
    pub k: usize,
    pub x: Vec<f64>,
    pub t: Vec<f64>,
}

impl GcData {
    pub fn len(&self) -> usize {
        self.x.len().checked_div(self.n).unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn x_row(&self, p: usize) -> &[f64] {
        &self.x[p * self.n..(p + 1) * self.n]
    }
    pub fn t_row(&self, p: usize) -> &[f64] {
        &self.t[p * self.k..(p + 1) * self.k]
    }
}

/// Which kernel an evaluation uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelAt {
    /// Built from the current locations.
    Current,
    /// Built from `l_kernel`, the locations before the last training step (the authors'
    /// binary loop, spec §2.4).
    LastStep,
}

/// A G-clusteron backend. It is built (backend-specific constructor) from a [`GcBatch`] and the
/// data sets: set 0 is the training set, the others are evaluation sets.
pub trait GcBackend {
    /// Human-readable name, e.g. `gc-cpu-f64 (2 threads)`.
    fn name(&self) -> String;
    /// Runs `steps` iterations of spec §2.4 for every instance: `rows[i]` holds instance i's
    /// minibatch indices into the training set, `steps × batch_i` step-major, or is empty to
    /// leave instance i unchanged (e.g. converged).
    fn train(&mut self, steps: usize, rows: &[Vec<u32>]) -> anyhow::Result<()>;
    /// The outputs `o = sᵀ F s − b` (patterns × K) of every instance on every pattern of
    /// set `set`; the state is not changed.
    fn outputs(&mut self, set: usize, kernel: KernelAt) -> anyhow::Result<Vec<Vec<f64>>>;
    /// The state of every instance, widened to f64.
    fn states(&mut self) -> anyhow::Result<Vec<GcState<f64>>>;
}
