//! Which CPU kernel runs the full dynamics, chosen in one place: every run, check, bench and
//! plot opens its CPU backend through [`open_cpu`], and `--cpu-kernel` names a [`CpuKernel`].
//! A new kernel is a new variant here, an arm in [`open_cpu`], an entry in
//! [`CpuKernel::AVAILABLE`] and, if `auto` should pick it, a rule in [`resolve`].

use super::CpuBackend;
use crate::microcircuit::backend::{Backend, Batch, RecordSpec};
use crate::num::Precision;
use serde::{Deserialize, Serialize};

/// `--cpu-kernel`: the CPU integrator of the full model. All kernels compute the same model
/// (MODEL.md sections 2–4) with the same features; they differ in how the work is laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuKernel {
    /// The default (see [`resolve`]): `lanes` where a thread gets several instances, else
    /// `vector`; every kernel computes the same bits.
    #[default]
    Auto,
    /// The scalar kernel, one instance at a time per thread ([`CpuBackend`]): the reference
    /// the other kernels and the GPU are checked against.
    Reference,
    /// Instances in SIMD lanes: blocks of 16 (f32) or 8 (f64) instances, one vector operation
    /// per quantity over a block ([`super::LanesBackend`]); for sweeps.
    Lanes,
    /// One instance at a time per thread, vectors along the rows of each matrix (matrices stored
    /// along their longer axis, [`super::Layout::LongAxis`]); for small jobs.
    Vector,
}

impl CpuKernel {
    /// Every concrete kernel (not `Auto`), in the order `pyralnet bench` measures them.
    pub const AVAILABLE: &'static [CpuKernel] =
        &[CpuKernel::Reference, CpuKernel::Lanes, CpuKernel::Vector];

    /// Every name `--cpu-kernel` accepts: `Auto`, then the concrete kernels.
    pub const ALL: &'static [CpuKernel] = &[
        CpuKernel::Auto,
        CpuKernel::Reference,
        CpuKernel::Lanes,
        CpuKernel::Vector,
    ];

    /// The name on the command line and in summary.json: `auto`, `reference`.
    pub fn name(self) -> &'static str {
        match self {
            CpuKernel::Auto => "auto",
            CpuKernel::Reference => "reference",
            CpuKernel::Lanes => "lanes",
            CpuKernel::Vector => "vector",
        }
    }
}

impl std::str::FromStr for CpuKernel {
    type Err = String;

    /// Parses a name as `--cpu-kernel` does (the CLI's parser and the Python package).
    fn from_str(name: &str) -> Result<Self, String> {
        CpuKernel::ALL
            .iter()
            .find(|k| k.name() == name)
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = CpuKernel::ALL.iter().map(|k| k.name()).collect();
                format!("unknown CPU kernel `{name}`, allowed: {}", names.join(", "))
            })
    }
}

impl std::fmt::Display for CpuKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Instances per thread from which `auto` takes the lane kernel: below it a block would hold
/// too few instances to beat the vector kernel (measured with `pyralnet bench`, see
/// benches/RESULTS.md).
pub const LANES_FROM: usize = 8;

/// The concrete kernel `kernel` stands for in a batch of `batch_len` instances on `threads`
/// threads. `Auto` picks [`CpuKernel::Lanes`] when a thread gets [`LANES_FROM`] instances or
/// more, else [`CpuKernel::Vector`]. Every kernel computes the same bits (the same order of
/// additions and the same `e^x`), so the choice is free to follow the batch: `--max-batch`,
/// `--shard`, `--threads` or a resume with another kernel never change a result. A concrete
/// kernel resolves to itself.
pub fn resolve(kernel: CpuKernel, batch_len: usize, threads: usize) -> CpuKernel {
    match kernel {
        CpuKernel::Auto if batch_len.div_ceil(threads.max(1)) >= LANES_FROM => CpuKernel::Lanes,
        CpuKernel::Auto => CpuKernel::Vector,
        k => k,
    }
}

/// Opens the CPU backend of the full model for `batch`: kernel `kernel` (resolved with
/// [`resolve`]) in `precision` on `threads` threads (`None`: rayon's global pool, all cores),
/// recording as `record` says. Its [`Backend::cpu_kernel`] is the resolved kernel and its name
/// says it, e.g. `cpu-f32 vector (2 threads)`.
pub fn open_cpu(
    kernel: CpuKernel,
    precision: Precision,
    batch: &Batch,
    threads: Option<usize>,
    record: RecordSpec,
) -> anyhow::Result<Box<dyn Backend + Send>> {
    let n_threads = threads.unwrap_or_else(rayon::current_num_threads);
    Ok(match resolve(kernel, batch.len(), n_threads) {
        CpuKernel::Auto => unreachable!("resolve returns a concrete kernel"),
        CpuKernel::Reference => match precision {
            Precision::F32 => Box::new(CpuBackend::<f32>::new(batch, threads, record)?),
            Precision::F64 => Box::new(CpuBackend::<f64>::new(batch, threads, record)?),
        },
        CpuKernel::Lanes => super::lanes::open(precision, batch, threads, record)?,
        CpuKernel::Vector => {
            let layout = super::Layout::LongAxis;
            match precision {
                Precision::F32 => Box::new(CpuBackend::<f32>::with_layout(
                    batch, threads, record, layout,
                )?),
                Precision::F64 => Box::new(CpuBackend::<f64>::with_layout(
                    batch, threads, record, layout,
                )?),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_takes_lanes_from_lanes_from_instances_per_thread() {
        assert_eq!(resolve(CpuKernel::Auto, 1, 1), CpuKernel::Vector);
        assert_eq!(resolve(CpuKernel::Auto, 3, 2), CpuKernel::Vector);
        assert_eq!(
            resolve(CpuKernel::Auto, LANES_FROM - 1, 1),
            CpuKernel::Vector
        );
        assert_eq!(resolve(CpuKernel::Auto, LANES_FROM, 1), CpuKernel::Lanes);
        assert_eq!(
            resolve(CpuKernel::Auto, 2 * LANES_FROM - 1, 2),
            CpuKernel::Lanes
        );
        assert_eq!(
            resolve(CpuKernel::Auto, 2 * LANES_FROM - 2, 2),
            CpuKernel::Vector
        );
        assert_eq!(resolve(CpuKernel::Auto, 4096, 0), CpuKernel::Lanes);
        for n in [1, 2, 4096] {
            for &c in CpuKernel::AVAILABLE {
                assert_eq!(resolve(c, n, 2), c);
            }
        }
    }

    #[test]
    fn names_match_serde_and_parse_back() {
        for k in CpuKernel::ALL {
            assert_eq!(
                serde_json::to_string(k).unwrap(),
                format!("\"{}\"", k.name())
            );
            assert_eq!(k.name().parse::<CpuKernel>(), Ok(*k));
        }
    }

    #[test]
    fn an_unknown_name_lists_the_kernels() {
        let err = "fast".parse::<CpuKernel>().unwrap_err();
        assert!(
            err.contains("`fast`") && err.contains("auto, reference, lanes, vector"),
            "{err}"
        );
    }
}
