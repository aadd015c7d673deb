//! The GPU backend against the CPU reference. Every test skips (with a message) when no
//! Vulkan adapter exists, unless `PYRALNET_REQUIRE_GPU` is set, which turns the skip into a
//! failure (CI sets it: lavapipe is installed there).

use pyralnet::backend::{Backend, Batch, Chunk};
use pyralnet::cpu::CpuBackend;
use pyralnet::gpu::{self, Gpu, GpuBackend, GpuError, GpuOptions};
use pyralnet::model::init::init_weights;
use pyralnet::model::noise;
use pyralnet::model::{InitMode, InstanceParams, Shape, Transfer, Weights};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// The device, or `None` (test skipped) when the machine has no adapter.
fn device() -> Option<Gpu> {
    match gpu::open(None) {
        Ok(g) => Some(g),
        Err(GpuError::NoAdapter) if std::env::var_os("PYRALNET_REQUIRE_GPU").is_none() => {
            eprintln!("skipping GPU test: {}", GpuError::NoAdapter);
            None
        }
        Err(e) => panic!("opening the GPU: {e}"),
    }
}

fn gpu_backend(g: &Gpu, batch: &Batch, opts: &GpuOptions) -> GpuBackend {
    GpuBackend::with_gpu(g.clone(), batch, opts).expect("GPU backend")
}

fn batch(shape: Shape, phi: Transfer, params: Vec<InstanceParams>) -> Batch {
    let init = params.iter().map(|p| init_weights(&shape, p)).collect();
    Batch {
        shape,
        phi,
        params,
        init,
    }
}

/// `patterns` random inputs in [0, 1) and targets in [0.1, 1) per instance.
fn chunk(shape: &Shape, instances: usize, patterns: usize, seed: u64) -> Chunk {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut draw = |n: usize, lo: f64| -> Vec<f64> {
        (0..n * patterns).map(|_| rng.gen_range(lo..1.0)).collect()
    };
    let (x, y) = (0..instances)
        .map(|_| (draw(shape.n_in(), 0.0), draw(shape.n_out(), 0.1)))
        .unzip();
    Chunk { x, y }
}

/// `sqrt(Σ (a − b)² / Σ b²)` over paired values.
fn rel_rms<'a>(pairs: impl Iterator<Item = (&'a f64, &'a f64)>) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (a, b) in pairs {
        num += (a - b) * (a - b);
        den += b * b;
    }
    (num / den.max(1e-300)).sqrt()
}

fn flat(w: &Weights<f64>) -> Vec<f64> {
    w.named()
        .into_iter()
        .flat_map(|(_, m)| m.data.clone())
        .collect()
}

/// Relative RMS deviation of the weights and of the weight changes since `init`, and of the
/// readouts, between two backends' results.
struct Deviation {
    weights: f64,
    changes: f64,
    readouts: f64,
}

fn deviation(
    init: &[Weights<f64>],
    (wa, ra): (&[Weights<f64>], &[Vec<f64>]),
    (wb, rb): (&[Weights<f64>], &[Vec<f64>]),
) -> Deviation {
    let (mut fa, mut fb, mut da, mut db) = (vec![], vec![], vec![], vec![]);
    for ((a, b), w0) in wa.iter().zip(wb).zip(init) {
        let (a, b, w0) = (flat(a), flat(b), flat(w0));
        da.extend(a.iter().zip(&w0).map(|(x, y)| x - y));
        db.extend(b.iter().zip(&w0).map(|(x, y)| x - y));
        fa.extend(a);
        fb.extend(b);
    }
    let ra: Vec<f64> = ra.concat();
    let rb: Vec<f64> = rb.concat();
    Deviation {
        weights: rel_rms(fa.iter().zip(&fb)),
        changes: rel_rms(da.iter().zip(&db)),
        readouts: rel_rms(ra.iter().zip(&rb)),
    }
}

/// Trains `chunks` on the GPU and on the CPU in f32 and f64, then checks weights, weight
/// changes and readouts (training and one evaluation chunk) against both.
fn compare_with_cpu(g: &Gpu, b: &Batch, chunks: &[Chunk], eval: &Chunk) {
    compare_with_cpu_opts(g, b, chunks, eval, &GpuOptions::default())
}

fn compare_with_cpu_opts(g: &Gpu, b: &Batch, chunks: &[Chunk], eval: &Chunk, opts: &GpuOptions) {
    let mut gpu = gpu_backend(g, b, opts);
    let mut c32 = CpuBackend::<f32>::new(b, None, Default::default()).unwrap();
    let mut c64 = CpuBackend::<f64>::new(b, None, Default::default()).unwrap();
    let run = |be: &mut dyn Backend| {
        let mut r: Vec<Vec<f64>> = vec![vec![]; b.len()];
        for c in chunks {
            for (acc, o) in r.iter_mut().zip(be.train(c).unwrap()) {
                acc.extend(o);
            }
        }
        for (acc, o) in r.iter_mut().zip(be.evaluate(eval).unwrap()) {
            acc.extend(o);
        }
        (be.weights().unwrap(), r)
    };
    let (wg, rg) = run(&mut gpu);
    let (w32, r32) = run(&mut c32);
    let (w64, r64) = run(&mut c64);
    let d32 = deviation(&b.init, (&wg, &rg), (&w32, &r32));
    let d64 = deviation(&b.init, (&wg, &rg), (&w64, &r64));
    let base = deviation(&b.init, (&w32, &r32), (&w64, &r64));
    println!(
        "{}: gpu vs f32 weights {:.2e} changes {:.2e} readouts {:.2e}; gpu vs f64 {:.2e} {:.2e} \
         {:.2e}; f32 vs f64 {:.2e} {:.2e} {:.2e}",
        b.shape.label(),
        d32.weights,
        d32.changes,
        d32.readouts,
        d64.weights,
        d64.changes,
        d64.readouts,
        base.weights,
        base.changes,
        base.readouts
    );
    assert!(d32.weights <= 1e-4, "weights vs cpu-f32: {:e}", d32.weights);
    assert!(d64.weights <= 1e-3, "weights vs cpu-f64: {:e}", d64.weights);
    assert!(
        d32.readouts <= 1e-4,
        "readouts vs cpu-f32: {:e}",
        d32.readouts
    );
    assert!(
        d64.readouts <= 1e-3,
        "readouts vs cpu-f64: {:e}",
        d64.readouts
    );
    // the weights must really have moved, and moved the same way
    let moved = wg
        .iter()
        .zip(&b.init)
        .map(|(a, w0)| rel_rms(flat(a).iter().zip(&flat(w0))))
        .fold(0.0, f64::max);
    assert!(
        moved > 1e-4,
        "weights barely changed ({moved:e}): test is vacuous"
    );
    assert!(
        d32.changes <= 1e-2,
        "weight changes vs cpu-f32: {:e}",
        d32.changes
    );
    assert!(
        d64.changes <= 1e-2,
        "weight changes vs cpu-f64: {:e}",
        d64.changes
    );
}

#[test]
fn probe_kernel_matches_the_cpu_functions() {
    let Some(g) = device() else { return };
    let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.07).collect();
    for phi in [
        Transfer::Sigmoid,
        Transfer::Softplus,
        Transfer::ScaledSoftplus {
            gamma: 0.1,
            beta: 1.0,
            theta: 3.0,
        },
    ] {
        let (seed, step) = (0x1234_5678_9abc_def0u64, (7u64 << 32) + 99);
        let out = gpu::probe(&g, phi, seed, step, &x).unwrap();
        assert_eq!(out.len(), x.len());
        for (i, (&xi, &(h, xi_gpu, r))) in x.iter().zip(&out).enumerate() {
            assert_eq!(h, noise::hash32(i as u32), "hash of {i}");
            let want = noise::normal(seed, step, i as u32);
            assert!(
                (f64::from(xi_gpu) - want).abs() <= 1e-5 * want.abs().max(1.0),
                "noise {i}: gpu {xi_gpu} cpu {want}"
            );
            // against the CPU's f32 φ (same operations; exp and ln may differ by a few ulp)
            let want = phi.apply(xi);
            assert!(
                (r - want).abs() <= 2e-6 * want.abs() + 1e-37,
                "{} of {xi}: gpu {r} cpu {want}",
                phi.name()
            );
        }
    }
}

#[test]
fn mimic_2_3_2_softplus_all_pathways_plastic() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![2, 3, 2], false);
    let params: Vec<InstanceParams> = (0..3)
        .map(|k| {
            let mut p = InstanceParams::reference(2);
            p.t_pattern = 10.0;
            p.out_lag = 6.0;
            p.eta_up = vec![0.5, 0.25];
            p.eta_pi = vec![0.5];
            p.eta_ip = vec![0.5];
            p.eta_down = vec![if k == 2 { 0.3 } else { 0.0 }];
            p.seed = 11 + k as u64;
            p
        })
        .collect();
    let b = batch(shape.clone(), Transfer::Softplus, params);
    let chunks = [chunk(&shape, 3, 3, 1)];
    compare_with_cpu(&g, &b, &chunks, &chunk(&shape, 3, 2, 2));
}

#[test]
fn yinyang_4_120_3_sigmoid_bias_lag_reset_mixed_clocks() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![4, 120, 3], true);
    let params: Vec<InstanceParams> = (0..4)
        .map(|k| {
            let mut p = InstanceParams::reference(2);
            p.ga = 0.28;
            p.gsom = 0.34;
            p.t_pattern = [30.0, 25.0, 30.0, 24.0][k];
            p.dt = [0.1, 0.1, 0.2, 0.1][k];
            p.learning_lag = 20.0;
            p.out_lag = 22.0;
            p.eta_up = vec![6.1, 7.32e-4 * 100.0];
            p.eta_ip = vec![1.464e-3 * 100.0];
            p.eta_pi = vec![if k % 2 == 0 { 0.0 } else { 4.22e-4 * 100.0 }];
            p.init = [InitMode::SelfPredicting, InitMode::Random][k % 2];
            p.init_up = 0.1;
            p.init_ip = 0.1;
            p.reset_deltas = k < 2;
            p.seed = 100 + k as u64;
            p
        })
        .collect();
    let b = batch(shape.clone(), Transfer::Sigmoid, params);
    let chunks = [chunk(&shape, 4, 2, 3), chunk(&shape, 4, 1, 4)];
    // both workgroup sizes, whichever the device would pick
    for wg in [8, 64] {
        let opts = GpuOptions {
            workgroup_size: Some(wg),
            ..Default::default()
        };
        compare_with_cpu_opts(&g, &b, &chunks, &chunk(&shape, 4, 2, 5), &opts);
    }
}

#[test]
fn mnist_sized_784_20_10() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![784, 20, 10], true);
    let params: Vec<InstanceParams> = (0..2)
        .map(|k| {
            let mut p = InstanceParams::reference(2);
            p.t_pattern = 5.0;
            p.out_lag = 3.0;
            p.init_up = 0.05;
            p.eta_up = vec![0.5, 0.05];
            p.eta_ip = vec![0.05];
            p.eta_pi = vec![0.05];
            p.seed = 7 + k;
            p
        })
        .collect();
    let b = batch(shape.clone(), Transfer::Sigmoid, params);
    let chunks = [chunk(&shape, 2, 3, 6)];
    for wg in [8, 64] {
        let opts = GpuOptions {
            workgroup_size: Some(wg),
            ..Default::default()
        };
        compare_with_cpu_opts(&g, &b, &chunks, &chunk(&shape, 2, 1, 7), &opts);
    }
}

#[test]
fn noisy_training_agrees_with_the_cpu() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![3, 8, 2], true);
    let params: Vec<InstanceParams> = (0..2)
        .map(|k| {
            let mut p = InstanceParams::reference(2);
            p.t_pattern = 8.0;
            p.out_lag = 4.0;
            p.noise = 0.05;
            p.eta_up = vec![0.5, 0.2];
            p.eta_ip = vec![0.2];
            p.seed = (k << 33) + 5;
            p
        })
        .collect();
    let b = batch(shape.clone(), Transfer::Softplus, params);
    compare_with_cpu(
        &g,
        &b,
        &[chunk(&shape, 2, 2, 8), chunk(&shape, 2, 2, 9)],
        &chunk(&shape, 2, 1, 10),
    );
}

#[test]
fn long_patterns_span_several_dispatches() {
    // 1000 and 700 steps per pattern: far more loop iterations than lavapipe runs in one
    // shader invocation, so each pattern is cut into several dispatch windows
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![3, 9, 2], true);
    let params: Vec<InstanceParams> = (0..2)
        .map(|k| {
            let mut p = InstanceParams::reference(2);
            p.t_pattern = [100.0, 70.0][k];
            p.out_lag = 0.0;
            p.learning_lag = 5.0;
            p.eta_up = vec![0.05, 0.02];
            p.eta_ip = vec![0.02];
            p.eta_pi = vec![0.02];
            p.seed = 40 + k as u64;
            p
        })
        .collect();
    let b = batch(shape.clone(), Transfer::Sigmoid, params);
    compare_with_cpu(&g, &b, &[chunk(&shape, 2, 2, 13)], &chunk(&shape, 2, 1, 14));
}

#[test]
fn too_large_for_lavapipe_is_an_error_not_a_truncation() {
    let Some(g) = device() else { return };
    if g.info.device_type != wgpu::DeviceType::Cpu {
        return;
    }
    let shape = Shape::new(vec![784, 4000, 10], false);
    let p = InstanceParams::reference(2);
    let b = Batch {
        init: vec![Weights::zeros(&shape)],
        shape,
        phi: Transfer::Sigmoid,
        params: vec![p],
    };
    let err = GpuBackend::with_gpu(g, &b, &GpuOptions::default())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("too large"), "{err}");
}

/// Parameters that differ per instance, so that batch composition would show if it leaked.
fn varied(k: usize) -> InstanceParams {
    let mut p = InstanceParams::reference(2);
    p.t_pattern = 3.0 + (k % 4) as f64;
    p.out_lag = 1.5;
    p.learning_lag = (k % 3) as f64 * 0.5;
    p.noise = if k % 5 == 0 { 0.02 } else { 0.0 };
    p.eta_up = vec![0.3, 0.1];
    p.eta_ip = vec![0.2];
    p.eta_pi = vec![(k % 2) as f64 * 0.1];
    p.reset_deltas = k % 3 == 1;
    p.seed = 1000 + k as u64;
    p
}

#[test]
fn instance_alone_equals_instance_in_a_batch_bit_for_bit() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![3, 9, 2], true);
    let n = 37;
    let big = batch(
        shape.clone(),
        Transfer::Sigmoid,
        (0..n).map(varied).collect(),
    );
    let data = chunk(&shape, n, 3, 12);
    let mut all = gpu_backend(&g, &big, &GpuOptions::default());
    let r_all = all.train(&data).unwrap();
    let w_all = all.weights().unwrap();
    // the same batch split into sub-batches of 10, and uploaded in pieces of 2 patterns
    let opts = GpuOptions {
        max_group: Some(10),
        piece_patterns: Some(2),
        ..Default::default()
    };
    // the other workgroup size: threads share the work differently, the arithmetic per value
    // is the same
    let wg = if g.info.device_type == wgpu::DeviceType::Cpu {
        64
    } else {
        8
    };
    let mut other = gpu_backend(
        &g,
        &big,
        &GpuOptions {
            workgroup_size: Some(wg),
            ..Default::default()
        },
    );
    assert_eq!(other.train(&data).unwrap(), r_all, "workgroup size {wg}");
    assert_eq!(other.weights().unwrap(), w_all, "workgroup size {wg}");
    let mut split = gpu_backend(&g, &big, &opts);
    assert_eq!(split.groups(), 4);
    assert_eq!(split.train(&data).unwrap(), r_all);
    assert_eq!(split.weights().unwrap(), w_all);
    for k in [0, 5, 17, 36] {
        let one = Batch {
            shape: shape.clone(),
            phi: Transfer::Sigmoid,
            params: vec![big.params[k].clone()],
            init: vec![big.init[k].clone()],
        };
        let mut alone = gpu_backend(&g, &one, &GpuOptions::default());
        let c = Chunk {
            x: vec![data.x[k].clone()],
            y: vec![data.y[k].clone()],
        };
        assert_eq!(alone.train(&c).unwrap()[0], r_all[k], "readouts of {k}");
        assert_eq!(alone.weights().unwrap()[0], w_all[k], "weights of {k}");
    }
}

#[test]
fn evaluate_leaves_the_state_unchanged() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![3, 9, 2], true);
    let n = 5;
    let b = batch(
        shape.clone(),
        Transfer::Softplus,
        (0..n).map(varied).collect(),
    );
    let (first, eval, second) = (
        chunk(&shape, n, 2, 20),
        chunk(&shape, n, 3, 21),
        chunk(&shape, n, 2, 22),
    );
    let mut with_eval = gpu_backend(&g, &b, &GpuOptions::default());
    let mut without = gpu_backend(&g, &b, &GpuOptions::default());
    with_eval.train(&first).unwrap();
    without.train(&first).unwrap();
    let w = with_eval.weights().unwrap();
    let e1 = with_eval.evaluate(&eval).unwrap();
    assert_eq!(with_eval.weights().unwrap(), w);
    assert_eq!(
        with_eval.evaluate(&eval).unwrap(),
        e1,
        "evaluation is repeatable"
    );
    assert_eq!(
        with_eval.train(&second).unwrap(),
        without.train(&second).unwrap(),
        "training after an evaluation continues as if there had been none"
    );
    assert_eq!(with_eval.weights().unwrap(), without.weights().unwrap());
}

#[test]
fn adapters_are_listed() {
    let Some(g) = device() else { return };
    let list = gpu::list_adapters();
    assert!(!list.is_empty());
    for a in &list {
        println!("{a}");
    }
    assert!(list.iter().any(|a| a.info.name == g.info.name));
    assert!(matches!(
        gpu::open(Some("no such adapter")),
        Err(GpuError::NoMatch { .. })
    ));
}

/// Instance-steps per second of the GPU backend and of `CpuBackend<f32>` on all threads for
/// 256 instances of 4-120-3 with every standard pathway plastic (experiment C parameters).
/// Run with `cargo test --release --test gpu -- --ignored --nocapture`.
#[test]
#[ignore = "timing, not a check"]
fn throughput_4_120_3_batch_256() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![4, 120, 3], true);
    let params: Vec<InstanceParams> = (0..256)
        .map(|k| {
            let mut p = InstanceParams::reference(2);
            p.ga = 0.28;
            p.gsom = 0.34;
            p.t_pattern = 10.0;
            p.out_lag = 8.0;
            p.eta_up = vec![6.1, 7.32e-4];
            p.eta_pi = vec![4.22e-4];
            p.eta_ip = vec![1.464e-3];
            p.init_up = 0.1;
            p.init_ip = 0.1;
            p.seed = k;
            p
        })
        .collect();
    let b = batch(shape.clone(), Transfer::Sigmoid, params);
    let (warm, data) = (chunk(&shape, 256, 1, 30), chunk(&shape, 256, 4, 31));
    let steps = (256 * 4 * 100) as f64;
    let rate = |be: &mut dyn Backend| {
        be.train(&warm).unwrap();
        let t0 = std::time::Instant::now();
        be.train(&data).unwrap();
        steps / t0.elapsed().as_secs_f64()
    };
    let mut gpu = gpu_backend(&g, &b, &GpuOptions::default());
    let r_gpu = rate(&mut gpu);
    let mut cpu = CpuBackend::<f32>::new(&b, None, Default::default()).unwrap();
    let r_cpu = rate(&mut cpu);
    println!(
        "4-120-3 x256: {} {r_gpu:.3e} instance-steps/s; {} {r_cpu:.3e} instance-steps/s",
        gpu.name(),
        cpu.name()
    );
}
