//! The `params` block: every numeric parameter and flag of an instance, with the defaults of the
//! reference experiments' common block (MODEL.md section 9).

use crate::model::{InitMode, InstanceParams, Shape};
use anyhow::bail;
use serde::{Deserialize, Serialize};

/// The `params` block as written in a config (after sweep values are merged in).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParamsConfig {
    pub gl: f64,
    pub gb: f64,
    pub ga: f64,
    pub gd: f64,
    pub gsom: f64,
    pub dt: f64,
    pub tau_w: f64,
    pub tau0: f64,
    pub t_pattern: f64,
    pub learning_lag: f64,
    pub out_lag: f64,
    pub noise: f64,
    pub bias: f64,
    pub eta_up: Option<Vec<f64>>,
    pub eta_pi: Option<Vec<f64>>,
    pub eta_ip: Option<Vec<f64>>,
    pub eta_down: Option<Vec<f64>>,
    pub init: InitMode,
    pub init_up: f64,
    pub init_down: f64,
    pub init_pi: f64,
    pub init_ip: f64,
    pub reset_deltas: bool,
    /// Steady-state model: relaxation passes per exposure (ignored by the full model).
    pub n_passes: usize,
    /// Steady-state model: relaxation + plasticity updates per pattern (ignored by the full model).
    pub n_exposures: usize,
}

impl Default for ParamsConfig {
    fn default() -> Self {
        let r = InstanceParams::reference(1);
        ParamsConfig {
            gl: r.gl,
            gb: r.gb,
            ga: r.ga,
            gd: r.gd,
            gsom: r.gsom,
            dt: r.dt,
            tau_w: r.tau_w,
            tau0: r.tau0,
            t_pattern: r.t_pattern,
            learning_lag: r.learning_lag,
            out_lag: r.out_lag,
            noise: r.noise,
            bias: r.bias,
            eta_up: None,
            eta_pi: None,
            eta_ip: None,
            eta_down: None,
            init: r.init,
            init_up: r.init_up,
            init_down: r.init_down,
            init_pi: r.init_pi,
            init_ip: r.init_ip,
            reset_deltas: r.reset_deltas,
            n_passes: r.n_passes,
            n_exposures: r.n_exposures,
        }
    }
}

/// Names of the keys a sweep may vary.
pub const KEYS: [&str; 25] = [
    "gl",
    "gb",
    "ga",
    "gd",
    "gsom",
    "dt",
    "tau_w",
    "tau0",
    "t_pattern",
    "learning_lag",
    "out_lag",
    "noise",
    "bias",
    "eta_up",
    "eta_pi",
    "eta_ip",
    "eta_down",
    "init",
    "init_up",
    "init_down",
    "init_pi",
    "init_ip",
    "reset_deltas",
    "n_passes",
    "n_exposures",
];

impl ParamsConfig {
    /// Validates the values and builds the parameters of one instance. `at` prefixes error
    /// messages with where the values came from (empty, or e.g. `sweep point learning_lag=20: `).
    pub fn resolve(&self, shape: &Shape, seed: u64, at: &str) -> anyhow::Result<InstanceParams> {
        let positive = [
            ("gl", self.gl),
            ("gb", self.gb),
            ("gd", self.gd),
            ("dt", self.dt),
            ("tau_w", self.tau_w),
            ("tau0", self.tau0),
            ("t_pattern", self.t_pattern),
        ];
        for (k, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                bail!("{at}params.{k} must be a finite number > 0, got {v}");
            }
        }
        let non_negative = [
            ("ga", self.ga),
            ("gsom", self.gsom),
            ("learning_lag", self.learning_lag),
            ("out_lag", self.out_lag),
            ("noise", self.noise),
            ("init_up", self.init_up),
            ("init_down", self.init_down),
            ("init_pi", self.init_pi),
            ("init_ip", self.init_ip),
        ];
        for (k, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                bail!("{at}params.{k} must be a finite number ≥ 0, got {v}");
            }
        }
        for (k, v) in [
            ("n_passes", self.n_passes),
            ("n_exposures", self.n_exposures),
        ] {
            if v == 0 {
                bail!("{at}params.{k} must be an integer ≥ 1, got 0");
            }
        }
        if !self.bias.is_finite() {
            bail!("{at}params.bias must be a finite number, got {}", self.bias);
        }
        if self.dt > self.t_pattern {
            bail!(
                "{at}params.dt ({}) must not exceed params.t_pattern ({})",
                self.dt,
                self.t_pattern
            );
        }
        if self.learning_lag >= self.t_pattern {
            bail!(
                "{at}params.learning_lag ({}) must be smaller than params.t_pattern ({})",
                self.learning_lag,
                self.t_pattern
            );
        }
        if self.out_lag >= self.t_pattern {
            bail!(
                "{at}params.out_lag ({}) must be smaller than params.t_pattern ({})",
                self.out_lag,
                self.t_pattern
            );
        }
        let n = shape.n_layers();
        let p = InstanceParams {
            gl: self.gl,
            gb: self.gb,
            ga: self.ga,
            gd: self.gd,
            gsom: self.gsom,
            dt: self.dt,
            tau_w: self.tau_w,
            tau0: self.tau0,
            t_pattern: self.t_pattern,
            learning_lag: self.learning_lag,
            out_lag: self.out_lag,
            noise: self.noise,
            bias: self.bias,
            eta_up: etas(at, "eta_up", &self.eta_up, n, "one per layer with neurons")?,
            eta_pi: etas(at, "eta_pi", &self.eta_pi, n - 1, "one per hidden layer")?,
            eta_ip: etas(at, "eta_ip", &self.eta_ip, n - 1, "one per hidden layer")?,
            eta_down: etas(
                at,
                "eta_down",
                &self.eta_down,
                n - 1,
                "one per hidden layer",
            )?,
            init: self.init,
            init_up: self.init_up,
            init_down: self.init_down,
            init_pi: self.init_pi,
            init_ip: self.init_ip,
            reset_deltas: self.reset_deltas,
            n_passes: self.n_passes,
            n_exposures: self.n_exposures,
            seed,
        };
        if p.steps_per_pattern() <= p.out_lag_steps() {
            bail!("{at}params.out_lag leaves no step of the pattern for the readout");
        }
        Ok(p)
    }
}

/// A learning-rate list of the right length (all zeros when left out).
fn etas(
    at: &str,
    key: &str,
    v: &Option<Vec<f64>>,
    n: usize,
    what: &str,
) -> anyhow::Result<Vec<f64>> {
    let Some(v) = v else {
        return Ok(vec![0.0; n]);
    };
    if v.len() != n {
        bail!(
            "{at}params.{key} needs {n} values ({what}), got {}",
            v.len()
        );
    }
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        bail!("{at}params.{key} must hold finite numbers, got {x}");
    }
    Ok(v.clone())
}
