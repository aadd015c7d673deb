//! The `pyralnet` command end to end: outputs of a run, initial weights, traces, data export,
//! and bad input giving a clear error and a non-zero exit without a panic.

use std::path::Path;
use std::process::{Command, Output};

fn pyralnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pyralnet"))
        .args(args)
        .output()
        .expect("runs")
}

/// [`pyralnet`] started in the folder `dir`.
fn pyralnet_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pyralnet"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("runs")
}

fn config(name: &str) -> String {
    format!("{}/configs/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn run_ok(args: &[&str]) {
    let o = pyralnet(args);
    assert!(
        o.status.success(),
        "pyralnet {args:?} failed: {}",
        stderr(&o)
    );
}

#[test]
fn run_writes_every_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mimic");
    let out_s = out.to_str().unwrap();
    run_ok(&[
        "run",
        &config("mimic_smoke.json"),
        "--out",
        out_s,
        "--quiet",
        "--record",
        "--record-stride",
        "50",
    ]);
    for f in [
        "config.json",
        "instances.csv",
        "curves.csv",
        "summary.json",
        "weights/instance_0.npz",
        "traces/instance_0.npz",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp")
        })
        .collect();
    assert!(leftovers.is_empty());
    let instances = std::fs::read_to_string(out.join("instances.csv")).unwrap();
    assert_eq!(instances.lines().count(), 2);
    assert!(instances.lines().next().unwrap().contains("test_mse"));
    let curves = std::fs::read_to_string(out.join("curves.csv")).unwrap();
    // evaluations at 0, 100, 200, 300, 400 patterns
    assert_eq!(curves.lines().count(), 6);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(summary["points"][0]["test_mse"]["mean"].as_f64().unwrap() < 0.01);
    // the resolved config is itself a valid config
    pyralnet::config::Config::load(&out.join("config.json")).unwrap();

    // a second run into the same folder is refused without --force
    let o = pyralnet(&[
        "run",
        &config("mimic_smoke.json"),
        "--out",
        out_s,
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--force"));
}

#[test]
fn init_weights_start_every_instance_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    run_ok(&[
        "run",
        &config("mimic_smoke.json"),
        "--out",
        first.to_str().unwrap(),
        "--quiet",
    ]);
    // a config with all learning rates zero keeps the given weights
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(config("mimic_smoke.json")).unwrap())
            .unwrap();
    cfg["params"]["eta_up"] = serde_json::json!([0.0, 0.0]);
    cfg["params"]["eta_pi"] = serde_json::json!([0.0]);
    cfg["params"]["eta_ip"] = serde_json::json!([0.0]);
    let frozen = dir.path().join("frozen.json");
    std::fs::write(&frozen, cfg.to_string()).unwrap();
    let w = first.join("weights/instance_0.npz");
    let second = dir.path().join("second");
    run_ok(&[
        "run",
        frozen.to_str().unwrap(),
        "--out",
        second.to_str().unwrap(),
        "--quiet",
        "--init-weights",
        w.to_str().unwrap(),
    ]);
    let shape = pyralnet::microcircuit::Shape::new(vec![2, 3, 2], false);
    let a = pyralnet::output::read_weights(&w, &shape).unwrap();
    let b = pyralnet::output::read_weights(&second.join("weights/instance_0.npz"), &shape).unwrap();
    assert_eq!(a, b);
    // weights of another network are refused, naming the file and the array
    let wrong = pyralnet(&[
        "run",
        &config("yinyang_sps_smoke.json"),
        "--out",
        dir.path().join("x").to_str().unwrap(),
        "--init-weights",
        w.to_str().unwrap(),
    ]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("instance_0.npz"),
        "{}",
        stderr(&wrong)
    );
}

#[test]
fn data_files_are_read_from_the_config_folder_whatever_the_current_directory() {
    // the config and its csv files in data/, pyralnet started from the folder above
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(
        data.join("train.csv"),
        "a,b,label\n0.1,0.2,0\n0.9,0.8,1\n0.2,0.1,0\n0.8,0.9,1\n",
    )
    .unwrap();
    std::fs::write(data.join("val.csv"), "0.15,0.1,0\n0.85,0.9,1\n").unwrap();
    let mut c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(config("mimic_smoke.json")).unwrap())
            .unwrap();
    c["name"] = serde_json::json!("files");
    c["task"] = serde_json::json!({
        "name": "csv", "train": "train.csv", "validation": "val.csv", "test": "val.csv"
    });
    c["protocol"] = serde_json::json!({"epochs": 1});
    std::fs::write(data.join("files.json"), c.to_string()).unwrap();
    let in_dir = |args: &[&str]| pyralnet_in(dir.path(), args);
    let o = in_dir(&["run", "data/files.json", "--out", "out", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = std::fs::read_to_string(dir.path().join("out/instances.csv")).unwrap();
    assert_eq!(rows.lines().count(), 2, "{rows}");
    // the run folder's config.json describes the run without its data files next to it
    let o = in_dir(&["plot", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // a missing file is named with the config's folder
    std::fs::remove_file(data.join("val.csv")).unwrap();
    let o = in_dir(&["run", "data/files.json", "--out", "out2", "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!("data{}val.csv", std::path::MAIN_SEPARATOR)),
        "{}",
        stderr(&o)
    );
}

#[test]
fn dataset_export_writes_the_official_yinyang_set() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("yy.csv");
    run_ok(&[
        "dataset",
        "yinyang",
        "--seed",
        "42",
        "--size",
        "10",
        "--out",
        f.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&f).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("x,y,1-x,1-y,label"));
    let first: Vec<f64> = lines
        .next()
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert!((first[0] - 0.68030754).abs() < 1e-8 && first[4] == 2.0);
    assert_eq!(text.lines().count(), 11);
}

#[test]
fn bad_input_gives_a_clear_error_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"network": {"dims": [2, 3, 2], "phi": {"name": "softplus"}}, "task": {"name": "mimic", "train_size": 10, "val_size": 5}, "protocol": {"epochs": 1}, "params": {"dt": -1}}"#).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["run".into(), bad.display().to_string()], "params.dt"),
        (
            vec!["run".into(), "/no/such/config.json".into()],
            "/no/such/config.json",
        ),
        (
            vec![
                "run".into(),
                config("mimic_smoke.json"),
                "--threads".into(),
                "0".into(),
            ],
            "--threads",
        ),
        (
            vec![
                "run".into(),
                config("mimic_smoke.json"),
                "--init-weights".into(),
                "/no/w.npz".into(),
            ],
            "/no/w.npz",
        ),
        (
            vec![
                "run".into(),
                config("mimic_smoke.json"),
                "--checkpoint-seconds".into(),
                "nan".into(),
            ],
            "--checkpoint-seconds must be a finite number of seconds > 0",
        ),
        (
            vec![
                "dataset".into(),
                "yinyang".into(),
                "--size".into(),
                "0".into(),
                "--out".into(),
                "x.csv".into(),
            ],
            "--size",
        ),
        (
            vec![
                "dataset".into(),
                "bars".into(),
                "--noise".into(),
                "2".into(),
                "--out".into(),
                "x.csv".into(),
            ],
            "--noise",
        ),
        (
            vec![
                "run".into(),
                config("mimic_smoke.json"),
                "--cpu-kernel".into(),
                "fast".into(),
            ],
            "--cpu-kernel",
        ),
        (
            vec![
                "bench".into(),
                "--cpu-kernel".into(),
                "reference,fast".into(),
            ],
            "--cpu-kernel",
        ),
        (vec!["frobnicate".into()], "frobnicate"),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // run in the temporary folder: a refused run must not leave its default --out there
        let o = pyralnet_in(dir.path(), &args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: `{err}` does not mention {needle}"
        );
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert!(
            !dir.path().join("out").exists(),
            "{args:?} left an output folder behind"
        );
    }
    assert!(!Path::new("x.csv").exists());
}

/// `--cpu-kernel reference` runs the reference kernel, says so in the backend's name and stores
/// it in summary.json; `bench` prints a row for it with GFLOP/s and the fraction of the peak.
#[test]
fn cpu_kernel_reference_is_run_recorded_and_benched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reference");
    run_ok(&[
        "run",
        &config("mimic_smoke.json"),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--backend",
        "cpu",
        "--threads",
        "1",
        "--cpu-kernel",
        "reference",
    ]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["cpu_kernel"], "reference", "{summary}");
    let backend = summary["backend"].as_str().unwrap();
    assert!(backend.ends_with("reference (1 thread)"), "{backend}");

    let o = pyralnet(&[
        "bench",
        "--dims",
        "3,5,2",
        "--batch",
        "2",
        "--precision",
        "f64",
        "--threads",
        "1",
        "--cpu-kernel",
        "reference",
        "--seconds",
        "0.05",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        text.contains("GFLOP/s") && text.contains("% peak"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("cpu-f64 reference (1 thread)"))
        .unwrap_or_else(|| panic!("no reference row: {text}"));
    let gflops: f64 = row.split_whitespace().nth(8).unwrap().parse().unwrap();
    assert!(gflops > 0.0, "{row}");
}

/// `--cpu-kernel lanes` and `--cpu-kernel vector` run the same model with the same bits: the
/// mimic smoke run's validation and test errors equal the reference kernel's exactly;
/// summary.json names the kernel.
#[test]
fn cpu_kernel_lanes_and_vector_run_the_same_model_as_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = |kernel: &str| -> Vec<f64> {
        let out = dir.path().join(kernel);
        run_ok(&[
            "run",
            &config("mimic_smoke.json"),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--backend",
            "cpu",
            "--cpu-kernel",
            kernel,
        ]);
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["cpu_kernel"], kernel, "{summary}");
        let table = std::fs::read_to_string(out.join("instances.csv")).unwrap();
        let mut lines = table.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let row: Vec<&str> = lines.next().unwrap().split(',').collect();
        ["val_mse", "test_mse"]
            .iter()
            .map(|c| {
                let i = header.iter().position(|h| h == c).unwrap();
                row[i].parse().unwrap()
            })
            .collect()
    };
    let r = metrics("reference");
    assert_eq!(metrics("lanes"), r);
    assert_eq!(metrics("vector"), r);
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["dataset", "--help"],
        vec!["validity", "--help"],
    ] {
        let o = pyralnet(&sub);
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("Usage"));
    }
}

#[test]
fn validity_writes_csv_and_figures_and_checks_its_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v");
    // two seeds of the first sweep point, summarised over seeds
    let mut cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(config("yinyang_steady_smoke.json")).unwrap(),
    )
    .unwrap();
    cfg["seeds"] = serde_json::json!([0, 5]);
    let two_seeds = dir.path().join("two_seeds.json");
    std::fs::write(&two_seeds, cfg.to_string()).unwrap();
    run_ok(&[
        "validity",
        two_seeds.to_str().unwrap(),
        "--patterns",
        "3",
        "--passes",
        "1,3",
        "--out",
        out.to_str().unwrap(),
    ]);
    let csv = std::fs::read_to_string(out.join("validity.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("seed,init,n_passes,quantity,pattern,rel_rms")
    );
    // seeds × 2 inits × 2 quantities × 2 pass counts × 3 patterns
    assert_eq!(lines.count(), 2 * 24);
    assert!(csv.contains("5,self_predicting,3,somas,3,"));
    let summary = std::fs::read_to_string(out.join("validity_summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1 + 24);
    assert!(summary.contains("self_predicting,3,somas,3,2,"));
    let png = std::fs::read(out.join("validity.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let svg = std::fs::read_to_string(out.join("validity.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("n_passes 3, self-predicting"));
    // only the four outputs and the lock file validity held (no temporary files) remain
    let mut leftovers: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    leftovers.sort();
    assert_eq!(
        leftovers,
        [
            ".pyralnet.lock",
            "validity.csv",
            "validity.png",
            "validity.svg",
            "validity_summary.csv"
        ]
    );
    let cfg = config("yinyang_steady_smoke.json");
    for (flags, msg) in [
        (vec!["--patterns", "0"], "--patterns"),
        (vec!["--passes", "1,0"], "--passes"),
    ] {
        let mut args = vec!["validity", cfg.as_str()];
        args.extend(flags);
        let o = pyralnet(&args);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains(msg), "{}", stderr(&o));
    }
}

#[test]
fn steady_runs_refuse_recording() {
    let dir = tempfile::tempdir().unwrap();
    let o = pyralnet(&[
        "run",
        &config("yinyang_steady_smoke.json"),
        "--record",
        "--out",
        dir.path().join("r").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--record"), "{}", stderr(&o));
}

/// Listing adapters prints no loader or layer noise: Mesa's device-select layer would print
/// `error: XDG_RUNTIME_DIR is invalid or not set` without a display session (as on CI).
#[test]
fn devices_lists_adapters_without_layer_noise() {
    let o = Command::new(env!("CARGO_BIN_EXE_pyralnet"))
        .arg("devices")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("NODEVICE_SELECT")
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("XDG_RUNTIME_DIR"), "{}", stderr(&o));
}

/// `--threads` far beyond the machine is refused at once (it hung spawning threads).
#[test]
fn absurd_thread_counts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t");
    let t0 = std::time::Instant::now();
    let o = pyralnet(&[
        "run",
        &config("mimic_smoke.json"),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--threads",
        "999999",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--threads 999999 is more than the limit of"));
    assert!(t0.elapsed() < std::time::Duration::from_secs(30));
    assert!(!out.join("summary.json").exists());
}

/// `mimic_smoke.json` with `epochs` epochs and seeds 0 and 1, written into `dir`.
fn longer_mimic(dir: &Path, epochs: usize) -> String {
    let text = std::fs::read_to_string(config("mimic_smoke.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["protocol"]["epochs"] = epochs.into();
    v["seeds"] = serde_json::json!([0, 1]);
    let path = dir.join("mimic_longer.json");
    std::fs::write(&path, v.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn without_a_terminal_progress_comes_as_plain_lines() {
    // stderr is a pipe here, as in a SLURM log or under nohup
    let dir = tempfile::tempdir().unwrap();
    let cfg = longer_mimic(dir.path(), 6);
    let out = dir.path().join("out");
    let o = pyralnet(&[
        "run",
        &cfg,
        "--out",
        out.to_str().unwrap(),
        "--max-batch",
        "1",
        "--progress-seconds",
        "0.2",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let progress: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert!(!progress.is_empty(), "no progress line in:\n{err}");
    for l in &progress {
        for part in [
            "instance-patterns (",
            " %), batch ",
            "instance-steps/s",
            "ETA ",
        ] {
            assert!(l.contains(part), "`{part}` missing in `{l}`");
        }
        assert!(l.contains("/2400 instance-patterns"), "{l}");
    }
    for k in 1..=2 {
        let line = err
            .lines()
            .find(|l| l.starts_with(&format!("batch {k}/2 done (1 instance, ")))
            .unwrap_or_else(|| panic!("no line for batch {k} in:\n{err}"));
        assert!(
            line.contains("test mse ") && line.contains("val mse "),
            "{line}"
        );
    }
    assert!(err.contains("backend: "), "{err}");
    // 0 turns the periodic lines off, --quiet everything
    let o = pyralnet(&[
        "run",
        &cfg,
        "--out",
        out.to_str().unwrap(),
        "--force",
        "--progress-seconds",
        "0",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("progress: "), "{err}");
    assert!(err.contains("batch 1/1 done (2 instances, "), "{err}");
    let o = pyralnet(&[
        "run",
        &cfg,
        "--out",
        out.to_str().unwrap(),
        "--force",
        "--progress-seconds",
        "nan",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--progress-seconds"), "{}", stderr(&o));
    // the G-clusteron too
    let o = pyralnet(&[
        "run",
        &config("gc_xor_smoke.json"),
        "--out",
        dir.path().join("gc").to_str().unwrap(),
        "--progress-seconds",
        "0.001",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("progress: ") && l.contains(" iterations (")),
        "{err}"
    );
}

#[test]
fn printed_text_has_no_debug_formatting_and_counts_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let mimic = pyralnet(&[
        "run",
        &config("mimic_smoke.json"),
        "--out",
        dir.path().join("m").to_str().unwrap(),
    ]);
    let gc = pyralnet(&[
        "run",
        &config("gc_xor_smoke.json"),
        "--out",
        dir.path().join("g").to_str().unwrap(),
    ]);
    for o in [&mimic, &gc] {
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
        assert!(o.status.success(), "{text}");
        for debug in ["Some(", "None", "{ ", "\"B\"", "=0.0,"] {
            assert!(!text.contains(debug), "`{debug}` printed:\n{text}");
        }
    }
    let m = stderr(&mimic);
    assert!(
        m.contains("mimic_smoke: 1 instance of 2-3-2 (softplus), "),
        "{m}"
    );
    assert!(m.contains("1 batch of at most 1 instance\n"), "{m}");
    assert!(m.contains(" over 1 seed: "), "{m}");
    let g = stderr(&gc);
    assert!(
        g.contains("80 instances of the G-clusteron (2 synapses, 1 unit, binary readout)"),
        "{g}"
    );
    assert!(g.contains("eta_l=0, "), "{g}");
    assert!(g.contains("rule=B]"), "{g}");
    assert!(!g.contains("(sigmoid)"), "{g}");
}

#[test]
fn validity_refuses_gclusteron_configs_and_overwrites_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let o = pyralnet(&["validity", &config("gc_xor_smoke.json")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("\"model\": \"gclusteron\""),
        "{}",
        stderr(&o)
    );
    let out = dir.path().join("v");
    let args = |force: bool| {
        let mut v = vec![
            "validity".to_string(),
            config("mimic_smoke.json"),
            "--patterns".into(),
            "2".into(),
            "--passes".into(),
            "1".into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ];
        if force {
            v.push("--force".into());
        }
        v
    };
    let call = |force: bool| {
        let a = args(force);
        pyralnet(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert!(call(false).status.success());
    let before = std::fs::read(out.join("validity.csv")).unwrap();
    let again = call(false);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert_eq!(std::fs::read(out.join("validity.csv")).unwrap(), before);
    assert!(call(true).status.success());
}

#[test]
fn a_second_validity_or_run_into_the_folder_of_a_running_validity_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v");
    let out_s = out.to_str().unwrap();
    let mimic = config("mimic_smoke.json");
    fn args<'a>(mimic: &'a str, patterns: &'a str, out_s: &'a str) -> Vec<&'a str> {
        vec![
            "validity",
            mimic,
            "--patterns",
            patterns,
            "--passes",
            "1",
            "--out",
            out_s,
        ]
    }
    let validity = |patterns: &'static str| args(&mimic, patterns, out_s);
    // far more patterns than it gets through before it is killed
    let mut first = Command::new(env!("CARGO_BIN_EXE_pyralnet"))
        .args(validity("100000000"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // it holds the lock once the lock file names it
    let t0 = std::time::Instant::now();
    let pid = first.id().to_string();
    while std::fs::read_to_string(out.join(".pyralnet.lock")).map_or(true, |t| t.trim() != pid) {
        assert!(
            first.try_wait().unwrap().is_none(),
            "validity ended too early"
        );
        assert!(t0.elapsed() < std::time::Duration::from_secs(120));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let run = ["run", mimic.as_str(), "--out", out_s, "--quiet"];
    let forced = [validity("2"), vec!["--force"]].concat();
    for args in [validity("2"), forced, run.to_vec()] {
        let o = pyralnet(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(out_s) && err.contains("another run or validity") && err.contains(&pid),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(!out.join("validity.csv").exists() && !out.join("summary.json").exists());
    assert!(first.try_wait().unwrap().is_none(), "the first one went on");
    // the lock dies with its process
    first.kill().unwrap();
    first.wait().unwrap();
    run_ok(&validity("2"));
    assert!(out.join("validity.csv").is_file());
}

#[test]
fn force_removes_the_outputs_of_the_earlier_run_that_the_new_one_would_not_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = longer_mimic(dir.path(), 1);
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();
    run_ok(&["run", &cfg, "--out", out_s, "--quiet", "--record"]);
    run_ok(&["plot", out_s]);
    assert!(out.join("weights/instance_1.npz").is_file());
    assert!(out.join("traces/instance_1.npz").is_file());
    assert!(out.join("plots/learning_curves.png").is_file());
    run_ok(&[
        "run",
        &config("mimic_smoke.json"),
        "--out",
        out_s,
        "--quiet",
        "--force",
    ]);
    assert!(out.join("weights/instance_0.npz").is_file());
    assert!(!out.join("weights/instance_1.npz").exists());
    assert!(!out.join("traces").exists());
    // the figures of the old results are gone (`plot` draws the new ones)
    assert!(!out.join("plots").exists());
    assert!(out.join("run.json").is_file());
    // a G-clusteron run over a microcircuit one: no weights/ or run.json of the old run stay
    // (the G-clusteron writes its own run.json since it resumes: one without a CPU kernel)
    run_ok(&["plot", out_s]);
    let gc = config("gc_xor_smoke.json");
    run_ok(&["run", &gc, "--out", out_s, "--quiet", "--force"]);
    assert!(out.join("states/instance_0.npz").is_file());
    for stale in ["weights", "plots"] {
        assert!(!out.join(stale).exists(), "{stale} left behind");
    }
    let identity = std::fs::read_to_string(out.join("run.json")).unwrap();
    assert!(
        !identity.contains("cpu_kernel"),
        "run.json left behind: {identity}"
    );
    // and the other way round: no states/ of the G-clusteron
    run_ok(&[
        "run",
        &config("mimic_smoke.json"),
        "--out",
        out_s,
        "--quiet",
        "--force",
    ]);
    assert!(!out.join("states").exists());
    assert!(out.join("weights/instance_0.npz").is_file());
}

/// Writes `w` as numpy's `savez_compressed` does: deflate-compressed members `<name>.npy`,
/// as float32 when `f32`.
fn write_compressed_npz(path: &Path, w: &pyralnet::microcircuit::Weights<f64>, f32: bool) {
    use ndarray_npy::WriteNpyExt;
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, m) in w.named() {
        let a = ndarray::Array2::from_shape_vec((m.rows, m.cols), m.data.clone()).unwrap();
        let mut bytes = Vec::new();
        match f32 {
            true => a.mapv(|v| v as f32).write_npy(&mut bytes).unwrap(),
            false => a.write_npy(&mut bytes).unwrap(),
        }
        z.start_file(format!("{name}.npy"), opts).unwrap();
        z.write_all(&bytes).unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn init_weights_read_compressed_and_float32_npz() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    run_ok(&[
        "run",
        &config("mimic_smoke.json"),
        "--out",
        first.to_str().unwrap(),
        "--quiet",
    ]);
    let shape = pyralnet::microcircuit::Shape::new(vec![2, 3, 2], false);
    let w = pyralnet::output::read_weights(&first.join("weights/instance_0.npz"), &shape).unwrap();
    let deflated = dir.path().join("deflated.npz");
    write_compressed_npz(&deflated, &w, false);
    assert_eq!(
        pyralnet::output::read_weights(&deflated, &shape).unwrap(),
        w
    );
    let single = dir.path().join("single.npz");
    write_compressed_npz(&single, &w, true);
    let r = pyralnet::output::read_weights(&single, &shape).unwrap();
    for ((_, a), (_, b)) in r.named().into_iter().zip(w.named()) {
        let rounded: Vec<f64> = b.data.iter().map(|&v| v as f32 as f64).collect();
        assert_eq!(a.data, rounded);
    }
    for file in [&deflated, &single] {
        run_ok(&[
            "run",
            &config("mimic_smoke.json"),
            "--out",
            dir.path().join("from").to_str().unwrap(),
            "--quiet",
            "--force",
            "--init-weights",
            file.to_str().unwrap(),
        ]);
    }
}
