//! Validity of the steady-state approximation (MODEL.md section 7, the seed's figures): the full
//! simulation and the steady-state model run side by side from the same initial weights on the
//! same pattern stream, and after every pattern we record
//! - with plasticity off: the relative RMS deviation of the soma potentials,
//!   `sqrt(Σ (u_steady − u_full)²) / sqrt(Σ u_full²)` over every pyramidal and interneuron soma,
//!   the full model's somas taken at the end of the pattern;
//! - with plasticity on: the relative RMS deviation of the weights,
//!   `sqrt(Σ (W_steady − W_full)²) / sqrt(Σ W_full²)` over the entries of every plastic matrix
//!   (η ≠ 0; fixed matrices are equal in both and would only dilute the measure).
//!
//! Both models see training patterns (output nudged), noise off, for every `n_passes` asked for
//! and from random and self-predicting initialisation. One comparison is one seed (initial
//! weights); [`summarise`] takes the geometric mean and the range over seeds, because single
//! curves scatter by an order of magnitude between seeds.

use crate::microcircuit::backend::PatternKind;
use crate::microcircuit::full::cpu::Instance;
use crate::microcircuit::steady::cpu::SteadyInstance;
use crate::microcircuit::{init, InitMode, InstanceParams, Shape, Transfer, Weights};
use crate::num::Real;
use crate::plot::{Figure, Panel, Series};
use crate::tasks::Dataset;
use rayon::prelude::*;

/// What a deviation is measured on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// Soma potentials, plasticity off.
    Somas,
    /// Weights of the plastic matrices, plasticity on.
    Weights,
}

impl Quantity {
    pub fn name(self) -> &'static str {
        match self {
            Quantity::Somas => "somas",
            Quantity::Weights => "weights",
        }
    }
}

/// The deviation curve of one (seed, initialisation, quantity, n_passes) combination: entry `k`
/// is the relative RMS deviation after `k + 1` patterns.
#[derive(Clone, Debug)]
pub struct Curve {
    pub seed: u64,
    pub init: InitMode,
    pub quantity: Quantity,
    pub n_passes: usize,
    pub rel_rms: Vec<f64>,
}

/// Runs the comparison for the first `patterns` rows of `data` (cycled if shorter) with base
/// parameters `p` (its `init` and `n_passes` are replaced, noise is switched off). The four
/// full simulations (2 initialisations × plasticity off/on) run in parallel.
pub fn compare(
    shape: &Shape,
    phi: Transfer,
    p: &InstanceParams,
    data: &Dataset,
    patterns: usize,
    passes: &[usize],
) -> Vec<Curve> {
    let jobs: Vec<(InitMode, Quantity)> = [InitMode::Random, InitMode::SelfPredicting]
        .into_iter()
        .flat_map(|i| [(i, Quantity::Somas), (i, Quantity::Weights)])
        .collect();
    jobs.par_iter()
        .flat_map_iter(|&(init_mode, quantity)| {
            let mut p = p.clone();
            p.init = init_mode;
            p.noise = 0.0;
            if quantity == Quantity::Somas {
                for etas in [&mut p.eta_up, &mut p.eta_pi, &mut p.eta_ip, &mut p.eta_down] {
                    etas.iter_mut().for_each(|e| *e = 0.0);
                }
            }
            run_one(shape, phi, &p, data, patterns, passes, quantity)
        })
        .collect()
}

/// One full simulation and one steady instance per `n_passes`, pattern by pattern.
fn run_one(
    shape: &Shape,
    phi: Transfer,
    p: &InstanceParams,
    data: &Dataset,
    patterns: usize,
    passes: &[usize],
    quantity: Quantity,
) -> Vec<Curve> {
    let w0 = init::init_weights(shape, p);
    let mut full = Instance::<f64>::new(shape.clone(), phi, p.clone(), &w0);
    let mut steady: Vec<SteadyInstance<f64>> = passes
        .iter()
        .map(|&n| {
            let mut q = p.clone();
            q.n_passes = n;
            SteadyInstance::new(shape.clone(), phi, q, &w0)
        })
        .collect();
    let mut curves: Vec<Curve> = passes
        .iter()
        .map(|&n| Curve {
            seed: p.seed,
            init: p.init,
            quantity,
            n_passes: n,
            rel_rms: Vec::with_capacity(patterns),
        })
        .collect();
    let plastic = plastic_names(p, shape);
    let mut out = vec![0.0; shape.n_out()];
    if patterns > 0 && !data.is_empty() {
        full.state
            .start_filters(p.filter_start, data.x_row(0), data.y_row(0));
    }
    for k in 0..patterns {
        let row = k % data.len();
        let (x, y) = (data.x_row(row), data.y_row(row));
        full.run_pattern(x, y, PatternKind::Train, &mut out, |_, _| {});
        for (s, c) in steady.iter_mut().zip(&mut curves) {
            s.run_pattern(x, y, PatternKind::Train, &mut out);
            let dev = match quantity {
                Quantity::Somas => rel_rms(
                    s.u_p.iter().chain(&s.u_i).flatten(),
                    full.state.u_p.iter().chain(&full.state.u_i).flatten(),
                ),
                Quantity::Weights => weight_deviation(&s.w, &full.state.w, &plastic),
            };
            c.rel_rms.push(dev);
        }
    }
    curves
}

/// Names (`layer<l>.W_up`, …) of the matrices with η ≠ 0.
fn plastic_names(p: &InstanceParams, shape: &Shape) -> Vec<String> {
    let mut names = Vec::new();
    for l in 0..shape.n_layers() {
        let kinds = [
            ("W_up", &p.eta_up),
            ("W_down", &p.eta_down),
            ("W_pi", &p.eta_pi),
            ("W_ip", &p.eta_ip),
        ];
        for (kind, eta) in kinds {
            if InstanceParams::learns(eta, l) {
                names.push(format!("layer{l}.{kind}"));
            }
        }
    }
    names
}

/// Relative RMS deviation over the plastic matrices (0 when nothing is plastic).
fn weight_deviation(a: &Weights<f64>, b: &Weights<f64>, names: &[String]) -> f64 {
    let pick = |w: &Weights<f64>| -> Vec<f64> {
        w.named()
            .into_iter()
            .filter(|(n, _)| names.contains(n))
            .flat_map(|(_, m)| m.data.clone())
            .collect()
    };
    rel_rms(pick(a).iter(), pick(b).iter())
}

/// `sqrt(Σ (a − b)²) / sqrt(Σ b²)` (0 when both are zero).
pub fn rel_rms<'a, F: Real>(a: impl Iterator<Item = &'a F>, b: impl Iterator<Item = &'a F>) -> f64 {
    let (mut diff, mut norm) = (0.0, 0.0);
    for (&x, &y) in a.zip(b) {
        let (x, y) = (x.f64(), y.f64());
        diff += (x - y) * (x - y);
        norm += y * y;
    }
    if diff == 0.0 {
        0.0
    } else {
        (diff / norm).sqrt()
    }
}

pub fn init_name(init: InitMode) -> &'static str {
    match init {
        InitMode::Random => "random",
        InitMode::SelfPredicting => "self_predicting",
    }
}

/// The curves as CSV: `seed,init,n_passes,quantity,pattern,rel_rms` (pattern counted from 1).
pub fn to_csv(curves: &[Curve]) -> String {
    let mut s = String::from("seed,init,n_passes,quantity,pattern,rel_rms\n");
    for c in curves {
        for (k, v) in c.rel_rms.iter().enumerate() {
            s.push_str(&format!(
                "{},{},{},{},{},{v:e}\n",
                c.seed,
                init_name(c.init),
                c.n_passes,
                c.quantity.name(),
                k + 1
            ));
        }
    }
    s
}

/// One (initialisation, quantity, n_passes) combination over seeds: per pattern the geometric
/// mean `exp(mean_s ln d_s)` of the relative deviations `d_s` and their minimum and maximum. A
/// seed whose weights diverged (deviation NaN or infinite) counts as `d_s = ∞`, so the mean and
/// the maximum are infinite from there on.
#[derive(Clone, Debug)]
pub struct Summary {
    pub init: InitMode,
    pub quantity: Quantity,
    pub n_passes: usize,
    pub seeds: usize,
    /// Seeds whose deviation is not finite after the last pattern.
    pub diverged: usize,
    pub geo_mean: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

/// Groups the curves by (initialisation, quantity, n_passes), in order of first appearance, and
/// summarises each group over its seeds (curves of one group have the same length).
pub fn summarise(curves: &[Curve]) -> Vec<Summary> {
    let mut out: Vec<Summary> = Vec::new();
    let mut logs: Vec<Vec<f64>> = Vec::new();
    for c in curves {
        let key = (c.init, c.quantity, c.n_passes);
        let i = match out
            .iter()
            .position(|s| (s.init, s.quantity, s.n_passes) == key)
        {
            Some(i) => i,
            None => {
                out.push(Summary {
                    init: c.init,
                    quantity: c.quantity,
                    n_passes: c.n_passes,
                    seeds: 0,
                    diverged: 0,
                    geo_mean: Vec::new(),
                    min: vec![f64::INFINITY; c.rel_rms.len()],
                    max: vec![0.0; c.rel_rms.len()],
                });
                logs.push(vec![0.0; c.rel_rms.len()]);
                out.len() - 1
            }
        };
        let s = &mut out[i];
        s.seeds += 1;
        s.diverged += usize::from(c.rel_rms.last().is_some_and(|v| !v.is_finite()));
        for (k, &v) in c.rel_rms.iter().enumerate() {
            let v = if v.is_nan() { f64::INFINITY } else { v };
            logs[i][k] += v.ln();
            s.min[k] = s.min[k].min(v);
            s.max[k] = s.max[k].max(v);
        }
    }
    for (s, l) in out.iter_mut().zip(logs) {
        s.geo_mean = l.iter().map(|x| (x / s.seeds as f64).exp()).collect();
    }
    out
}

/// The summaries as CSV: `init,n_passes,quantity,pattern,seeds,geo_mean,min,max`.
pub fn summary_csv(summaries: &[Summary]) -> String {
    let mut s = String::from("init,n_passes,quantity,pattern,seeds,geo_mean,min,max\n");
    for m in summaries {
        for k in 0..m.geo_mean.len() {
            s.push_str(&format!(
                "{},{},{},{},{},{:e},{:e},{:e}\n",
                init_name(m.init),
                m.n_passes,
                m.quantity.name(),
                k + 1,
                m.seeds,
                m.geo_mean[k],
                m.min[k],
                m.max[k]
            ));
        }
    }
    s
}

/// The figure of the summaries: two panels (somas with plasticity off, weights with plasticity
/// on), `log10` of the geometric mean over seeds of the relative RMS deviation against patterns
/// seen, with the range over seeds as a band; one line per `n_passes` and initialisation
/// (self-predicting dashed, same colour as its random partner). Zero deviations have no
/// logarithm and are left out.
pub fn figure(summaries: &[Summary]) -> Figure {
    let ok = |v: f64| v > 0.0 && v.is_finite();
    let panel = |quantity: Quantity, title: &str| Panel {
        title: title.to_string(),
        x_label: "patterns seen".into(),
        y_label: "log10 relative RMS deviation".into(),
        series: summaries
            .iter()
            .filter(|m| m.quantity == quantity)
            .map(|m| Series {
                label: format!(
                    "n_passes {}, {}",
                    m.n_passes,
                    match m.init {
                        InitMode::Random => "random",
                        InitMode::SelfPredicting => "self-predicting",
                    }
                ),
                points: (0..m.geo_mean.len())
                    .filter(|&k| ok(m.geo_mean[k]))
                    .map(|k| ((k + 1) as f64, m.geo_mean[k].log10()))
                    .collect(),
                band: if m.seeds > 1 {
                    (0..m.geo_mean.len())
                        .filter(|&k| ok(m.min[k]) && ok(m.max[k]))
                        .map(|k| ((k + 1) as f64, m.min[k].log10(), m.max[k].log10()))
                        .collect()
                } else {
                    Vec::new()
                },
                dashed: m.init == InitMode::SelfPredicting,
                color: Some(m.n_passes),
                ..Series::default()
            })
            .collect(),
    };
    Figure::Panels(vec![
        panel(Quantity::Somas, "soma potentials, plasticity off"),
        panel(Quantity::Weights, "plastic weights, plasticity on"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rel_rms_is_relative_to_the_reference() {
        let a = [1.0f64, 2.0, 2.0];
        let b = [1.0f64, 2.0, 3.0];
        let want = (1.0f64 / 14.0).sqrt();
        assert!((rel_rms(a.iter(), b.iter()) - want).abs() < 1e-15);
        assert_eq!(rel_rms(b.iter(), b.iter()), 0.0);
    }

    /// More passes bring the steady somas closer to the settled full simulation, and the
    /// weights stay close over a few patterns; the CSV has one row per curve point.
    #[test]
    fn deviations_are_small_and_shrink_with_passes() {
        let shape = Shape::new(vec![4, 8, 3], true);
        let mut p = InstanceParams::reference(2);
        p.t_pattern = 40.0;
        p.out_lag = 30.0;
        p.learning_lag = 10.0;
        p.eta_up = vec![0.01, 0.005];
        p.eta_ip = vec![0.01];
        p.eta_pi = vec![0.01];
        let data = crate::tasks::yinyang::generate(42, 3, 0.1, 0.5, 1.0, 0.1);
        let curves = compare(&shape, Transfer::Sigmoid, &p, &data, 4, &[1, 2, 8]);
        assert_eq!(curves.len(), 2 * 2 * 3);
        for c in &curves {
            assert_eq!(c.rel_rms.len(), 4);
            assert!(c.rel_rms.iter().all(|v| v.is_finite() && *v >= 0.0));
        }
        for init in [InitMode::Random, InitMode::SelfPredicting] {
            let somas = |n| {
                curves
                    .iter()
                    .find(|c| c.init == init && c.quantity == Quantity::Somas && c.n_passes == n)
                    .unwrap()
                    .rel_rms[3]
            };
            assert!(
                somas(8) < somas(1),
                "{init:?}: {} vs {}",
                somas(8),
                somas(1)
            );
            assert!(somas(8) < 1e-3, "{init:?}: {}", somas(8));
            let weights = curves
                .iter()
                .find(|c| c.init == init && c.quantity == Quantity::Weights && c.n_passes == 8)
                .unwrap();
            assert!(weights.rel_rms[3] < 0.05, "{:?}", weights.rel_rms);
        }
        assert_eq!(to_csv(&curves).lines().count(), 1 + 12 * 4);
    }

    fn curve(seed: u64, init: InitMode, n_passes: usize, rel_rms: Vec<f64>) -> Curve {
        Curve {
            seed,
            init,
            quantity: Quantity::Weights,
            n_passes,
            rel_rms,
        }
    }

    /// Geometric mean and range per pattern over the seeds of a group; groups kept apart; a
    /// diverged seed makes the mean infinite and is counted.
    #[test]
    fn summaries_take_the_geometric_mean_over_seeds() {
        let r = InitMode::Random;
        let curves = [
            curve(0, r, 2, vec![1e-2, 4.0]),
            curve(0, InitMode::SelfPredicting, 2, vec![5.0, 5.0]),
            curve(1, r, 2, vec![1e-4, 1.0]),
            curve(0, r, 4, vec![3.0, f64::NAN]),
        ];
        let m = summarise(&curves);
        assert_eq!(m.len(), 3);
        assert_eq!((m[0].seeds, m[0].diverged), (2, 0));
        assert!(
            (m[0].geo_mean[0] - 1e-3).abs() < 1e-15,
            "{:?}",
            m[0].geo_mean
        );
        assert!((m[0].geo_mean[1] - 2.0).abs() < 1e-14);
        assert_eq!((m[0].min[0], m[0].max[0]), (1e-4, 1e-2));
        assert_eq!((m[0].min[1], m[0].max[1]), (1.0, 4.0));
        assert!(m[1].geo_mean.iter().all(|g| (g - 5.0).abs() < 1e-14));
        assert_eq!(m[2].n_passes, 4);
        assert_eq!(m[2].diverged, 1);
        assert_eq!(m[2].geo_mean[1], f64::INFINITY);
        let csv = summary_csv(&m);
        assert_eq!(csv.lines().count(), 1 + 3 * 2);
        assert!(csv.contains("random,2,weights,2,2,2e0,1e0,4e0"), "{csv}");
    }
}
