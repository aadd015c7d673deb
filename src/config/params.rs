//! Validation of the `params` block (an [`InstanceParams`] as written in a config, after sweep
//! values are merged in).

use crate::microcircuit::{InstanceParams, Shape};
use anyhow::bail;

/// Most Euler steps one pattern may take (`t_pattern / dt`): 10^7, i.e. t_pattern 10^6 ms at
/// dt 0.1 (the reference protocol takes 1000).
pub const MAX_STEPS_PER_PATTERN: usize = 10_000_000;

/// Largest initial weight scale (`init_up`, …): weights are drawn from `U(-a, a)`.
pub const MAX_INIT_SCALE: f64 = 1e6;

/// A number for a message: plain where it is short, else in exponent form (`1e308`, not 309
/// digits).
fn short(v: f64) -> String {
    match v.abs() {
        a if a == 0.0 || (1e-6..1e9).contains(&a) => format!("{v}"),
        _ => format!("{v:e}"),
    }
}

/// Names of the keys of the `params` block (the keys a sweep may vary).
pub fn keys() -> Vec<String> {
    match serde_json::to_value(InstanceParams::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => unreachable!("InstanceParams serialises to an object"),
    }
}

/// Validates the values and builds the parameters of one instance. `at` prefixes error
/// messages with where the values came from (empty, or e.g. `sweep point learning_lag=20: `).
pub fn resolve(
    p: &InstanceParams,
    shape: &Shape,
    seed: u64,
    at: &str,
) -> anyhow::Result<InstanceParams> {
    let positive = [
        ("gl", p.gl),
        ("gb", p.gb),
        ("gd", p.gd),
        ("dt", p.dt),
        ("tau_w", p.tau_w),
        ("tau0", p.tau0),
        ("t_pattern", p.t_pattern),
    ];
    for (k, v) in positive {
        if !(v.is_finite() && v > 0.0) {
            bail!("{at}params.{k} must be a finite number > 0, got {v}");
        }
    }
    let steps = p.t_pattern / p.dt;
    if steps.is_nan() || steps > MAX_STEPS_PER_PATTERN as f64 {
        bail!(
            "{at}params.t_pattern / params.dt = {} / {} = {} Euler steps per pattern, more than the limit of {MAX_STEPS_PER_PATTERN}; raise params.dt or shorten params.t_pattern",
            short(p.t_pattern),
            short(p.dt),
            short(steps)
        );
    }
    let non_negative = [
        ("ga", p.ga),
        ("gsom", p.gsom),
        ("learning_lag", p.learning_lag),
        ("out_lag", p.out_lag),
        ("noise", p.noise),
        ("init_up", p.init_up),
        ("init_down", p.init_down),
        ("init_pi", p.init_pi),
        ("init_ip", p.init_ip),
    ];
    for (k, v) in non_negative {
        if !(v.is_finite() && v >= 0.0) {
            bail!("{at}params.{k} must be a finite number ≥ 0, got {v}");
        }
    }
    for (k, v) in [
        ("init_up", p.init_up),
        ("init_down", p.init_down),
        ("init_pi", p.init_pi),
        ("init_ip", p.init_ip),
    ] {
        if v > MAX_INIT_SCALE {
            bail!(
                "{at}params.{k} must be at most {MAX_INIT_SCALE:e} (the half-width of the uniform initial weights), got {}",
                short(v)
            );
        }
    }
    for (k, v) in [("n_passes", p.n_passes), ("n_exposures", p.n_exposures)] {
        if v == 0 {
            bail!("{at}params.{k} must be an integer ≥ 1, got 0");
        }
    }
    if !p.bias.is_finite() {
        bail!("{at}params.bias must be a finite number, got {}", p.bias);
    }
    if p.dt > p.t_pattern {
        bail!(
            "{at}params.dt ({}) must not exceed params.t_pattern ({})",
            p.dt,
            p.t_pattern
        );
    }
    if p.learning_lag >= p.t_pattern {
        bail!(
            "{at}params.learning_lag ({}) must be smaller than params.t_pattern ({})",
            p.learning_lag,
            p.t_pattern
        );
    }
    if p.out_lag >= p.t_pattern {
        bail!(
            "{at}params.out_lag ({}) must be smaller than params.t_pattern ({})",
            p.out_lag,
            p.t_pattern
        );
    }
    let n = shape.n_layers();
    let resolved = InstanceParams {
        eta_up: etas(at, "eta_up", &p.eta_up, n, "one per layer with neurons")?,
        eta_pi: etas(at, "eta_pi", &p.eta_pi, n - 1, "one per hidden layer")?,
        eta_ip: etas(at, "eta_ip", &p.eta_ip, n - 1, "one per hidden layer")?,
        eta_down: etas(at, "eta_down", &p.eta_down, n - 1, "one per hidden layer")?,
        seed,
        ..p.clone()
    };
    if resolved.steps_per_pattern() <= resolved.out_lag_steps() {
        bail!("{at}params.out_lag leaves no step of the pattern for the readout");
    }
    Ok(resolved)
}

/// A learning-rate list of the right length (all zeros when left out or empty).
fn etas(at: &str, key: &str, v: &[f64], n: usize, what: &str) -> anyhow::Result<Vec<f64>> {
    if v.is_empty() {
        return Ok(vec![0.0; n]);
    }
    if v.len() != n {
        bail!(
            "{at}params.{key} needs {n} values ({what}), got {}",
            v.len()
        );
    }
    if let Some(x) = v.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
        bail!("{at}params.{key} must hold finite numbers ≥ 0 (learning rates), got {x}");
    }
    Ok(v.to_vec())
}
