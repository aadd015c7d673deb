//! The logistic-regression baseline (spec §3.5) on the same inputs as the G-clusteron, fitted
//! deterministically with full-batch L-BFGS (memory 10, backtracking Armijo line search, at most
//! `max_iter` iterations, stop when the largest gradient component is below 1e-6):
//! - softmax readout: multinomial, `min (1/P) Σ_p −ln softmax_{y_p}(W x_p + c)`, no penalty
//!   (sklearn `lbfgs`, `multinomial`, `penalty=None`);
//! - sigmoid readouts: one binary problem per unit, `min Σ_p ℓ(t_pk, w_k·x_p + c_k) + ½‖w_k‖²`
//!   (sklearn's default L2 with C = 1), fitted one after the other.

use super::backend::{GcData, Readout};
use super::protocol::accuracy;
use crate::tasks::metrics::Metrics;
use ndarray::{Array2, ArrayView2, Axis};

/// A fitted model: `z = x Wᵀ + c` for K outputs.
pub struct LogReg {
    /// K × N.
    pub w: Array2<f64>,
    pub c: Vec<f64>,
}

impl LogReg {
    /// Fits the baseline of `readout` to `data` (targets as the G-clusteron's units see them).
    pub fn fit(data: &GcData, readout: Readout, max_iter: usize) -> LogReg {
        let x = ArrayView2::from_shape((data.len(), data.n), &data.x).expect("P × N");
        let t = ArrayView2::from_shape((data.len(), data.k), &data.t).expect("P × K");
        match readout {
            Readout::Softmax => {
                let theta = lbfgs(vec![0.0; data.k * (data.n + 1)], max_iter, |th| {
                    softmax_loss(th, &x, &t)
                });
                LogReg::unpack(&theta, data.k, data.n)
            }
            Readout::Sigmoid => {
                let mut w = Array2::zeros((data.k, data.n));
                let mut c = vec![0.0; data.k];
                for (k, ck) in c.iter_mut().enumerate() {
                    let tk = t.column(k).to_owned().insert_axis(Axis(1));
                    let theta = lbfgs(vec![0.0; data.n + 1], max_iter, |th| {
                        binary_loss(th, &x, &tk.view())
                    });
                    let one = LogReg::unpack(&theta, 1, data.n);
                    w.row_mut(k).assign(&one.w.row(0));
                    *ck = one.c[0];
                }
                LogReg { w, c }
            }
        }
    }

    /// `θ = [W (K × N) row-major, c (K)]`.
    fn unpack(theta: &[f64], k: usize, n: usize) -> LogReg {
        LogReg {
            w: Array2::from_shape_vec((k, n), theta[..k * n].to_vec()).expect("K × N"),
            c: theta[k * n..].to_vec(),
        }
    }

    /// `z = x Wᵀ + c` (P × K).
    pub fn scores(&self, data: &GcData) -> Vec<f64> {
        let x = ArrayView2::from_shape((data.len(), data.n), &data.x).expect("P × N");
        let mut z = x.dot(&self.w.t());
        for mut row in z.rows_mut() {
            row.iter_mut().zip(&self.c).for_each(|(a, b)| *a += b);
        }
        z.into_raw_vec_and_offset().0
    }

    /// Accuracy on `data`: argmax of z, or `1[z ≥ 0]` for one unit.
    pub fn accuracy(&self, data: &GcData, labels: &[usize]) -> Metrics {
        accuracy(&self.scores(data), data.k, labels)
    }
}

/// Mean softmax cross-entropy and its gradient with respect to `θ = [W, c]`.
fn softmax_loss(theta: &[f64], x: &ArrayView2<f64>, t: &ArrayView2<f64>) -> (f64, Vec<f64>) {
    let (p, n) = x.dim();
    let k = t.ncols();
    let m = LogReg::unpack(theta, k, n);
    let mut z = x.dot(&m.w.t());
    let mut loss = 0.0;
    for (mut zr, tr) in z.rows_mut().into_iter().zip(t.rows()) {
        zr.iter_mut().zip(&m.c).for_each(|(a, b)| *a += b);
        let max = zr.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + zr.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        loss += tr
            .iter()
            .zip(zr.iter())
            .map(|(ti, zi)| ti * (lse - zi))
            .sum::<f64>();
        // z becomes the error softmax(z) − t
        zr.iter_mut()
            .zip(tr)
            .for_each(|(zi, ti)| *zi = (*zi - lse).exp() - ti);
    }
    let scale = 1.0 / p as f64;
    gradient(&z, x, scale, 0.0, theta, loss * scale)
}

/// `Σ_p ℓ(t_p, z_p) + ½‖w‖²` of one binary unit (ℓ the logistic loss) and its gradient.
fn binary_loss(theta: &[f64], x: &ArrayView2<f64>, t: &ArrayView2<f64>) -> (f64, Vec<f64>) {
    let n = x.ncols();
    let m = LogReg::unpack(theta, 1, n);
    let mut z = x.dot(&m.w.t());
    let mut loss = 0.0;
    for (zi, &ti) in z.iter_mut().zip(t.iter()) {
        *zi += m.c[0];
        // ℓ = ln(1 + e^z) − t z, stably
        loss += zi.max(0.0) + (-zi.abs()).exp().ln_1p() - ti * *zi;
        *zi = 1.0 / (1.0 + (-*zi).exp()) - ti;
    }
    let reg = 0.5 * theta[..n].iter().map(|v| v * v).sum::<f64>();
    gradient(&z, x, 1.0, 1.0, theta, loss + reg)
}

/// `(loss, ∂/∂θ)` from the errors `err` (P × K): `∂W = scale·errᵀ x + λ W`, `∂c = scale·Σ_p err`.
fn gradient(
    err: &Array2<f64>,
    x: &ArrayView2<f64>,
    scale: f64,
    lambda: f64,
    theta: &[f64],
    loss: f64,
) -> (f64, Vec<f64>) {
    let gw = err.t().dot(x) * scale;
    let gc = err.sum_axis(Axis(0)) * scale;
    let mut g: Vec<f64> = gw.iter().copied().collect();
    for (gi, th) in g.iter_mut().zip(theta) {
        *gi += lambda * th;
    }
    g.extend(gc.iter());
    (loss, g)
}

/// L-BFGS minimisation of `f` (returns value and gradient) from `theta`.
pub fn lbfgs(
    mut theta: Vec<f64>,
    max_iter: usize,
    f: impl Fn(&[f64]) -> (f64, Vec<f64>),
) -> Vec<f64> {
    const MEMORY: usize = 10;
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let (mut value, mut grad) = f(&theta);
    let mut hist: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::new();
    for _ in 0..max_iter {
        if grad.iter().fold(0.0f64, |m, g| m.max(g.abs())) < 1e-6 {
            break;
        }
        // two-loop recursion: d = −H g
        let mut q = grad.clone();
        let mut alphas = Vec::with_capacity(hist.len());
        for (s, y, rho) in hist.iter().rev() {
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        if let Some((s, y, _)) = hist.last() {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|qi| *qi *= gamma);
        } else {
            let norm = dot(&grad, &grad).sqrt().max(1e-12);
            q.iter_mut().for_each(|qi| *qi /= norm);
        }
        for ((s, y, rho), a) in hist.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let d: Vec<f64> = q.iter().map(|v| -v).collect();
        let slope = dot(&grad, &d);
        if slope >= 0.0 {
            break;
        }
        let mut step = 1.0;
        let (new_theta, new_value, new_grad) = loop {
            let cand: Vec<f64> = theta.iter().zip(&d).map(|(t, di)| t + step * di).collect();
            let (v, g) = f(&cand);
            if v <= value + 1e-4 * step * slope || step < 1e-10 {
                break (cand, v, g);
            }
            step *= 0.5;
        };
        let s: Vec<f64> = new_theta.iter().zip(&theta).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = new_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 {
            hist.push((s, y, 1.0 / sy));
            if hist.len() > MEMORY {
                hist.remove(0);
            }
        }
        let converged = (value - new_value).abs() <= 1e-12 * value.abs().max(1.0);
        (theta, value, grad) = (new_theta, new_value, new_grad);
        if converged {
            break;
        }
    }
    theta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lbfgs_finds_the_minimum_of_a_quadratic() {
        // f = Σ_i (i+1)(θ_i − i)²
        let th = lbfgs(vec![0.0; 5], 100, |t| {
            let v = t
                .iter()
                .enumerate()
                .map(|(i, x)| (i as f64 + 1.0) * (x - i as f64).powi(2))
                .sum();
            let g = t
                .iter()
                .enumerate()
                .map(|(i, x)| 2.0 * (i as f64 + 1.0) * (x - i as f64))
                .collect();
            (v, g)
        });
        for (i, x) in th.iter().enumerate() {
            assert!((x - i as f64).abs() < 1e-5, "{th:?}");
        }
    }

    #[test]
    fn loss_gradients_match_finite_differences() {
        let x = Array2::from_shape_vec((3, 2), vec![0.5, -1.0, 1.5, 0.2, -0.3, 0.8]).unwrap();
        let t = Array2::from_shape_vec((3, 2), vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0]).unwrap();
        let theta = vec![0.1, -0.2, 0.3, 0.4, -0.5, 0.6];
        let t1 = t.column(0).to_owned().insert_axis(Axis(1));
        type Loss<'a> = Box<dyn Fn(&[f64]) -> (f64, Vec<f64>) + 'a>;
        let cases: Vec<(Vec<f64>, Loss)> = vec![
            (
                theta.clone(),
                Box::new(|th: &[f64]| softmax_loss(th, &x.view(), &t.view())),
            ),
            (
                theta[..3].to_vec(),
                Box::new(|th: &[f64]| binary_loss(th, &x.view(), &t1.view())),
            ),
        ];
        for (th, f) in cases {
            let (_, g) = f(&th);
            for i in 0..th.len() {
                let h = 1e-6;
                let (mut a, mut b) = (th.clone(), th.clone());
                a[i] += h;
                b[i] -= h;
                let fd = (f(&a).0 - f(&b).0) / (2.0 * h);
                assert!((fd - g[i]).abs() < 1e-7, "component {i}: {fd} vs {}", g[i]);
            }
        }
    }
}
