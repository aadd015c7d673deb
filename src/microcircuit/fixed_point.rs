//! Fixed points of the soma dynamics (MODEL.md section 7), each exact for its compartment given
//! its dendritic inputs. Used by the steady-state model and by the tests of the full simulation.

use super::InstanceParams;

/// Hidden pyramidal soma: `u = (g_B v_B + g_A v_A) / (g_l + g_B + g_A)`.
pub fn hidden_pyramidal(p: &InstanceParams, v_b: f64, v_a: f64) -> f64 {
    (p.gb * v_b + p.ga * v_a) / (p.gl + p.gb + p.ga)
}

/// Interneuron soma, nudged by the pyramidal soma above:
/// `u = (g_D v_D + g_som u^P[k+1]) / (g_l + g_D + g_som)`.
pub fn interneuron(p: &InstanceParams, v_d: f64, u_above: f64) -> f64 {
    (p.gd * v_d + p.gsom * u_above) / (p.gl + p.gd + p.gsom)
}

/// Output soma: `u = (g_B v_B + g_som u_tgt) / (g_l + g_B + g_som)` when nudged, else
/// `g_B v_B / (g_l + g_B)`.
pub fn output(p: &InstanceParams, v_b: f64, u_tgt: Option<f64>) -> f64 {
    match u_tgt {
        Some(t) => (p.gb * v_b + p.gsom * t) / (p.gl + p.gb + p.gsom),
        None => p.gb * v_b / (p.gl + p.gb),
    }
}
