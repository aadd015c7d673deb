//! The CPU kernels against the reference kernel (`cpu::CpuBackend`): the lane kernel
//! (`cpu::LanesBackend`, instances in SIMD lanes) and the vector kernel (matrices along their
//! longer axis) compute the same bits, and the lane kernel keeps its own invariances bit for bit.

use pyralnet::microcircuit::backend::{Backend, Batch, Chunk, RecordSpec};
use pyralnet::microcircuit::full::cpu::lanes::{Lanes32, Lanes64};
use pyralnet::microcircuit::full::cpu::{CpuBackend, Layout};
use pyralnet::microcircuit::{InitMode, InstanceParams, Shape, Transfer};

/// Every pathway plastic, per-instance rates, conductances, lags, noise and reset_deltas.
fn params(n: usize, n_layers: usize, t_pattern: impl Fn(usize) -> f64) -> Vec<InstanceParams> {
    (0..n)
        .map(|i| {
            let mut p = InstanceParams::reference(n_layers);
            p.seed = 40 + i as u64;
            p.t_pattern = t_pattern(i);
            p.out_lag = 0.6 * p.t_pattern;
            p.learning_lag = [0.0, 0.3, 1.0][i % 3];
            p.ga = 0.28 + 0.05 * (i % 4) as f64;
            p.gsom = 0.34;
            p.eta_up = (0..n_layers)
                .map(|l| (0.5 + 0.1 * (i % 5) as f64) / (l + 1) as f64)
                .collect();
            p.eta_pi = vec![0.03 * (1 + i % 2) as f64; n_layers - 1];
            p.eta_ip = vec![0.02; n_layers - 1];
            p.eta_down = vec![if i % 4 == 1 { 0.0 } else { 0.01 }; n_layers - 1];
            p.noise = if i % 3 == 2 { 0.0 } else { 0.05 };
            p.reset_deltas = i % 5 == 4;
            p.init = InitMode::Random;
            p.init_up = 0.5;
            p
        })
        .collect()
}

fn batch(dims: &[usize], phi: Transfer, params: Vec<InstanceParams>) -> Batch {
    let shape = Shape::new(dims.to_vec(), true);
    Batch::from_params(shape, phi, params)
}

fn chunk(b: &Batch, patterns: usize, salt: usize) -> Chunk {
    let (n_in, n_out) = (b.shape.n_in(), b.shape.n_out());
    let val = |i: usize, k: usize| ((i * 7 + k * 13 + salt * 3) % 10) as f64 / 10.0;
    Chunk {
        x: (0..b.len())
            .map(|i| (0..patterns * n_in).map(|k| val(i, k)).collect())
            .collect(),
        y: (0..b.len())
            .map(|i| {
                (0..patterns * n_out)
                    .map(|k| 0.1 + 0.9 * ((i + k) % n_out == 0) as u8 as f64)
                    .collect()
            })
            .collect(),
    }
}

fn lanes(b: &Batch, f32: bool, threads: usize, record: RecordSpec) -> Box<dyn Backend> {
    if f32 {
        Box::new(Lanes32::new(b, Some(threads), record).unwrap())
    } else {
        Box::new(Lanes64::new(b, Some(threads), record).unwrap())
    }
}

fn reference(b: &Batch, f32: bool, record: RecordSpec) -> Box<dyn Backend> {
    if f32 {
        Box::new(CpuBackend::<f32>::new(b, Some(1), record).unwrap())
    } else {
        Box::new(CpuBackend::<f64>::new(b, Some(1), record).unwrap())
    }
}

fn vector(b: &Batch, f32: bool, threads: usize, record: RecordSpec) -> Box<dyn Backend> {
    let layout = Layout::LongAxis;
    if f32 {
        Box::new(CpuBackend::<f32>::with_layout(b, Some(threads), record, layout).unwrap())
    } else {
        Box::new(CpuBackend::<f64>::with_layout(b, Some(threads), record, layout).unwrap())
    }
}

/// Training readouts, evaluation readouts, the whole state and the traces of `backend` after
/// training on `ch` and evaluating on it.
type Outcome = (
    Vec<Vec<f64>>,
    Vec<Vec<f64>>,
    Vec<pyralnet::microcircuit::full::cpu::State<f64>>,
    Vec<pyralnet::microcircuit::backend::Trace>,
);

fn outcome(mut backend: Box<dyn Backend>, ch: &Chunk) -> Outcome {
    let out = backend.train(ch).unwrap();
    let eval = backend.evaluate(ch).unwrap();
    (
        out,
        eval,
        backend.snapshot().unwrap(),
        backend.take_traces(),
    )
}

/// Every CPU kernel computes the reference kernel's bits: the vector kernel and the lane kernel
/// (on 1 and 2 threads, so at two block widths, partial blocks included), with every pathway
/// plastic, noise, lags, reset_deltas, f32 and f64, on [4,120,3] (tall W_up0, W_pi, W_down
/// stored transposed by the vector kernel), on a network whose tall W_up0 has more than eight
/// columns (the dot product's partial sums) and on a deep softplus network with pattern lengths
/// that differ and every compartment recorded.
#[test]
fn every_cpu_kernel_computes_the_reference_bits() {
    let rec = RecordSpec {
        stride: 3,
        all_compartments: true,
    };
    let cases = [
        (vec![4, 120, 3], Transfer::Sigmoid, params(19, 2, |_| 6.0)),
        (vec![19, 40, 3], Transfer::Sigmoid, params(3, 2, |_| 4.0)),
        (
            vec![3, 7, 5, 2],
            Transfer::Softplus,
            params(5, 3, |i| [3.0, 5.0][i % 2]),
        ),
    ];
    for (dims, phi, p) in cases {
        let b = batch(&dims, phi, p);
        let ch = chunk(&b, 4, 1);
        for f32 in [false, true] {
            let want = outcome(reference(&b, f32, rec.clone()), &ch);
            assert!(!want.3[0].step.is_empty());
            let got = outcome(vector(&b, f32, 2, rec.clone()), &ch);
            assert!(
                got == want,
                "{dims:?} f32 {f32}: vector differs from reference"
            );
            for threads in [1, 2] {
                let got = outcome(lanes(&b, f32, threads, rec.clone()), &ch);
                assert!(
                    got == want,
                    "{dims:?} f32 {f32} {threads} threads: lanes differ from reference"
                );
            }
        }
    }
}

/// A reference snapshot restored into the vector kernel (and back) continues bit for bit: a run
/// checkpointed by one and resumed by the other computes what either computes alone.
#[test]
fn vector_and_reference_resume_each_others_checkpoints() {
    let b = batch(&[4, 30, 3], Transfer::Sigmoid, params(4, 2, |_| 5.0));
    let (first, second) = (chunk(&b, 3, 2), chunk(&b, 3, 5));
    let mut r = reference(&b, false, RecordSpec::default());
    r.train(&first).unwrap();
    let mid = r.snapshot().unwrap();
    let whole = r.train(&second).unwrap();
    let mut v = vector(&b, false, 1, RecordSpec::default());
    v.restore(&mid).unwrap();
    assert_eq!(v.snapshot().unwrap(), mid);
    assert_eq!(
        v.weights().unwrap(),
        mid.iter().map(|s| s.w.clone()).collect::<Vec<_>>()
    );
    assert_eq!(v.train(&second).unwrap(), whole);
    assert_eq!(v.snapshot().unwrap(), r.snapshot().unwrap());
}

/// Instance k alone computes bit for bit what it computes in a batch of 37 (other parameters,
/// seeds, lags, pattern lengths, lanes and blocks), in f32 and f64: training readouts,
/// evaluation, weights and the whole state.
#[test]
fn instance_alone_equals_instance_in_a_batch_of_37() {
    let p = params(37, 2, |i| if i % 7 == 3 { 6.0 } else { 4.0 });
    let b = batch(&[4, 20, 3], Transfer::Sigmoid, p.clone());
    let ch = chunk(&b, 3, 1);
    for f32 in [false, true] {
        let mut all = lanes(&b, f32, 2, RecordSpec::default());
        let out_all = all.train(&ch).unwrap();
        let eval_all = all.evaluate(&ch).unwrap();
        let st_all = all.snapshot().unwrap();
        for k in [0, 3, 17, 36] {
            let one_b = batch(&[4, 20, 3], Transfer::Sigmoid, vec![p[k].clone()]);
            let mut one = lanes(&one_b, f32, 1, RecordSpec::default());
            let single = Chunk {
                x: vec![ch.x[k].clone()],
                y: vec![ch.y[k].clone()],
            };
            assert_eq!(
                one.train(&single).unwrap()[0],
                out_all[k],
                "f32 {f32} k {k}"
            );
            assert_eq!(one.evaluate(&single).unwrap()[0], eval_all[k]);
            assert_eq!(one.snapshot().unwrap()[0], st_all[k]);
        }
    }
}

/// Training in two chunks equals one chunk; evaluation leaves the state alone; a snapshot
/// restored into a fresh backend continues bit for bit (checkpoints and resume).
#[test]
fn split_run_snapshot_and_restore_equal_the_whole_run() {
    let b = batch(&[4, 12, 3], Transfer::Sigmoid, params(10, 2, |_| 5.0));
    let whole = chunk(&b, 4, 3);
    let part = |first: bool| {
        let cut = |v: &[Vec<f64>], w: usize| -> Vec<Vec<f64>> {
            v.iter()
                .map(|p| {
                    if first {
                        p[..2 * w].to_vec()
                    } else {
                        p[2 * w..].to_vec()
                    }
                })
                .collect()
        };
        Chunk {
            x: cut(&whole.x, 4),
            y: cut(&whole.y, 3),
        }
    };
    let mut a = lanes(&b, false, 2, RecordSpec::default());
    let out_whole = a.train(&whole).unwrap();
    let mut s = lanes(&b, false, 2, RecordSpec::default());
    let mut out_split = s.train(&part(true)).unwrap();
    let before = s.snapshot().unwrap();
    s.evaluate(&whole).unwrap();
    assert_eq!(s.snapshot().unwrap(), before);
    let mut resumed = lanes(&b, false, 1, RecordSpec::default());
    resumed.restore(&before).unwrap();
    let rest = resumed.train(&part(false)).unwrap();
    for (o, extra) in out_split.iter_mut().zip(s.train(&part(false)).unwrap()) {
        o.extend(extra);
    }
    assert_eq!(out_split, out_whole);
    assert_eq!(s.snapshot().unwrap(), a.snapshot().unwrap());
    assert_eq!(resumed.snapshot().unwrap(), a.snapshot().unwrap());
    for (r, o) in rest.iter().zip(&out_whole) {
        assert_eq!(r[..], o[o.len() - r.len()..]);
    }
}

/// Every block width computes the same bits (the width follows the batch size per thread, so a
/// run's results must not depend on it): 2, 4 and 8 f64 lanes, 4, 8 and 16 f32 lanes, on a
/// batch with mixed pattern lengths, noise and every pathway plastic.
#[test]
fn every_block_width_computes_the_same_bits() {
    use pyralnet::microcircuit::full::cpu::LanesBackend;
    let b = batch(
        &[4, 20, 3],
        Transfer::Sigmoid,
        params(11, 2, |i| if i % 4 == 1 { 6.0 } else { 4.0 }),
    );
    let ch = chunk(&b, 3, 4);
    let run = |mut l: Box<dyn Backend>| {
        let out = l.train(&ch).unwrap();
        (out, l.evaluate(&ch).unwrap(), l.snapshot().unwrap())
    };
    let rec = RecordSpec::default;
    let f64_runs = [
        run(Box::new(
            LanesBackend::<f64, 2>::new(&b, Some(2), rec()).unwrap(),
        )),
        run(Box::new(
            LanesBackend::<f64, 4>::new(&b, Some(1), rec()).unwrap(),
        )),
        run(Box::new(
            LanesBackend::<f64, 8>::new(&b, Some(2), rec()).unwrap(),
        )),
    ];
    assert!(f64_runs.iter().all(|r| *r == f64_runs[0]));
    let f32_runs = [
        run(Box::new(
            LanesBackend::<f32, 4>::new(&b, Some(2), rec()).unwrap(),
        )),
        run(Box::new(
            LanesBackend::<f32, 8>::new(&b, Some(1), rec()).unwrap(),
        )),
        run(Box::new(
            LanesBackend::<f32, 16>::new(&b, Some(2), rec()).unwrap(),
        )),
    ];
    assert!(f32_runs.iter().all(|r| *r == f32_runs[0]));
}
