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

/// Runs independent jobs, each a sequence of `len[i]` steps that must run in order, on the
/// current rayon pool's `threads` threads, so that a batch of instances that does not divide
/// evenly among the threads (3 instances on 2) still keeps every thread busy: a free thread
/// takes the next `piece` steps of the job with the most steps left that no thread is running
/// (`run(job, from, to)` runs steps `from..to` of one job). A job's steps run in order on one
/// thread at a time, so its results do not depend on the schedule.
pub fn balanced<J: Send>(
    jobs: &mut [J],
    len: &[usize],
    threads: usize,
    piece: usize,
    run: impl Fn(&mut J, usize, usize) + Sync,
) {
    use std::sync::{Condvar, Mutex};
    assert_eq!(jobs.len(), len.len());
    let piece = piece.max(1);
    let workers = threads.min(jobs.len());
    // (steps done, running) per job
    let progress = Mutex::new(vec![(0usize, false); jobs.len()]);
    let turn = Condvar::new();
    let slots: Vec<Mutex<&mut J>> = jobs.iter_mut().map(Mutex::new).collect();
    let worker = || loop {
        let (i, from, to) = {
            let mut p = progress.lock().expect("no worker panicked");
            loop {
                let next = (0..p.len())
                    .filter(|&i| !p[i].1 && p[i].0 < len[i])
                    .max_by_key(|&i| (len[i] - p[i].0, std::cmp::Reverse(i)));
                if let Some(i) = next {
                    p[i].1 = true;
                    break (i, p[i].0, (p[i].0 + piece).min(len[i]));
                }
                if (0..p.len()).all(|i| p[i].0 >= len[i]) {
                    return;
                }
                p = turn.wait(p).expect("no worker panicked");
            }
        };
        run(&mut slots[i].lock().expect("no worker panicked"), from, to);
        let mut p = progress.lock().expect("no worker panicked");
        p[i] = (to, false);
        turn.notify_all();
    };
    rayon::scope(|s| {
        for _ in 0..workers {
            s.spawn(|_| worker());
        }
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_runs_every_step_of_every_job_once_and_in_order() {
        for (threads, lens) in [
            (2, vec![7, 7, 7]),
            (3, vec![1, 9, 4, 0, 5]),
            (1, vec![3, 2]),
        ] {
            let mut jobs: Vec<Vec<usize>> = vec![Vec::new(); lens.len()];
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                balanced(&mut jobs, &lens, threads, 2, |job, from, to| {
                    assert_eq!(job.len(), from, "steps run in order");
                    job.extend(from..to);
                })
            });
            for (job, &n) in jobs.iter().zip(&lens) {
                assert_eq!(*job, (0..n).collect::<Vec<_>>());
            }
        }
    }
}
