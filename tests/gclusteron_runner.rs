//! The G-clusteron on the one runner (issue 24): checkpoints and `--resume` after kill -9 and
//! after SIGTERM, `--max-batch`, shards and `merge`, progress: the final outputs equal those of
//! one uninterrupted, unsharded run in one batch, byte for byte (CPU).

mod common;

use common::process::{run, signal, start_until, stderr};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A G-clusteron sweep on Yin-Yang (softmax over 3 classes, Adam, every rule learning), 2
/// learning rates × 3 seeds; `iterations` minibatch steps with an evaluation every 1/15 of them.
fn write_config(dir: &Path, iterations: usize) -> PathBuf {
    let c = json!({
        "name": "gc_yinyang",
        "model": "gclusteron",
        "precision": "f64",
        "network": {"dims": [4, 3]},
        "gclusteron": {"readout": "softmax", "logreg": true},
        "params": {"r": 1.0, "batch_size": 8, "optimiser": "adam", "init": "uniform",
                   "init_scale": 0.1, "rule": "B", "eta_l": 0.001, "eta_w": 0.001, "eta_b": 0.001},
        "task": {"name": "yinyang", "train_size": 500, "val_size": 100, "test_size": 100},
        "protocol": {"iterations": iterations, "eval_every": iterations / 15},
        "sweep": {"eta_w": [0.001, 0.003]},
        "seeds": [1, 2, 3],
    });
    let path = dir.join("gc_yinyang.json");
    std::fs::write(&path, c.to_string()).unwrap();
    path
}

/// `pyralnet run CONFIG --out OUT --quiet --backend cpu EXTRA…`, which must succeed; its stderr.
fn run_ok(cfg: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "run",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stderr(&o)
}

/// Asserts two run folders hold the same results byte for byte: tables, final states, and the
/// summary but for wall times (and the baseline's fitting time, and `shards` of a merge).
fn assert_same_results(a: &Path, b: &Path) {
    for f in ["instances.csv", "curves.csv", "summary.csv", "config.json"] {
        assert_eq!(
            std::fs::read_to_string(a.join(f)).unwrap(),
            std::fs::read_to_string(b.join(f)).unwrap(),
            "{f} differs"
        );
    }
    for i in 0..6 {
        let s = format!("states/instance_{i}.npz");
        assert_eq!(
            std::fs::read(a.join(&s)).unwrap(),
            std::fs::read(b.join(&s)).unwrap(),
            "{s} differs"
        );
    }
    let summary = |d: &Path| -> Value {
        let mut v: Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("summary.json")).unwrap())
                .unwrap();
        let m = v.as_object_mut().unwrap();
        for k in ["wall_seconds", "unit_patterns_per_second", "shards"] {
            m.remove(k);
        }
        m["logreg"].as_object_mut().unwrap().remove("seconds");
        v
    };
    assert_eq!(summary(a), summary(b));
    assert!(!b.join("checkpoint").exists(), "checkpoint left behind");
    assert!(!b.join("batches").exists(), "batches/ left behind");
}

#[test]
fn resume_after_kill_9_and_after_sigterm_equals_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), 300_000);
    let whole = dir.path().join("whole");
    run_ok(&cfg, &whole, &["--quiet"]);
    let done = |v: &Value| v["train"]["done"].as_u64().unwrap();
    for (name, sig) in [("killed", "-9"), ("stopped", "-TERM")] {
        let out = dir.path().join(name);
        let mut child = start_until(&cfg, &out, &["--backend", "cpu"], |v| done(v) >= 60_000);
        signal(&child, sig);
        let code = child.wait().unwrap().code();
        match sig {
            "-9" => assert_eq!(code, None, "kill -9 leaves no exit code"),
            _ => assert_eq!(code, Some(130), "a stop exits with 130"),
        }
        assert!(!out.join("summary.json").exists());
        let progress: Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("checkpoint/progress.json")).unwrap(),
        )
        .unwrap();
        assert!(done(&progress) < 300_000, "{progress}");
        let err = run_ok(&cfg, &out, &["--resume", "--progress-seconds", "0"]);
        assert!(err.contains("resuming batch 1 after "), "{err}");
        assert_same_results(&whole, &out);
    }
}

#[test]
fn max_batch_and_shards_with_merge_equal_the_run_in_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), 3_000);
    let whole = dir.path().join("whole");
    let err = run_ok(&cfg, &whole, &[]);
    assert!(err.contains("1 batch of at most 6 instances"), "{err}");
    // batches of 4 and 2, with plain progress lines in instance iterations
    let batched = dir.path().join("batched");
    let err = run_ok(
        &cfg,
        &batched,
        &["--max-batch", "4", "--progress-seconds", "0.000001"],
    );
    assert!(err.contains("2 batches of at most 4 instances"), "{err}");
    assert!(
        err.lines().any(|l| l.starts_with("progress: ")
            && l.contains(" instance iterations (")
            && l.contains("unit-pattern updates/s")),
        "{err}"
    );
    assert!(err.contains("batch 2/2 done (2 instances"), "{err}");
    assert_same_results(&whole, &batched);
    // 3 shards (of 2 instances each), 4 (2, 2, 1, 1) and 8 (two of them empty) merge into the
    // whole run
    for count in [3, 4, 8] {
        let shards: Vec<String> = (0..count)
            .map(|i| {
                let out = dir.path().join(format!("shard{i}of{count}"));
                run_ok(&cfg, &out, &["--quiet", "--shard", &format!("{i}/{count}")]);
                out.to_str().unwrap().to_string()
            })
            .collect();
        let merged = dir.path().join(format!("merged{count}"));
        let mut args = vec!["merge", merged.to_str().unwrap()];
        args.extend(shards.iter().map(String::as_str));
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_same_results(&whole, &merged);
        let summary: Value =
            serde_json::from_str(&std::fs::read_to_string(merged.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["shards"], json!(count));
        assert!(summary["backend"]
            .as_str()
            .unwrap()
            .starts_with("gc-cpu-f64"));
    }
    // a shard missing is refused
    let o = run(&[
        "merge",
        dir.path().join("partial").to_str().unwrap(),
        dir.path().join("shard0of3").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("shards missing"), "{}", stderr(&o));
}

#[test]
fn the_xor_convergence_summary_survives_batches_and_a_resume_of_a_finished_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!("{}/configs/gc_xor_smoke.json", env!("CARGO_MANIFEST_DIR"));
    let cfg = Path::new(&cfg);
    let whole = dir.path().join("whole");
    run_ok(cfg, &whole, &["--quiet"]);
    let batched = dir.path().join("batched");
    run_ok(cfg, &batched, &["--quiet", "--max-batch", "7"]);
    for f in ["instances.csv", "curves.csv"] {
        assert_eq!(
            std::fs::read_to_string(whole.join(f)).unwrap(),
            std::fs::read_to_string(batched.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let conv = |d: &Path| -> Value {
        serde_json::from_str::<Value>(&std::fs::read_to_string(d.join("summary.json")).unwrap())
            .unwrap()["convergence"]
            .clone()
    };
    assert_eq!(conv(&whole).as_array().unwrap().len(), 4);
    assert_eq!(conv(&whole), conv(&batched));
    // a converged instance's iterations count once; the finished run resumes to nothing
    let err = run_ok(cfg, &batched, &["--resume"]);
    assert!(err.contains("is complete already"), "{err}");
}
