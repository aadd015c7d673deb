//! The GPU backend against the CPU reference. Every test skips (with a message) when no
//! Vulkan adapter exists, unless `PYRALNET_REQUIRE_GPU` is set, which turns the skip into a
//! failure (CI sets it: lavapipe is installed there).

mod common;
use common::process::stdout_of_success;
use common::{batch, chunk, device};
use pyralnet::gpu::{self, Gpu, GpuError};
use pyralnet::microcircuit::backend::{Backend, Batch, Chunk, RecordSpec, Trace};
use pyralnet::microcircuit::full::cpu::CpuBackend;
use pyralnet::microcircuit::full::gpu::{probe, GpuBackend, GpuOptions, KernelKind};
use pyralnet::microcircuit::noise;
use pyralnet::microcircuit::{InitMode, InstanceParams, Shape, Transfer, Weights};

fn gpu_backend(g: &Gpu, batch: &Batch, opts: &GpuOptions) -> GpuBackend {
    GpuBackend::with_gpu(g.clone(), batch, opts).expect("GPU backend")
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

/// Options selecting each kernel (with the device's default workgroup size; the phased one
/// with 3 workgroups per instance, so that workgroups share the rows and entries). The register
/// kernel runs networks with one hidden layer only (see [`backend_unless_too_big`]); it comes
/// three times: with subgroup sums where the device has them, with its workgroup-memory tree
/// (both with the cells per thread it picks, four on the test shapes) and with one hidden cell
/// per thread.
fn all_kernels() -> Vec<GpuOptions> {
    let mut all: Vec<GpuOptions> = [
        KernelKind::Workgroup,
        KernelKind::Serial,
        KernelKind::Phased,
        KernelKind::Resident,
        KernelKind::Register,
    ]
    .into_iter()
    .map(|k| GpuOptions {
        kernel: Some(k),
        tiles: (k == KernelKind::Phased).then_some(3),
        ..Default::default()
    })
    .collect();
    all.push(register_tree());
    all.push(register_one_cell());
    all
}

/// The register kernel with one hidden cell per thread (it picks four where they fit).
fn register_one_cell() -> GpuOptions {
    GpuOptions {
        kernel: Some(KernelKind::Register),
        register_cells: Some(1),
        ..Default::default()
    }
}

/// The register kernel with its column sums through the workgroup-memory tree.
fn register_tree() -> GpuOptions {
    GpuOptions {
        kernel: Some(KernelKind::Register),
        no_subgroups: true,
        ..Default::default()
    }
}

/// The resident kernel forced with its `n` largest matrices spilled to global memory: the
/// workgroup memory it may use lowered ([`GpuOptions::workgroup_storage`]) to one byte less
/// than the placement with `n − 1` spilled needs (so one more matrix has to go), checked.
fn resident_spilling(g: &Gpu, b: &Batch, n: usize) -> GpuOptions {
    let mut opts = GpuOptions {
        kernel: Some(KernelKind::Resident),
        ..Default::default()
    };
    for k in 0..=n {
        let (bytes, spilled) = gpu_backend(g, b, &opts)
            .resident_placement()
            .expect("resident");
        assert_eq!(spilled.len(), k, "{spilled:?}");
        if k < n {
            opts.workgroup_storage = Some(bytes as u32 - 1);
        }
    }
    opts
}

/// Trains `chunks` on the GPU (every kernel) and on the CPU in f32 and f64, then checks
/// weights, weight changes and readouts (training and one evaluation chunk) against both.
fn compare_with_cpu(g: &Gpu, b: &Batch, chunks: &[Chunk], eval: &Chunk) {
    for opts in all_kernels() {
        compare_with_cpu_opts(g, b, chunks, eval, &opts)
    }
}

/// The backend, or `None` when `opts` forces the resident kernel and one instance of the shape
/// does not fit the device's workgroup storage, or the register kernel and the shape is not
/// one it runs (one hidden layer, cells fitting a workgroup, a thread's words fitting
/// registers): then the error must say so, naming the shape and the limit or rule.
fn backend_unless_too_big(g: &Gpu, b: &Batch, opts: &GpuOptions) -> Option<GpuBackend> {
    match GpuBackend::with_gpu(g.clone(), b, opts) {
        Ok(be) => Some(be),
        Err(e) if opts.kernel == Some(KernelKind::Register) => {
            let msg = e.to_string();
            println!("refused: {msg}");
            assert!(
                msg.contains(&format!(
                    "the register kernel cannot run {}",
                    b.shape.label()
                )),
                "{msg}"
            );
            assert!(
                b.shape.n_layers() != 2 || b.shape.n_in() > 16 || b.shape.n_pyr(0) > 250,
                "a shape the register kernel should run: {msg}"
            );
            None
        }
        Err(e) if opts.kernel == Some(KernelKind::Resident) => {
            let limit = g.limits.max_compute_workgroup_storage_size;
            let msg = e.to_string();
            println!("refused: {msg}");
            assert!(
                msg.contains(&b.shape.label())
                    && msg.contains(&format!("max_compute_workgroup_storage_size of {limit}")),
                "{msg}"
            );
            None
        }
        Err(e) => panic!("GPU backend: {e:#}"),
    }
}

fn compare_with_cpu_opts(g: &Gpu, b: &Batch, chunks: &[Chunk], eval: &Chunk, opts: &GpuOptions) {
    compare_with_cpu_dev(g, b, chunks, eval, opts);
}

/// As [`compare_with_cpu_opts`], returning the deviation from the CPU in f32 (`None` when the
/// resident kernel was refused for want of workgroup storage).
fn compare_with_cpu_dev(
    g: &Gpu,
    b: &Batch,
    chunks: &[Chunk],
    eval: &Chunk,
    opts: &GpuOptions,
) -> Option<Deviation> {
    let mut gpu = backend_unless_too_big(g, b, opts)?;
    println!(
        "{:?} kernel, workgroup size {:?}",
        opts.kernel, opts.workgroup_size
    );
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
    Some(d32)
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
        let out = probe(&g, phi, seed, step, &x).unwrap();
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
    let b = batch(&shape, Transfer::Softplus, params);
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
    let b = batch(&shape, Transfer::Sigmoid, params);
    let chunks = [chunk(&shape, 4, 2, 3), chunk(&shape, 4, 1, 4)];
    // both kernels and workgroup sizes, whichever the device would pick
    for opts in all_kernels() {
        for wg in [8, 64] {
            let opts = GpuOptions {
                workgroup_size: Some(wg),
                ..opts.clone()
            };
            compare_with_cpu_opts(&g, &b, &chunks, &chunk(&shape, 4, 2, 5), &opts);
        }
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
    let b = batch(&shape, Transfer::Sigmoid, params);
    let chunks = [chunk(&shape, 2, 3, 6)];
    for opts in all_kernels() {
        for wg in [8, 64] {
            let opts = GpuOptions {
                workgroup_size: Some(wg),
                ..opts.clone()
            };
            compare_with_cpu_opts(&g, &b, &chunks, &chunk(&shape, 2, 1, 7), &opts);
        }
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
    let b = batch(&shape, Transfer::Softplus, params);
    compare_with_cpu(
        &g,
        &b,
        &[chunk(&shape, 2, 2, 8), chunk(&shape, 2, 2, 9)],
        &chunk(&shape, 2, 1, 10),
    );
}

/// The resident kernel, forced, agrees with the CPU in f32 to 1e-5 relative RMS in weights and
/// readouts with every pathway plastic (top-down included), a learning lag, reset_deltas in
/// some instances, noise in others, on [2,3,2] (softplus, no bias), [3,5,4,2] (two hidden
/// layers), [4,120,3] and [784,20,10] (whose whole state fits no device: W_up0 and its Δ stay
/// in global memory, the rest in workgroup memory); the first three also with their largest
/// matrix spilled that way (the workgroup memory lowered for the test).
#[test]
fn resident_kernel_agrees_with_the_cpu() {
    forced_kernel_agrees_with_the_cpu(&GpuOptions {
        kernel: Some(KernelKind::Resident),
        ..Default::default()
    });
}

/// The register kernel, forced, agrees with the CPU in f32 to 1e-5 relative RMS in weights and
/// readouts on the resident test's cases ([2,3,2] softplus without bias, [4,120,3]: every
/// pathway plastic, lag, reset_deltas, noise); [3,5,4,2] (two hidden layers) and [784,20,10]
/// (a row of W_up0 too long for registers) are refused naming the shape and the rule.
/// Both ways of summing columns: the subgroup butterfly where the device has subgroup
/// operations wide enough for [4,120,3]'s 6 rows padded to 8 (lavapipe has 8 lanes, 4 or 16
/// with `LP_NATIVE_VECTOR_WIDTH=128` or `512`, which scripts/test.sh also runs), the
/// workgroup-memory tree otherwise or when asked.
#[test]
fn register_kernel_agrees_with_the_cpu() {
    let Some(g) = device() else { return };
    let default = GpuOptions {
        kernel: Some(KernelKind::Register),
        ..Default::default()
    };
    let subgroups = g.device.features().contains(wgpu::Features::SUBGROUP);
    let lanes = g.info.subgroup_min_size;
    println!(
        "{}: subgroups {subgroups}, at least {lanes} lanes",
        g.label()
    );
    let small = batch(
        &Shape::new(vec![4, 120, 3], true),
        Transfer::Sigmoid,
        vec![InstanceParams::reference(2)],
    );
    // the butterfly needs [4,120,3]'s 6 rows padded to 8 in one subgroup, else the tree runs
    // (lavapipe at LP_NATIVE_VECTOR_WIDTH=128 has 4 lanes)
    assert_eq!(
        gpu_backend(&g, &small, &default).subgroup_sums(),
        subgroups && lanes >= 8
    );
    assert!(!gpu_backend(&g, &small, &register_tree()).subgroup_sums());
    forced_kernel_agrees_with_the_cpu(&default);
    forced_kernel_agrees_with_the_cpu(&register_tree());
    forced_kernel_agrees_with_the_cpu(&register_one_cell());
    // 2 and 3 (41 column threads on [4,120,3], the last with the bias column and two padding
    // slots)
    for p in [2, 3] {
        forced_kernel_agrees_with_the_cpu(&GpuOptions {
            register_cells: Some(p),
            ..default.clone()
        });
    }
    forced_kernel_agrees_with_the_cpu(&GpuOptions {
        register_cells: Some(1),
        ..register_tree()
    });
}

fn forced_kernel_agrees_with_the_cpu(opts: &GpuOptions) {
    let Some(g) = device() else { return };
    let kind = opts.kernel.expect("a forced kernel");
    println!(
        "{}: max_compute_workgroup_storage_size {}",
        g.label(),
        g.limits.max_compute_workgroup_storage_size
    );
    let mut ran = 0;
    for (dims, bias, phi, t_pattern, patterns) in [
        (vec![2, 3, 2], false, Transfer::Softplus, 6.0, 3),
        (vec![3, 5, 4, 2], true, Transfer::Sigmoid, 6.0, 3),
        (vec![4, 120, 3], true, Transfer::Sigmoid, 4.0, 2),
        (vec![784, 20, 10], true, Transfer::Sigmoid, 2.0, 2),
    ] {
        let shape = Shape::new(dims, bias);
        let n = shape.n_layers();
        let params: Vec<InstanceParams> = (0..3)
            .map(|k| {
                let mut p = InstanceParams::reference(n);
                p.t_pattern = t_pattern + k as f64;
                p.out_lag = t_pattern / 2.0;
                p.learning_lag = [0.0, 1.0, 0.5][k];
                p.init_up = 0.1;
                p.eta_up = [vec![0.5; n - 1], vec![0.2]].concat();
                p.eta_pi = vec![0.2; n - 1];
                p.eta_ip = vec![0.2; n - 1];
                p.eta_down = vec![0.1; n - 1];
                p.reset_deltas = k == 1;
                p.noise = if k == 2 { 0.03 } else { 0.0 };
                p.seed = 300 + k as u64;
                p
            })
            .collect();
        let b = batch(&shape, phi, params);
        let train = [chunk(&shape, 3, patterns, 60), chunk(&shape, 3, 1, 61)];
        let mut variants = vec![opts.clone()];
        if kind == KernelKind::Resident {
            let placement = gpu_backend(&g, &b, opts).resident_placement().unwrap();
            println!("{}: resident placement {placement:?}", shape.label());
            if placement.1.is_empty() {
                // the whole state fits: also the largest matrix spilled
                variants.push(resident_spilling(&g, &b, 1));
            } else {
                // [784,20,10] (139 444 B whole) on a device with 32 or 48 KB: W_up0 spilled
                assert_eq!(placement.1, ["layer0.W_up"]);
            }
        }
        for opts in &variants {
            let eval = chunk(&shape, 3, 2, 62);
            let Some(d) = compare_with_cpu_dev(&g, &b, &train, &eval, opts) else {
                continue;
            };
            ran += 1;
            assert_eq!(gpu_backend(&g, &b, opts).kernel(), (kind, 1));
            assert!(
                d.weights <= 1e-5,
                "{}: weights {:e}",
                shape.label(),
                d.weights
            );
            assert!(
                d.readouts <= 1e-5,
                "{}: readouts {:e}",
                shape.label(),
                d.readouts
            );
        }
    }
    // the register kernel runs [2,3,2] and [4,120,3]; the resident one every shape, the
    // three whose whole state fits also with W_up0 spilled
    assert_eq!(ran, if kind == KernelKind::Register { 2 } else { 7 });
}

/// The default kernel of a CPU driver stays what it was (the resident kernel is for GPUs);
/// forced on a network whose W and Δ exceed the device's workgroup storage, the resident
/// kernel keeps the largest matrices in global memory, and on one whose somas, stimulus and
/// work vectors alone exceed it, it is an error naming the shape, the bytes and the limit.
#[test]
fn resident_kernel_selection_and_refusal() {
    let Some(g) = device() else { return };
    let small = batch(
        &Shape::new(vec![4, 120, 3], true),
        Transfer::Sigmoid,
        vec![InstanceParams::reference(2)],
    );
    let (kind, _) = gpu_backend(&g, &small, &GpuOptions::default()).kernel();
    if g.info.device_type == wgpu::DeviceType::Cpu {
        assert_eq!(kind, KernelKind::Serial);
    } else {
        assert_eq!(kind, KernelKind::Resident);
    }
    let one = |dims: Vec<usize>| {
        let shape = Shape::new(dims, true);
        Batch {
            init: vec![Weights::zeros(&shape)],
            shape,
            phi: Transfer::Sigmoid,
            params: vec![InstanceParams::reference(2)],
        }
    };
    let opts = GpuOptions {
        kernel: Some(KernelKind::Resident),
        ..Default::default()
    };
    let limit = g.limits.max_compute_workgroup_storage_size;
    // 784-200-10: W and Δ are 8·(200·785 + 2·200·10 + 2·10·201) = 1 320 160 bytes; W_up0
    // (200×785) goes to global memory first, then as many of the 2000-word matrices as the
    // limit needs (at 32 KB all but W_pi0, whose 16 000 B and the other 11 604 B fit); 64
    // threads per instance, so that a step fits llvmpipe's loop limit on lavapipe
    let big = one(vec![784, 200, 10]);
    let wide = GpuOptions {
        workgroup_size: Some(64),
        ..opts.clone()
    };
    let (bytes, spilled) = gpu_backend(&g, &big, &wide).resident_placement().unwrap();
    assert!(bytes <= u64::from(limit), "{bytes}");
    assert_eq!(spilled[0], "layer0.W_up", "{spilled:?}");
    if limit == 32768 {
        assert_eq!(
            spilled,
            ["layer0.W_up", "layer0.W_down", "layer0.W_ip", "layer1.W_up"]
        );
        assert_eq!(bytes, 27_604);
    }
    // not the resident kernel by default there, whatever the adapter
    let (kind, _) = gpu_backend(&g, &big, &GpuOptions::default()).kernel();
    assert_ne!(kind, KernelKind::Resident);
    // 20000-2-2: r_0 and pre_0 alone are 40 001 words, 160 KB; W and Δ 8·(2·20 001 + 4 + 4
    // + 2·3 + 2·3) = 320 176 bytes
    let err = GpuBackend::with_gpu(g.clone(), &one(vec![20000, 2, 2]), &opts)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("20000-2-2")
            && err.contains("W and Δ (320176 bytes) in global memory")
            && err.contains(&format!(
                "max_compute_workgroup_storage_size of {limit} bytes"
            )),
        "{err}"
    );
}

/// The spilled placement computes the fused kernel's numbers bit for bit: on [2,3,2] and
/// [4,120,3] with W_up0 spilled and with the two largest matrices spilled (W_up0, then W_ip0
/// or W_up1), training with traces recorded, evaluation and the final state equal the fused
/// kernel's, over instances with different pattern lengths, lags, `reset_deltas` and noise,
/// in windows of 7 steps (so W_up0's words in global memory cross many window boundaries).
#[test]
fn resident_spilled_equals_fused_bit_for_bit() {
    let Some(g) = device() else { return };
    for dims in [vec![2, 3, 2], vec![4, 120, 3]] {
        let shape = Shape::new(dims, true);
        let b = batch(&shape, Transfer::Sigmoid, (0..4).map(varied).collect());
        let chunks = [chunk(&shape, 4, 3, 80), chunk(&shape, 4, 2, 81)];
        let run = |opts: &GpuOptions| {
            let opts = GpuOptions {
                window_steps: Some(7),
                record: RecordSpec {
                    stride: 3,
                    all_compartments: true,
                },
                ..opts.clone()
            };
            let mut gpu = gpu_backend(&g, &b, &opts);
            let mut out = Vec::new();
            for c in &chunks {
                out.push(gpu.train(c).unwrap());
                out.push(gpu.evaluate(c).unwrap());
            }
            (out, gpu.snapshot().unwrap(), gpu.take_traces())
        };
        let fused = run(&GpuOptions {
            kernel: Some(KernelKind::Workgroup),
            ..Default::default()
        });
        assert!(fused.2.iter().all(|t| !t.step.is_empty()));
        for n in [1, 2] {
            let got = run(&resident_spilling(&g, &b, n));
            assert!(got == fused, "{}: {n} spilled vs fused", shape.label());
        }
    }
}

/// Window boundaries only move where the resident kernel writes its state back and reads it in
/// again: windows of 1, 5 and 10 000 steps (the last clamped to the loop budget on CPU drivers)
/// give the default window's weights, readouts, evaluations and traces bit for bit, for the
/// resident kernel and the adapter's default one, over instances with different pattern
/// lengths, lags, `reset_deltas` and noise, in pieces of 2 patterns.
#[test]
fn window_length_does_not_change_the_numbers() {
    let Some(g) = device() else { return };
    let record = RecordSpec {
        stride: 3,
        all_compartments: true,
    };
    for (dims, kernel) in [
        (vec![4, 120, 3], Some(KernelKind::Resident)),
        (vec![3, 5, 2], Some(KernelKind::Resident)),
        (vec![4, 120, 3], Some(KernelKind::Register)),
        (vec![3, 5, 2], Some(KernelKind::Register)),
        (vec![3, 5, 2], None),
    ] {
        let shape = Shape::new(dims, true);
        let b = batch(&shape, Transfer::Sigmoid, (0..4).map(varied).collect());
        let chunks = [chunk(&shape, 4, 3, 70), chunk(&shape, 4, 2, 71)];
        let run = |window_steps: Option<usize>| {
            let opts = GpuOptions {
                kernel,
                window_steps,
                piece_patterns: Some(2),
                record: record.clone(),
                ..Default::default()
            };
            let mut gpu = gpu_backend(&g, &b, &opts);
            let mut out = Vec::new();
            for c in &chunks {
                out.push(gpu.train(c).unwrap());
                out.push(gpu.evaluate(c).unwrap());
            }
            (
                gpu.window(),
                (out, gpu.weights().unwrap(), gpu.take_traces()),
            )
        };
        let (default, want) = run(None);
        assert!(want.2.iter().all(|t| !t.step.is_empty()));
        for w in [1, 5, 10_000] {
            let (window, got) = run(Some(w));
            // CPU drivers clamp a window to the loop budget's, which is the default there
            let cpu_driver = g.info.device_type == wgpu::DeviceType::Cpu;
            assert_eq!(window, if cpu_driver { w.min(default) } else { w });
            assert!(
                got == want,
                "{} {kernel:?}: window {window} differs from the default {default}",
                shape.label()
            );
        }
    }
}

#[test]
fn long_patterns_span_several_dispatches() {
    // 1000 and 700 steps per pattern: far more loop iterations than lavapipe runs in one
    // shader invocation, so each pattern is cut into several dispatch windows (3-9-2 for the
    // workgroup kernel; the serial kernel unrolls most of its loops there, 30-40-20 has long
    // rows); on lavapipe, windows 2× (workgroup kernel) or 3× (serial kernel) as long as the
    // host computes fail here
    let Some(g) = device() else { return };
    for dims in [vec![3, 9, 2], vec![30, 40, 20]] {
        let shape = Shape::new(dims, true);
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
        let b = batch(&shape, Transfer::Sigmoid, params);
        compare_with_cpu(&g, &b, &[chunk(&shape, 2, 2, 13)], &chunk(&shape, 2, 1, 14));
    }
}

/// Networks whose fused step exceeds llvmpipe's loop limit run phased, each step split into one
/// dispatch per phase over several workgroups per instance (chosen from the adapter), and agree
/// with the CPU like the small ones: [784, 500, 10] (two instances, reset_deltas in one) and
/// [784, 500, 500, 10].
#[test]
fn large_networks_run_phased() {
    let Some(g) = device() else { return };
    let cpu_driver = g.info.device_type == wgpu::DeviceType::Cpu;
    for (dims, n, t_pattern, patterns) in [
        (vec![784, 500, 10], 2, 2.0, 2),
        (vec![784, 500, 500, 10], 1, 1.0, 1),
    ] {
        let shape = Shape::new(dims, true);
        let hidden = shape.n_layers() - 1;
        let params: Vec<InstanceParams> = (0..n)
            .map(|k| {
                let mut p = InstanceParams::reference(shape.n_layers());
                p.t_pattern = t_pattern;
                p.out_lag = t_pattern / 2.0;
                p.init_up = 0.05;
                p.eta_up = [vec![0.5; hidden], vec![0.05]].concat();
                p.eta_ip = vec![0.05; hidden];
                p.eta_pi = vec![0.05; hidden];
                p.reset_deltas = k == 1;
                p.seed = 70 + k as u64;
                p
            })
            .collect();
        let b = batch(&shape, Transfer::Sigmoid, params);
        let opts = GpuOptions::default();
        let (kind, tiles) = gpu_backend(&g, &b, &opts).kernel();
        println!(
            "{}: {kind:?} kernel, {tiles} workgroups per instance",
            shape.label()
        );
        if cpu_driver {
            assert!(kind == KernelKind::Phased && tiles > 1, "{kind:?} {tiles}");
        }
        let train = chunk(&shape, n, patterns, 21);
        compare_with_cpu_opts(&g, &b, &[train], &chunk(&shape, n, 1, 22), &opts);
    }
}

#[test]
fn too_large_for_lavapipe_is_an_error_not_a_truncation() {
    let Some(g) = device() else { return };
    if g.info.device_type != wgpu::DeviceType::Cpu {
        return;
    }
    // one dendrite of 300 000 inputs is a loop of 75 000 trips in any kernel
    let shape = Shape::new(vec![300_000, 2, 1], false);
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
    p.noise = if k.is_multiple_of(5) { 0.02 } else { 0.0 };
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
    let big = batch(&shape, Transfer::Sigmoid, (0..n).map(varied).collect());
    let data = chunk(&shape, n, 3, 12);
    let mut fused = None;
    // the resident kernel also with W_up0 (9×4) spilled, and with W_up0 and W_ip0 (2×10: a
    // kept matrix between two spilled runs)
    let spilled = [
        resident_spilling(&g, &big, 1),
        resident_spilling(&g, &big, 2),
    ];
    for base in all_kernels().into_iter().chain(spilled) {
        let kernel = base.kernel;
        let mut all = gpu_backend(&g, &big, &base);
        let r_all = all.train(&data).unwrap();
        let w_all = all.weights().unwrap();
        // the phased kernel runs the fused kernel's phases as dispatches, the resident kernel
        // runs them on a copy in workgroup memory: the same numbers (the register kernel sums
        // in another order, so only its own runs are compared bit for bit)
        match kernel {
            Some(KernelKind::Workgroup) => fused = Some((r_all.clone(), w_all.clone())),
            Some(KernelKind::Phased | KernelKind::Resident) => {
                assert_eq!(
                    fused,
                    Some((r_all.clone(), w_all.clone())),
                    "{kernel:?} vs fused"
                )
            }
            _ => {}
        }
        // the other workgroup size: threads (or instances) share the work differently, the
        // arithmetic per value is the same
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
                ..base.clone()
            },
        );
        assert_eq!(other.train(&data).unwrap(), r_all, "{kernel:?}, {wg}");
        assert_eq!(other.weights().unwrap(), w_all, "{kernel:?}, {wg}");
        // the same batch split into sub-batches of 10, and uploaded in pieces of 2 patterns
        let opts = GpuOptions {
            max_group: Some(10),
            piece_patterns: Some(2),
            ..base.clone()
        };
        let mut split = gpu_backend(&g, &big, &opts);
        assert_eq!(split.groups(), 4);
        // the batch capacity it reports to the scheduler is one sub-batch
        assert_eq!(split.batch_capacity(), Some(10));
        assert!(other.batch_capacity().unwrap() >= big.len() && other.groups() == 1);
        assert_eq!(split.train(&data).unwrap(), r_all, "{kernel:?}");
        assert_eq!(split.weights().unwrap(), w_all, "{kernel:?}");
        for k in [0, 5, 17, 36] {
            let one = Batch {
                shape: shape.clone(),
                phi: Transfer::Sigmoid,
                params: vec![big.params[k].clone()],
                init: vec![big.init[k].clone()],
            };
            let mut alone = gpu_backend(&g, &one, &base);
            let c = Chunk {
                x: vec![data.x[k].clone()],
                y: vec![data.y[k].clone()],
            };
            assert_eq!(
                alone.train(&c).unwrap()[0],
                r_all[k],
                "{kernel:?}, readouts of {k}"
            );
            assert_eq!(
                alone.weights().unwrap()[0],
                w_all[k],
                "{kernel:?}, weights of {k}"
            );
        }
    }
}

/// The register kernel keeps no Δ for a matrix that no instance of its batch trains (a frozen
/// pathway: no Δ registers, no update); the state must still end as the general path (and the
/// CPU) leave it: W and Δ unchanged without `reset_deltas`, Δ zeroed after a training pattern
/// with it. States with every Δ nonzero (trained with W_pi0 and W_down0 plastic too) are
/// restored into a batch where both are frozen, and trained on, once without and once with
/// `reset_deltas`.
#[test]
fn register_kernel_frozen_pathways_keep_or_zero_their_deltas() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![3, 9, 2], true);
    let opts = GpuOptions {
        kernel: Some(KernelKind::Register),
        ..Default::default()
    };
    let mut plastic = varied(2);
    plastic.reset_deltas = false;
    plastic.eta_pi = vec![0.1];
    plastic.eta_down = vec![0.1];
    let learned = {
        let b = batch(&shape, Transfer::Sigmoid, vec![plastic.clone(); 2]);
        let mut gpu = gpu_backend(&g, &b, &opts);
        gpu.train(&chunk(&shape, 2, 2, 50)).unwrap();
        gpu.snapshot().unwrap()
    };
    let pi = |w: &Weights<f64>| w.layers[0].pi.clone();
    let down = |w: &Weights<f64>| w.layers[0].down.clone();
    let zeros = Weights::zeros(&shape);
    for st in &learned {
        assert_ne!(pi(&st.delta), pi(&zeros));
        assert_ne!(down(&st.delta), down(&zeros));
    }
    for reset in [false, true] {
        let mut frozen = plastic.clone();
        frozen.eta_pi = vec![0.0];
        frozen.eta_down = vec![0.0];
        frozen.reset_deltas = reset;
        let b = batch(&shape, Transfer::Sigmoid, vec![frozen; 2]);
        let mut gpu = gpu_backend(&g, &b, &opts);
        gpu.restore(&learned).unwrap();
        gpu.train(&chunk(&shape, 2, 2, 51)).unwrap();
        for (after, before) in gpu.snapshot().unwrap().iter().zip(&learned) {
            assert_eq!(pi(&after.w), pi(&before.w), "W_pi0 frozen, reset {reset}");
            assert_eq!(
                down(&after.w),
                down(&before.w),
                "W_down0 frozen, reset {reset}"
            );
            let want = if reset { pi(&zeros) } else { pi(&before.delta) };
            assert_eq!(pi(&after.delta), want, "Δ of W_pi0, reset {reset}");
            let want = if reset {
                down(&zeros)
            } else {
                down(&before.delta)
            };
            assert_eq!(down(&after.delta), want, "Δ of W_down0, reset {reset}");
            // the plastic matrices did learn
            assert_ne!(after.w.layers[0].up, before.w.layers[0].up);
        }
    }
}

/// Traces recorded on the GPU equal the CPU's in f32: the same arrays at the same global
/// steps, values to f32 accuracy, over two chunks and pieces of two patterns (so samples do not
/// start at the stream's start), with mixed clocks, noise and two hidden layers; evaluation
/// records nothing, and taking the traces drains them.
/// The register kernel (one hidden layer only) is checked the same way on [3,9,2].
#[test]
fn traces_match_the_cpu() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![3, 6, 4, 2], true);
    let n = 5;
    let params = (0..n)
        .map(|k| {
            let mut p = varied(k);
            p.eta_up = vec![0.3, 0.1, 0.1];
            p.eta_ip = vec![0.2, 0.1];
            p.eta_pi = vec![p.eta_pi[0]; 2];
            p.eta_down = vec![0.0; 2];
            p
        })
        .collect();
    let b = batch(&shape, Transfer::Sigmoid, params);
    let two_layers: Vec<GpuOptions> = all_kernels()
        .into_iter()
        .filter(|o| o.kernel != Some(KernelKind::Register))
        .collect();
    traces_match_the_cpu_with(&g, &b, &two_layers);
    let shape = Shape::new(vec![3, 9, 2], true);
    let params = (0..n)
        .map(|k| {
            let mut p = varied(k);
            p.eta_down = vec![0.1];
            p
        })
        .collect();
    let b = batch(&shape, Transfer::Sigmoid, params);
    let register = GpuOptions {
        kernel: Some(KernelKind::Register),
        ..Default::default()
    };
    traces_match_the_cpu_with(&g, &b, &[register, register_tree(), register_one_cell()]);
}

fn traces_match_the_cpu_with(g: &Gpu, b: &Batch, kernels: &[GpuOptions]) {
    let shape = &b.shape;
    let n = b.len();
    let chunks = [chunk(shape, n, 3, 50), chunk(shape, n, 2, 51)];
    for all in [false, true] {
        let record = RecordSpec {
            stride: 7,
            all_compartments: all,
        };
        let mut cpu = CpuBackend::<f32>::new(b, None, record.clone()).unwrap();
        for c in &chunks {
            cpu.train(c).unwrap();
        }
        let want = cpu.take_traces();
        for base in kernels {
            let opts = GpuOptions {
                record: record.clone(),
                piece_patterns: Some(2),
                ..base.clone()
            };
            let mut gpu = gpu_backend(g, b, &opts);
            for c in &chunks {
                gpu.train(c).unwrap();
                gpu.evaluate(c).unwrap();
            }
            let got = gpu.take_traces();
            assert_eq!(got.len(), n);
            for (k, (a, w)) in got.iter().zip(&want).enumerate() {
                let what = format!("{:?}, all {all}, instance {k}", opts.kernel);
                assert!(w.step.len() > 10, "{what}: too few samples to test");
                assert_eq!(a.step, w.step, "{what}");
                let names = |t: &Trace| -> Vec<(String, usize)> {
                    t.arrays.iter().map(|(n, w, _)| (n.clone(), *w)).collect()
                };
                assert_eq!(names(a), names(w), "{what}");
                // u_out, u_tgt, r0, then u_p and u_i of each hidden layer
                let hidden = shape.n_layers() - 1;
                assert_eq!(a.arrays.len(), if all { 3 + 2 * hidden } else { 3 });
                for ((name, _, va), (_, _, vw)) in a.arrays.iter().zip(&w.arrays) {
                    assert_eq!(va.len(), vw.len(), "{what} {name}");
                    let dev = rel_rms(va.iter().zip(vw));
                    assert!(dev <= 1e-5, "{what} {name}: {dev:e}");
                }
            }
            assert!(gpu.take_traces().iter().all(|t| t.step.is_empty()));
        }
    }
}

#[test]
fn evaluate_leaves_the_state_unchanged() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![3, 9, 2], true);
    let n = 5;
    let b = batch(&shape, Transfer::Softplus, (0..n).map(varied).collect());
    let (first, eval, second) = (
        chunk(&shape, n, 2, 20),
        chunk(&shape, n, 3, 21),
        chunk(&shape, n, 2, 22),
    );
    let forced = |kind| GpuOptions {
        kernel: Some(kind),
        ..Default::default()
    };
    for opts in [
        GpuOptions::default(),
        forced(KernelKind::Resident),
        resident_spilling(&g, &b, 2),
        forced(KernelKind::Register),
        register_tree(),
        register_one_cell(),
    ] {
        evaluate_leaves_the_state_unchanged_with(&g, &b, [&first, &eval, &second], &opts);
    }
}

fn evaluate_leaves_the_state_unchanged_with(
    g: &Gpu,
    b: &Batch,
    [first, eval, second]: [&Chunk; 3],
    opts: &GpuOptions,
) {
    let mut with_eval = gpu_backend(g, b, opts);
    let mut without = gpu_backend(g, b, opts);
    with_eval.train(first).unwrap();
    without.train(first).unwrap();
    let w = with_eval.weights().unwrap();
    let e1 = with_eval.evaluate(eval).unwrap();
    assert_eq!(with_eval.weights().unwrap(), w);
    assert_eq!(
        with_eval.evaluate(eval).unwrap(),
        e1,
        "evaluation is repeatable"
    );
    assert_eq!(
        with_eval.train(second).unwrap(),
        without.train(second).unwrap(),
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

/// `pyralnet devices --dims 4,120,3` names, for every adapter, the kernel `--backend gpu` runs
/// by default and why: lavapipe's serial kernel (a CPU driver), with the resident kernel's
/// 19 448 bytes of workgroup memory; the backend built on the same adapter runs that kernel.
#[test]
fn devices_command_names_the_default_kernel() {
    let Some(g) = device() else { return };
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_pyralnet"))
        .args(["devices", "--dims", "4,120,3"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    println!("{text}");
    let b = pyralnet::bench::plastic_batch(&[4, 120, 3], 1, 100.0);
    let (kind, _) = gpu_backend(&g, &b, &GpuOptions::default()).kernel();
    let name = format!("{kind:?}").to_lowercase();
    let line = text
        .lines()
        .skip_while(|l| !l.contains(&g.info.name))
        .find(|l| l.contains("full model 4-120-3: kernel"))
        .unwrap_or_else(|| panic!("no kernel line for {}: {text}", g.info.name));
    assert!(line.contains(&format!("kernel {name} (")), "{line}");
    assert!(line.contains("19 448 B of workgroup memory"), "{line}");
    if g.info.device_type == wgpu::DeviceType::Cpu {
        assert!(line.contains("kernel serial (CPU driver"), "{line}");
    }
    // the G-clusteron's sums as its backend picks them for the adapter
    let gc = pyralnet::gclusteron::gpu::Reduction::auto(&g.info).name();
    let gc_line = text
        .lines()
        .skip_while(|l| !l.contains(&g.info.name))
        .find(|l| l.contains("G-clusteron:"))
        .unwrap_or_else(|| panic!("no G-clusteron line for {}: {text}", g.info.name));
    assert!(
        gc_line.contains(&format!("G-clusteron: {gc} per-pattern sums")),
        "{gc_line}"
    );
    if g.info.device_type == wgpu::DeviceType::Cpu {
        assert_eq!(gc, "serial");
    }
    // a shape whose resident state fits no device: never resident, the bytes named
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_pyralnet"))
        .args(["devices", "--dims", "784,200,10"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(
        text.contains("full model 784-200-10: kernel") && !text.contains("kernel resident"),
        "{text}"
    );
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_pyralnet"))
        .args(["devices", "--dims", "4"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--dims"));
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
    let b = batch(&shape, Transfer::Sigmoid, params);
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

#[test]
fn snapshot_and_restore_continue_bit_for_bit() {
    let Some(g) = device() else { return };
    let shape = Shape::new(vec![3, 9, 2], true);
    let n = 7;
    let b = batch(&shape, Transfer::Sigmoid, (0..n).map(varied).collect());
    let (first, second) = (chunk(&shape, n, 2, 40), chunk(&shape, n, 2, 41));
    let whole = Chunk {
        x: first
            .x
            .iter()
            .zip(&second.x)
            .map(|(a, c)| [&a[..], c].concat())
            .collect(),
        y: first
            .y
            .iter()
            .zip(&second.y)
            .map(|(a, c)| [&a[..], c].concat())
            .collect(),
    };
    let spilled = resident_spilling(&g, &b, 2);
    for base in all_kernels().into_iter().chain([spilled]) {
        let mut straight = gpu_backend(&g, &b, &base);
        let r_whole = straight.train(&whole).unwrap();
        let mut before = gpu_backend(&g, &b, &base);
        before.train(&first).unwrap();
        let states = before.snapshot().unwrap();
        for (st, p) in states.iter().zip(&b.params) {
            assert_eq!(st.step, 2 * p.steps_per_pattern() as u64);
            // Δ carries over between patterns unless it is reset after each
            assert_eq!(st.delta == Weights::zeros(&shape), p.reset_deltas);
        }
        // sub-batches of 3, so the states are spread over several groups
        let mut after = gpu_backend(
            &g,
            &b,
            &GpuOptions {
                max_group: Some(3),
                ..base.clone()
            },
        );
        after.restore(&states).unwrap();
        assert_eq!(after.snapshot().unwrap(), states, "snapshot after restore");
        let r_second = after.train(&second).unwrap();
        for (k, (r, w)) in r_second.iter().zip(&r_whole).enumerate() {
            assert_eq!(r[..], w[2 * shape.n_out()..], "readouts of instance {k}");
        }
        assert_eq!(after.snapshot().unwrap(), straight.snapshot().unwrap());
        assert_eq!(after.weights().unwrap(), straight.weights().unwrap());
        // the CPU backend in f32 accepts the GPU's states and vice versa, exactly
        let mut cpu = CpuBackend::<f32>::new(&b, None, Default::default()).unwrap();
        cpu.restore(&states).unwrap();
        assert_eq!(cpu.snapshot().unwrap(), states);
        assert!(
            after.restore(&states[1..]).is_err(),
            "wrong number of states"
        );
    }
}

/// `pyralnet run --backend gpu` end to end: the results and the recorded traces agree with the
/// CPU in f32, and what the GPU backend cannot do is refused before anything runs.
#[test]
fn run_command_on_the_gpu_backend() {
    if device().is_none() {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_pyralnet");
    let cfg = format!("{}/configs/mimic_smoke.json", env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let o = std::process::Command::new(bin)
            .args(["run", &cfg, "--quiet", "--out", out.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        (out, o)
    };
    let record = ["--record", "--record-all", "--record-stride", "9"];
    let (gpu_out, o) = run("gpu", &[&["--backend", "gpu"][..], &record].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = std::fs::read_to_string(gpu_out.join("summary.json")).unwrap();
    assert!(summary.contains("\"backend\": \"gpu "), "{summary}");
    let cpu_args = [&["--backend", "cpu", "--precision", "f32"][..], &record].concat();
    let (cpu_out, o) = run("cpu", &cpu_args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let traces = |d: &std::path::Path| {
        let file = std::fs::File::open(d.join("traces/instance_0.npz")).unwrap();
        let mut npz = ndarray_npy::NpzReader::new(file).unwrap();
        let step: ndarray::Array1<u64> = npz.by_name("step").unwrap();
        let arrays: Vec<ndarray::Array2<f64>> =
            ["u_out", "u_tgt", "r0", "layer0.u_p", "layer0.u_i"]
                .iter()
                .map(|n| npz.by_name(n).unwrap())
                .collect();
        (step, arrays)
    };
    let ((sg, ag), (sc, ac)) = (traces(&gpu_out), traces(&cpu_out));
    assert!(sg.len() > 10 && sg == sc, "trace steps");
    for (a, c) in ag.iter().zip(&ac) {
        assert_eq!(a.dim(), c.dim());
        let dev = rel_rms(a.iter().zip(c.iter()));
        assert!(dev < 1e-4, "trace gpu vs cpu-f32: {dev:e}");
    }
    let shape = Shape::new(vec![2, 3, 2], false);
    let w = |d: &std::path::Path| {
        pyralnet::output::read_weights(&d.join("weights/instance_0.npz"), &shape).unwrap()
    };
    let (wg, wc) = (flat(&w(&gpu_out)), flat(&w(&cpu_out)));
    let dev = rel_rms(wg.iter().zip(&wc));
    assert!(dev < 1e-4, "weights gpu vs cpu-f32: {dev:e}");
    let (out, o) = run("refused", &["--backend", "gpu", "--precision", "f64"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("computes in f32"));
    assert!(!out.exists(), "nothing is written");
}

/// `pyralnet check` on the Yin-Yang smoke config: passes with the default tolerances, prints
/// every compartment and weight type, and exits with 1 when a tolerance is not met.
#[test]
fn check_command_on_the_yinyang_smoke_config() {
    if device().is_none() {
        return;
    }
    let cfg = format!(
        "{}/configs/yinyang_sps_smoke.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let check = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_pyralnet"))
            .args(["check", &cfg, "--patterns", "3"])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = check(&[]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for q in [
        "layer0.u_p",
        "layer1.u_p",
        "layer0.u_i",
        "readout",
        "layer0.W_up",
        "layer0.W_down",
        "layer0.W_pi",
        "layer0.W_ip",
        "layer1.W_up",
    ] {
        assert!(text.contains(q), "{q} missing:\n{text}");
    }
    assert!(text.contains("ok: worst RMS deviation"), "{text}");
    // f32 rounding of the initial weights alone exceeds a zero tolerance
    let o = check(&["--tol-f64", "0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("beyond tolerance"));
}

/// `--gpu-kernel` on `check` and `run`: the resident kernel forced passes the check against
/// the CPU (issue 14), a run on it names it, a shape it cannot hold and a model without a
/// choice of kernels are refused with the reason.
#[test]
fn gpu_kernel_forced_on_check_and_run() {
    if device().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "{}/configs/yinyang_sps_smoke.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let bin = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_pyralnet"))
            .args(args)
            .output()
            .unwrap()
    };
    for kernel in ["resident", "register"] {
        let text = stdout_of_success(&["check", &cfg, "--patterns", "3", "--gpu-kernel", kernel]);
        assert!(text.contains("ok: worst RMS deviation"), "{kernel}: {text}");
    }
    let out = dir.path().join("resident");
    let o = bin(&[
        "run",
        &cfg,
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "gpu",
        "--gpu-kernel",
        "resident",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // [784, 20, 10]: its whole state does not fit lavapipe's 32 KB of workgroup memory, the
    // resident kernel keeps W_up0 in global memory; the register kernel refuses it
    let mut big: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    big["network"]["dims"] = serde_json::json!([784, 20, 10]);
    big["task"] =
        serde_json::json!({"name": "mimic", "train_size": 4, "val_size": 2, "test_size": 2});
    let big_cfg = dir.path().join("big.json");
    std::fs::write(&big_cfg, big.to_string()).unwrap();
    let check_big = |kernel| {
        let cfg = big_cfg.to_str().unwrap();
        ["check", cfg, "--patterns", "1", "--gpu-kernel", kernel]
    };
    let text = stdout_of_success(&check_big("resident"));
    assert!(text.contains("ok: worst RMS deviation"), "{text}");
    let o = bin(&check_big("register"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("register") && err.contains("784-20-10"),
        "{err}"
    );
    // the steady model has kernels of its own, the full model's names are refused for it
    let steady = format!(
        "{}/configs/yinyang_steady_smoke.json",
        env!("CARGO_MANIFEST_DIR")
    );
    for (cmd, c, kernel) in [
        ("run", &steady, "serial"),
        ("check", &steady, "resident"),
        ("check", &cfg, "blocks"),
    ] {
        let o = bin(&[cmd, c, "--gpu-kernel", kernel]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("--gpu-kernel {kernel}: \"model\""))
                && err.contains("for \"steady\": auto, rows, blocks")
                && err.contains("for \"full\": auto, serial, workgroup, phased, resident"),
            "{err}"
        );
    }
    let o = bin(&["check", &cfg, "--gpu-kernel", "fused"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("possible values"));
}

/// `pyralnet bench --backend cpu,gpu` measures both and prints their ratio per batch size.
#[test]
fn bench_command_compares_the_backends() {
    if device().is_none() {
        return;
    }
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_pyralnet"))
        .args([
            "bench",
            "--backend",
            "cpu,gpu",
            "--dims",
            "3,5,2",
            "--batch",
            "1,3",
        ])
        .args(["--precision", "f32", "--threads", "1", "--seconds", "0.05"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for n in [1, 3] {
        assert!(text.contains(&format!("batch {n}: gpu/cpu = ")), "{text}");
    }
    assert!(text.contains("device inst-steps/s"), "{text}");
    // GPU rows end with the traffic model's GB/s and bytes per instance-step, CPU rows with `-`
    assert!(text.contains("model GB/s (B/step)"), "{text}");
    let gpu_rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("gpu ") && l.contains(" serial "))
        .collect();
    assert_eq!(gpu_rows.len(), 2, "{text}");
    for row in gpu_rows {
        let b: f64 = row
            .rsplit_once('(')
            .and_then(|(_, b)| b.strip_suffix(')'))
            .and_then(|b| b.parse().ok())
            .unwrap_or_else(|| panic!("no B/step in {row}"));
        assert!(b > 100.0, "{row}");
    }
}

/// Where the adapter has `TIMESTAMP_QUERY`, the backend times its training passes on the
/// device once asked to: some time, at most the wall time, for exactly the instance-steps
/// trained (evaluations not counted); elsewhere it says it cannot and reports nothing.
#[test]
fn device_time_from_timestamp_queries() {
    let Some(g) = device() else { return };
    let has = g
        .device
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY);
    println!("{}: TIMESTAMP_QUERY {has}", g.label());
    let b = pyralnet::bench::plastic_batch(&[3, 5, 2], 3, 5.0);
    let c = chunk(&b.shape, 3, 4, 5);
    let mut gpu = gpu_backend(&g, &b, &GpuOptions::default());
    gpu.train(&c).unwrap();
    assert_eq!(gpu.device_time(), None);
    assert_eq!(gpu.time_device(), has);
    let start = std::time::Instant::now();
    gpu.train(&c).unwrap();
    gpu.train(&c).unwrap();
    let wall = start.elapsed().as_secs_f64();
    gpu.evaluate(&c).unwrap();
    match gpu.device_time() {
        Some((seconds, steps)) => {
            assert!(has);
            // 2 chunks × 3 instances × 4 patterns × 50 steps
            assert_eq!(steps, 2 * 3 * 4 * 50);
            assert!(seconds > 0.0 && seconds <= wall, "{seconds} s of {wall} s");
            println!("device {seconds:.6} s of {wall:.6} s wall");
        }
        None => assert!(!has),
    }
}

/// `pyralnet bench --gpu-kernel NAME` runs the named kernel and says so in the GPU row (auto:
/// the serial kernel on a CPU driver), and refuses, with the reason, a kernel that cannot run
/// the shape and a name it does not know.
#[test]
fn bench_command_forces_a_gpu_kernel() {
    let Some(g) = device() else { return };
    let bench = |kernel: &str, dims: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_pyralnet"))
            .args(["bench", "--backend", "gpu", "--gpu-kernel", kernel])
            .args(["--dims", dims, "--batch", "2", "--seconds", "0.05"])
            .output()
            .unwrap()
    };
    let mut kernels = vec![
        ("resident", " resident "),
        ("phased", " phased×"),
        ("workgroup", " workgroup "),
    ];
    if g.info.device_type == wgpu::DeviceType::Cpu {
        kernels.push(("auto", " serial "));
    }
    for (kernel, row) in kernels {
        let o = bench(kernel, "3,5,2");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(text.contains(row), "{kernel}: {text}");
    }
    // r_0 and pre_0 of 20000-2-2 alone are 160 KB: more than any device's workgroup storage
    let o = bench("resident", "20000,2,2");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("--gpu-kernel resident")
            && err.contains("20000-2-2")
            && err.contains("max_compute_workgroup_storage_size"),
        "{err}"
    );
    let o = bench("fastest", "3,5,2");
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("allowed: auto, serial, workgroup, phased, resident"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // the register kernel's row names its cells per thread: as many as fit (4 on [3,5,2]) or
    // --register-cells; which applies to it alone and is refused out of 1–4
    let register = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_pyralnet"))
            .args([
                "bench",
                "--backend",
                "gpu",
                "--dims",
                "3,5,2",
                "--batch",
                "2",
            ])
            .args(["--seconds", "0.05"])
            .args(extra)
            .output()
            .unwrap()
    };
    for (extra, row) in [
        (
            &["--gpu-kernel", "register"][..],
            " register, 4 cells/thread ",
        ),
        (
            &["--gpu-kernel", "register", "--register-cells", "2"][..],
            " register, 2 cells/thread ",
        ),
    ] {
        let o = register(extra);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(text.contains(row), "{extra:?}: {text}");
    }
    for (extra, msg) in [
        (
            &["--register-cells", "2"][..],
            "--register-cells applies to the register kernel only",
        ),
        (
            &["--gpu-kernel", "register", "--register-cells", "5"][..],
            "1 to 4 hidden cells per thread, not 5",
        ),
    ] {
        let o = register(extra);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(msg), "{extra:?}: {err}");
    }
}

/// A short Yin-Yang training on the GPU ends within 2 percentage points of the CPU run's test
/// accuracy (same instance, same pattern stream).
#[test]
fn short_yinyang_training_matches_the_cpu_accuracy() {
    if device().is_none() {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_pyralnet");
    let cfg = format!(
        "{}/configs/yinyang_sps_smoke.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let dir = tempfile::tempdir().unwrap();
    let acc = |backend: &str| {
        let out = dir.path().join(backend);
        let o = std::process::Command::new(bin)
            .args([
                "run",
                &cfg,
                "--quiet",
                "--precision",
                "f32",
                "--backend",
                backend,
                "--out",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        s["points"][0]["test_acc"]["mean"].as_f64().unwrap()
    };
    let (gpu, cpu) = (acc("gpu"), acc("cpu"));
    assert!(cpu > 0.5, "the CPU run learned nothing: {cpu}");
    assert!(
        (gpu - cpu).abs() <= 0.02,
        "test accuracy gpu {gpu} vs cpu {cpu}"
    );
}

/// The subgroup operations behave as the register kernel's butterfly assumes, on this device
/// (lavapipe's subgroups are as wide as its vectors: 4 lanes at `LP_NATIVE_VECTOR_WIDTH=128`,
/// 8 at the default 256, 16 at 512; at 1024 it reports 32 but runs 16): in one workgroup of
/// 128, the subgroups partition the workgroup (ids below `num_subgroups`, lanes below
/// `subgroup_size`, each (id, lane) once), and every invocation's `subgroupShuffleXor(x, h)`
/// for h = 1, 2, … below the lanes a subgroup holds (the smaller of `subgroup_size` and
/// 128 / `num_subgroups`) returns x of lane `lane ⊕ h` of its own subgroup.
#[test]
fn subgroup_shuffles_reach_the_lane_xor_h() {
    use pyralnet::gpu::compute::{bind_whole, compile, dispatch_and_read, layouts, zeroed};
    let Some(g) = device() else { return };
    if !g.device.features().contains(wgpu::Features::SUBGROUP) {
        println!("{}: no subgroups", g.label());
        return;
    }
    const N: usize = 128;
    const H: usize = 6; // h = 1 … 32
    let src = format!(
        "@group(0) @binding(0) var<storage, read_write> out: array<u32>;\n\
         @compute @workgroup_size({N})\n\
         fn main(@builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sid: u32,\n\
                 @builtin(num_subgroups) ns: u32, @builtin(subgroup_invocation_id) lane: u32,\n\
                 @builtin(subgroup_size) size: u32) {{\n\
             let o = lid * {W}u;\n\
             out[o] = sid; out[o + 1u] = ns; out[o + 2u] = lane; out[o + 3u] = size;\n\
             var h = 1u;\n\
             for (var k = 0u; k < {H}u; k++) {{\n\
                 // a value that names the invocation, shuffled in uniform control flow\n\
                 let x = 1000u * sid + lane;\n\
                 out[o + 4u + k] = select(0xffffffffu, subgroupShuffleXor(x, h), h < size);\n\
                 h <<= 1u;\n\
             }}\n\
         }}\n",
        W = 4 + H
    );
    let (bl, pl) = layouts(&g, "subgroup probe", &[(false, Some(false))]);
    let out = zeroed(
        &g,
        "subgroup probe",
        (N * (4 + H) * 4) as u64,
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    );
    let pipe = compile(&g, "subgroup probe", &src, &["main"], Some(&pl)).unwrap();
    let bind = bind_whole(&g, "subgroup probe", &bl, &[&out]);
    let bytes = dispatch_and_read(&g, &pipe[0], &bind, 1, &out).unwrap();
    let w: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let row = |i: usize| &w[i * (4 + H)..(i + 1) * (4 + H)];
    let (ns, size) = (row(0)[1], row(0)[3]);
    println!("{}: subgroup size {size}, {ns} subgroups of 128", g.label());
    assert!(size.is_power_of_two() && (ns as usize) * (size as usize) >= N);
    let mut seen = std::collections::HashMap::new();
    for i in 0..N {
        let r = row(i);
        assert_eq!((r[1], r[3]), (ns, size), "invocation {i}");
        assert!(r[0] < ns && r[2] < size, "invocation {i}: {r:?}");
        assert!(
            seen.insert((r[0], r[2]), i).is_none(),
            "invocation {i}: {r:?}"
        );
    }
    // the lanes the butterfly's levels reach: below the subgroup size and the workgroup's
    // threads per subgroup (which agree on a conforming device)
    let width = size.min((N as u32) / ns);
    if width < size {
        println!("the device reports {size} lanes but runs {width} per subgroup");
    }
    for i in 0..N {
        let r = row(i);
        for k in 0..H {
            let h = 1u32 << k;
            if h < width {
                let want = 1000 * r[0] + (r[2] ^ h);
                assert_eq!(
                    r[4 + k],
                    want,
                    "invocation {i} (subgroup {}, lane {}), h {h}",
                    r[0],
                    r[2]
                );
            }
        }
    }
}
