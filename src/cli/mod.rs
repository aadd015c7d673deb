//! Command-line interface: argument parsing and dispatch to the library.

mod bench;
mod dataset;
mod merge;
mod plot;
mod run;
mod validity;

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
        Command::Plot(a) => plot::plot(a),
        Command::Validity(a) => validity::validity(a),
    }
}
