//! Short versions of the reference experiments that must learn (MODEL.md section 9).

use pyralnet::config::Config;
use pyralnet::experiment::{self, RunOptions};

fn run(cfg: &Config) -> experiment::Results {
    experiment::run(cfg, &cfg.plan().unwrap(), &RunOptions::default()).unwrap()
}

/// Experiment A, shortened to 2 epochs of 1000 patterns: the validation MSE falls ≥ 10× and
/// the self-prediction errors fall, on the data by ≥ 10× (the full 10 epochs are in
/// scripts/experiment_a.sh).
#[test]
fn mimic_learns_the_teacher_and_moves_towards_self_prediction() {
    let mut cfg =
        Config::load(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/mimic.json").as_ref()).unwrap();
    cfg.protocol.epochs = 2;
    cfg.protocol.eval_every = Some(1000);
    cfg.seeds = vec![0];
    let r = run(&cfg);
    let (first, last) = (&r.curves[0], r.curves.last().unwrap());
    assert_eq!(last.patterns, 2000);
    let (m0, m1) = (first.val.mse.unwrap(), last.val.mse.unwrap());
    assert!(m1 * 10.0 <= m0, "val MSE {m0} -> {m1}");
    assert!(
        last.sp_ip * 2.0 < first.sp_ip,
        "W_ip error {} -> {}",
        first.sp_ip,
        last.sp_ip
    );
    assert!(
        last.sp_pi < first.sp_pi,
        "W_pi error {} -> {}",
        first.sp_pi,
        last.sp_pi
    );
    assert!(r.instances[0].test.mse.unwrap() * 10.0 <= m0);
    for (name, a, b) in [
        ("ip", first.sp_ip_data, last.sp_ip_data),
        ("pi", first.sp_pi_data, last.sp_pi_data),
    ] {
        assert!(b * 10.0 <= a, "data {name} error {a} -> {b}");
    }
}

/// A few hundred Yin-Yang patterns from the self-predicting start already beat chance clearly.
#[test]
fn yinyang_smoke_learns_above_chance() {
    let cfg = Config::load(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configs/yinyang_sps_smoke.json"
        )
        .as_ref(),
    )
    .unwrap();
    let r = run(&cfg);
    let acc = r.instances[0].test.acc.unwrap();
    assert!(acc > 0.5, "test accuracy {acc}");
    let start = r.curves[0].val.acc.unwrap();
    assert!(acc > start + 0.15, "{start} -> {acc}");
}

/// Experiment D's smoke version: the steady-state model learns Yin-Yang from the
/// self-predicting start within a few hundred patterns.
#[test]
fn yinyang_steady_smoke_learns_above_chance() {
    let cfg = Config::load(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configs/yinyang_steady_smoke.json"
        )
        .as_ref(),
    )
    .unwrap();
    let r = run(&cfg);
    assert!(r.backend.starts_with("steady"), "{}", r.backend);
    let acc = r.instances[0].test.acc.unwrap();
    let start = r.curves[0].val.acc.unwrap();
    assert!(acc > 0.7, "test accuracy {acc}");
    assert!(acc > start + 0.15, "{start} -> {acc}");
}
