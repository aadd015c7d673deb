//! Weight initialisation (MODEL.md section 5): uniform per matrix type, optionally followed by
//! the self-predicting "reflect" step.

use super::{InitMode, InstanceParams, Mat, Shape, Weights};
use crate::seed::{purpose, sub_seed};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// `c = g_B/(g_l+g_B+g_A[l+1]) · (g_l+g_D)/g_D`: the factor with which `W_ip[l]` mirrors
/// `W_up[l+1]` in the self-predicting state (g_A of the output layer is 0).
pub fn reflect_factor(shape: &Shape, p: &InstanceParams, l: usize) -> f64 {
    let ga_above = if shape.is_hidden(l + 1) { p.ga } else { 0.0 };
    p.gb / (p.gl + p.gb + ga_above) * (p.gl + p.gd) / p.gd
}

/// Draws the weights of one instance from its seed. Draw order: layer by layer, within a layer
/// `W_up`, `W_down`, `W_pi`, `W_ip`, each row-major from `U(-a, a)` with the type's own `a`.
/// With [`InitMode::SelfPredicting`], `W_pi = -W_down` and `W_ip = c · W_up[l+1]` afterwards.
pub fn init_weights(shape: &Shape, p: &InstanceParams) -> Weights<f64> {
    let mut rng = Pcg64::seed_from_u64(sub_seed(p.seed, purpose::WEIGHTS));
    let mut w = Weights::<f64>::zeros(shape);
    for lw in &mut w.layers {
        fill_uniform(&mut lw.up, p.init_up, &mut rng);
        if let Some(m) = &mut lw.down {
            fill_uniform(m, p.init_down, &mut rng);
        }
        if let Some(m) = &mut lw.pi {
            fill_uniform(m, p.init_pi, &mut rng);
        }
        if let Some(m) = &mut lw.ip {
            fill_uniform(m, p.init_ip, &mut rng);
        }
    }
    if p.init == InitMode::SelfPredicting {
        reflect(shape, p, &mut w);
    }
    w
}

/// Self-predicting state: for every hidden layer `W_pi = -W_down`, `W_ip = c · W_up[l+1]`.
pub fn reflect(shape: &Shape, p: &InstanceParams, w: &mut Weights<f64>) {
    for l in 0..shape.n_layers() - 1 {
        let c = reflect_factor(shape, p, l);
        let above: Vec<f64> = w.layers[l + 1].up.data.iter().map(|v| c * v).collect();
        let lw = &mut w.layers[l];
        let down = lw.down.as_ref().expect("hidden layer").data.clone();
        lw.pi.as_mut().expect("hidden layer").data = down.iter().map(|v| -v).collect();
        lw.ip.as_mut().expect("hidden layer").data = above;
    }
}

fn fill_uniform(m: &mut Mat<f64>, a: f64, rng: &mut Pcg64) {
    for v in &mut m.data {
        *v = if a > 0.0 { rng.gen_range(-a..a) } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_init_respects_scales_and_seed() {
        let shape = Shape::new(vec![4, 20, 3], true);
        let mut p = InstanceParams::reference(2);
        p.init_up = 0.1;
        p.init_down = 1.0;
        let w = init_weights(&shape, &p);
        assert!(w.layers[0].up.data.iter().all(|v| v.abs() < 0.1));
        assert!(w.layers[0]
            .down
            .as_ref()
            .unwrap()
            .data
            .iter()
            .any(|v| v.abs() > 0.5));
        assert_eq!(w, init_weights(&shape, &p));
        p.seed = 1;
        assert_ne!(w, init_weights(&shape, &p));
    }

    #[test]
    fn self_predicting_init_zeroes_both_errors() {
        let shape = Shape::new(vec![3, 5, 4, 2], true);
        let mut p = InstanceParams::reference(3);
        p.init = InitMode::SelfPredicting;
        let w = init_weights(&shape, &p);
        for l in 0..2 {
            let (ip, pi) = w.self_prediction_errors(l, reflect_factor(&shape, &p, l));
            assert!(ip < 1e-24 && pi < 1e-24, "layer {l}: {ip} {pi}");
        }
        // hidden layer under a hidden layer uses g_A, under the output 0.
        let c0 = reflect_factor(&shape, &p, 0);
        let c1 = reflect_factor(&shape, &p, 1);
        assert!((c0 - 1.0 / 1.9 * 1.1).abs() < 1e-15);
        assert!((c1 - 1.0 / 1.1 * 1.1).abs() < 1e-15);
    }
}
