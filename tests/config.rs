//! Every class of bad config is rejected before anything runs, with a message that names the
//! key or file and what is allowed.

use pyralnet::config::Config;
use serde_json::{json, Value};

fn base() -> Value {
    serde_json::from_str(include_str!("../configs/mimic_smoke.json")).unwrap()
}

/// The error of `base()` changed by `edit`, as text.
fn error_of(edit: impl FnOnce(&mut Value)) -> String {
    let mut v = base();
    edit(&mut v);
    match Config::from_json(&v.to_string()) {
        Ok(_) => panic!("config was accepted: {v}"),
        Err(e) => format!("{e:#}"),
    }
}

fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "error `{msg}` does not mention `{p}`");
    }
}

#[test]
fn shipped_configs_are_valid() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/configs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            assert!(!cfg.plan().unwrap().instances.is_empty());
        }
    }
}

#[test]
fn unknown_keys_are_named_with_the_allowed_ones() {
    assert_mentions(
        &error_of(|v| v["params"]["foo"] = json!(1)),
        &["foo", "learning_lag"],
    );
    assert_mentions(&error_of(|v| v["bogus"] = json!(1)), &["bogus", "protocol"]);
    assert_mentions(&error_of(|v| v["protocol"]["epoch"] = json!(1)), &["epoch"]);
    assert_mentions(
        &error_of(|v| v["network"]["phi"] = json!({"name": "relu"})),
        &["relu", "sigmoid"],
    );
    assert_mentions(
        &error_of(|v| v["sweep"] = json!({"dims": [1]})),
        &["sweep.dims", "learning_lag"],
    );
}

#[test]
fn non_positive_times_and_conductances_are_rejected() {
    assert_mentions(
        &error_of(|v| v["params"]["dt"] = json!(0.0)),
        &["params.dt", "> 0"],
    );
    assert_mentions(
        &error_of(|v| v["params"]["t_pattern"] = json!(-5.0)),
        &["params.t_pattern", "> 0"],
    );
    assert_mentions(
        &error_of(|v| v["params"]["tau_w"] = json!(0.0)),
        &["params.tau_w"],
    );
    assert_mentions(
        &error_of(|v| v["params"]["gl"] = json!(-0.1)),
        &["params.gl"],
    );
    assert_mentions(
        &error_of(|v| v["params"]["ga"] = json!(-0.1)),
        &["params.ga", "≥ 0"],
    );
    assert_mentions(
        &error_of(|v| v["params"]["dt"] = json!("fast")),
        &["params", "dt"],
    );
}

#[test]
fn lags_must_fit_inside_the_pattern() {
    assert_mentions(
        &error_of(|v| v["params"]["learning_lag"] = json!(100.0)),
        &["params.learning_lag", "smaller than params.t_pattern"],
    );
    assert_mentions(
        &error_of(|v| v["params"]["out_lag"] = json!(150.0)),
        &["params.out_lag"],
    );
    assert_mentions(
        &error_of(|v| v["sweep"] = json!({"learning_lag": [0.0, 120.0]})),
        &["sweep point learning_lag=120", "params.learning_lag"],
    );
}

#[test]
fn learning_rates_must_match_the_layers_and_be_finite() {
    assert_mentions(
        &error_of(|v| v["params"]["eta_up"] = json!([0.1])),
        &["params.eta_up", "needs 2 values"],
    );
    assert_mentions(
        &error_of(|v| v["params"]["eta_pi"] = json!([0.1, 0.2])),
        &["params.eta_pi", "needs 1"],
    );
    // JSON has no NaN; an overflowing literal is rejected by the parser with its position
    let mut text = base().to_string();
    text = text.replacen("\"eta_up\":[0.01", "\"eta_up\":[1e999", 1);
    let e = format!("{:#}", Config::from_json(&text).unwrap_err());
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn learning_rates_must_not_be_negative() {
    assert_mentions(
        &error_of(|v| v["params"]["eta_up"] = json!([0.01, -0.005])),
        &["params.eta_up", "≥ 0", "-0.005"],
    );
    assert_mentions(
        &error_of(|v| v["sweep"] = json!({"eta_ip": [[0.01], [-1.0]]})),
        &["sweep point eta_ip=[-1]", "params.eta_ip", "≥ 0"],
    );
}

#[test]
fn phi_takes_only_the_keys_of_its_function() {
    let allowed = r#"{"name": "scaled_softplus", "gamma""#;
    assert_mentions(
        &error_of(|v| v["network"]["phi"] = json!({"name": "softplus", "gamma": 2})),
        &["network.phi.gamma", "softplus takes no parameters", allowed],
    );
    assert_mentions(
        &error_of(|v| v["network"]["phi"] = json!({"name": "sigmoid", "theta": 0})),
        &["network.phi.theta", "sigmoid takes no parameters"],
    );
    assert_mentions(
        &error_of(|v| v["network"]["phi"] = json!({"name": "softplus", "slope": 2})),
        &["network.phi.slope", "unknown key", allowed],
    );
    assert_mentions(
        &error_of(|v| v["network"]["phi"] = json!({"name": "scaled_softplus", "gamma": 1})),
        &["network.phi", "missing beta, theta"],
    );
    assert_mentions(
        &error_of(|v| v["network"]["phi"] = json!({"name": "relu"})),
        &["network.phi.name", "relu", allowed],
    );
    let mut v = base();
    v["network"]["phi"] = json!({"name": "scaled_softplus", "gamma": 0.1, "beta": 1, "theta": 3});
    let cfg = Config::from_json(&v.to_string()).unwrap();
    // the resolved config reads back as itself
    let again = serde_json::to_string(&cfg).unwrap();
    assert_eq!(
        Config::from_json(&again).unwrap().network.phi,
        cfg.network.phi
    );
}

#[test]
fn a_sweep_key_given_twice_is_refused() {
    // serde_json's maps keep the last of two equal keys; the sweep must not
    let text = base().to_string();
    let text = format!(
        "{},\"sweep\": {{\"tau_w\": [10.0], \"tau_w\": [20.0, 30.0]}}}}",
        &text[..text.len() - 1]
    );
    let e = format!("{:#}", Config::from_json(&text).unwrap_err());
    assert_mentions(&e, &["sweep.tau_w", "given twice"]);
    // one parameter under two keys, alone and zipped
    assert_mentions(
        &error_of(|v| v["sweep"] = json!({"tau_w": [10.0], "tau0,tau_w": [[1.0, 20.0]]})),
        &["`tau_w` is swept by", "one key"],
    );
}

#[test]
fn dims_that_do_not_match_the_task_are_rejected() {
    let e = error_of(|v| {
        v["network"]["dims"] = json!([2, 5, 3]);
        v["task"] = json!({"name": "yinyang"});
    });
    assert_mentions(&e, &["network.dims", "yinyang", "4 inputs and 3 outputs"]);
    assert_mentions(
        &error_of(|v| v["network"]["dims"] = json!([2])),
        &["network.dims"],
    );
    assert_mentions(
        &error_of(|v| v["network"]["dims"] = json!([2, 0, 2])),
        &["network.dims", "positive"],
    );
}

#[test]
fn protocol_and_seeds_are_checked() {
    assert_mentions(
        &error_of(|v| v["protocol"]["epochs"] = json!(0)),
        &["protocol.epochs"],
    );
    assert_mentions(
        &error_of(|v| v["protocol"]["eval_every"] = json!(0)),
        &["protocol.eval_every"],
    );
    assert_mentions(&error_of(|v| v["seeds"] = json!([])), &["seeds"]);
    assert_mentions(
        &error_of(|v| v["seeds"] = json!([1, 1])),
        &["seeds", "twice"],
    );
    assert_mentions(
        &error_of(|v| v["task"]["train_size"] = json!(0)),
        &["task.train_size"],
    );
}

#[test]
fn missing_and_malformed_data_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.csv");
    let e = error_of(|v| v["task"] = json!({"name": "csv", "train": missing}));
    assert_mentions(&e, &["nope.csv"]);
    let ragged = dir.path().join("ragged.csv");
    std::fs::write(&ragged, "0.1,0.2,0\n0.3\n").unwrap();
    let e = error_of(|v| v["task"] = json!({"name": "csv", "train": ragged}));
    assert_mentions(&e, &["ragged.csv", "line 2"]);
    let wide = dir.path().join("wide.csv");
    std::fs::write(&wide, "0.1,0.2,0.3,0\n0.3,0.1,0.2,1\n").unwrap();
    let e = error_of(|v| v["task"] = json!({"name": "csv", "train": wide}));
    assert_mentions(&e, &["wide.csv"]);
}

#[test]
fn a_good_csv_task_loads_and_sweeps_expand() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "a,b,label\n0.1,0.2,0\n0.3,0.4,1\n").unwrap();
    let mut v = base();
    v["task"] = json!({"name": "csv", "train": good});
    v["sweep"] = json!({"learning_lag": [0.0, 10.0], "tau_w": [10.0, 20.0, 30.0]});
    v["seeds"] = json!([4, 5]);
    let cfg = Config::from_json(&v.to_string()).unwrap();
    let plan = cfg.plan().unwrap();
    assert_eq!(plan.instances.len(), 12);
    assert_eq!(plan.points, 6);
    // last key fastest, seeds innermost
    let i = &plan.instances[3];
    assert_eq!(
        (
            i.point,
            i.params.seed,
            i.params.learning_lag,
            i.params.tau_w
        ),
        (1, 5, 0.0, 20.0)
    );
}

#[test]
fn zipped_sweep_keys_vary_parameters_together() {
    let mut v = base();
    v["sweep"] =
        json!({"t_pattern,out_lag": [[50.0, 40.0], [100.0, 80.0]], "learning_lag": [0.0, 10.0]});
    let plan = Config::from_json(&v.to_string()).unwrap().plan().unwrap();
    assert_eq!(plan.instances.len(), 4);
    let pairs: Vec<(f64, f64, f64)> = plan
        .instances
        .iter()
        .map(|i| (i.params.learning_lag, i.params.t_pattern, i.params.out_lag))
        .collect();
    assert_eq!(
        pairs,
        vec![
            (0.0, 50.0, 40.0),
            (0.0, 100.0, 80.0),
            (10.0, 50.0, 40.0),
            (10.0, 100.0, 80.0)
        ]
    );
    assert_eq!(
        plan.sweep_keys,
        vec!["learning_lag", "t_pattern", "out_lag"]
    );
    assert_mentions(
        &error_of(|v| v["sweep"] = json!({"t_pattern,out_lag": [[50.0]]})),
        &["sweep.t_pattern,out_lag[0]", "2 values"],
    );
    assert_mentions(
        &error_of(|v| v["sweep"] = json!({"t_pattern,outlag": [[50.0, 1.0]]})),
        &["`outlag`"],
    );
}

#[test]
fn steady_model_and_its_params_are_checked() {
    let mut v = base();
    v["model"] = json!("steady");
    v["params"]["n_passes"] = json!(4);
    v["sweep"] = json!({"n_exposures": [1, 3]});
    let cfg = Config::from_json(&v.to_string()).unwrap();
    let plan = cfg.plan().unwrap();
    assert_eq!(plan.instances[1].params.n_exposures, 3);
    assert_eq!(plan.instances[1].params.n_passes, 4);
    assert_mentions(
        &error_of(|v| v["params"]["n_passes"] = json!(0)),
        &["params.n_passes", "≥ 1"],
    );
    assert_mentions(
        &error_of(|v| v["sweep"] = json!({"n_exposures": [1, 0]})),
        &["params.n_exposures", "n_exposures=0"],
    );
    assert_mentions(
        &error_of(|v| v["params"]["n_passes"] = json!(1.5)),
        &["params.n_passes"],
    );
    assert_mentions(
        &error_of(|v| v["model"] = json!("euler")),
        &["euler", "steady"],
    );
}

/// Writes a tiny MNIST-format data set (28×28 images, gzipped) with `n_train` and `n_test` items.
fn write_idx_set(dir: &std::path::Path, n_train: usize, n_test: usize) {
    use std::io::Write;
    let gz = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
        let mut images = 0x0803u32.to_be_bytes().to_vec();
        for d in [n as u32, 28, 28] {
            images.extend(d.to_be_bytes());
        }
        let mut labels = 0x0801u32.to_be_bytes().to_vec();
        labels.extend((n as u32).to_be_bytes());
        for i in 0..n {
            let class = i % 10;
            // class c lights up rows 2c and 2c+1
            images.extend((0..784).map(|p| if p / 28 / 2 == class { 255u8 } else { 0 }));
            labels.push(class as u8);
        }
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
            gz(&images),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
            gz(&labels),
        )
        .unwrap();
    }
}

#[test]
fn idx_tasks_run_end_to_end_and_name_missing_files() {
    use pyralnet::experiment::{run, RunOptions};
    let dir = tempfile::tempdir().unwrap();
    write_idx_set(dir.path(), 120, 30);
    let mut v: Value =
        serde_json::from_str(include_str!("../configs/fashion_mnist_steady_smoke.json")).unwrap();
    v["network"]["dims"] = json!([784, 20, 10]);
    v["task"] = json!({"name": "mnist", "data_dir": dir.path(), "train_size": 100, "val_size": 20});
    v["protocol"] = json!({"epochs": 10});
    v["params"]["eta_up"] = json!([0.01, 2e-3]);
    let cfg = Config::from_json(&v.to_string()).unwrap();
    let r = run(&cfg, &cfg.plan().unwrap(), &RunOptions::default()).unwrap();
    let acc = r.instances[0].test.acc.unwrap();
    assert!(acc > 0.9, "separable toy set, test accuracy {acc}");
    assert_eq!(r.curves.len(), 11);

    let empty = tempfile::tempdir().unwrap();
    v["task"] = json!({"name": "fashion_mnist", "data_dir": empty.path()});
    let cfg = Config::from_json(&v.to_string()).unwrap();
    let e = format!(
        "{:#}",
        run(&cfg, &cfg.plan().unwrap(), &RunOptions::default()).unwrap_err()
    );
    assert_mentions(
        &e,
        &[
            "train-images-idx3-ubyte",
            "dataset-fashion-mnist",
            "fashion_mnist",
        ],
    );
    assert_mentions(
        &error_of(|v| v["task"] = json!({"name": "mnist", "data_dir": "x"})),
        &["784", "mnist"],
    );
}

/// Every shipped MNIST / Fashion-MNIST config (two and three layers, full-size and smoke) runs
/// unchanged apart from the data, pointed at a small separable IDX set, and learns it.
#[test]
fn shipped_image_configs_learn_a_toy_idx_set() {
    use pyralnet::experiment::{run, RunOptions};
    let dir = tempfile::tempdir().unwrap();
    write_idx_set(dir.path(), 120, 30);
    for name in [
        "fashion_mnist_steady",
        "fashion_mnist_steady_smoke",
        "fashion_mnist_deep_steady",
        "fashion_mnist_deep_steady_smoke",
        "mnist_steady",
        "mnist_steady_smoke",
        "mnist_deep_steady",
        "mnist_deep_steady_smoke",
    ] {
        let path = format!("{}/configs/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let task = v["task"]["name"].clone();
        v["task"] =
            json!({"name": task, "data_dir": dir.path(), "train_size": 100, "val_size": 20});
        v["protocol"] = json!({"epochs": 20});
        let cfg = Config::from_json(&v.to_string()).unwrap();
        let r = run(&cfg, &cfg.plan().unwrap(), &RunOptions::default()).unwrap();
        let acc = r.instances[0].test.acc.unwrap();
        assert!(
            acc >= 0.8,
            "{name}: toy set test accuracy {acc} (chance 0.1)"
        );
    }
}

/// `seeds` as a range `{"from": a, "count": n}` gives the seeds a … a+n−1, in order, and stays
/// a list in the resolved config; malformed lists and ranges name the key and both forms.
#[test]
fn seeds_take_a_list_or_a_range() {
    let mut v = base();
    v["seeds"] = json!({"from": 5, "count": 3});
    let cfg = Config::from_json(&v.to_string()).unwrap();
    let seeds: Vec<u64> = cfg
        .plan()
        .unwrap()
        .instances
        .iter()
        .map(|s| s.params.seed)
        .collect();
    assert_eq!(seeds, vec![5, 6, 7]);
    assert_eq!(
        serde_json::to_value(&cfg).unwrap()["seeds"],
        json!([5, 6, 7])
    );
    for bad in [
        json!({"from": 0}),
        json!({"from": 0, "count": 2, "step": 3}),
        json!([0, -1]),
        json!("0-9"),
        json!({"from": u64::MAX, "count": 2}),
    ] {
        let e = error_of(|v| v["seeds"] = bad.clone());
        assert_mentions(&e, &["seeds", "\"count\": 1000"]);
    }
    assert_mentions(
        &error_of(|v| v["seeds"] = json!({"from": 3, "count": 0})),
        &["seeds", "at least one"],
    );
}

/// `protocol.filter_start` is "first" (the default, as the seed code) or "zero"; anything else
/// is refused naming the key and both values; the choice reaches every instance.
#[test]
fn filter_start_is_first_or_zero() {
    use pyralnet::microcircuit::FilterStart;
    for bad in [json!("last"), json!(0)] {
        assert_mentions(
            &error_of(|v| v["protocol"]["filter_start"] = bad),
            &["protocol.filter_start", "\"first\"", "\"zero\""],
        );
    }
    let start = |value: Option<&str>| {
        let mut v = base();
        if let Some(s) = value {
            v["protocol"]["filter_start"] = json!(s);
        }
        let cfg = Config::from_json(&v.to_string()).unwrap();
        let plan = cfg.plan().unwrap();
        plan.instances[0].params.filter_start
    };
    assert_eq!(start(None), FilterStart::First);
    assert_eq!(start(Some("first")), FilterStart::First);
    assert_eq!(start(Some("zero")), FilterStart::Zero);
}

/// Sizes that cannot fit are refused while the config is read, before anything is allocated or
/// expanded, with the key, the count and the limit.
#[test]
fn sizes_beyond_the_limits_are_refused_with_the_count_and_the_limit() {
    let e = error_of(|v| v["seeds"] = json!({"from": 0, "count": 10_000_000_000_000u64}));
    assert_mentions(&e, &["seeds", "10000000000000", "1000000"]);
    // 100^4 = 10^8 points
    let e = error_of(|v| {
        let list: Vec<f64> = (1..=100).map(|i| i as f64).collect();
        v["sweep"] = json!({"gl": list, "gb": list, "ga": list, "gd": list});
    });
    assert_mentions(&e, &["sweep", "100000000 points", "1000000 instances"]);
    let e = error_of(|v| v["network"]["dims"] = json!([2, 1_000_000_000u64, 2]));
    assert_mentions(&e, &["network.dims", "10000000000 weights", "1073741824"]);
    // a count that overflows usize is refused too
    let e = error_of(|v| v["network"]["dims"] = json!([u64::MAX, u64::MAX, 2]));
    assert_mentions(&e, &["network.dims", "more than 2^64"]);
}

/// Extreme values are refused by name instead of panicking in the weight sampler (init scale)
/// or hanging in a pattern of 10^309 steps (t_pattern, dt).
#[test]
fn extreme_scales_and_step_counts_are_refused_by_name() {
    let e = error_of(|v| v["params"]["init_up"] = json!(1e308));
    assert_mentions(&e, &["params.init_up", "at most 1e6", "1e308"]);
    let e = error_of(|v| v["params"]["init_ip"] = json!(1e7));
    assert_mentions(&e, &["params.init_ip"]);
    let e = error_of(|v| v["params"]["t_pattern"] = json!(1e308));
    assert_mentions(&e, &["params.t_pattern", "params.dt", "10000000"]);
    let e = error_of(|v| v["params"]["dt"] = json!(1e-300));
    assert_mentions(&e, &["params.dt", "1e-300", "10000000"]);
    assert!(!e.contains("out_lag"), "{e}");
    // the largest allowed values are accepted
    let mut v = base();
    v["params"]["init_up"] = json!(1e6);
    v["params"]["t_pattern"] = json!(1e6);
    Config::from_json(&v.to_string()).unwrap();
}
