//! The `pyralnet` command: subcommands only, no model logic.

use std::process::ExitCode;

fn main() -> ExitCode {
    match pyralnet::cli::main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // a check that ran but failed is 1, bad input and other errors are 2
            if e.is::<pyralnet::cli::OverTolerance>() {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}
