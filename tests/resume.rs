//! Checkpoints, resume after SIGTERM and after kill -9, sharding and merging: the final outputs
//! equal those of one uninterrupted, unsharded run.

mod common;

use common::process::{run, signal, start_and_stop_when, start_until, BIN};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A small Yin-Yang sweep that takes a few seconds: 2 lags × 2 seeds.
fn write_config(dir: &Path, name: &str, lag: f64) -> PathBuf {
    let mut c: Value =
        serde_json::from_str(include_str!("../configs/yinyang_sps_smoke.json")).unwrap();
    c["name"] = json!(name);
    c["params"]["t_pattern"] = json!(20.0);
    c["params"]["out_lag"] = json!(15.0);
    c["params"]["learning_lag"] = json!(lag);
    c["task"] = json!({"name": "yinyang", "train_size": 300, "val_size": 40, "test_size": 40});
    c["protocol"] = json!({"epochs": 4, "eval_every": 100});
    c["sweep"] = json!({"tau_w": [20.0, 30.0]});
    c["seeds"] = json!([1, 2]);
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, c.to_string()).unwrap();
    path
}

/// `pyralnet run CONFIG --out OUT --quiet EXTRA…`, which must succeed.
fn run_ok(cfg: &str, out: &str, extra: &[&str]) {
    let mut args = vec!["run", cfg, "--out", out, "--quiet"];
    args.extend_from_slice(extra);
    ok(&args);
}

fn ok(args: &[&str]) {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Asserts two run folders hold the same results (wall times aside).
fn assert_same_results(a: &Path, b: &Path, n: usize) {
    for f in ["instances.csv", "curves.csv", "config.json"] {
        assert_eq!(
            std::fs::read_to_string(a.join(f)).unwrap(),
            std::fs::read_to_string(b.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let points = |d: &Path| -> Value {
        serde_json::from_str::<Value>(&std::fs::read_to_string(d.join("summary.json")).unwrap())
            .unwrap()["points"]
            .clone()
    };
    assert_eq!(points(a), points(b));
    for i in 0..n {
        let w = format!("weights/instance_{i}.npz");
        assert_eq!(
            std::fs::read(a.join(&w)).unwrap(),
            std::fs::read(b.join(&w)).unwrap(),
            "{w} differs"
        );
    }
    assert!(!b.join("checkpoint").exists(), "checkpoint left behind");
}

/// Starts a run and stops it with `signal` once its first checkpoint after `min_patterns` exists.
fn start_and_stop(cfg: &Path, out: &Path, signal: &str, min_patterns: u64) -> Option<i32> {
    start_and_stop_when(cfg, out, signal, &[], |p| {
        p["patterns"].as_u64().unwrap() >= min_patterns
    })
}

#[test]
fn resume_after_kill_9_and_after_sigterm_equals_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "resume", 5.0);
    let whole = dir.path().join("whole");
    run_ok(cfg.to_str().unwrap(), whole.to_str().unwrap(), &[]);

    let killed = dir.path().join("killed");
    assert_eq!(
        start_and_stop(&cfg, &killed, "-9", 100),
        None,
        "kill -9 leaves no exit code"
    );
    assert!(!killed.join("summary.json").exists());
    // a plain run into the folder is refused; --resume continues it
    let o = run(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        killed.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--resume"));
    run_ok(
        cfg.to_str().unwrap(),
        killed.to_str().unwrap(),
        &["--resume"],
    );
    assert_same_results(&whole, &killed, 4);

    let termed = dir.path().join("termed");
    assert_eq!(
        start_and_stop(&cfg, &termed, "-TERM", 200),
        Some(130),
        "SIGTERM stops cleanly with 130"
    );
    run_ok(
        cfg.to_str().unwrap(),
        termed.to_str().unwrap(),
        &["--resume"],
    );
    assert_same_results(&whole, &termed, 4);

    // resuming a finished run does nothing; resuming with another config is refused
    run_ok(
        cfg.to_str().unwrap(),
        termed.to_str().unwrap(),
        &["--resume"],
    );
    let other = write_config(dir.path(), "resume", 6.0);
    let o = run(&[
        "run",
        other.to_str().unwrap(),
        "--out",
        killed.to_str().unwrap(),
        "--quiet",
        "--resume",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("different config"));
}

#[test]
fn a_second_run_into_the_folder_of_a_running_one_is_refused_until_it_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "locked", 5.0);
    // long enough to still run while the others are refused
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["protocol"]["epochs"] = json!(12);
    std::fs::write(&cfg, v.to_string()).unwrap();
    let c = cfg.to_str().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let mut first = Command::new(BIN)
        .args(["run", c, "--out", o, "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // the first run is under way once it has written a checkpoint
    let t0 = Instant::now();
    while !out.join("checkpoint/progress.json").is_file() {
        assert!(first.try_wait().unwrap().is_none(), "run ended too early");
        assert!(t0.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(5));
    }
    for extra in [&["--resume"][..], &["--force"], &[]] {
        let mut args = vec!["run", c, "--out", o, "--quiet"];
        args.extend_from_slice(extra);
        let second = run(&args);
        let err = String::from_utf8_lossy(&second.stderr);
        assert_eq!(second.status.code(), Some(2), "{extra:?}: {err}");
        assert!(
            err.contains(o) && err.contains("another run"),
            "{extra:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first run went on meanwhile"
    );
    // the lock dies with its process: kill -9 leaves the lock file, not the lock
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(out.join(".pyralnet.lock").is_file());
    assert!(!out.join("summary.json").exists());
    run_ok(c, o, &["--resume"]);
    assert!(out.join("summary.json").is_file());
}

#[test]
fn a_run_killed_in_batch_3_of_5_resumes_there_and_equals_the_run_in_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "batches", 5.0);
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    c["seeds"] = json!([1, 2, 3, 4, 5]);
    c["protocol"]["epochs"] = json!(2);
    std::fs::write(&cfg, c.to_string()).unwrap();
    let whole = dir.path().join("whole");
    run_ok(cfg.to_str().unwrap(), whole.to_str().unwrap(), &[]);

    // 10 instances in batches of 2; kill -9 in the middle of batch 3 (index 2)
    let killed = dir.path().join("killed");
    let code = start_and_stop_when(&cfg, &killed, "-9", &["--max-batch", "2"], |p| {
        p["batch"] == json!(2) && p["patterns"].as_u64().unwrap() >= 200
    });
    assert_eq!(code, None);
    let batches = killed.join("batches");
    for k in 0..2 {
        assert!(
            batches.join(format!("batch_{k}.json")).is_file(),
            "batch {k} not done"
        );
    }
    assert!(!batches.join("batch_2.json").exists());
    let mtime = |i: usize| {
        std::fs::metadata(killed.join(format!("weights/instance_{i}.npz")))
            .and_then(|m| m.modified())
            .unwrap()
    };
    let before: Vec<_> = (0..4).map(mtime).collect();
    assert!(!killed.join("weights/instance_4.npz").exists());
    // the resumed run keeps the 5 batches of 2 although it is not given --max-batch
    let o = run(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        killed.to_str().unwrap(),
        "--quiet",
        "--resume",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("5 batches of at most 2 instances, 2 done already"),
        "{err}"
    );
    assert_eq!(
        (0..4).map(mtime).collect::<Vec<_>>(),
        before,
        "batches 1 and 2 were redone"
    );
    assert_same_results(&whole, &killed, 10);
    assert!(!batches.exists(), "batches/ left behind");
}

#[test]
fn shards_merge_into_the_unsharded_result_and_bad_sets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "shards", 5.0);
    let c = cfg.to_str().unwrap();
    let whole = dir.path().join("whole");
    run_ok(c, whole.to_str().unwrap(), &[]);
    let shard_dirs: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("s{i}"))).collect();
    for (i, d) in shard_dirs.iter().enumerate() {
        run_ok(c, d.to_str().unwrap(), &["--shard", &format!("{i}/3")]);
    }
    let merged = dir.path().join("merged");
    let mut args = vec!["merge", merged.to_str().unwrap()];
    args.extend(shard_dirs.iter().map(|d| d.to_str().unwrap()));
    ok(&args);
    assert_same_results(&whole, &merged, 4);

    // SLURM's job-array variables choose the shard too
    let slurm = dir.path().join("slurm1");
    let o = Command::new(BIN)
        .args(["run", c, "--out", slurm.to_str().unwrap(), "--quiet"])
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(
        std::fs::read_to_string(slurm.join("instances.csv")).unwrap(),
        std::fs::read_to_string(shard_dirs[1].join("instances.csv")).unwrap()
    );

    let refuse = |dirs: &[&Path], needle: &str| {
        let out = dir.path().join(format!("bad{}", needle.len()));
        let mut args = vec!["merge".to_string(), out.display().to_string()];
        args.extend(dirs.iter().map(|d| d.display().to_string()));
        let o = Command::new(BIN).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(needle), "`{err}` lacks `{needle}`");
    };
    refuse(&[&shard_dirs[0], &shard_dirs[1]], "missing: 2/3");
    refuse(
        &[&shard_dirs[0], &shard_dirs[1], &shard_dirs[1]],
        "given twice",
    );
    let other_cfg = write_config(dir.path(), "shards", 6.0);
    let other = dir.path().join("other2");
    run_ok(
        other_cfg.to_str().unwrap(),
        other.to_str().unwrap(),
        &["--shard", "2/3"],
    );
    refuse(
        &[&shard_dirs[0], &shard_dirs[1], &other],
        "different config",
    );
    refuse(&[&shard_dirs[0], &shard_dirs[1], &whole], "not a shard");
    let o = run(&["run", c, "--out", "x", "--shard", "3/3"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn shards_beyond_the_instance_count_are_empty_and_merge_into_the_unsharded_result() {
    // the README's SLURM example: 9 array tasks for a config of one instance
    let dir = tempfile::tempdir().unwrap();
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/mimic_smoke.json");
    let whole = dir.path().join("whole");
    run_ok(cfg, whole.to_str().unwrap(), &[]);
    let shard_dirs: Vec<PathBuf> = (0..9).map(|i| dir.path().join(format!("s{i}"))).collect();
    for (i, d) in shard_dirs.iter().enumerate() {
        run_ok(cfg, d.to_str().unwrap(), &["--shard", &format!("{i}/9")]);
    }
    // shard 5 holds no instance: a complete, empty result set
    let empty = &shard_dirs[5];
    let rows = std::fs::read_to_string(empty.join("instances.csv")).unwrap();
    assert_eq!(rows.lines().count(), 1, "{rows}");
    assert_eq!(
        std::fs::read_to_string(empty.join("curves.csv"))
            .unwrap()
            .lines()
            .count(),
        1
    );
    assert!(empty.join("summary.json").is_file());
    assert!(!empty.join("batches").exists() && !empty.join("checkpoint").exists());
    // resuming it finds it complete
    run_ok(
        cfg,
        empty.to_str().unwrap(),
        &["--shard", "5/9", "--resume"],
    );
    // and says so in words, without a backend line for the batches it never ran
    let again = dir.path().join("empty_again");
    let o = run(&[
        "run",
        cfg,
        "--out",
        again.to_str().unwrap(),
        "--shard",
        "5/9",
    ]);
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("no instances in this slice"), "{text}");
    assert!(
        !text.contains(" on :") && !text.contains("0 batches"),
        "{text}"
    );
    let merged = dir.path().join("merged");
    let mut args = vec!["merge", merged.to_str().unwrap()];
    args.extend(shard_dirs.iter().map(|d| d.to_str().unwrap()));
    ok(&args);
    assert_same_results(&whole, &merged, 1);
}

#[test]
fn plots_and_summary_csv_come_from_a_smoke_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "plots", 5.0);
    let out = dir.path().join("run");
    run_ok(cfg.to_str().unwrap(), out.to_str().unwrap(), &[]);
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let mut lines = summary.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("point,tau_w,n_seeds,n_diverged,val_acc_mean"));
    assert_eq!(lines.count(), 2);
    ok(&["plot", out.to_str().unwrap()]);
    for f in [
        "learning_curves",
        "self_prediction",
        "final_vs_tau_w",
        "yinyang_map",
    ] {
        for ext in ["png", "svg"] {
            let p = out.join("plots").join(format!("{f}.{ext}"));
            assert!(
                std::fs::metadata(&p)
                    .map(|m| m.len() > 1000)
                    .unwrap_or(false),
                "{} missing or empty",
                p.display()
            );
        }
    }
    let svg = std::fs::read_to_string(out.join("plots/final_vs_tau_w.svg")).unwrap();
    assert!(svg.contains("tau_w"), "axis label missing");
}

#[test]
fn resume_refuses_other_result_changing_options_and_leaving_them_out_keeps_the_started_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "ident", 5.0);
    let c = cfg.to_str().unwrap();
    let flags = ["--backend", "cpu", "--precision", "f32"];
    let plain = dir.path().join("plain");
    run_ok(c, plain.to_str().unwrap(), &flags);
    // initial weights: those the plain run ended with
    let init = dir.path().join("init.npz");
    std::fs::copy(plain.join("weights/instance_0.npz"), &init).unwrap();
    let mut with_init = flags.to_vec();
    with_init.extend(["--init-weights", init.to_str().unwrap()]);
    let whole = dir.path().join("whole");
    run_ok(c, whole.to_str().unwrap(), &with_init);

    let termed = dir.path().join("termed");
    assert_eq!(
        start_and_stop_when(&cfg, &termed, "-TERM", &with_init, |p| {
            p["patterns"].as_u64().unwrap() >= 100
        }),
        Some(130)
    );
    let t = termed.to_str().unwrap();
    let refused = |extra: &[&str], want: &str| {
        let mut args = vec!["run", c, "--out", t, "--quiet", "--resume"];
        args.extend_from_slice(extra);
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.contains(want), "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    refused(
        &["--precision", "f64"],
        "--precision: this run was started with f32, --resume gave f64",
    );
    refused(
        &["--backend", "gpu"],
        "--backend: this run was started with cpu, --resume gave gpu",
    );
    let other = dir.path().join("other.npz");
    std::fs::copy(plain.join("weights/instance_1.npz"), &other).unwrap();
    refused(
        &["--init-weights", other.to_str().unwrap()],
        "--init-weights: this run was started with fnv1a64:",
    );
    // left out, --init-weights is the file the run started with, which must not have changed
    let kept = std::fs::read(&init).unwrap();
    std::fs::copy(&other, &init).unwrap();
    refused(&[], "--init-weights: this run was started with fnv1a64:");
    std::fs::write(&init, kept).unwrap();
    // the same options, or none (meaning: as started), continue it bit for bit; so does another
    // CPU kernel (every kernel computes the same bits)
    run_ok(
        c,
        t,
        &[
            "--resume",
            "--precision",
            "f32",
            "--cpu-kernel",
            "reference",
        ],
    );
    assert_same_results(&whole, &termed, 4);

    // a run folder from before run.json existed resumes with whatever it is given
    let old = dir.path().join("old");
    assert_eq!(start_and_stop(&cfg, &old, "-TERM", 100), Some(130));
    std::fs::remove_file(old.join("run.json")).unwrap();
    let o = old.to_str().unwrap();
    run_ok(c, o, &["--resume"]);
    let auto = dir.path().join("auto");
    run_ok(c, auto.to_str().unwrap(), &[]);
    assert_same_results(&auto, &old, 4);
}

/// A [784,100,10] teacher–student run of 2 instances whose one epoch of 160 patterns (one
/// evaluation interval, so one training chunk before calls were cut by time) takes far longer
/// than 5 s.
fn write_large_config(dir: &Path) -> PathBuf {
    let mut c: Value = serde_json::from_str(include_str!("../configs/mimic_smoke.json")).unwrap();
    c["name"] = json!("large");
    c["network"]["dims"] = json!([784, 100, 10]);
    c["params"]["t_pattern"] = json!(60.0);
    c["params"]["eta_up"] = json!([0.001, 0.0005]);
    c["params"]["eta_pi"] = json!([0.001]);
    c["params"]["eta_ip"] = json!([0.001]);
    c["params"]["init_up"] = json!(0.05);
    c["task"] = json!({"name": "mimic", "train_size": 160, "val_size": 4, "test_size": 4, "seed": 3, "teacher_scale": 0.05});
    c["protocol"] = json!({"epochs": 1});
    c["seeds"] = json!([1, 2]);
    let path = dir.join("large.json");
    std::fs::write(&path, c.to_string()).unwrap();
    path
}

#[test]
fn sigterm_inside_a_long_chunk_stops_within_seconds_and_resume_equals_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_large_config(dir.path());
    let c = cfg.to_str().unwrap();
    let whole = dir.path().join("whole");
    let t0 = Instant::now();
    run_ok(c, whole.to_str().unwrap(), &["--backend", "cpu"]);
    let full = t0.elapsed();
    assert!(
        full > Duration::from_secs(6),
        "the run must be long enough to stop inside it ({full:?})"
    );

    let termed = dir.path().join("termed");
    let t = termed.to_str().unwrap();
    let mut child = Command::new(BIN)
        .args(["run", c, "--out", t, "--quiet", "--backend", "cpu"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(full / 3);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let signalled = Instant::now();
    let status = child.wait().unwrap();
    let took = signalled.elapsed();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    let progress: Value = serde_json::from_str(
        &std::fs::read_to_string(termed.join("checkpoint/progress.json")).unwrap(),
    )
    .unwrap();
    let patterns = progress["patterns"].as_u64().unwrap();
    assert!(patterns > 0 && patterns < 160, "stopped at {patterns}");
    run_ok(c, t, &["--resume"]);
    assert_same_results(&whole, &termed, 2);
}

/// A [4,300,3] run of one instance whose evaluations (`val` validation and `test` test patterns
/// of about 20 ms each in a debug build) take far longer than its training: 6 patterns, an
/// evaluation point every 2.
fn write_eval_config(dir: &Path, name: &str, val: usize, test: usize) -> PathBuf {
    let mut c: Value =
        serde_json::from_str(include_str!("../configs/yinyang_sps_smoke.json")).unwrap();
    c["name"] = json!(name);
    c["network"]["dims"] = json!([4, 300, 3]);
    c["task"] = json!({"name": "yinyang", "train_size": 6, "val_size": val, "test_size": test});
    c["protocol"] = json!({"epochs": 1, "eval_every": 2});
    c["seeds"] = json!([1]);
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, c.to_string()).unwrap();
    path
}

/// The progress.json of the checkpoint in `out`.
fn progress(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("checkpoint/progress.json")).unwrap())
        .unwrap()
}

/// Starts `pyralnet run CONFIG --out OUT --quiet EXTRA…`, sends SIGTERM `delay` after a
/// checkpoint's progress.json satisfies `ready`, and returns the exit code and how long the
/// run took to end after the signal.
fn term_after(
    cfg: &Path,
    out: &Path,
    extra: &[&str],
    ready: impl Fn(&Value) -> bool,
    delay: Duration,
) -> (Option<i32>, Duration) {
    let mut child = start_until(cfg, out, extra, ready);
    std::thread::sleep(delay);
    signal(&child, "-TERM");
    let signalled = Instant::now();
    let code = child.wait().unwrap().code();
    (code, signalled.elapsed())
}

#[test]
fn sigterm_during_an_evaluation_stops_within_seconds_and_resume_redoes_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let patterns = |p: &Value| p["patterns"].as_u64().unwrap();
    let pending = |p: &Value| p["pending_eval"].as_bool().unwrap();
    // long validation evaluations: stops in the evaluation point at 4 (mid-run) and at 6 (the
    // end of training); the uninterrupted run goes on beside them
    let cfg = write_eval_config(dir.path(), "evalstop", 100, 20);
    let c = cfg.to_str().unwrap();
    let whole = dir.path().join("whole");
    let mut whole_run = Command::new(BIN)
        .args(["run", c, "--out", whole.to_str().unwrap(), "--quiet"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let termed = dir.path().join("termed");
    let t = termed.to_str().unwrap();
    let ms200 = Duration::from_millis(200);
    // the checkpoint after the evaluation at 2 is there: the one at 4 comes next
    let (code, took) = term_after(&cfg, &termed, &[], |p| patterns(p) == 2, ms200);
    assert_eq!(code, Some(130));
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    eprintln!("stop during the evaluation at 4 took {took:?}");
    let p = progress(&termed);
    assert!(patterns(&p) == 4 && pending(&p), "{p}");
    // resumed, it evaluates at 4 first (the checkpoint after that is no longer pending)
    let (code, took) = term_after(
        &cfg,
        &termed,
        &["--resume"],
        |p| patterns(p) == 4 && !pending(p),
        ms200,
    );
    assert_eq!(code, Some(130));
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    eprintln!("stop during the evaluation at 6 took {took:?}");
    let p = progress(&termed);
    assert!(patterns(&p) == 6 && pending(&p), "{p}");
    run_ok(c, t, &["--resume"]);
    assert!(whole_run.wait().unwrap().success());
    assert_same_results(&whole, &termed, 1);

    // a long test-set evaluation after training: a stop there redoes it
    let cfg = write_eval_config(dir.path(), "teststop", 1, 150);
    let c = cfg.to_str().unwrap();
    let whole = dir.path().join("whole_test");
    let mut whole_run = Command::new(BIN)
        .args(["run", c, "--out", whole.to_str().unwrap(), "--quiet"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let termed = dir.path().join("termed_test");
    let t = termed.to_str().unwrap();
    // after the checkpoint at 4: 2 training patterns and the evaluation at 6 (1 pattern)
    let (code, took) = term_after(
        &cfg,
        &termed,
        &[],
        |p| patterns(p) == 4,
        Duration::from_millis(500),
    );
    assert_eq!(code, Some(130));
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    eprintln!("stop during the test evaluation took {took:?}");
    let p = progress(&termed);
    assert!(patterns(&p) == 6 && !pending(&p), "{p}");
    run_ok(c, t, &["--resume"]);
    assert!(whole_run.wait().unwrap().success());
    assert_same_results(&whole, &termed, 1);
}
