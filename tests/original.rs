//! Agreement with the original code: the weights after a short trajectory of the original
//! PyraLNet.py / SteadNet.py (f64, from the same initial weights and patterns; stored in
//! `tests/data/original/`, whose README says how they were made) against `pyralnet run` in f64 on
//! the CPU, for the full model with every CPU kernel and for the steady model.

use pyralnet::config::Config;
use pyralnet::microcircuit::Weights;
use pyralnet::output::read_weights;
use std::path::{Path, PathBuf};
use std::process::Command;

fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/original")
        .join(name)
}

/// Runs the case with `extra` flags and returns the weights it ends with, those of the original
/// code and the initial ones.
fn run_case(name: &str, extra: &[&str]) -> (Weights<f64>, Weights<f64>, Weights<f64>) {
    let dir = case(name);
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_pyralnet"))
        .current_dir(&dir)
        .args(["run", "config.json", "--init-weights", "init.npz"])
        .args(["--precision", "f64", "--backend", "cpu", "--quiet", "--out"])
        .arg(out.path())
        .args(extra)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{name} {extra:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let cfg = Config::load(&dir.join("config.json")).unwrap();
    let shape = cfg.plan().unwrap().shape;
    let ours = read_weights(&out.path().join("weights/instance_0.npz"), &shape).unwrap();
    let theirs = read_weights(&dir.join("original_weights.npz"), &shape).unwrap();
    let init = read_weights(&dir.join("init.npz"), &shape).unwrap();
    (ours, theirs, init)
}

/// The largest `max|a − b| / max|b|` over the matrices, after checking that the run moved every
/// plastic matrix (so agreement is not that of two untouched copies of `init.npz`).
fn worst(name: &str, (ours, theirs, init): &(Weights<f64>, Weights<f64>, Weights<f64>)) -> f64 {
    let mut worst = 0.0f64;
    let mut moved = 0;
    for (((m, a), (_, b)), (_, i)) in ours.named().iter().zip(theirs.named()).zip(init.named()) {
        let scale = b.data.iter().fold(0.0f64, |s, v| s.max(v.abs()));
        let diff = a
            .data
            .iter()
            .zip(&b.data)
            .fold(0.0f64, |s, (x, y)| s.max((x - y).abs()));
        assert!(diff.is_finite(), "{name} {m}");
        worst = worst.max(diff / scale.max(1e-300));
        moved += usize::from(b.data != i.data);
    }
    assert!(moved >= 2, "{name}: the original moved {moved} matrices");
    worst
}

/// The full model follows the original to 1e-13 relative per matrix (measured: ≤ 1e-15) on
/// Yin-Yang with a learning lag, with lag 0 and reset_deltas, and on a softplus mimic network,
/// with the reference, vector and lane kernels (which compute the same bits).
#[test]
fn full_model_follows_the_original_code_with_every_cpu_kernel() {
    for name in ["yinyang_lag20", "yinyang_lag0_reset", "mimic_softplus"] {
        let mut seen = Vec::new();
        for kernel in ["reference", "vector", "lanes"] {
            let run = run_case(name, &["--cpu-kernel", kernel]);
            let w = worst(name, &run);
            eprintln!("{name} {kernel}: {w:e}");
            assert!(w <= 1e-13, "{name} {kernel}: weights differ by {w:e}");
            seen.push(run.0);
        }
        assert!(seen.iter().all(|w| *w == seen[0]), "{name}: kernels differ");
    }
}

/// The steady model follows the original SteadNet.py to 1e-13 with one and with two passes (measured: ≤ 7e-15).
#[test]
fn steady_model_follows_the_original_code() {
    for name in ["steady_passes1", "steady_passes2"] {
        let w = worst(name, &run_case(name, &[]));
        eprintln!("{name}: {w:e}");
        assert!(w <= 1e-13, "{name}: weights differ by {w:e}");
    }
}
