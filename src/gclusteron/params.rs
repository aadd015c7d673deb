//! The `params` block of a `"model": "gclusteron"` config (GCLUSTERON.md sections 2–3): what a
//! sweep may vary per instance, and its resolution into the numbers a backend runs with.

use super::backend::{ErrorMode, GcHyper};
use anyhow::bail;
use serde::{Deserialize, Serialize};

/// Which parameter groups learn (spec §2.4); the bias always learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rule {
    /// Locations and bias ('L').
    #[serde(rename = "L")]
    Locations,
    /// Weights and bias ('W').
    #[serde(rename = "W")]
    Weights,
    /// Locations, weights and bias ('B').
    #[serde(rename = "B")]
    Both,
}

/// The error term `e` of the binary (sigmoid) units, as written in configs (spec §2.2, §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// `e = 1[o ≥ 0] − t` (the authors' code).
    Thresholded,
    /// `e = σ(o) − t` (gradient of the binary cross-entropy).
    Probability,
    /// `e = −1` for every pattern (toy demo 'pos', spec §3.4).
    FixedPos,
    /// `e = +1` for every pattern (toy demo 'neg').
    FixedNeg,
}

/// The optimiser of every learned group (spec §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimiser {
    /// Adam without bias correction (β1 = 0.9, β2 = 0.999, ε = 1e-8), the code's "momentum".
    Adam,
    /// `θ ← θ + η Δ`.
    Sgd,
}

/// How locations and weights start (spec §2.5, §3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitKind {
    /// `l_i ~ U[0, init_scale)`, `w_i = 1`, `b = 0` (MNIST, every protocol).
    Uniform,
    /// N = 2: `l_1 = 0`, `l_2 = sqrt(−r ln U)` (so `F_12 = U`), `w_i ~ U(−1, 1)`, `b = 0`.
    Xor,
}

/// Parameters of one G-clusteron instance as written in a config (after sweep values are
/// merged in). Every key may be swept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcParams {
    /// Kernel width `r` of `F = exp(−d²/r)`; give this or `d_half`.
    pub r: Option<f64>,
    /// Half-height distance of the kernel: `r = d_half² / ln 2`.
    pub d_half: Option<f64>,
    pub eta_l: f64,
    pub eta_w: f64,
    pub eta_b: f64,
    /// Minibatch size B (drawn without replacement within a batch, spec §2.4).
    pub batch_size: usize,
    pub rule: Rule,
    /// Error of binary units; softmax units always use `softmax(o) − onehot`.
    pub error: ErrorKind,
    pub optimiser: Optimiser,
    pub init: InitKind,
    /// Upper end of the uniform location init.
    pub init_scale: f64,
    /// Set by the plan from `seeds`.
    pub seed: u64,
}

impl Default for GcParams {
    fn default() -> Self {
        GcParams {
            r: None,
            d_half: None,
            eta_l: 0.0,
            eta_w: 0.0,
            eta_b: 0.0,
            batch_size: 1,
            rule: Rule::Locations,
            error: ErrorKind::Thresholded,
            optimiser: Optimiser::Adam,
            init: InitKind::Uniform,
            init_scale: 0.01,
            seed: 0,
        }
    }
}

/// `r = d_half² / ln 2`: the kernel width whose half height lies at `d_half` (spec §1).
pub fn r_from_half_height(d_half: f64) -> f64 {
    d_half * d_half / std::f64::consts::LN_2
}

impl GcParams {
    /// Names of the keys of the block (the keys a sweep may vary).
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(GcParams::default()) {
            Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
            _ => unreachable!("GcParams serialises to an object"),
        }
    }

    /// Validates the values (`at` prefixes messages, e.g. `sweep point r=1: `) and sets `seed`.
    /// (`batch_size` against the training set is checked when the data are loaded.)
    pub fn resolve(&self, seed: u64, at: &str) -> anyhow::Result<Self> {
        match (self.r, self.d_half) {
            (Some(_), Some(_)) => bail!("{at}params: give either r or d_half, not both"),
            (None, None) => {
                bail!("{at}params: give the kernel width r or the half-height distance d_half")
            }
            (Some(v), None) | (None, Some(v)) if !(v.is_finite() && v > 0.0) => {
                let k = if self.r.is_some() { "r" } else { "d_half" };
                bail!("{at}params.{k} must be a finite number > 0, got {v}")
            }
            _ => {}
        }
        for (k, v) in [
            ("eta_l", self.eta_l),
            ("eta_w", self.eta_w),
            ("eta_b", self.eta_b),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                bail!("{at}params.{k} must be a finite number ≥ 0, got {v}");
            }
        }
        if !(self.init_scale.is_finite() && self.init_scale >= 0.0) {
            bail!(
                "{at}params.init_scale must be a finite number ≥ 0, got {}",
                self.init_scale
            );
        }
        if self.batch_size == 0 {
            bail!("{at}params.batch_size must be at least 1");
        }
        Ok(GcParams {
            seed,
            ..self.clone()
        })
    }

    /// The kernel width r.
    pub fn kernel_width(&self) -> f64 {
        self.r
            .unwrap_or_else(|| r_from_half_height(self.d_half.unwrap_or(f64::NAN)))
    }

    /// The numbers a backend runs with.
    pub fn hyper(&self) -> GcHyper {
        GcHyper {
            r: self.kernel_width(),
            eta_l: self.eta_l,
            eta_w: self.eta_w,
            eta_b: self.eta_b,
            batch: self.batch_size,
            learn_l: matches!(self.rule, Rule::Locations | Rule::Both),
            learn_w: matches!(self.rule, Rule::Weights | Rule::Both),
            adam: self.optimiser == Optimiser::Adam,
            error: match self.error {
                ErrorKind::Thresholded => ErrorMode::Thresholded,
                ErrorKind::Probability => ErrorMode::Probability,
                ErrorKind::FixedPos => ErrorMode::Fixed(-1.0),
                ErrorKind::FixedNeg => ErrorMode::Fixed(1.0),
            },
        }
    }
}
