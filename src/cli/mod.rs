//! Command-line interface: argument parsing and dispatch to the library.

mod bench;
mod check;
mod dataset;
mod devices;
mod gc_toy;
mod merge;
mod plot;
pub mod run;
mod validity;

use crate::microcircuit::full::cpu::CpuKernel;
use crate::microcircuit::full::gpu::KernelKind;
use crate::microcircuit::steady::gpu::SteadyGpuKernel;
pub use check::OverTolerance;
use clap::{Parser, Subcommand};

/// Batched simulator of dendritic cortical microcircuits (Sacramento et al. 2018).
#[derive(Parser, Debug)]
#[command(name = "pyralnet", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run an experiment config: every instance of its sweep, with outputs written to --out.
    Run(run::RunArgs),
    /// Export a generated data set (Yin-Yang, Bars) as CSV.
    Dataset(dataset::DatasetArgs),
    /// Combine the output folders of the shards of one experiment.
    Merge(merge::MergeArgs),
    /// Draw the figures of a run folder (PNG and SVG in DIR/plots).
    Plot(plot::PlotArgs),
    /// Measure instance-steps per second with full plasticity.
    Bench(bench::BenchArgs),
    /// Run a config's instances on the CPU (f32, f64) and the GPU from the same start and
    /// patterns, and compare compartments and weights (exit code 1 over tolerance).
    Check(check::CheckArgs),
    /// List the GPU adapters (Vulkan) with their type, driver and limits.
    Devices(devices::DevicesArgs),
    /// Run the G-clusteron's toy demonstrations of synapse movement and draw the locations
    /// over training.
    GcToy(gc_toy::GcToyArgs),
    /// Compare the steady-state model with the full simulation (relative RMS deviation of soma
    /// potentials and weights against patterns seen): validity.csv and validity.png.
    Validity(validity::ValidityArgs),
}

/// Parses the command line and runs the subcommand.
pub fn main() -> anyhow::Result<()> {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version print and exit 0; usage errors exit 2 with clap's message.
            e.exit();
        }
    };
    match cli.command {
        Command::Run(a) => run::run(a),
        Command::Dataset(a) => dataset::dataset(a),
        Command::Bench(a) => bench::bench(a),
        Command::Merge(a) => merge::merge(a),
        Command::Devices(a) => devices::devices(a),
        Command::Check(a) => check::check(a),
        Command::Plot(a) => plot::plot(a),
        Command::Validity(a) => validity::validity(a),
        Command::GcToy(a) => gc_toy::gc_toy(a),
    }
}

/// The parser of `--cpu-kernel`: one of [`CpuKernel::ALL`]'s names (listed in `--help` and in
/// the error for any other), kept here so that no clap type leaves `cli/`.
fn cpu_kernel_parser() -> impl clap::builder::TypedValueParser<Value = CpuKernel> {
    use clap::builder::TypedValueParser;
    let names: Vec<&'static str> = CpuKernel::ALL.iter().map(|k| k.name()).collect();
    clap::builder::PossibleValuesParser::new(names).map(|name| {
        name.parse::<CpuKernel>()
            .expect("one of CpuKernel::ALL's names")
    })
}

/// `--gpu-kernel` of `run` and `check`: the name of the GPU kernel forced, or `None` for
/// `auto` (the backend chooses by the adapter). Which names a config may force depends on its
/// model (`experiment::forced_gpu_kernels`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuKernelArg(pub Option<String>);

/// The parser of `--gpu-kernel` on `run` and `check`: `auto`, one of [`KernelKind::ALL`]'s
/// names (the full model's kernels) or of [`SteadyGpuKernel::ALL`]'s (the steady model's).
fn gpu_kernel_parser() -> impl clap::builder::TypedValueParser<Value = GpuKernelArg> {
    use clap::builder::TypedValueParser;
    let names: Vec<&'static str> = std::iter::once("auto")
        .chain(KernelKind::ALL.iter().map(|k| k.name()))
        .chain(SteadyGpuKernel::ALL.iter().map(|k| k.name()))
        .collect();
    clap::builder::PossibleValuesParser::new(names)
        .map(|name| GpuKernelArg((name != "auto").then_some(name)))
}

#[cfg(test)]
mod kernel_flag_tests {
    use super::*;

    #[test]
    fn cpu_kernel_flag_takes_every_kernel_name_and_refuses_others() {
        use clap::builder::TypedValueParser;
        let cmd = clap::Command::new("t");
        let parser = cpu_kernel_parser();
        for &k in CpuKernel::ALL {
            let got = parser.parse_ref(&cmd, None, std::ffi::OsStr::new(k.name()));
            assert_eq!(got.unwrap(), k);
        }
        assert!(parser
            .parse_ref(&cmd, None, std::ffi::OsStr::new("fast"))
            .is_err());
        let gpu = gpu_kernel_parser();
        let parse = |name: &str| gpu.parse_ref(&cmd, None, std::ffi::OsStr::new(name));
        assert_eq!(parse("auto").unwrap(), GpuKernelArg(None));
        let names = KernelKind::ALL.iter().map(|k| k.name());
        for k in names.chain(SteadyGpuKernel::ALL.iter().map(|k| k.name())) {
            assert_eq!(parse(k).unwrap(), GpuKernelArg(Some(k.to_string())));
        }
        assert!(parse("fused").is_err());
    }
}
