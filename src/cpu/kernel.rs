//! Which CPU kernel runs the full dynamics, chosen in one place: every run, check, bench and
//! plot opens its CPU backend through [`open_cpu`], and `--cpu-kernel` names a [`CpuKernel`].
//! A new kernel is a new variant here, an arm in [`open_cpu`], an entry in
//! [`CpuKernel::AVAILABLE`] and, if `auto` should pick it, a rule in [`resolve`].

use super::CpuBackend;
use crate::backend::{Backend, Batch, RecordSpec};
use crate::config::Precision;
use serde::{Deserialize, Serialize};

/// `--cpu-kernel`: the CPU integrator of the full model. All kernels compute the same model
/// (MODEL.md sections 2–4) with the same features; they differ in how the work is laid out.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum CpuKernel {
    /// The default (see [`resolve`]): `lanes` for runs of two instances or more, else `vector`.
    #[default]
    Auto,
    /// The scalar kernel, one instance at a time per thread ([`CpuBackend`]): the reference
    /// the other kernels and the GPU are checked against.
    Reference,
    /// Instances in SIMD lanes: blocks of 16 (f32) or 8 (f64) instances, one vector operation
    /// per quantity over a block ([`super::LanesBackend`]); for sweeps.
    Lanes,
    /// One instance at a time per thread, vectors along the rows of each matrix (matrices stored
    /// along their longer axis, [`super::Layout::LongAxis`]); the same bits as `reference`, for
    /// small jobs.
    Vector,
}

impl CpuKernel {
    /// Every concrete kernel (not `Auto`), in the order `pyralnet bench` measures them.
    pub const AVAILABLE: &'static [CpuKernel] =
        &[CpuKernel::Reference, CpuKernel::Lanes, CpuKernel::Vector];

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

    /// Parses a name as `--cpu-kernel` does (for callers without clap, e.g. the Python package).
    fn from_str(name: &str) -> Result<Self, String> {
        use clap::ValueEnum;
        <CpuKernel as ValueEnum>::from_str(name, false).map_err(|_| {
            let names: Vec<&str> = CpuKernel::value_variants()
                .iter()
                .map(|k| k.name())
                .collect();
            format!("unknown CPU kernel `{name}`, allowed: {}", names.join(", "))
        })
    }
}

impl std::fmt::Display for CpuKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The concrete kernel `kernel` stands for in a run of `run_instances` instances (all its
/// batches and shards together). `Auto` picks [`CpuKernel::Lanes`] for runs of two instances
/// or more and [`CpuKernel::Vector`] for a single instance (where the lanes would idle). It
/// depends on the run, not on the batch, because a run's results must not depend on how
/// `--max-batch`, `--shard` or the memory budget cut it into batches: the lane kernel differs
/// from the other two in rounding, while every block width of the lane kernel computes the
/// same bits, and `vector` the same bits as `reference`. A concrete kernel resolves to itself.
pub fn resolve(kernel: CpuKernel, run_instances: usize) -> CpuKernel {
    match kernel {
        CpuKernel::Auto if run_instances > 1 => CpuKernel::Lanes,
        CpuKernel::Auto => CpuKernel::Vector,
        k => k,
    }
}

/// Opens the CPU backend of the full model for `batch`, one batch of a run of `run_instances`
/// instances: kernel `kernel` (resolved with [`resolve`]) in `precision` on `threads` threads (`None`: rayon's global pool, all cores),
/// recording as `record` says. Its [`Backend::cpu_kernel`] is the resolved kernel and its name
/// says it, e.g. `cpu-f32 reference (2 threads)`.
pub fn open_cpu(
    kernel: CpuKernel,
    precision: Precision,
    batch: &Batch,
    run_instances: usize,
    threads: Option<usize>,
    record: RecordSpec,
) -> anyhow::Result<Box<dyn Backend + Send>> {
    Ok(match resolve(kernel, run_instances) {
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
    fn auto_takes_lanes_for_every_run_of_two_instances_or_more() {
        assert_eq!(resolve(CpuKernel::Auto, 1), CpuKernel::Vector);
        for n in [2, 3, 16, 4096] {
            assert_eq!(resolve(CpuKernel::Auto, n), CpuKernel::Lanes);
        }
        for n in [1, 2, 4096] {
            for &c in CpuKernel::AVAILABLE {
                assert_eq!(resolve(c, n), c);
            }
        }
    }

    #[test]
    fn names_match_the_command_line_and_serde() {
        use clap::ValueEnum;
        for k in CpuKernel::value_variants() {
            let cli = k.to_possible_value().unwrap();
            assert_eq!(cli.get_name(), k.name());
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
