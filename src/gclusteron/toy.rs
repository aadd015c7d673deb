//! The toy demonstrations of synapse movement (spec §3.4): the error is fixed (e = −1 'pos', as
//! if every pattern were a missed positive; e = +1 'neg'), weights stay 1, B = 1, and only the
//! locations learn, with Adam. 'pos' should gather synapses whose drives agree in sign
//! (correlate) and push apart those that disagree; 'neg' should break such clusters up.

use super::backend::{ErrorMode, GcBackend, GcBatch, GcData, GcHyper, GcState, Readout};
use super::cpu::GcCpu;
use super::protocol::Minibatches;
use crate::seed::{purpose, sub_seed};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::sync::Arc;

/// One demo: its data, start, settings, and a group per synapse (for colours and checks:
/// the sign of x_i, or the correlated group).
#[derive(Clone, Debug)]
pub struct Demo {
    pub name: &'static str,
    pub title: &'static str,
    pub data: GcData,
    pub l0: Vec<f64>,
    pub group: Vec<usize>,
    pub r: f64,
    pub eta_l: f64,
    pub iterations: usize,
    /// −1 ('pos') or +1 ('neg').
    pub error: f64,
}

/// `linspace(0, 1, n)` in a random order.
fn shuffled_linspace(n: usize, rng: &mut Pcg64) -> Vec<f64> {
    let mut l: Vec<f64> = (0..n).map(|i| i as f64 / (n - 1) as f64).collect();
    l.shuffle(rng);
    l
}

/// A standard normal sample (Box–Muller).
fn normal(rng: &mut Pcg64) -> f64 {
    let u1 = 1.0 - rng.gen::<f64>();
    let u2 = rng.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The lower Cholesky factor of a symmetric positive definite matrix (n × n row-major).
fn cholesky(a: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| c[i * n + k] * c[j * n + k]).sum();
            c[i * n + j] = if i == j {
                (a[i * n + i] - s).sqrt()
            } else {
                (a[i * n + j] - s) / c[j * n + j]
            };
        }
    }
    c
}

/// 'uniform' data: one pattern of 100 inputs `x_i ~ U(−0.5, 0.5)`; groups = sign of x_i.
fn uniform_pattern(rng: &mut Pcg64) -> (GcData, Vec<usize>) {
    let x: Vec<f64> = (0..100).map(|_| rng.gen_range(-0.5..0.5)).collect();
    let group = x.iter().map(|&v| usize::from(v > 0.0)).collect();
    (
        GcData {
            n: 100,
            k: 1,
            x,
            t: vec![0.0],
        },
        group,
    )
}

/// 'mv_gaussian' data: 1000 samples of 20 inputs from N(0, Σ), Σ_ii = 1, 0.7 inside each of 4
/// groups of 5, −0.2 between groups.
fn gaussian_groups(rng: &mut Pcg64) -> (GcData, Vec<usize>) {
    let n = 20;
    let group: Vec<usize> = (0..n).map(|i| i / 5).collect();
    let sigma: Vec<f64> = (0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            match (i == j, group[i] == group[j]) {
                (true, _) => 1.0,
                (false, true) => 0.7,
                (false, false) => -0.2,
            }
        })
        .collect();
    let c = cholesky(&sigma, n);
    let mut x = Vec::with_capacity(1000 * n);
    for _ in 0..1000 {
        let z: Vec<f64> = (0..n).map(|_| normal(rng)).collect();
        x.extend((0..n).map(|i| (0..=i).map(|k| c[i * n + k] * z[k]).sum::<f64>()));
    }
    (
        GcData {
            n,
            k: 1,
            x,
            t: vec![0.0; 1000],
        },
        group,
    )
}

/// The five demos of spec §3.4, drawn from `seed`.
pub fn demos(seed: u64) -> Vec<Demo> {
    let mut rng = Pcg64::seed_from_u64(sub_seed(seed, purpose::TASK));
    let (uni, sign) = uniform_pattern(&mut rng);
    let (gauss, groups) = gaussian_groups(&mut rng);
    let split: Vec<f64> = uni
        .x
        .iter()
        .map(|&v| 0.5 * v.signum() + rng.gen_range(0.0..0.05))
        .collect();
    let demo =
        |name, title, data: &GcData, l0, group: &Vec<usize>, r, eta_l, iterations, error| Demo {
            name,
            title,
            data: data.clone(),
            l0,
            group: group.clone(),
            r,
            eta_l,
            iterations,
            error,
        };
    vec![
        demo(
            "uniform_pos_small_r",
            "uniform, pos, r = 0.01",
            &uni,
            shuffled_linspace(100, &mut rng),
            &sign,
            0.01,
            7.5e-5,
            1600,
            -1.0,
        ),
        demo(
            "uniform_pos_large_r",
            "uniform, pos, r = 2.5",
            &uni,
            shuffled_linspace(100, &mut rng),
            &sign,
            2.5,
            1e-3,
            1000,
            -1.0,
        ),
        demo(
            "uniform_neg",
            "uniform, neg, r = 0.01",
            &uni,
            split,
            &sign,
            0.01,
            1e-3,
            800,
            1.0,
        ),
        demo(
            "gaussian_pos",
            "4 correlated groups, pos, r = 0.5",
            &gauss,
            shuffled_linspace(20, &mut rng),
            &groups,
            0.5,
            5e-3,
            200,
            -1.0,
        ),
        demo(
            "gaussian_neg",
            "4 correlated groups, neg, r = 5",
            &gauss,
            groups.iter().map(|&g| g as f64).collect(),
            &groups,
            5.0,
            0.1,
            400,
            1.0,
        ),
    ]
}

/// Runs a demo on the CPU backend (f64) and returns the locations after every `every`-th
/// iteration (and at the start), as (iteration, locations).
pub fn run(demo: &Demo, seed: u64, every: usize) -> anyhow::Result<Vec<(usize, Vec<f64>)>> {
    let n = demo.data.n;
    let batch = GcBatch {
        n,
        k: 1,
        readout: Readout::Sigmoid,
        hyper: vec![GcHyper {
            r: demo.r,
            eta_l: demo.eta_l,
            eta_w: 0.0,
            eta_b: 0.0,
            batch: 1,
            learn_l: true,
            learn_w: false,
            adam: true,
            error: ErrorMode::Fixed(demo.error),
        }],
        init: vec![GcState::new(demo.l0.clone(), vec![1.0; n], vec![0.0])],
    };
    let mut backend = GcCpu::<f64>::new(&batch, &[Arc::new(demo.data.clone())], Some(1))?;
    let mut draws = Minibatches::new(&[seed], demo.data.len());
    let mut out = vec![(0, demo.l0.clone())];
    let mut done = 0;
    while done < demo.iterations {
        let steps = every.min(demo.iterations - done);
        backend.train(steps, &draws.next(steps, &[1], &[true]))?;
        done += steps;
        out.push((done, backend.states()?[0].l.clone()));
    }
    Ok(out)
}

/// The share of the kernel between synapses of the same group,
/// `Σ_{i<j} F_ij [g_i = g_j] / Σ_{i<j} F_ij`: 'pos' (ascent on y) should raise it, 'neg' lower it.
pub fn clustering(l: &[f64], group: &[usize], r: f64) -> f64 {
    let (mut same, mut all) = (0.0, 0.0);
    for i in 0..l.len() {
        for j in i + 1..l.len() {
            let f = (-(l[i] - l[j]).powi(2) / r).exp();
            all += f;
            if group[i] == group[j] {
                same += f;
            }
        }
    }
    same / all
}
