//! Helpers shared by the tests that drive the `pyralnet` binary as a process (resume,
//! divergence, locks): run it, read its stderr, and start a run that is stopped by a signal
//! once its checkpoint says it is far enough.

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_pyralnet");

/// Runs `pyralnet ARGS…` to its end.
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Runs `pyralnet ARGS…` to its end and returns its stdout; panics with stdout and stderr
/// unless it succeeded.
pub fn stdout_of_success(args: &[&str]) -> String {
    let o = run(args);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{args:?}: {text}{}", stderr(&o));
    text
}

/// What a finished process wrote to stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Starts `pyralnet run CONFIG --out OUT --quiet EXTRA…` (output discarded) and returns it once
/// a checkpoint's `progress.json` satisfies `ready`; panics when the run ends first or nothing
/// is ready within 120 s.
pub fn start_until(
    cfg: &Path,
    out: &Path,
    extra: &[&str],
    ready: impl Fn(&Value) -> bool,
) -> Child {
    let mut args = vec![
        "run",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        // a progress.json being renamed into place can be missing or (on some file systems)
        // read half-written: try again
        let text = std::fs::read_to_string(out.join("checkpoint/progress.json"));
        if let Some(v) = text
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        {
            if ready(&v) {
                return child;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("run finished before it could be stopped: {status}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no checkpoint was ready within 120 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `signal` (`-TERM`, `-9`, …) to `child`.
pub fn signal(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal} failed");
}

/// Starts `pyralnet run CONFIG --out OUT --quiet EXTRA…`, stops it with `signal` once a
/// checkpoint's progress.json satisfies `ready`, and returns its exit code (`None`: killed).
pub fn start_and_stop_when(
    cfg: &Path,
    out: &Path,
    signal_name: &str,
    extra: &[&str],
    ready: impl Fn(&Value) -> bool,
) -> Option<i32> {
    let mut child = start_until(cfg, out, extra, ready);
    signal(&child, signal_name);
    child.wait().unwrap().code()
}
