//! Weight matrices of one instance (MODEL.md section 1), stored row-major.

use super::Shape;
use crate::num::Real;

/// A dense row-major matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Mat<F> {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<F>,
}

impl<F: Real> Mat<F> {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Mat {
            rows,
            cols,
            data: vec![F::zero(); rows * cols],
        }
    }
    #[inline(always)]
    pub fn row(&self, i: usize) -> &[F] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
    #[inline(always)]
    pub fn at(&self, i: usize, j: usize) -> F {
        self.data[i * self.cols + j]
    }
    /// `out = self · x` (x may be longer than `cols`; only the first `cols` entries are read).
    #[inline]
    pub fn matvec(&self, x: &[F], out: &mut [F]) {
        let x = &x[..self.cols];
        for (o, row) in out.iter_mut().zip(self.data.chunks_exact(self.cols)) {
            *o = dot(row, x);
        }
    }
    /// `out += self · x`.
    #[inline]
    pub fn matvec_add(&self, x: &[F], out: &mut [F]) {
        let x = &x[..self.cols];
        for (o, row) in out.iter_mut().zip(self.data.chunks_exact(self.cols)) {
            *o = *o + dot(row, x);
        }
    }
    /// Converts to another precision.
    pub fn cast<G: Real>(&self) -> Mat<G> {
        Mat {
            rows: self.rows,
            cols: self.cols,
            data: self.data.iter().map(|&v| G::of(v.f64())).collect(),
        }
    }
    pub fn fill_zero(&mut self) {
        self.data.iter_mut().for_each(|v| *v = F::zero());
    }
}

/// Dot product with four independent accumulators (lets the compiler vectorise it).
#[inline(always)]
pub fn dot<F: Real>(a: &[F], b: &[F]) -> F {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [F::zero(); 8];
    let chunks = n / 8;
    for c in 0..chunks {
        for k in 0..8 {
            acc[k] = acc[k] + a[c * 8 + k] * b[c * 8 + k];
        }
    }
    let mut s = F::zero();
    for i in chunks * 8..n {
        s = s + a[i] * b[i];
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + s
}

/// The matrices of one layer with neurons. Hidden layers have all four; the output layer only `up`.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerWeights<F> {
    /// `W_up`: n_k × (n_{k-1} + bias), basal input from below.
    pub up: Mat<F>,
    /// `W_down`: n_k × n_{k+1}, top-down input to the apical dendrite.
    pub down: Option<Mat<F>>,
    /// `W_pi`: n_k × n_{k+1}, interneuron → apical dendrite.
    pub pi: Option<Mat<F>>,
    /// `W_ip`: n_{k+1} × (n_k + bias), pyramidal → interneuron dendrite.
    pub ip: Option<Mat<F>>,
}

impl<F> LayerWeights<F> {
    /// The layer's matrices in output order ([`KINDS`]: `W_up`, `W_down`, `W_pi`, `W_ip`; the
    /// absent ones skipped), mutable.
    pub fn matrices_mut(&mut self) -> impl Iterator<Item = &mut Mat<F>> {
        [
            Some(&mut self.up),
            self.down.as_mut(),
            self.pi.as_mut(),
            self.ip.as_mut(),
        ]
        .into_iter()
        .flatten()
    }
}

/// All weights of one instance, one entry per layer with neurons. The same type holds the
/// low-pass filtered plasticity terms Δ, which have the shapes of the weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights<F> {
    pub layers: Vec<LayerWeights<F>>,
}

/// Names of the matrix types, in the order used for output (`layer{l}.W_up`, ...).
pub const KINDS: [&str; 4] = ["W_up", "W_down", "W_pi", "W_ip"];

impl<F: Real> Weights<F> {
    /// All-zero matrices of the right shapes.
    pub fn zeros(shape: &Shape) -> Self {
        let layers = (0..shape.n_layers())
            .map(|l| {
                let n = shape.n_pyr(l);
                let up = Mat::zeros(n, shape.with_bias(shape.dims[l]));
                if shape.is_hidden(l) {
                    let m = shape.n_inter(l);
                    LayerWeights {
                        up,
                        down: Some(Mat::zeros(n, m)),
                        pi: Some(Mat::zeros(n, m)),
                        ip: Some(Mat::zeros(m, shape.with_bias(n))),
                    }
                } else {
                    LayerWeights {
                        up,
                        down: None,
                        pi: None,
                        ip: None,
                    }
                }
            })
            .collect();
        Weights { layers }
    }

    /// Every matrix with its output name, e.g. `("layer0.W_up", &m)`.
    pub fn named(&self) -> Vec<(String, &Mat<F>)> {
        let mut out = Vec::new();
        for (l, lw) in self.layers.iter().enumerate() {
            for (kind, m) in KINDS.iter().zip([
                Some(&lw.up),
                lw.down.as_ref(),
                lw.pi.as_ref(),
                lw.ip.as_ref(),
            ]) {
                if let Some(m) = m {
                    out.push((format!("layer{l}.{kind}"), m));
                }
            }
        }
        out
    }

    /// Mutable access by output name.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Mat<F>> {
        let (layer, kind) = name.split_once('.')?;
        let l: usize = layer.strip_prefix("layer")?.parse().ok()?;
        let lw = self.layers.get_mut(l)?;
        match kind {
            "W_up" => Some(&mut lw.up),
            "W_down" => lw.down.as_mut(),
            "W_pi" => lw.pi.as_mut(),
            "W_ip" => lw.ip.as_mut(),
            _ => None,
        }
    }

    /// Converts to another precision.
    pub fn cast<G: Real>(&self) -> Weights<G> {
        Weights {
            layers: self
                .layers
                .iter()
                .map(|lw| LayerWeights {
                    up: lw.up.cast(),
                    down: lw.down.as_ref().map(Mat::cast),
                    pi: lw.pi.as_ref().map(Mat::cast),
                    ip: lw.ip.as_ref().map(Mat::cast),
                })
                .collect(),
        }
    }

    /// Whether every entry of every matrix is finite (not NaN or ±∞).
    pub fn all_finite(&self) -> bool {
        self.named()
            .iter()
            .all(|(_, m)| m.data.iter().all(|v| v.is_finite()))
    }

    /// Sets every entry to zero.
    pub fn fill_zero(&mut self) {
        for lw in &mut self.layers {
            lw.up.fill_zero();
            for m in [&mut lw.down, &mut lw.pi, &mut lw.ip].into_iter().flatten() {
                m.fill_zero();
            }
        }
    }

    /// Self-prediction errors of hidden layer `l` (MODEL.md section 5):
    /// `‖W_ip[l] − c·W_up[l+1]‖²` with `c = g_B/(g_l+g_B+g_A[l+1]) · (g_l+g_D)/g_D`,
    /// and `‖W_pi[l] + W_down[l]‖²`. `c_up` is the factor c.
    pub fn self_prediction_errors(&self, l: usize, c_up: f64) -> (f64, f64) {
        let lw = &self.layers[l];
        let above = &self.layers[l + 1].up;
        let ip = lw.ip.as_ref().expect("hidden layer");
        let ip_err = ip
            .data
            .iter()
            .zip(&above.data)
            .map(|(&a, &b)| (a.f64() - c_up * b.f64()).powi(2))
            .sum();
        let pi = lw.pi.as_ref().expect("hidden layer");
        let down = lw.down.as_ref().expect("hidden layer");
        let pi_err = pi
            .data
            .iter()
            .zip(&down.data)
            .map(|(&a, &b)| (a.f64() + b.f64()).powi(2))
            .sum();
        (ip_err, pi_err)
    }
}
