//! Stored reference traces (the habit of jaxley's tests): a short trajectory of each model on
//! each backend, recomputed and compared with the copy under `tests/data/traces/`, so that a
//! refactor that changes a number fails here. The CPU backends must reproduce their stored
//! f64 or f32 file exactly (every CPU kernel computes the reference kernel's bits, see
//! `tests/kernels.rs` and `tests/steady.rs`); the GPU backends (f32) must stay within a relative
//! RMS of the stored CPU f32 file (GPU output is never stored as ground truth).
//!
//! `PYRALNET_BLESS=1 cargo test --test traces` rewrites the files instead of comparing (and says
//! so); a missing file fails and names that command. Re-blessing is legitimate only for an
//! intended change of the numbers, stated in the commit message (`tests/data/traces/README.md`).
//! The GPU tests skip without an adapter unless `PYRALNET_REQUIRE_GPU` is set (as in
//! `tests/gpu.rs`).

mod common;
use common::device;
use pyralnet::gclusteron::cpu::GcCpu;
use pyralnet::gclusteron::gpu::GcGpuBackend;
use pyralnet::gclusteron::{
    ErrorMode, GcBackend, GcBatch, GcData, GcHyper, GcState, KernelAt, Readout,
};
use pyralnet::microcircuit::backend::{Backend, Batch, Chunk, RecordSpec};
use pyralnet::microcircuit::full::cpu::{open_cpu, CpuKernel};
use pyralnet::microcircuit::full::gpu::{GpuBackend, GpuOptions, KernelKind};
use pyralnet::microcircuit::steady::cpu::{SteadyBackend, SteadyKernel};
use pyralnet::microcircuit::steady::gpu::SteadyGpuBackend;
use pyralnet::microcircuit::{InitMode, InstanceParams, Shape, Transfer};
use pyralnet::num::Precision;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// The command that (re)writes the stored traces.
const BLESS: &str = "PYRALNET_BLESS=1 cargo test --test traces";

/// Named arrays of one trajectory (integers such as step numbers as f64, f32 values widened).
type Arrays = BTreeMap<String, Vec<f64>>;

/// What a stored file says about how it was made; `setup` is compared with the test's own
/// on reading, so that a changed test setup cannot pass against an old file.
struct Setup {
    how: String,
    setup: Value,
}

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/traces")
        .join(format!("{name}.json"))
}

fn blessing() -> bool {
    std::env::var_os("PYRALNET_BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The commit the files were blessed on (`-dirty` when the working tree had changes to tracked
/// files), or `unknown` without git.
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(head) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(s) if s.is_empty() => head,
            _ => format!("{head}-dirty"),
        },
        None => "unknown".into(),
    }
}

/// Writes `arrays` as `name`'s stored file: the header pretty-printed, then one line per array
/// (serde_json writes f64 with round-trip precision).
fn write(name: &str, setup: &Setup, arrays: &Arrays) {
    for (k, v) in arrays {
        assert!(!v.is_empty(), "{name}: array {k} is empty");
        assert!(
            v.iter().all(|x| x.is_finite()),
            "{name}: array {k} holds a non-finite value (JSON cannot store it)"
        );
    }
    let header = json!({
        "how": setup.how,
        "generated_by": BLESS,
        "commit": commit(),
        "setup": setup.setup,
    });
    let mut text = String::from("{\n");
    for (k, v) in header.as_object().unwrap() {
        let v = serde_json::to_string_pretty(v)
            .unwrap()
            .replace('\n', "\n  ");
        text += &format!("  {}: {v},\n", serde_json::to_string(k).unwrap());
    }
    text += "  \"arrays\": {\n";
    let n = arrays.len();
    for (i, (k, v)) in arrays.iter().enumerate() {
        let sep = if i + 1 < n { "," } else { "" };
        text += &format!(
            "    {}: {}{sep}\n",
            serde_json::to_string(k).unwrap(),
            serde_json::to_string(v).unwrap()
        );
    }
    text += "  }\n}\n";
    let p = path(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let tmp = p.with_extension("json.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &p).unwrap();
    // straight to stderr, past the test harness's capture, so that a blessing run always says so
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "PYRALNET_BLESS: wrote {}", p.display());
}

/// Reads `name`'s stored file; fails when it is missing or was made with another setup.
fn read(name: &str, setup: &Setup) -> Arrays {
    let p = path(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "stored trace {} missing ({e}): write it with `{BLESS}` and commit it",
            p.display()
        )
    });
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON ({e})", p.display()));
    assert_eq!(
        v["setup"],
        setup.setup,
        "{}: made with another setup than this test's (left: stored); if the test's setup \
         changed on purpose, re-bless with `{BLESS}`",
        p.display()
    );
    serde_json::from_value(v["arrays"].clone())
        .unwrap_or_else(|e| panic!("{}: arrays unreadable ({e})", p.display()))
}

/// The stored trajectory `name`: with `PYRALNET_BLESS` computed by `compute` and written (once
/// per test process, so that tests sharing a file neither race nor rewrite it), else read.
fn stored(name: &'static str, setup: &Setup, compute: impl FnOnce() -> Arrays) -> Arrays {
    static DONE: OnceLock<Mutex<BTreeMap<&'static str, Arrays>>> = OnceLock::new();
    let mut done = DONE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(a) = done.get(name) {
        return a.clone();
    }
    let a = if blessing() {
        let a = compute();
        write(name, setup, &a);
        a
    } else {
        read(name, setup)
    };
    done.insert(name, a.clone());
    a
}

fn same_keys(name: &str, who: &str, got: &Arrays, want: &Arrays) {
    let keys = |a: &Arrays| a.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(got),
        keys(want),
        "{who}: other arrays than {name}.json (left: computed)"
    );
    for (k, v) in got {
        assert_eq!(
            v.len(),
            want[k].len(),
            "{who}: length of {k} vs {name}.json"
        );
    }
}

/// Every value of `got` equals the stored one (f64 `==`: bit for bit but for the sign of zero).
fn assert_exact(name: &str, who: &str, got: &Arrays, want: &Arrays) {
    same_keys(name, who, got, want);
    for (k, g) in got {
        let w = &want[k];
        let bad: Vec<usize> = (0..g.len()).filter(|&i| g[i] != w[i]).collect();
        if let Some(&i) = bad.first() {
            panic!(
                "{who} differs from tests/data/traces/{name}.json: {k}[{i}] = {:e}, stored {:e} \
                 ({} of {} values of {k} differ). If the change of the numbers is intended, \
                 re-bless with `{BLESS}` and say why in the commit message",
                g[i],
                w[i],
                bad.len(),
                g.len()
            );
        }
    }
}

/// `sqrt(Σ (a − b)² / Σ b²)`.
fn rel_rms(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(1e-300)).sqrt()
}

/// The weights of every instance of `b` in `a` (keys `i<k>.w.<matrix>`) moved from their
/// initial values: the trajectory exercises plasticity, so a stored trace is not vacuous.
fn assert_weights_moved(a: &Arrays, b: &Batch) {
    for (i, w0) in b.init.iter().enumerate() {
        for (n, m) in w0.named() {
            let w = &a[&format!("i{i}.w.{n}")];
            assert!(
                rel_rms(w, &m.data) > 1e-6,
                "instance {i}: {n} did not move from its initial weights"
            );
        }
    }
}

/// Every array of `got` is within `tol` relative RMS of the stored one; returns the largest.
fn assert_close(name: &str, who: &str, got: &Arrays, want: &Arrays, tol: f64) -> f64 {
    same_keys(name, who, got, want);
    let mut worst = (0.0, String::new());
    for (k, g) in got {
        let d = rel_rms(g, &want[k]);
        if d > worst.0 {
            worst = (d, k.clone());
        }
    }
    println!(
        "{who} vs {name}.json: largest relative RMS {:.2e} ({})",
        worst.0, worst.1
    );
    assert!(
        worst.0 <= tol,
        "{who} moved from tests/data/traces/{name}.json: {} at relative RMS {:.2e} > {tol:e}. \
         If the stored CPU trace changed on purpose, re-bless with `{BLESS}`",
        worst.1,
        worst.0
    );
    worst.0
}

// ---------------------------------------------------------------------------------------------
// The full microcircuit

const FULL_DIMS: [usize; 4] = [3, 5, 4, 2];
/// Training chunks of this many patterns each, then one evaluation chunk.
const FULL_TRAIN: [usize; 3] = [2, 2, 1];
const FULL_EVAL: usize = 3;
const FULL_RECORD: RecordSpec = RecordSpec {
    stride: 5,
    all_compartments: true,
};
/// GPU (f32) against the stored CPU f32 trace.
const GPU_TOL: f64 = 1e-5;

/// Three instances with every pathway plastic, noise, lags (learning and readout), random
/// initial weights, per-instance conductances and one with reset_deltas.
fn full_params() -> Vec<InstanceParams> {
    (0..3)
        .map(|i| {
            let mut p = InstanceParams::reference(3);
            p.seed = 7 + i as u64;
            p.t_pattern = 3.0;
            p.out_lag = 1.8;
            p.learning_lag = [0.0, 0.5, 1.0][i];
            p.ga = 0.28 + 0.05 * i as f64;
            p.gsom = 0.34;
            p.eta_up = vec![0.6, 0.4, 0.2];
            p.eta_pi = vec![0.05, 0.03];
            p.eta_ip = vec![0.04, 0.02];
            p.eta_down = vec![0.01, 0.02];
            p.noise = 0.05;
            p.reset_deltas = i == 2;
            p.init = InitMode::Random;
            p.init_up = 0.5;
            p
        })
        .collect()
}

fn full_batch() -> Batch {
    common::batch(
        &Shape::new(FULL_DIMS.to_vec(), true),
        Transfer::Sigmoid,
        full_params(),
    )
}

/// `patterns` patterns per instance from a formula (no random draws outside the model): inputs
/// in {0, 0.1, …, 0.9}, targets 0.1 or 1.
fn formula_chunk(b: &Batch, patterns: usize, salt: usize) -> Chunk {
    let (n_in, n_out) = (b.shape.n_in(), b.shape.n_out());
    let val = |i: usize, k: usize| ((i * 7 + k * 13 + salt * 3) % 10) as f64 / 10.0;
    Chunk {
        x: (0..b.len())
            .map(|i| (0..patterns * n_in).map(|k| val(i, k)).collect())
            .collect(),
        y: (0..b.len())
            .map(|i| {
                (0..patterns * n_out)
                    .map(|k| 0.1 + 0.9 * (i + k + salt).is_multiple_of(n_out) as u8 as f64)
                    .collect()
            })
            .collect(),
    }
}

/// The header of a microcircuit file: shape, φ and every instance's parameters with its seed.
fn microcircuit_setup(b: &Batch, how: &str, extra: Value) -> Setup {
    let params: Vec<Value> = b
        .params
        .iter()
        .map(|p| {
            let mut v = serde_json::to_value(p).unwrap();
            v["seed"] = json!(p.seed);
            v
        })
        .collect();
    Setup {
        how: how.into(),
        setup: json!({
            "shape": b.shape,
            "phi": b.phi,
            "params": params,
            "run": extra,
        }),
    }
}

fn full_setup(b: &Batch, precision: &str) -> Setup {
    microcircuit_setup(
        b,
        &format!(
            "full model, CPU reference kernel in {precision}, 1 thread: training chunks of \
             {FULL_TRAIN:?} patterns (formula_chunk salts 0, 1, 2), readouts after each; then \
             evaluation readouts on {FULL_EVAL} patterns (salt 7), the final weights, and the \
             trace recorded with stride {} and every compartment",
            FULL_RECORD.stride
        ),
        json!({
            "train_patterns": FULL_TRAIN,
            "eval_patterns": FULL_EVAL,
            "record_stride": FULL_RECORD.stride,
            "record_all_compartments": FULL_RECORD.all_compartments,
        }),
    )
}

/// Trains `be` on the chunks, evaluates, and collects readouts, weights and traces per instance.
fn full_run(be: &mut dyn Backend, b: &Batch) -> Arrays {
    let mut a = Arrays::new();
    for (c, &n) in FULL_TRAIN.iter().enumerate() {
        for (i, o) in be
            .train(&formula_chunk(b, n, c))
            .unwrap()
            .into_iter()
            .enumerate()
        {
            a.insert(format!("i{i}.train{c}"), o);
        }
    }
    let eval = be.evaluate(&formula_chunk(b, FULL_EVAL, 7)).unwrap();
    for (i, o) in eval.into_iter().enumerate() {
        a.insert(format!("i{i}.eval"), o);
    }
    for (i, w) in be.weights().unwrap().iter().enumerate() {
        for (n, m) in w.named() {
            a.insert(format!("i{i}.w.{n}"), m.data.clone());
        }
    }
    let traces = be.take_traces();
    assert_eq!(traces.len(), b.len(), "one trace per instance");
    for (i, t) in traces.into_iter().enumerate() {
        assert!(!t.step.is_empty(), "instance {i} recorded nothing");
        a.insert(
            format!("i{i}.trace.step"),
            t.step.iter().map(|&s| s as f64).collect(),
        );
        for (n, _, v) in t.arrays {
            a.insert(format!("i{i}.trace.{n}"), v);
        }
    }
    a
}

fn full_cpu(kernel: CpuKernel, precision: Precision, threads: usize) -> Arrays {
    let b = full_batch();
    let mut be = open_cpu(kernel, precision, &b, Some(threads), FULL_RECORD).unwrap();
    full_run(be.as_mut(), &b)
}

fn full_stored(precision: Precision) -> Arrays {
    let (name, p) = match precision {
        Precision::F64 => ("full_cpu_f64", "f64"),
        Precision::F32 => ("full_cpu_f32", "f32"),
    };
    stored(name, &full_setup(&full_batch(), p), || {
        full_cpu(CpuKernel::Reference, precision, 1)
    })
}

/// Every CPU kernel (reference, lanes, vector; 1 and 2 threads) reproduces the stored trace.
fn full_cpu_matches(precision: Precision, name: &str) {
    let want = full_stored(precision);
    assert_weights_moved(&want, &full_batch());
    for &kernel in CpuKernel::AVAILABLE {
        for threads in [1, 2] {
            let got = full_cpu(kernel, precision, threads);
            assert_exact(
                name,
                &format!("{kernel} kernel, {threads} threads"),
                &got,
                &want,
            );
        }
    }
}

#[test]
fn full_cpu_f64_every_kernel_reproduces_the_stored_trace() {
    full_cpu_matches(Precision::F64, "full_cpu_f64");
}

#[test]
fn full_cpu_f32_every_kernel_reproduces_the_stored_trace() {
    full_cpu_matches(Precision::F32, "full_cpu_f32");
}

/// Every GPU kernel stays within [`GPU_TOL`] (relative RMS, per array) of the stored CPU f32
/// trace: readouts, weights and the recorded somas.
#[test]
fn full_gpu_stays_near_the_stored_cpu_f32_trace() {
    let Some(g) = device() else { return };
    let want = full_stored(Precision::F32);
    let b = full_batch();
    for kernel in [
        KernelKind::Workgroup,
        KernelKind::Serial,
        KernelKind::Phased,
    ] {
        let opts = GpuOptions {
            kernel: Some(kernel),
            tiles: (kernel == KernelKind::Phased).then_some(3),
            record: FULL_RECORD,
            ..Default::default()
        };
        let mut be = GpuBackend::with_gpu(g.clone(), &b, &opts).expect("GPU backend");
        let got = full_run(&mut be, &b);
        assert_close(
            "full_cpu_f32",
            &format!("GPU {kernel:?}"),
            &got,
            &want,
            GPU_TOL,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The steady-state model

const STEADY_TRAIN: [usize; 2] = [3, 2];
const STEADY_EVAL: usize = 3;

/// Two instances with every pathway plastic, differing passes, exposures and reset_deltas.
fn steady_batch() -> Batch {
    let params = (0..2)
        .map(|i| {
            let mut p = InstanceParams::reference(3);
            p.seed = 21 + i as u64;
            p.eta_up = vec![0.05, 0.03, 0.02];
            p.eta_pi = vec![0.02, 0.01];
            p.eta_ip = vec![0.03, 0.015];
            p.eta_down = vec![0.005, 0.01];
            p.n_passes = [2, 3][i];
            p.n_exposures = [1, 2][i];
            p.reset_deltas = i == 1;
            p.init_up = 0.5;
            p
        })
        .collect();
    common::batch(
        &Shape::new(FULL_DIMS.to_vec(), true),
        Transfer::Sigmoid,
        params,
    )
}

fn steady_setup(precision: &str) -> Setup {
    microcircuit_setup(
        &steady_batch(),
        &format!(
            "steady-state model, CPU reference kernel in {precision}, 1 thread: training chunks \
             of {STEADY_TRAIN:?} patterns (formula_chunk salts 0, 1), readouts after each; the \
             somas after training; evaluation readouts on {STEADY_EVAL} patterns (salt 7); the \
             final weights"
        ),
        json!({"train_patterns": STEADY_TRAIN, "eval_patterns": STEADY_EVAL}),
    )
}

fn steady_run(be: &mut dyn Backend, b: &Batch) -> Arrays {
    let mut a = Arrays::new();
    for (c, &n) in STEADY_TRAIN.iter().enumerate() {
        for (i, o) in be
            .train(&formula_chunk(b, n, c))
            .unwrap()
            .into_iter()
            .enumerate()
        {
            a.insert(format!("i{i}.train{c}"), o);
        }
    }
    for (i, s) in be.snapshot().unwrap().iter().enumerate() {
        for (l, u) in s.u_p.iter().enumerate() {
            a.insert(format!("i{i}.u_p{l}"), u.clone());
        }
        for (l, u) in s.u_i.iter().enumerate() {
            a.insert(format!("i{i}.u_i{l}"), u.clone());
        }
    }
    let eval = be.evaluate(&formula_chunk(b, STEADY_EVAL, 7)).unwrap();
    for (i, o) in eval.into_iter().enumerate() {
        a.insert(format!("i{i}.eval"), o);
    }
    for (i, w) in be.weights().unwrap().iter().enumerate() {
        for (n, m) in w.named() {
            a.insert(format!("i{i}.w.{n}"), m.data.clone());
        }
    }
    a
}

fn steady_cpu(kernel: SteadyKernel, precision: Precision, threads: usize) -> Arrays {
    let b = steady_batch();
    let t = Some(threads);
    match precision {
        Precision::F64 => steady_run(
            &mut SteadyBackend::<f64>::with_kernel(&b, t, kernel).unwrap(),
            &b,
        ),
        Precision::F32 => steady_run(
            &mut SteadyBackend::<f32>::with_kernel(&b, t, kernel).unwrap(),
            &b,
        ),
    }
}

fn steady_stored(precision: Precision) -> Arrays {
    let (name, p) = match precision {
        Precision::F64 => ("steady_cpu_f64", "f64"),
        Precision::F32 => ("steady_cpu_f32", "f32"),
    };
    stored(name, &steady_setup(p), || {
        steady_cpu(SteadyKernel::Reference, precision, 1)
    })
}

/// Both steady kernels (reference, blocked; 1 and 2 threads) reproduce the stored trace.
fn steady_cpu_matches(precision: Precision, name: &str) {
    let want = steady_stored(precision);
    assert_weights_moved(&want, &steady_batch());
    for kernel in [SteadyKernel::Reference, SteadyKernel::Blocked] {
        for threads in [1, 2] {
            let got = steady_cpu(kernel, precision, threads);
            assert_exact(
                name,
                &format!("{kernel:?} kernel, {threads} threads"),
                &got,
                &want,
            );
        }
    }
}

#[test]
fn steady_cpu_f64_both_kernels_reproduce_the_stored_trace() {
    steady_cpu_matches(Precision::F64, "steady_cpu_f64");
}

#[test]
fn steady_cpu_f32_both_kernels_reproduce_the_stored_trace() {
    steady_cpu_matches(Precision::F32, "steady_cpu_f32");
}

#[test]
fn steady_gpu_stays_near_the_stored_cpu_f32_trace() {
    let Some(g) = device() else { return };
    let want = steady_stored(Precision::F32);
    let b = steady_batch();
    let mut be = SteadyGpuBackend::with_gpu(g, &b, &GpuOptions::default()).expect("GPU backend");
    let got = steady_run(&mut be, &b);
    assert_close("steady_cpu_f32", "steady GPU", &got, &want, GPU_TOL);
}

// ---------------------------------------------------------------------------------------------
// The G-clusteron

/// Synapses, units per softmax instance, training and evaluation patterns.
const GC_N: usize = 12;
const GC_K: usize = 3;
const GC_PATTERNS: [usize; 2] = [10, 7];
/// Training steps of the two `train` calls.
const GC_STEPS: [usize; 2] = [2, 3];

/// Rules L (locations), W (weights), B (both).
const RULES: [(bool, bool); 3] = [(true, false), (false, true), (true, true)];

/// A softmax batch of 3 instances (rules L, W, B; Adam on L and B) and a sigmoid batch of 3
/// binary instances (one per error mode), states from a formula.
fn gc_batches() -> [(&'static str, GcBatch); 2] {
    let hyper = |i: usize, error| GcHyper {
        r: 0.4 + 0.1 * i as f64,
        eta_l: 0.02,
        eta_w: 0.03,
        eta_b: 0.01,
        batch: 2 + i,
        learn_l: RULES[i].0,
        learn_w: RULES[i].1,
        adam: i != 1,
        error,
    };
    let state = |k: usize, i: usize| {
        let f = |j: usize, m: usize| ((j * 37 + i * 11) % m) as f64 / m as f64;
        GcState::new(
            (0..k * GC_N).map(|j| 2.0 * f(j, 17)).collect(),
            (0..k * GC_N).map(|j| 0.5 + f(j + 3, 13)).collect(),
            (0..k).map(|j| 0.02 * f(j, 5) - 0.04).collect(),
        )
    };
    let softmax = GcBatch {
        n: GC_N,
        k: GC_K,
        readout: Readout::Softmax,
        hyper: (0..3).map(|i| hyper(i, ErrorMode::Probability)).collect(),
        init: (0..3).map(|i| state(GC_K, i)).collect(),
    };
    let errors = [
        ErrorMode::Thresholded,
        ErrorMode::Probability,
        ErrorMode::Fixed(-1.0),
    ];
    let sigmoid = GcBatch {
        n: GC_N,
        k: 1,
        readout: Readout::Sigmoid,
        hyper: (0..3).map(|i| hyper(i, errors[i])).collect(),
        init: (0..3).map(|i| state(1, i + 5)).collect(),
    };
    [("softmax", softmax), ("sigmoid", sigmoid)]
}

/// Data sets from a formula: inputs in [−1, 1], one-hot targets of class p mod K (K > 1) or
/// t = p mod 2 (K = 1).
fn gc_sets(k: usize) -> Vec<Arc<GcData>> {
    GC_PATTERNS
        .iter()
        .enumerate()
        .map(|(s, &patterns)| {
            let x = (0..patterns * GC_N)
                .map(|j| ((j * 7 + s * 5) % 11) as f64 / 5.0 - 1.0)
                .collect();
            let t = (0..patterns)
                .flat_map(|p| match k {
                    1 => vec![(p % 2) as f64],
                    _ => (0..k).map(|c| f64::from(u8::from(c == p % k))).collect(),
                })
                .collect();
            Arc::new(GcData { n: GC_N, k, x, t })
        })
        .collect()
}

/// Minibatch rows of instance `i` for `steps` steps from step `from` on: distinct within a step
/// (3 is invertible mod 10 and B ≤ 10).
fn gc_rows(batch: &GcBatch, from: usize, steps: usize) -> Vec<Vec<u32>> {
    let p = GC_PATTERNS[0];
    batch
        .hyper
        .iter()
        .enumerate()
        .map(|(i, h)| {
            (from..from + steps)
                .flat_map(|s| (0..h.batch).map(move |j| (((s * h.batch + j) * 3 + i) % p) as u32))
                .collect()
        })
        .collect()
}

fn gc_setup(precision: &str) -> Setup {
    let batches: Vec<Value> = gc_batches()
        .iter()
        .map(|(name, b)| {
            json!({
                "name": name,
                "n": b.n,
                "k": b.k,
                "readout": format!("{:?}", b.readout),
                "hyper": b.hyper.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>(),
            })
        })
        .collect();
    Setup {
        how: format!(
            "G-clusteron, GcCpu<{precision}> on 1 thread: a softmax and a sigmoid batch (states, \
             data and minibatch rows from formulas in tests/traces.rs), trained {GC_STEPS:?} \
             steps in two calls; then every state array and the outputs on both sets with the \
             current and the last step's kernel"
        ),
        setup: json!({
            "batches": batches,
            "patterns": GC_PATTERNS,
            "steps": GC_STEPS,
        }),
    }
}

/// Trains each batch on the backend `open` builds and collects states and outputs.
fn gc_run(mut open: impl FnMut(&GcBatch, &[Arc<GcData>]) -> Box<dyn GcBackend>) -> Arrays {
    let mut a = Arrays::new();
    for (name, b) in gc_batches() {
        let mut be = open(&b, &gc_sets(b.k));
        let mut from = 0;
        for steps in GC_STEPS {
            be.train(steps, &gc_rows(&b, from, steps)).unwrap();
            from += steps;
        }
        for (i, s) in be.states().unwrap().into_iter().enumerate() {
            for (field, v) in [
                ("l", s.l),
                ("w", s.w),
                ("b", s.b),
                ("l_kernel", s.l_kernel),
                ("adam_l.m", s.adam_l.m),
                ("adam_l.v", s.adam_l.v),
                ("adam_w.m", s.adam_w.m),
                ("adam_w.v", s.adam_w.v),
                ("adam_b.m", s.adam_b.m),
                ("adam_b.v", s.adam_b.v),
            ] {
                a.insert(format!("{name}.i{i}.{field}"), v);
            }
        }
        for set in 0..GC_PATTERNS.len() {
            for (kernel, kname) in [(KernelAt::Current, "current"), (KernelAt::LastStep, "last")] {
                for (i, o) in be.outputs(set, kernel).unwrap().into_iter().enumerate() {
                    a.insert(format!("{name}.i{i}.out.set{set}.{kname}"), o);
                }
            }
        }
    }
    a
}

fn gc_cpu(precision: Precision, threads: usize) -> Arrays {
    gc_run(|b, sets| match precision {
        Precision::F64 => Box::new(GcCpu::<f64>::new(b, sets, Some(threads)).unwrap()),
        Precision::F32 => Box::new(GcCpu::<f32>::new(b, sets, Some(threads)).unwrap()),
    })
}

fn gc_stored(precision: Precision) -> Arrays {
    let (name, p) = match precision {
        Precision::F64 => ("gclusteron_cpu_f64", "f64"),
        Precision::F32 => ("gclusteron_cpu_f32", "f32"),
    };
    stored(name, &gc_setup(p), || gc_cpu(precision, 1))
}

fn gc_cpu_matches(precision: Precision, name: &str) {
    let want = gc_stored(precision);
    for (name, b) in gc_batches() {
        for (i, (h, s0)) in b.hyper.iter().zip(&b.init).enumerate() {
            for (field, learns, v0) in [
                ("l", h.learn_l, &s0.l),
                ("w", h.learn_w, &s0.w),
                ("b", true, &s0.b),
            ] {
                let round = |x: f64| match precision {
                    Precision::F64 => x,
                    Precision::F32 => f64::from(x as f32),
                };
                let v0: Vec<f64> = v0.iter().map(|&x| round(x)).collect();
                let moved = want[&format!("{name}.i{i}.{field}")] != v0;
                assert_eq!(
                    moved, learns,
                    "{name} instance {i}: {field} moved {moved}, learns {learns}"
                );
            }
        }
    }
    for threads in [1, 2] {
        let got = gc_cpu(precision, threads);
        assert_exact(name, &format!("GcCpu on {threads} threads"), &got, &want);
    }
}

#[test]
fn gclusteron_cpu_f64_reproduces_the_stored_trace() {
    gc_cpu_matches(Precision::F64, "gclusteron_cpu_f64");
}

#[test]
fn gclusteron_cpu_f32_reproduces_the_stored_trace() {
    gc_cpu_matches(Precision::F32, "gclusteron_cpu_f32");
}

#[test]
fn gclusteron_gpu_stays_near_the_stored_cpu_f32_trace() {
    let Some(g) = device() else { return };
    let want = gc_stored(Precision::F32);
    let got = gc_run(|b, sets| {
        Box::new(GcGpuBackend::with_gpu(g.clone(), b, sets).expect("GPU backend"))
    });
    assert_close(
        "gclusteron_cpu_f32",
        "G-clusteron GPU",
        &got,
        &want,
        GPU_TOL,
    );
}
