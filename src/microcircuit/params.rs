//! Parameters of one network instance (MODEL.md sections 2–5). Every instance of a batch carries
//! its own values; only the shape and φ are shared.

use serde::{Deserialize, Serialize};

/// How the weights start (MODEL.md section 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitMode {
    /// Every matrix type uniform in `U(-a, a)` with its own `a`.
    Random,
    /// Uniform, then `W_pi = -W_down` and `W_ip = c · W_up[k+1]` ("reflect").
    SelfPredicting,
}

/// Where the stimulus filter (`r_0`, `u_tgt`, MODEL.md section 3) starts: the config's
/// `protocol.filter_start`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterStart {
    /// At the first training pattern, `r_0 = x_1`, `u_tgt = y_1`, once per run (the seed code's
    /// `r_in = in_seq[0].copy()` at the start of its one `run` over all epochs).
    #[default]
    First,
    /// At zero.
    Zero,
}

/// Numeric parameters and flags of one instance. Units: ms, 1/ms, dimensionless potentials.
/// This is also the `params` block of a config: keys left out take the [`Default`] values (the
/// common block of MODEL.md section 9), and a learning-rate list left out or empty means all 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstanceParams {
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
    /// Noise amplitude σ; enters as `sqrt(dt)·σ·ξ` (Euler–Maruyama).
    pub noise: f64,
    /// Constant rate of the bias unit (used when the shape has one).
    pub bias: f64,
    /// η of the forward weights, one per layer with neurons (`N` values).
    pub eta_up: Vec<f64>,
    /// η of interneuron → pyramidal weights, one per hidden layer (`N-1` values).
    pub eta_pi: Vec<f64>,
    /// η of pyramidal → interneuron weights, one per hidden layer.
    pub eta_ip: Vec<f64>,
    /// η of the top-down weights, one per hidden layer (0 = fixed, the default).
    pub eta_down: Vec<f64>,
    pub init: InitMode,
    pub init_up: f64,
    pub init_down: f64,
    pub init_pi: f64,
    pub init_ip: f64,
    /// Zero every Δ after each pattern.
    pub reset_deltas: bool,
    /// Steady-state model only: relaxation passes per exposure (MODEL.md section 7, ≥ 1).
    pub n_passes: usize,
    /// Steady-state model only: relaxation + plasticity updates per pattern (≥ 1).
    pub n_exposures: usize,
    /// Seed of the instance: weights, data order and noise (from the config's `seeds`).
    #[serde(skip)]
    pub seed: u64,
    /// Where the stimulus filter starts (from the config's `protocol.filter_start`).
    #[serde(skip)]
    pub filter_start: FilterStart,
}

impl Default for InstanceParams {
    fn default() -> Self {
        InstanceParams::reference(0)
    }
}

impl InstanceParams {
    /// Euler steps per pattern: `round(t_pattern / dt)`.
    pub fn steps_per_pattern(&self) -> usize {
        (self.t_pattern / self.dt).round() as usize
    }
    /// First step index (inside a pattern) at which plasticity is on: `round(learning_lag / dt)`,
    /// halves to even, as the seed code's `round(learning_lag / dt)` (Python's `round` of the
    /// f64 quotient).
    pub fn lag_steps(&self) -> usize {
        python_round(self.learning_lag / self.dt)
    }
    /// First step index that enters the readout mean: `round(out_lag / dt)`, as
    /// [`InstanceParams::lag_steps`] (the seed code rounds both the same way).
    pub fn out_lag_steps(&self) -> usize {
        python_round(self.out_lag / self.dt)
    }
    /// `g_B / (g_l + g_B + g_A)`: the basal prediction factor of a hidden pyramidal cell.
    pub fn c_hidden(&self) -> f64 {
        self.gb / (self.gl + self.gb + self.ga)
    }
    /// `g_B / (g_l + g_B)`: the basal prediction factor of an output cell.
    pub fn c_output(&self) -> f64 {
        self.gb / (self.gl + self.gb)
    }
    /// `g_D / (g_l + g_D)`: the dendritic prediction factor of an interneuron.
    pub fn c_inter(&self) -> f64 {
        self.gd / (self.gl + self.gd)
    }

    /// Whether the pathway with learning rates `eta` (`eta_up`, `eta_pi`, `eta_ip` or
    /// `eta_down` of these parameters; a rate left out is 0) learns in layer `l`: η ≠ 0.
    pub fn learns(eta: &[f64], l: usize) -> bool {
        eta.get(l).is_some_and(|&e| e != 0.0)
    }

    /// The parameters of the reference experiments' common block (MODEL.md section 9) for a
    /// network with `n_layers` layers of neurons, plasticity off.
    pub fn reference(n_layers: usize) -> Self {
        let h = n_layers.saturating_sub(1);
        InstanceParams {
            gl: 0.1,
            gb: 1.0,
            ga: 0.8,
            gd: 1.0,
            gsom: 0.8,
            dt: 0.1,
            tau_w: 30.0,
            tau0: 3.0,
            t_pattern: 100.0,
            learning_lag: 0.0,
            out_lag: 80.0,
            noise: 0.0,
            bias: 0.5,
            eta_up: vec![0.0; n_layers],
            eta_pi: vec![0.0; h],
            eta_ip: vec![0.0; h],
            eta_down: vec![0.0; h],
            init: InitMode::Random,
            init_up: 1.0,
            init_down: 1.0,
            init_pi: 1.0,
            init_ip: 1.0,
            reset_deltas: false,
            n_passes: 2,
            n_exposures: 1,
            seed: 0,
            filter_start: FilterStart::First,
        }
    }
}

/// Python's `round(q)` for a non-negative f64 `q`: nearest integer, halves to even.
fn python_round(q: f64) -> usize {
    q.round_ties_even().max(0.0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_counts_round_like_the_protocol() {
        let mut p = InstanceParams::reference(2);
        assert_eq!(p.steps_per_pattern(), 1000);
        p.learning_lag = 20.0;
        assert_eq!(p.lag_steps(), 200);
        p.learning_lag = 4.6; // 45.99999999999999 steps
        assert_eq!(p.lag_steps(), 46);
        p.out_lag = 80.0;
        assert_eq!(p.out_lag_steps(), 800);
        p.learning_lag = 0.0;
        assert_eq!(p.lag_steps(), 0);
    }

    /// Lags halfway between steps round to the even step, as Python's `round` in the seed code
    /// (the old `ceil` gave 47, 1, 3, 2 and 4).
    #[test]
    fn halfway_lags_round_to_even() {
        let mut p = InstanceParams::reference(2);
        for (lag, steps) in [(4.65, 46), (0.05, 0), (0.25, 2), (0.15, 1), (0.35, 3)] {
            p.learning_lag = lag;
            assert_eq!(p.lag_steps(), steps, "learning_lag {lag}");
            p.out_lag = lag;
            assert_eq!(p.out_lag_steps(), steps, "out_lag {lag}");
        }
    }
}
