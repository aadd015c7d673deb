//! Per-instance constants of the Euler step, converted once to the working precision.

use crate::microcircuit::InstanceParams;
use crate::num::Real;

/// The factors of one Euler step (MODEL.md section 3) in precision `F`.
#[derive(Clone, Debug)]
pub struct Consts<F> {
    pub gl: F,
    pub gb: F,
    pub ga: F,
    pub gd: F,
    pub gsom: F,
    pub dt: F,
    /// `dt / τ0`, the stimulus filter factor.
    pub k0: F,
    /// `dt / τ_w`, the plasticity low-pass factor.
    pub kw: F,
    /// `g_B/(g_l+g_B+g_A)`: basal prediction factor, hidden layers.
    pub c_hidden: F,
    /// `g_B/(g_l+g_B)`: basal prediction factor, output layer.
    pub c_output: F,
    /// `g_D/(g_l+g_D)`: dendritic prediction factor, interneurons.
    pub c_inter: F,
    /// `sqrt(dt)·σ`, the Euler–Maruyama noise amplitude.
    pub noise_amp: F,
    /// The bias unit's rate.
    pub bias: F,
    /// `dt·η` per layer for W_up, W_pi, W_ip, W_down.
    pub eta_dt_up: Vec<F>,
    pub eta_dt_pi: Vec<F>,
    pub eta_dt_ip: Vec<F>,
    pub eta_dt_down: Vec<F>,
}

impl<F: Real> Consts<F> {
    pub fn new(p: &InstanceParams) -> Self {
        let scaled = |etas: &[f64]| etas.iter().map(|&e| F::of(p.dt * e)).collect();
        Consts {
            gl: F::of(p.gl),
            gb: F::of(p.gb),
            ga: F::of(p.ga),
            gd: F::of(p.gd),
            gsom: F::of(p.gsom),
            dt: F::of(p.dt),
            k0: F::of(p.dt / p.tau0),
            kw: F::of(p.dt / p.tau_w),
            c_hidden: F::of(p.c_hidden()),
            c_output: F::of(p.c_output()),
            c_inter: F::of(p.c_inter()),
            noise_amp: F::of(p.dt.sqrt() * p.noise),
            bias: F::of(p.bias),
            eta_dt_up: scaled(&p.eta_up),
            eta_dt_pi: scaled(&p.eta_pi),
            eta_dt_ip: scaled(&p.eta_ip),
            eta_dt_down: scaled(&p.eta_down),
        }
    }
}
