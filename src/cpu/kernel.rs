//! Which CPU kernel runs the full dynamics, chosen in one place: every run, check, bench and
//! plot opens its CPU backend through [`open_cpu`], and `--cpu-kernel` names a [`CpuKernel`].
//! A new kernel is a new variant here, an arm in [`open_cpu`], an entry in
//! [`CpuKernel::AVAILABLE`] and, if `auto` should pick it, a rule in [`resolve`].

use super::lanes::{Lanes32, Lanes64};
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
    /// The default kernel (see [`resolve`]): `reference` for now.
    #[default]
    Auto,
    /// The scalar kernel, one instance at a time per thread ([`CpuBackend`]): the reference
    /// the other kernels and the GPU are checked against.
    Reference,
    /// Instances in SIMD lanes: blocks of 16 (f32) or 8 (f64) instances, one vector operation
    /// per quantity over a block ([`super::LanesBackend`]); for sweeps.
    Lanes,
}

impl CpuKernel {
    /// Every concrete kernel (not `Auto`), in the order `pyralnet bench` measures them.
    pub const AVAILABLE: &'static [CpuKernel] = &[CpuKernel::Reference, CpuKernel::Lanes];

    /// The name on the command line and in summary.json: `auto`, `reference`.
    pub fn name(self) -> &'static str {
        match self {
            CpuKernel::Auto => "auto",
            CpuKernel::Reference => "reference",
            CpuKernel::Lanes => "lanes",
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

/// The concrete kernel `kernel` stands for with `batch_len` instances on `threads` threads.
/// `Auto` resolves to [`CpuKernel::Reference`] for now: the choice may not depend on the batch
/// size alone, since a run's results must not depend on how its instances are cut into batches
/// or shards (`--max-batch`, `--shard`), and the lane and reference kernels differ in rounding.
/// A concrete kernel resolves to itself.
pub fn resolve(kernel: CpuKernel, batch_len: usize, threads: Option<usize>) -> CpuKernel {
    let _ = (batch_len, threads);
    match kernel {
        CpuKernel::Auto => CpuKernel::Reference,
        k => k,
    }
}

/// Opens the CPU backend of the full model for `batch`: kernel `kernel` (resolved with
/// [`resolve`]) in `precision` on `threads` threads (`None`: rayon's global pool, all cores),
/// recording as `record` says. Its [`Backend::cpu_kernel`] is the resolved kernel and its name
/// says it, e.g. `cpu-f32 reference (2 threads)`.
pub fn open_cpu(
    kernel: CpuKernel,
    precision: Precision,
    batch: &Batch,
    threads: Option<usize>,
    record: RecordSpec,
) -> anyhow::Result<Box<dyn Backend + Send>> {
    Ok(match resolve(kernel, batch.len(), threads) {
        CpuKernel::Auto => unreachable!("resolve returns a concrete kernel"),
        CpuKernel::Reference => match precision {
            Precision::F32 => Box::new(CpuBackend::<f32>::new(batch, threads, record)?),
            Precision::F64 => Box::new(CpuBackend::<f64>::new(batch, threads, record)?),
        },
        CpuKernel::Lanes => match precision {
            Precision::F32 => Box::new(Lanes32::new(batch, threads, record)?),
            Precision::F64 => Box::new(Lanes64::new(batch, threads, record)?),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_resolves_to_a_concrete_kernel_and_concrete_kernels_to_themselves() {
        for n in [1, 3, 16, 256, 4096] {
            for t in [None, Some(1), Some(2)] {
                let k = resolve(CpuKernel::Auto, n, t);
                assert!(CpuKernel::AVAILABLE.contains(&k), "{n} {t:?}: {k}");
                for &c in CpuKernel::AVAILABLE {
                    assert_eq!(resolve(c, n, t), c);
                }
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
            err.contains("`fast`") && err.contains("auto, reference, lanes"),
            "{err}"
        );
    }
}
