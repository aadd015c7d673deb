//! The thread pool the CPU backends run their instances on.

/// Rayon's global pool, or a pool of a chosen size.
pub struct Pool(Option<rayon::ThreadPool>);

impl Pool {
    /// `threads = None` uses rayon's global pool (all cores).
    pub fn new(threads: Option<usize>) -> anyhow::Result<Self> {
        Ok(Pool(match threads {
            Some(n) => Some(rayon::ThreadPoolBuilder::new().num_threads(n).build()?),
            None => None,
        }))
    }

    /// Runs `f` inside the pool.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.0 {
            Some(pool) => pool.install(f),
            None => f(),
        }
    }

    /// Number of threads.
    pub fn threads(&self) -> usize {
        self.0
            .as_ref()
            .map_or_else(rayon::current_num_threads, |p| p.current_num_threads())
    }

    /// `1 thread` or `N threads`, for backend names.
    pub fn label(&self) -> String {
        match self.threads() {
            1 => "1 thread".into(),
            n => format!("{n} threads"),
        }
    }
}

/// Calls `run(x, y, readout)` for each pattern of one instance's share of a chunk (`x`
/// patterns × n_in, `y` patterns × n_out) and returns the readouts (patterns × n_out).
pub fn per_pattern(
    x: &[f64],
    y: &[f64],
    n_in: usize,
    n_out: usize,
    mut run: impl FnMut(&[f64], &[f64], &mut [f64]),
) -> Vec<f64> {
    let patterns = x.len() / n_in;
    let mut out = vec![0.0; patterns * n_out];
    for (p, readout) in out.chunks_exact_mut(n_out).enumerate() {
        run(
            &x[p * n_in..(p + 1) * n_in],
            &y[p * n_out..(p + 1) * n_out],
            readout,
        );
    }
    out
}
