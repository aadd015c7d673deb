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
//! and from random and self-predicting initialisation.

use crate::cpu::{Instance, PatternKind};
use crate::model::{init, InitMode, InstanceParams, Real, Shape, Transfer, Weights};
use crate::plot::{Figure, Panel, Series};
use crate::steady::SteadyInstance;
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

/// The deviation curve of one (initialisation, quantity, n_passes) combination: entry `k` is
/// the relative RMS deviation after `k + 1` patterns.
#[derive(Clone, Debug)]
pub struct Curve {
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
            init: p.init,
            quantity,
            n_passes: n,
            rel_rms: Vec::with_capacity(patterns),
        })
        .collect();
    let plastic = plastic_names(p, shape);
    let mut out = vec![0.0; shape.n_out()];
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
            ("W_up", p.eta_up.get(l)),
            ("W_down", p.eta_down.get(l)),
            ("W_pi", p.eta_pi.get(l)),
            ("W_ip", p.eta_ip.get(l)),
        ];
        for (kind, eta) in kinds {
            if eta.is_some_and(|&e| e != 0.0) {
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

/// The curves as CSV: `init,n_passes,quantity,pattern,rel_rms` (pattern counted from 1).
pub fn to_csv(curves: &[Curve]) -> String {
    let mut s = String::from("init,n_passes,quantity,pattern,rel_rms\n");
    for c in curves {
        let init = match c.init {
            InitMode::Random => "random",
            InitMode::SelfPredicting => "self_predicting",
        };
        for (k, v) in c.rel_rms.iter().enumerate() {
            s.push_str(&format!(
                "{init},{},{},{},{v:e}\n",
                c.n_passes,
                c.quantity.name(),
                k + 1
            ));
        }
    }
    s
}

/// The figure of the curves: two panels (somas with plasticity off, weights with plasticity
/// on), `log10` of the relative RMS deviation against patterns seen, one line per `n_passes`
/// and initialisation (self-predicting dashed). Zero deviations have no logarithm and are left
/// out.
pub fn figure(curves: &[Curve]) -> Figure {
    let panel = |quantity: Quantity, title: &str| Panel {
        title: title.to_string(),
        x_label: "patterns seen".into(),
        y_label: "log10 relative RMS deviation".into(),
        series: curves
            .iter()
            .filter(|c| c.quantity == quantity)
            .map(|c| Series {
                label: format!(
                    "n_passes {}, {}",
                    c.n_passes,
                    match c.init {
                        InitMode::Random => "random",
                        InitMode::SelfPredicting => "self-predicting",
                    }
                ),
                points: c
                    .rel_rms
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v > 0.0 && v.is_finite())
                    .map(|(k, v)| ((k + 1) as f64, v.log10()))
                    .collect(),
                dashed: c.init == InitMode::SelfPredicting,
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
}
