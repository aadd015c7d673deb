//! The `pyralnet` command: subcommands only, no model logic.

use std::process::ExitCode;

fn main() -> ExitCode {
    match pyralnet::cli::main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
