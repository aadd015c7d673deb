//! The `pyralnet` command: subcommands only, no model logic.

use std::process::ExitCode;

fn main() -> ExitCode {
    quiet_device_select();
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

/// Mesa's implicit Vulkan layer `VK_LAYER_MESA_device_select` only reorders devices for programs
/// that take the first one (pyralnet lists them all and picks with `--adapter`), and without a
/// display session it prints `error: XDG_RUNTIME_DIR is invalid or not set` to stderr on every
/// run that looks for an adapter. Switch it off unless the user set `NODEVICE_SELECT`; done
/// first thing in `main`, before any thread exists, so changing the environment is sound.
fn quiet_device_select() {
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
}
