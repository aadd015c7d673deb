//! The batches a sweep runs in: instances that can share a backend (same model, dims and φ) are
//! grouped, and each group is cut into batches of at most the size that the memory budget (host
//! RAM, and for the GPU the adapter's buffer limits) allows, so a sweep of any size runs batch
//! after batch in bounded memory.

use crate::config::{Config, ModelKind, Plan};
use crate::microcircuit::{Shape, Transfer};
use crate::num::Precision;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// What instances must share to run in one backend batch.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchKey {
    pub model: ModelKind,
    pub dims: Vec<usize>,
    pub phi: Transfer,
}

/// The batches of a sweep: ranges of positions in the plan's instance list, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub batches: Vec<Range<usize>>,
}

impl Schedule {
    /// Cuts instances with the given keys into batches: consecutive instances with equal keys,
    /// at most `size` (≥ 1) per batch.
    pub fn split(keys: &[BatchKey], size: usize) -> Schedule {
        let size = size.max(1);
        let mut batches: Vec<Range<usize>> = Vec::new();
        for i in 0..keys.len() {
            match batches.last_mut() {
                Some(b) if b.len() < size && keys[b.start] == keys[i] => b.end = i + 1,
                _ => batches.push(i..i + 1),
            }
        }
        Schedule { batches }
    }

    /// The batches of `plan` with at most `size` instances each (a config has one model, dims
    /// and φ, so its instances form a single group).
    pub fn of_plan(cfg: &Config, plan: &Plan, size: usize) -> Schedule {
        let key = BatchKey {
            model: cfg.model,
            dims: plan.shape.dims.clone(),
            phi: plan.phi,
        };
        Schedule::split(&vec![key; plan.instances.len()], size)
    }

    /// Instances in the largest batch.
    pub fn largest(&self) -> usize {
        self.batches.iter().map(Range::len).max().unwrap_or(0)
    }
}

/// The sizes that decide how much host memory one instance of a run needs.
#[derive(Clone, Debug)]
pub struct Footprint {
    pub shape: Shape,
    /// Bytes per number in the backend's state (4 for f32, 8 for f64).
    pub real_bytes: usize,
    pub train_len: usize,
    /// The larger of the validation and test sets.
    pub eval_len: usize,
    /// Training patterns per backend call.
    pub chunk: usize,
    /// Whether every instance has its own data sets (else they are shared).
    pub own_data: bool,
}

/// Bytes the allocator and the small per-instance vectors add, per instance (measured slack).
const OVERHEAD: usize = 4096;

impl Footprint {
    /// The footprint of the instances of `cfg` with data sets of the given sizes.
    pub fn new(cfg: &Config, precision: Precision, lens: [usize; 3], chunk: usize) -> Self {
        let [train_len, val_len, test_len] = lens;
        Footprint {
            shape: cfg.shape(),
            real_bytes: match precision {
                Precision::F32 => 4,
                Precision::F64 => 8,
            },
            train_len,
            eval_len: val_len.max(test_len),
            chunk,
            own_data: cfg.task.per_instance(),
        }
    }

    /// Upper estimate of the host bytes one instance needs while its batch runs, the sum of:
    /// backend state `(2w + 10s)·b` (weights, Δ, somas and work vectors; w weights, s somas and
    /// inputs, b bytes per number), initial weights `8w`, a checkpoint snapshot `8(2w + s)`,
    /// the weight copies of an evaluation point and of the results `2·8w`, the pattern order
    /// `8·train`, a training chunk `8·chunk·(n_in + 2·n_out + 1)`, an evaluation
    /// `8·eval·(n_in + 2·n_out + 1)` (inputs, targets, readouts, row indices), the instance's own
    /// data sets if it has them, and a fixed slack.
    pub fn bytes_per_instance(&self) -> usize {
        // counted, not allocated: config validation bounds it (crate::config::MAX_WEIGHTS)
        let w = self.shape.n_weights().unwrap_or(usize::MAX / 64);
        let (n_in, n_out) = (self.shape.n_in(), self.shape.n_out());
        let s = self.shape.n_somas() + n_in + n_out;
        let row = n_in + 2 * n_out + 1;
        let data = match self.own_data {
            true => 8 * (self.train_len + 2 * self.eval_len) * (n_in + n_out),
            false => 0,
        };
        (2 * w + 10 * s) * self.real_bytes
            + 8 * w
            + 8 * (2 * w + s)
            + 2 * 8 * w
            + 8 * self.train_len
            + 8 * self.chunk * row
            + 8 * self.eval_len * row
            + data
            + OVERHEAD
    }

    /// Instances per batch that fit into `budget` bytes (at least 1).
    pub fn capacity(&self, budget: u64) -> usize {
        (budget / self.bytes_per_instance() as u64).max(1) as usize
    }
}

/// Most host memory one batch may plan for: half of what the system has available, at most
/// this. Larger batches would not run faster (a few hundred instances keep every core busy),
/// only make checkpoints and the peak memory larger.
pub const MAX_BATCH_BYTES: u64 = 512 << 20;

/// `MemAvailable` of `/proc/meminfo` in bytes (`None` where there is no such file).
pub fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The host memory budget of one batch: half of `available` (unknown: assume plenty), at most
/// [`MAX_BATCH_BYTES`].
pub fn host_budget(available: Option<u64>) -> u64 {
    available.map_or(MAX_BATCH_BYTES, |a| (a / 2).min(MAX_BATCH_BYTES))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dims: &[usize]) -> BatchKey {
        BatchKey {
            model: ModelKind::Full,
            dims: dims.to_vec(),
            phi: Transfer::Sigmoid,
        }
    }

    #[test]
    fn batches_never_mix_keys_and_respect_the_size() {
        let (a, b) = (key(&[4, 120, 3]), key(&[2, 3, 2]));
        let keys = vec![a.clone(), a.clone(), a.clone(), b.clone(), b, a];
        let s = Schedule::split(&keys, 2);
        assert_eq!(s.batches, vec![0..2, 2..3, 3..5, 5..6]);
        assert_eq!(s.largest(), 2);
        let one = Schedule::split(&keys[..3], 10);
        assert_eq!(one.batches, vec![0..3]);
        assert_eq!(Schedule::split(&keys[..3], 0).batches.len(), 3);
        assert!(Schedule::split(&[], 4).batches.is_empty());
    }

    #[test]
    fn footprint_counts_weights_by_hand() {
        // [2,3,2] without bias: W_up 3×2 + 2×3, W_down 3×2, W_pi 3×2, W_ip 2×3: w = 30;
        // somas 3 + 2 + 2 interneurons = 7, plus 2 inputs and 2 targets: s = 11
        let f = Footprint {
            shape: Shape::new(vec![2, 3, 2], false),
            real_bytes: 8,
            train_len: 10,
            eval_len: 5,
            chunk: 4,
            own_data: false,
        };
        let row = 2 + 4 + 1;
        let want = (60 + 110) * 8 + 240 + 8 * 71 + 480 + 80 + 8 * 4 * row + 8 * 5 * row + OVERHEAD;
        assert_eq!(f.bytes_per_instance(), want);
        let own = Footprint {
            own_data: true,
            ..f.clone()
        };
        assert_eq!(own.bytes_per_instance(), want + 8 * 20 * 4);
        assert_eq!(f.capacity(10 * want as u64 + 1), 10);
        assert_eq!(f.capacity(1), 1);
    }

    #[test]
    fn host_budget_is_half_the_available_memory_at_most_the_cap() {
        let meminfo = "MemTotal:       24000000 kB\nMemFree: 1 kB\nMemAvailable:     400000 kB\n";
        assert_eq!(parse_mem_available(meminfo), Some(400_000 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 5 kB\n"), None);
        assert_eq!(host_budget(Some(400_000 * 1024)), 200_000 * 1024);
        assert_eq!(host_budget(Some(u64::MAX)), MAX_BATCH_BYTES);
        assert_eq!(host_budget(None), MAX_BATCH_BYTES);
    }
}
