//! The steady-state model on the GPU against the CPU steady backend (which `tests/steady.rs`
//! checks against hand computations). Every test skips (with a message) when no Vulkan adapter
//! exists, unless `PYRALNET_REQUIRE_GPU` is set (CI: lavapipe), which turns the skip into a
//! failure.

mod common;
use common::process::stdout_of_success;
use common::{batch, chunk, device};
use pyralnet::gpu::Gpu;
use pyralnet::microcircuit::backend::{Backend, Batch, Chunk};
use pyralnet::microcircuit::full::cpu::State;
use pyralnet::microcircuit::full::gpu::GpuOptions;
use pyralnet::microcircuit::steady::cpu::SteadyBackend;
use pyralnet::microcircuit::steady::gpu::{SteadyGpuBackend, SteadyGpuKernel};
use pyralnet::microcircuit::{InitMode, InstanceParams, Shape, Transfer, Weights};

fn backend(g: &Gpu, b: &Batch, opts: &GpuOptions) -> SteadyGpuBackend {
    SteadyGpuBackend::with_gpu(g.clone(), b, opts).expect("steady GPU backend")
}

/// `sqrt(Σ (a − b)² / Σ b²)`.
fn rel_rms(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(1e-300)).sqrt()
}

fn flat(w: &[Weights<f64>]) -> Vec<f64> {
    w.iter()
        .flat_map(|w| w.named().into_iter().flat_map(|(_, m)| m.data.clone()))
        .collect()
}

fn somas(states: &[State<f64>]) -> Vec<f64> {
    states
        .iter()
        .flat_map(|s| s.u_p.iter().chain(&s.u_i).flatten().copied())
        .collect()
}

/// What a backend computes for `train` then `eval`: training and evaluation readouts, the
/// weights, and the somas of the last training pattern.
struct Outcome {
    readouts: Vec<f64>,
    weights: Vec<f64>,
    somas: Vec<f64>,
}

fn outcome(be: &mut dyn Backend, train: &[Chunk], eval: &Chunk) -> Outcome {
    let mut readouts = Vec::new();
    for c in train {
        readouts.extend(be.train(c).unwrap().concat());
    }
    let somas = somas(&be.snapshot().unwrap());
    readouts.extend(be.evaluate(eval).unwrap().concat());
    Outcome {
        readouts,
        weights: flat(&be.weights().unwrap()),
        somas,
    }
}

/// Options forcing the steady kernel `k`.
fn with_kernel(k: SteadyGpuKernel) -> GpuOptions {
    GpuOptions {
        steady_kernel: Some(k),
        ..Default::default()
    }
}

/// [`compare_with_cpu_on`] for every steady GPU kernel.
fn compare_with_cpu(g: &Gpu, b: &Batch, train: &[Chunk], eval: &Chunk) {
    for k in SteadyGpuKernel::ALL {
        println!("kernel {}", k.name());
        compare_with_cpu_on(g, b, train, eval, &with_kernel(k));
    }
}

/// Trains and evaluates on the GPU (with `opts`) and on the CPU steady backend in f32 and f64,
/// and checks readouts, somas, weights and weight changes: within 1e-4 of f32 and 1e-3 of f64
/// (relative RMS; changes within 1e-2), with the weights really moved.
fn compare_with_cpu_on(g: &Gpu, b: &Batch, train: &[Chunk], eval: &Chunk, opts: &GpuOptions) {
    let gpu = outcome(&mut backend(g, b, opts), train, eval);
    let c32 = outcome(
        &mut SteadyBackend::<f32>::new(b, None).unwrap(),
        train,
        eval,
    );
    let c64 = outcome(
        &mut SteadyBackend::<f64>::new(b, None).unwrap(),
        train,
        eval,
    );
    let w0 = flat(&b.init);
    let change = |w: &[f64]| -> Vec<f64> { w.iter().zip(&w0).map(|(a, b)| a - b).collect() };
    let moved = rel_rms(&gpu.weights, &w0);
    assert!(moved > 1e-4, "weights barely changed ({moved:e}): vacuous");
    for (cpu, tol, name) in [(&c32, 1e-4, "f32"), (&c64, 1e-3, "f64")] {
        let d = [
            rel_rms(&gpu.readouts, &cpu.readouts),
            rel_rms(&gpu.somas, &cpu.somas),
            rel_rms(&gpu.weights, &cpu.weights),
        ];
        let dc = rel_rms(&change(&gpu.weights), &change(&cpu.weights));
        println!(
            "{}: gpu vs cpu-{name}: readouts {:.2e} somas {:.2e} weights {:.2e} changes {dc:.2e}",
            b.shape.label(),
            d[0],
            d[1],
            d[2]
        );
        assert!(d.iter().all(|&x| x <= tol), "gpu vs cpu-{name}: {d:?}");
        assert!(dc <= 1e-2, "weight changes vs cpu-{name}: {dc:e}");
    }
}

/// Steady parameters with every pathway of every layer plastic.
fn all_plastic(n_layers: usize, passes: usize, exposures: usize) -> InstanceParams {
    let mut p = InstanceParams::reference(n_layers);
    p.eta_up = vec![0.002; n_layers];
    p.eta_pi = vec![0.001; n_layers - 1];
    p.eta_ip = vec![0.0015; n_layers - 1];
    p.eta_down = vec![0.0005; n_layers - 1];
    p.n_passes = passes;
    p.n_exposures = exposures;
    p
}

#[test]
fn mimic_2_3_2_softplus_every_pathway_plastic() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![2, 3, 2], false);
    let params = vec![
        all_plastic(2, 3, 2),
        all_plastic(2, 1, 1),
        all_plastic(2, 2, 3),
    ];
    let b = batch(&shape, Transfer::Softplus, params);
    let train = [chunk(&shape, 3, 4, 1), chunk(&shape, 3, 3, 2)];
    compare_with_cpu(&g, &b, &train, &chunk(&shape, 3, 5, 3));
}

#[test]
fn deep_3_5_4_2_sweeps_down_through_every_hidden_layer() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![3, 5, 4, 2], true);
    let b = batch(&shape, Transfer::Sigmoid, vec![all_plastic(3, 4, 2)]);
    let train = [chunk(&shape, 1, 6, 4)];
    compare_with_cpu(&g, &b, &train, &chunk(&shape, 1, 4, 5));
}

/// Yin-Yang sized, sigmoid with bias, self-predicting start, learning lag, reset_deltas on some
/// instances, passes and exposures differing within the batch.
#[test]
fn yinyang_4_120_3_bias_lag_reset_deltas() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![4, 120, 3], true);
    let params = (0..4)
        .map(|k| {
            let mut p = all_plastic(2, 1 + k % 3, 1 + k % 2);
            p.init = InitMode::SelfPredicting;
            p.learning_lag = 20.0 + 5.0 * k as f64;
            p.reset_deltas = k % 2 == 0;
            p.bias = 0.5;
            p
        })
        .collect();
    let b = batch(&shape, Transfer::Sigmoid, params);
    let train = [chunk(&shape, 4, 5, 6), chunk(&shape, 4, 4, 7)];
    compare_with_cpu(&g, &b, &train, &chunk(&shape, 4, 6, 8));
}

#[test]
fn mnist_sized_784_20_10() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![784, 20, 10], true);
    let mut p = all_plastic(2, 2, 1);
    p.eta_up = vec![0.0002, 0.00005];
    p.init = InitMode::SelfPredicting;
    let b = batch(&shape, Transfer::Sigmoid, vec![p]);
    let train = [chunk(&shape, 1, 4, 9)];
    compare_with_cpu(&g, &b, &train, &chunk(&shape, 1, 3, 10));
}

/// Nine layers with neurons: the blocks kernel's plasticity step has 17 segments, more than one
/// dispatch record holds (14), so it runs in two dispatches.
#[test]
fn deep_nine_layers_plasticity_in_two_dispatches() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![3, 5, 4, 5, 4, 5, 4, 5, 4, 2], true);
    let b = batch(&shape, Transfer::Softplus, vec![all_plastic(9, 2, 2)]);
    let train = [chunk(&shape, 1, 5, 30)];
    compare_with_cpu(&g, &b, &train, &chunk(&shape, 1, 3, 31));
}

/// Parameters that differ per instance, so that batch composition would show if it leaked.
fn varied(k: usize) -> InstanceParams {
    let mut p = all_plastic(2, 1 + k % 3, 1 + k % 2);
    p.eta_pi = vec![(k % 2) as f64 * 0.001];
    p.learning_lag = (k % 4) as f64 * 10.0;
    p.reset_deltas = k % 3 == 1;
    p.gsom = 0.2 + 0.01 * k as f64;
    p.seed = 1000 + k as u64;
    p
}

#[test]
fn instance_alone_equals_instance_in_a_batch_of_37_bit_for_bit() {
    let Some(g) = device() else { return };
    for k in SteadyGpuKernel::ALL {
        alone_equals_batch(&g, k);
    }
}

/// An instance trained in a batch of 37, in sub-batches of 10 with patterns uploaded in pieces of
/// 2, and alone, with kernel `k`: the same readouts and weights bit for bit (for the blocks
/// kernel also with 16 threads per workgroup, i.e. other row blocks).
fn alone_equals_batch(g: &Gpu, k: SteadyGpuKernel) {
    let shape = Shape::new(vec![3, 9, 2], true);
    let n = 37;
    let big = batch(&shape, Transfer::Sigmoid, (0..n).map(varied).collect());
    let data = chunk(&shape, n, 3, 12);
    let mut all = backend(g, &big, &with_kernel(k));
    let r_all = all.train(&data).unwrap();
    let w_all = all.weights().unwrap();
    let opts = GpuOptions {
        max_group: Some(10),
        piece_patterns: Some(2),
        workgroup_size: (k == SteadyGpuKernel::Blocks).then_some(16),
        ..with_kernel(k)
    };
    let mut split = backend(g, &big, &opts);
    assert_eq!(split.train(&data).unwrap(), r_all, "{}", k.name());
    assert_eq!(split.weights().unwrap(), w_all, "{}", k.name());
    for i in [0, 5, 17, 36] {
        let one = Batch {
            params: vec![big.params[i].clone()],
            init: vec![big.init[i].clone()],
            ..big.clone()
        };
        let mut alone = backend(g, &one, &with_kernel(k));
        let c = Chunk {
            x: vec![data.x[i].clone()],
            y: vec![data.y[i].clone()],
        };
        let name = k.name();
        assert_eq!(
            alone.train(&c).unwrap()[0],
            r_all[i],
            "{name}: readouts of {i}"
        );
        assert_eq!(
            alone.weights().unwrap()[0],
            w_all[i],
            "{name}: weights of {i}"
        );
    }
}

#[test]
fn evaluation_changes_nothing_and_snapshots_continue_bit_for_bit() {
    let Some(g) = device() else { return };
    for k in SteadyGpuKernel::ALL {
        snapshots_continue(&g, k);
    }
}

/// Evaluation leaves the state as it was and repeats itself; a state snapshot restored into
/// another backend (in sub-batches of 3) continues bit for bit, with kernel `k`.
fn snapshots_continue(g: &Gpu, k: SteadyGpuKernel) {
    let shape = Shape::new(vec![3, 9, 2], true);
    let n = 7;
    let b = batch(&shape, Transfer::Softplus, (0..n).map(varied).collect());
    let (first, eval, second) = (
        chunk(&shape, n, 2, 20),
        chunk(&shape, n, 3, 21),
        chunk(&shape, n, 2, 22),
    );
    let mut straight = backend(g, &b, &with_kernel(k));
    straight.train(&first).unwrap();
    let states = straight.snapshot().unwrap();
    for (st, p) in states.iter().zip(&b.params) {
        // Δ carries over between patterns unless it is reset after each
        assert_eq!(st.delta == Weights::zeros(&shape), p.reset_deltas);
    }
    let e1 = straight.evaluate(&eval).unwrap();
    assert_eq!(straight.evaluate(&eval).unwrap(), e1, "repeatable");
    assert_eq!(
        straight.snapshot().unwrap(),
        states,
        "evaluation changes nothing"
    );
    let r_straight = straight.train(&second).unwrap();
    // restored into sub-batches of 3
    let opts = GpuOptions {
        max_group: Some(3),
        ..with_kernel(k)
    };
    let mut resumed = backend(g, &b, &opts);
    resumed.restore(&states).unwrap();
    assert_eq!(
        resumed.snapshot().unwrap(),
        states,
        "snapshot after restore"
    );
    assert_eq!(resumed.train(&second).unwrap(), r_straight);
    assert_eq!(resumed.snapshot().unwrap(), straight.snapshot().unwrap());
    // the CPU steady backend in f32 takes the GPU's states exactly
    let mut cpu = SteadyBackend::<f32>::new(&b, None).unwrap();
    cpu.restore(&states).unwrap();
    assert_eq!(cpu.snapshot().unwrap(), states);
    assert!(resumed.restore(&states[1..]).is_err(), "wrong count");
}

/// A config's steady model end to end (the Yin-Yang smoke config cut to 40 training patterns,
/// so that f32 rounding has no time to grow): `pyralnet run --backend gpu` agrees with the CPU
/// in f32, and `pyralnet check` covers the steady model.
#[test]
fn run_and_check_commands_on_a_steady_config() {
    if device().is_none() {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_pyralnet");
    let smoke = format!(
        "{}/configs/yinyang_steady_smoke.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(smoke).unwrap()).unwrap();
    c["task"]["train_size"] = 40.into();
    c["task"]["val_size"] = 20.into();
    c["task"]["test_size"] = 20.into();
    c["protocol"] = serde_json::json!({"epochs": 1, "eval_every": 20});
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("steady.json");
    std::fs::write(&cfg, c.to_string()).unwrap();
    let cfg = cfg.to_str().unwrap();
    let run = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let o = std::process::Command::new(bin)
            .args(["run", cfg, "--quiet", "--out", out.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let gpu_out = run("gpu", &["--backend", "gpu"]);
    let summary = std::fs::read_to_string(gpu_out.join("summary.json")).unwrap();
    assert!(summary.contains("steady-gpu"), "{summary}");
    let cpu_out = run("cpu", &["--backend", "cpu", "--precision", "f32"]);
    let shape = Shape::new(vec![4, 120, 3], true);
    let w = |d: &std::path::Path| {
        let w = pyralnet::output::read_weights(&d.join("weights/instance_0.npz"), &shape);
        flat(&[w.unwrap()])
    };
    let dev = rel_rms(&w(&gpu_out), &w(&cpu_out));
    assert!(dev < 1e-4, "weights gpu vs cpu-f32: {dev:e}");
    for f in ["curves.csv", "instances.csv", "summary.csv"] {
        assert!(gpu_out.join(f).exists(), "{f}");
    }
    let text = stdout_of_success(&["check", cfg, "--patterns", "3"]);
    assert!(
        text.contains("steady-gpu") && text.contains("steady-cpu-f32"),
        "{text}"
    );
    for q in [
        "layer0.u_p",
        "layer0.u_i",
        "readout",
        "layer0.W_up",
        "layer1.W_up",
    ] {
        assert!(text.contains(q), "{q} missing:\n{text}");
    }
    assert!(text.contains("ok: worst RMS deviation"), "{text}");
    // the blocks kernel forced on run (agreeing with the CPU) and on check
    let blocks_out = run("blocks", &["--backend", "gpu", "--gpu-kernel", "blocks"]);
    let summary = std::fs::read_to_string(blocks_out.join("summary.json")).unwrap();
    assert!(summary.contains("blocks kernel"), "{summary}");
    let dev = rel_rms(&w(&blocks_out), &w(&cpu_out));
    assert!(dev < 1e-4, "weights gpu (blocks) vs cpu-f32: {dev:e}");
    let text = stdout_of_success(&["check", cfg, "--patterns", "3", "--gpu-kernel", "blocks"]);
    assert!(
        text.contains("blocks kernel") && text.contains("ok: worst RMS deviation"),
        "{text}"
    );
}

/// `pyralnet bench --model steady --backend cpu,gpu` prints a GPU row (patterns/s) beside the CPU
/// rows, for the device checks of a lent GPU; an unknown backend is refused by name.
#[test]
fn bench_steady_measures_the_gpu_beside_the_cpu() {
    if device().is_none() {
        return;
    }
    let args = [
        "bench",
        "--model",
        "steady",
        "--backend",
        "cpu,gpu",
        "--dims",
        "4,6,3",
        "--batch",
        "2",
        "--precision",
        "f32",
        "--threads",
        "1",
        "--seconds",
        "0.05",
    ];
    let o = common::process::run(&args);
    assert!(o.status.success(), "{}", common::process::stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let gpu = out
        .lines()
        .find(|l| l.starts_with("steady-gpu"))
        .expect("a GPU row");
    let rate: f64 = gpu
        .split_whitespace()
        .rev()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert!(rate > 0.0, "{gpu}");
    assert!(out.lines().any(|l| l.starts_with("steady-cpu-f32")));
    // auto is the rows kernel on a CPU driver, the blocks kernel on a GPU
    let cpu_driver = device().unwrap().info.device_type == wgpu::DeviceType::Cpu;
    assert_eq!(gpu.contains("blocks kernel"), !cpu_driver, "{gpu}");
    let mut forced = args.to_vec();
    forced[4] = "gpu";
    forced.extend(["--gpu-kernel", "blocks"]);
    let o = common::process::run(&forced);
    assert!(o.status.success(), "{}", common::process::stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with("steady-gpu") && l.contains("blocks kernel")),
        "{out}"
    );
    let o = common::process::run(&[
        "bench",
        "--model",
        "steady",
        "--backend",
        "gpu",
        "--gpu-kernel",
        "resident",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = common::process::stderr(&o);
    assert!(err.contains("allowed: auto, rows, blocks"), "{err}");
    let bad = common::process::run(&["bench", "--model", "steady", "--backend", "tpu"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(common::process::stderr(&bad).contains("--backend: unknown `tpu`"));
}

/// The blocks kernel refuses, with the reason, what it cannot run; the kernel names parse.
#[test]
fn blocks_kernel_refuses_a_workgroup_it_cannot_split_into_teams() {
    assert_eq!(
        SteadyGpuKernel::forced("blocks"),
        Ok(Some(SteadyGpuKernel::Blocks))
    );
    assert_eq!(SteadyGpuKernel::forced("auto"), Ok(None));
    let err = SteadyGpuKernel::forced("resident").unwrap_err();
    assert!(err.contains("allowed: auto, rows, blocks"), "{err}");
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![3, 9, 2], true);
    let b = batch(&shape, Transfer::Sigmoid, vec![varied(0)]);
    let opts = GpuOptions {
        workgroup_size: Some(48),
        ..with_kernel(SteadyGpuKernel::Blocks)
    };
    let err = SteadyGpuBackend::with_gpu(g.clone(), &b, &opts)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("power-of-two workgroup size"), "{err}");
}
