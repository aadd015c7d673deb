//! A sweep of thousands of instances through `pyralnet run`, in several batches: every instance
//! gets its row, curve points and weights exactly once.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_pyralnet");

#[test]
fn a_sweep_of_2000_tiny_yinyang_instances_runs_in_4_batches_with_one_row_each() {
    let dir = tempfile::tempdir().unwrap();
    let mut c: Value =
        serde_json::from_str(include_str!("../configs/yinyang_sps_smoke.json")).unwrap();
    c["name"] = json!("sweep2000");
    c["precision"] = json!("f32");
    c["network"]["dims"] = json!([4, 8, 3]);
    c["params"]["t_pattern"] = json!(1.0);
    c["params"]["learning_lag"] = json!(0.5);
    c["params"]["out_lag"] = json!(0.5);
    c["task"] = json!({"name": "yinyang", "train_size": 4, "val_size": 2, "test_size": 2});
    c["protocol"] = json!({"epochs": 1});
    let lags: Vec<f64> = (0..40).map(|i| 10.0 + i as f64).collect();
    c["sweep"] = json!({ "tau_w": lags });
    c["seeds"] = json!((0..50).collect::<Vec<u64>>());
    let cfg = dir.path().join("sweep.json");
    std::fs::write(&cfg, c.to_string()).unwrap();
    let out = dir.path().join("out");
    let o = Command::new(BIN)
        .args(["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(["--backend", "cpu", "--max-batch", "500"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("4 batches of at most 500 instances"), "{err}");

    let count = |file: &str| -> BTreeMap<usize, usize> {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        let mut seen = BTreeMap::new();
        for line in text.lines().skip(1) {
            let i: usize = line.split(',').next().unwrap().parse().unwrap();
            *seen.entry(i).or_insert(0) += 1;
        }
        seen
    };
    let rows = count("instances.csv");
    assert_eq!(
        rows.keys().copied().collect::<Vec<_>>(),
        (0..2000).collect::<Vec<_>>()
    );
    assert!(
        rows.values().all(|&n| n == 1),
        "an instance has several rows"
    );
    // one curve point before training, one after
    let curves = count("curves.csv");
    assert_eq!(curves.len(), 2000);
    assert!(curves.values().all(|&n| n == 2));
    let weights = std::fs::read_dir(out.join("weights")).unwrap().count();
    assert_eq!(weights, 2000);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let points = summary["points"].as_array().unwrap();
    assert_eq!(points.len(), 40);
    assert!(points
        .iter()
        .all(|p| p["seeds"].as_array().unwrap().len() == 50));
    assert!(!out.join("batches").exists() && !out.join("checkpoint").exists());
}
