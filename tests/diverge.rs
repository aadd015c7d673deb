//! Divergence: an instance (microcircuit or G-clusteron) whose readouts or weights become
//! non-finite (a learning rate far too large) is flagged, its metrics are not reported as
//! numbers, the rest of the sweep goes on, a warning names it, and the exit code says whether
//! any instance has a result. The flag survives stop and resume and the merge of shards.

mod common;

use common::process::{run, start_and_stop_when, stderr};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The cell of data row `row` (0-based, after the header) in column `name` of a csv text.
fn cell(csv: &str, row: usize, name: &str) -> String {
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let k = header.iter().position(|h| *h == name).unwrap();
    let line = csv.lines().nth(row + 1).unwrap();
    line.split(',').nth(k).unwrap().to_string()
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&read(&dir.join("summary.json"))).unwrap()
}

/// The mimic smoke config with one sweep point per `eta_up` value (both layers) and the given
/// seeds, written into `dir`.
fn mimic(dir: &Path, name: &str, etas: &[f64], seeds: &[u64]) -> PathBuf {
    let mut c: Value = serde_json::from_str(include_str!("../configs/mimic_smoke.json")).unwrap();
    c["name"] = json!(name);
    c["sweep"] = json!({ "eta_up": etas.iter().map(|e| [e, e]).collect::<Vec<_>>() });
    c["seeds"] = json!(seeds);
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, c.to_string()).unwrap();
    path
}

/// A Yin-Yang classification sweep (full model) of a sane and an absurd learning rate, long
/// enough to be stopped in the middle: 2 points × 1 seed.
fn yinyang(dir: &Path) -> PathBuf {
    let mut c: Value =
        serde_json::from_str(include_str!("../configs/yinyang_sps_smoke.json")).unwrap();
    c["name"] = json!("diverge_yy");
    c["params"]["t_pattern"] = json!(20.0);
    c["params"]["out_lag"] = json!(15.0);
    c["params"]["learning_lag"] = json!(5.0);
    c["task"] = json!({"name": "yinyang", "train_size": 300, "val_size": 40, "test_size": 40});
    c["protocol"] = json!({"epochs": 4, "eval_every": 100});
    c["sweep"] = json!({"eta_up": [[6.1, 0.000732], [1e300, 1e300]]});
    c["seeds"] = json!([1]);
    let path = dir.join("diverge_yy.json");
    std::fs::write(&path, c.to_string()).unwrap();
    path
}

#[test]
fn a_diverging_instance_is_flagged_and_the_others_keep_their_results() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = mimic(dir.path(), "one_diverges", &[0.01, 1e12], &[0]);
    let out = dir.path().join("out");
    let o = run(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // the warning names the instance and its parameters
    assert!(
        err.contains("warning: 1 of 2 instances diverged"),
        "no warning: {err}"
    );
    assert!(
        err.contains("instance 1 (point 1, seed 0, eta_up=[1e12, 1e12])"),
        "{err}"
    );
    assert!(!err.to_lowercase().contains("nan"), "{err}");

    let instances = read(&out.join("instances.csv"));
    let col = |row: usize, name: &str| cell(&instances, row, name);
    assert_eq!(col(0, "diverged_at"), "");
    assert!(col(0, "val_mse").parse::<f64>().unwrap().is_finite());
    assert_eq!(col(1, "val_mse"), "diverged");
    assert_eq!(col(1, "test_mse"), "diverged");
    let at: usize = col(1, "diverged_at").parse().unwrap();
    assert!((1..=400).contains(&at), "{at}");
    assert!(!instances.contains("NaN") && !instances.contains("inf"));
    let curves = read(&out.join("curves.csv"));
    assert!(
        !curves.contains("NaN") && !curves.contains("inf"),
        "{curves}"
    );
    assert!(curves.contains("diverged"));

    let s = summary(&out);
    assert_eq!(s["diverged"].as_array().unwrap().len(), 1);
    assert_eq!(s["diverged"][0]["instance"], 1);
    assert_eq!(s["diverged"][0]["diverged_at"], at);
    assert_eq!(s["points"][0]["diverged"], 0);
    assert!(s["points"][0]["val_mse"]["mean"]
        .as_f64()
        .unwrap()
        .is_finite());
    assert_eq!(s["points"][1]["diverged"], 1);
    assert!(s["points"][1]["val_mse"].is_null());
    assert!(s["points"][1]["test_mse"].is_null());
    let csv = read(&out.join("summary.csv"));
    assert!(csv.lines().next().unwrap().contains("n_diverged"));
    assert!(!csv.contains("NaN"));
}

#[test]
fn when_every_instance_diverges_the_run_exits_with_3_and_still_writes_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = mimic(dir.path(), "all_diverge", &[1e12, 1e20], &[0]);
    let out = dir.path().join("out");
    let o = run(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("error: all 2 instances diverged"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let s = summary(&out);
    assert_eq!(s["diverged"].as_array().unwrap().len(), 2);
    assert!(out.join("instances.csv").is_file() && out.join("weights/instance_1.npz").is_file());
}

/// Starts a run and stops it with SIGTERM once a checkpoint records the divergence.
fn stop_after_divergence(cfg: &Path, out: &Path) -> Option<i32> {
    start_and_stop_when(cfg, out, "-TERM", &[], |v| v["diverged_at"][1].is_u64())
}

#[test]
fn the_divergence_flag_survives_resume_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = yinyang(dir.path());
    let c = cfg.to_str().unwrap();
    let whole = dir.path().join("whole");
    let o = run(&["run", c, "--out", whole.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let instances = read(&whole.join("instances.csv"));
    let last = instances.lines().nth(2).unwrap();
    assert!(
        last.contains("diverged,diverged,diverged,diverged,"),
        "{last}"
    );
    let first = instances.lines().nth(1).unwrap();
    assert!(!first.contains("diverged"), "{first}");
    // a classification task: no made-up accuracy for the diverged point
    assert!(summary(&whole)["points"][1]["test_acc"].is_null());
    assert!(summary(&whole)["points"][0]["test_acc"]["mean"].is_f64());

    let same = |other: &Path| {
        for f in ["instances.csv", "curves.csv", "summary.csv"] {
            assert_eq!(read(&whole.join(f)), read(&other.join(f)), "{f} differs");
        }
        for k in ["points", "diverged"] {
            assert_eq!(summary(&whole)[k], summary(other)[k], "summary.json {k}");
        }
    };

    let stopped = dir.path().join("stopped");
    assert_eq!(stop_after_divergence(&cfg, &stopped), Some(130));
    let o = run(&[
        "run",
        c,
        "--out",
        stopped.to_str().unwrap(),
        "--quiet",
        "--resume",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    same(&stopped);

    let shards: Vec<PathBuf> = (0..2).map(|i| dir.path().join(format!("s{i}"))).collect();
    for (i, d) in shards.iter().enumerate() {
        let o = run(&[
            "run",
            c,
            "--out",
            d.to_str().unwrap(),
            "--quiet",
            "--shard",
            &format!("{i}/2"),
        ]);
        // shard 1 holds only the diverging instance
        assert_eq!(
            o.status.code(),
            Some(if i == 1 { 3 } else { 0 }),
            "{}",
            stderr(&o)
        );
    }
    let merged = dir.path().join("merged");
    let mut args = vec!["merge", merged.to_str().unwrap()];
    args.extend(shards.iter().map(|d| d.to_str().unwrap()));
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    same(&merged);
}

/// A G-clusteron XOR config with one sweep point per learning rate (`eta_l`, `eta_w` and
/// `eta_b` alike, rule B, probability errors so that every iteration learns) and the given
/// seeds, written into `dir`.
fn gclusteron(dir: &Path, name: &str, etas: &[f64], seeds: &[u64]) -> PathBuf {
    let c = json!({
        "name": name,
        "model": "gclusteron",
        "network": {"dims": [2, 2]},
        "gclusteron": {"readout": "binary", "logreg": false},
        "params": {"r": 1.0, "batch_size": 2, "optimiser": "sgd", "init": "xor", "rule": "B",
                   "error": "probability"},
        "task": {"name": "xor"},
        "protocol": {"iterations": 40, "eval_every": 10},
        "sweep": {"eta_l,eta_w,eta_b": etas.iter().map(|e| [e, e, e]).collect::<Vec<_>>()},
        "seeds": seeds,
    });
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, c.to_string()).unwrap();
    path
}

#[test]
fn a_diverging_gclusteron_instance_is_flagged_like_a_microcircuit_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = gclusteron(dir.path(), "gc_one_diverges", &[0.05, 1e300], &[0]);
    let out = dir.path().join("out");
    let o = run(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--backend",
        "cpu",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("warning: 1 of 2 instances diverged"),
        "no warning: {err}"
    );
    assert!(
        err.contains("instance 1 (point 1, seed 0, ") && err.contains("eta_w=1e300"),
        "{err}"
    );
    assert!(err.contains("(1 diverged, left out)"), "{err}");

    let instances = read(&out.join("instances.csv"));
    let col = |row: usize, name: &str| cell(&instances, row, name);
    assert_eq!(col(0, "diverged_at"), "");
    assert!(col(0, "val_acc").parse::<f64>().unwrap().is_finite());
    assert_eq!(col(1, "val_acc"), "diverged");
    assert_eq!(col(1, "test_acc"), "diverged");
    // found at an evaluation: a multiple of 10 iterations × 2 patterns
    let at: usize = col(1, "diverged_at").parse().unwrap();
    assert!((20..=80).contains(&at) && at.is_multiple_of(20), "{at}");
    let curves = read(&out.join("curves.csv"));
    assert!(curves.contains("diverged"), "{curves}");
    assert!(
        !curves.contains("NaN") && !curves.contains("inf"),
        "{curves}"
    );

    let s = summary(&out);
    assert_eq!(s["diverged"].as_array().unwrap().len(), 1);
    assert_eq!(s["diverged"][0]["instance"], 1);
    assert_eq!(s["diverged"][0]["diverged_at"], at);
    assert_eq!(s["points"][0]["diverged"], 0);
    assert!(s["points"][0]["val_acc"]["mean"].is_f64());
    assert_eq!(s["points"][1]["diverged"], 1);
    assert!(s["points"][1]["val_acc"].is_null() && s["points"][1]["test_acc"].is_null());
    let csv = read(&out.join("summary.csv"));
    assert!(csv.lines().next().unwrap().contains("n_diverged"));
    assert!(!csv.contains("NaN"), "{csv}");

    // every instance diverged: outputs written, exit code 3
    let cfg = gclusteron(dir.path(), "gc_all_diverge", &[1e300], &[0, 1]);
    let out = dir.path().join("all");
    let o = run(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--backend",
        "cpu",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("error: all 2 instances diverged"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(summary(&out)["diverged"].as_array().unwrap().len(), 2);
    assert!(out.join("instances.csv").is_file() && out.join("states/instance_1.npz").is_file());
}
