//! Self-prediction errors (MODEL.md section 5), as weight distances and as the network sees
//! them on input patterns.
//!
//! The weight distances `‖W_ip[l] − c·W_up[l+1]‖²` and `‖W_pi[l] + W_down[l]‖²` also count
//! directions of the presynaptic rates that the data never drive; with few inputs (mimic's 2-D
//! inputs into 3 hidden units) such a direction can keep most of the distance for the whole
//! run although the dendrites predict perfectly. The data errors measure what matters for the
//! apical compartment: how far the interneurons' prediction and the cancellation of the top-down
//! input are off on actual rates.

use super::{fixed_point, init, InstanceParams, Shape, Transfer, Weights};

/// `Σ_l ‖W_ip[l] − c_l·W_up[l+1]‖²` and `Σ_l ‖W_pi[l] + W_down[l]‖²` over the hidden layers,
/// with `c_l` the reflect factor of [`init::reflect_factor`].
pub fn weight_errors(shape: &Shape, p: &InstanceParams, w: &Weights<f64>) -> (f64, f64) {
    (0..shape.n_layers() - 1)
        .map(|l| w.self_prediction_errors(l, init::reflect_factor(shape, p, l)))
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// The same errors on the rates of input patterns `xs`, mean over the patterns:
/// `Σ_l ‖(W_ip[l] − c_l·W_up[l+1])·pre[l+1]‖²` and `Σ_l ‖(W_pi[l] + W_down[l])·φ(u[l+1])‖²`,
/// where the rates are those of the self-predicting steady state without nudging (section 7
/// with `v_A = 0`): `pre[0] = x`, hidden `u[l] = g_B/(g_l+g_B+g_A)·W_up[l]·pre[l]`, output
/// `u = g_B/(g_l+g_B)·W_up·pre`, `pre[l+1] = φ(u[l])` plus the bias unit. Both are 0 for a
/// network in the self-predicting state ([`init::InitMode::SelfPredicting`]), whatever `xs`.
/// Returns NaN for no patterns.
pub fn data_errors<'a>(
    shape: &Shape,
    phi: Transfer,
    p: &InstanceParams,
    w: &Weights<f64>,
    xs: impl Iterator<Item = &'a [f64]>,
) -> (f64, f64) {
    let n = shape.n_layers();
    let (mut ip, mut pi, mut count) = (0.0, 0.0, 0usize);
    for x in xs {
        // pre[l]: presynaptic vector of W_up[l]; rates[l]: φ(u[l]) without the bias unit
        let mut pre = vec![with_bias(shape, p, x.to_vec())];
        let mut rates = Vec::with_capacity(n);
        for l in 0..n {
            let mut v_b = vec![0.0; shape.n_pyr(l)];
            w.layers[l].up.matvec(&pre[l], &mut v_b);
            let r: Vec<f64> = v_b
                .iter()
                .map(|&v| {
                    phi.apply(match shape.is_hidden(l) {
                        true => fixed_point::hidden_pyramidal(p, v, 0.0),
                        false => fixed_point::output(p, v, None),
                    })
                })
                .collect();
            pre.push(with_bias(shape, p, r.clone()));
            rates.push(r);
        }
        for l in 0..n - 1 {
            let lw = &w.layers[l];
            let c = init::reflect_factor(shape, p, l);
            let (wip, wup) = (lw.ip.as_ref().expect("hidden layer"), &w.layers[l + 1].up);
            let (mut a, mut b) = (vec![0.0; wip.rows], vec![0.0; wup.rows]);
            wip.matvec(&pre[l + 1], &mut a);
            wup.matvec(&pre[l + 1], &mut b);
            ip += a
                .iter()
                .zip(&b)
                .map(|(a, b)| (a - c * b).powi(2))
                .sum::<f64>();
            let (wpi, wdown) = (
                lw.pi.as_ref().expect("hidden"),
                lw.down.as_ref().expect("hidden"),
            );
            let (mut a, mut b) = (vec![0.0; wpi.rows], vec![0.0; wdown.rows]);
            wpi.matvec(&rates[l + 1], &mut a);
            wdown.matvec(&rates[l + 1], &mut b);
            pi += a.iter().zip(&b).map(|(a, b)| (a + b).powi(2)).sum::<f64>();
        }
        count += 1;
    }
    if count == 0 {
        return (f64::NAN, f64::NAN);
    }
    (ip / count as f64, pi / count as f64)
}

/// `r` with the bias unit appended when the shape has one.
fn with_bias(shape: &Shape, p: &InstanceParams, mut r: Vec<f64>) -> Vec<f64> {
    if shape.bias {
        r.push(p.bias);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::microcircuit::InitMode;

    fn setup(bias: bool) -> (Shape, InstanceParams, Vec<Vec<f64>>) {
        let shape = Shape::new(vec![2, 3, 4, 2], bias);
        let mut p = InstanceParams::reference(3);
        p.init_up = 1.0;
        p.init_ip = 1.0;
        p.seed = 7;
        let xs = vec![vec![0.2, 0.9], vec![0.7, 0.1], vec![0.5, 0.5]];
        (shape, p, xs)
    }

    /// Self-predicting initialisation: both data errors vanish; random: both positive.
    #[test]
    fn data_errors_vanish_in_the_self_predicting_state() {
        for bias in [false, true] {
            let (shape, mut p, xs) = setup(bias);
            p.init = InitMode::SelfPredicting;
            let w = init::init_weights(&shape, &p);
            let (ip, pi) =
                data_errors(&shape, Transfer::Sigmoid, &p, &w, xs.iter().map(|x| &x[..]));
            assert!(ip < 1e-28 && pi < 1e-28, "{ip} {pi}");
            p.init = InitMode::Random;
            let w = init::init_weights(&shape, &p);
            let (ip, pi) =
                data_errors(&shape, Transfer::Sigmoid, &p, &w, xs.iter().map(|x| &x[..]));
            assert!(ip > 1e-3 && pi > 1e-3, "{ip} {pi}");
        }
    }

    /// A hand-computed [1,1,1] network without bias: one pattern x = 1.
    #[test]
    fn data_errors_by_hand() {
        let shape = Shape::new(vec![1, 1, 1], false);
        let p = InstanceParams::reference(2);
        let mut w = Weights::<f64>::zeros(&shape);
        w.layers[0].up.data[0] = 2.0;
        w.layers[1].up.data[0] = 3.0;
        w.layers[0].ip.as_mut().unwrap().data[0] = 1.5;
        w.layers[0].pi.as_mut().unwrap().data[0] = -0.5;
        w.layers[0].down.as_mut().unwrap().data[0] = 0.75;
        let phi = Transfer::Sigmoid;
        let r1 = phi.apply(p.gb / (p.gl + p.gb + p.ga) * 2.0);
        let r2 = phi.apply(p.gb / (p.gl + p.gb) * 3.0 * r1);
        let c = init::reflect_factor(&shape, &p, 0);
        let want_ip = ((1.5 - c * 3.0) * r1).powi(2);
        let want_pi = ((-0.5 + 0.75) * r2).powi(2);
        let (ip, pi) = data_errors(&shape, phi, &p, &w, [&[1.0][..]].into_iter());
        assert!((ip - want_ip).abs() < 1e-14 * want_ip, "{ip} {want_ip}");
        assert!((pi - want_pi).abs() < 1e-14 * want_pi, "{pi} {want_pi}");
        let (nan, _) = data_errors(&shape, phi, &p, &w, std::iter::empty());
        assert!(nan.is_nan());
    }

    /// A weight difference along a direction the rates never take costs weight error but no
    /// data error: with two identical output rows the output rates are equal, so W_pi columns
    /// shifted by +d and −d cancel on them.
    #[test]
    fn undriven_directions_count_in_the_weight_error_only() {
        let shape = Shape::new(vec![2, 3, 2], false);
        let mut p = InstanceParams::reference(2);
        p.init = InitMode::SelfPredicting;
        p.seed = 3;
        let mut w = init::init_weights(&shape, &p);
        let out = &mut w.layers[1].up;
        let cols = out.cols;
        let row0: Vec<f64> = out.data[..cols].to_vec();
        out.data[cols..2 * cols].copy_from_slice(&row0);
        let pi = w.layers[0].pi.as_mut().unwrap();
        for row in 0..pi.rows {
            pi.data[row * pi.cols] += 0.3;
            pi.data[row * pi.cols + 1] -= 0.3;
        }
        let (_, pi_w) = weight_errors(&shape, &p, &w);
        assert!((pi_w - 3.0 * 2.0 * 0.09).abs() < 1e-12, "{pi_w}");
        let xs = [vec![0.3, 0.8], vec![0.9, 0.2]];
        let (_, pi_d) = data_errors(
            &shape,
            Transfer::Softplus,
            &p,
            &w,
            xs.iter().map(|x| &x[..]),
        );
        assert!(pi_d < 1e-28, "{pi_d}");
    }
}
