//! Network shape: layer sizes and the bias unit (MODEL.md section 1).

use serde::{Deserialize, Serialize};

/// Layer sizes `dims = [n0, n1, ..., nN]` and whether a bias unit is appended to the presynaptic
/// vector of every `W_up` and `W_ip`. Shared by all instances of a batch.
///
/// Layers with neurons are indexed `l = 0..N` here (model layer `k = l + 1`); layer `N-1` is the
/// output layer, layers `0..N-1` are hidden and each has `dims[l+2]` interneurons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub dims: Vec<usize>,
    pub bias: bool,
}

impl Shape {
    pub fn new(dims: Vec<usize>, bias: bool) -> Self {
        Shape { dims, bias }
    }
    /// Number of layers with neurons, `N`.
    pub fn n_layers(&self) -> usize {
        self.dims.len() - 1
    }
    /// Pyramidal cells of layer `l`.
    pub fn n_pyr(&self, l: usize) -> usize {
        self.dims[l + 1]
    }
    /// Whether layer `l` is hidden (has apical dendrites and interneurons).
    pub fn is_hidden(&self, l: usize) -> bool {
        l + 1 < self.n_layers()
    }
    /// Interneurons of hidden layer `l` (one per pyramidal cell of the layer above).
    pub fn n_inter(&self, l: usize) -> usize {
        if self.is_hidden(l) {
            self.dims[l + 2]
        } else {
            0
        }
    }
    /// Length of a presynaptic vector built from `n` rates (plus the bias unit if present).
    pub fn with_bias(&self, n: usize) -> usize {
        n + usize::from(self.bias)
    }
    pub fn n_in(&self) -> usize {
        self.dims[0]
    }
    pub fn n_out(&self) -> usize {
        *self.dims.last().unwrap()
    }
    /// Number of weights of one instance (the entries of every `W_up`, `W_down`, `W_pi`,
    /// `W_ip`), counted without allocating them; `None` when the count overflows.
    pub fn n_weights(&self) -> Option<usize> {
        let b = usize::from(self.bias);
        let mut w: usize = 0;
        for l in 0..self.n_layers() {
            let n = self.n_pyr(l);
            w = w.checked_add(n.checked_mul(self.dims[l].checked_add(b)?)?)?;
            if self.is_hidden(l) {
                let m = self.n_inter(l);
                w = w.checked_add(n.checked_mul(m)?.checked_mul(2)?)?;
                w = w.checked_add(m.checked_mul(n.checked_add(b)?)?)?;
            }
        }
        Some(w)
    }
    /// Number of somas per instance (pyramidal then interneurons), used to key the noise.
    pub fn n_somas(&self) -> usize {
        (0..self.n_layers())
            .map(|l| self.n_pyr(l) + self.n_inter(l))
            .sum()
    }
    /// Checks the shape describes a network: at least an input and an output layer, no empty layer.
    pub fn validate(&self) -> Result<(), String> {
        if self.dims.len() < 2 {
            return Err(format!(
                "needs at least two layer sizes [inputs, outputs], got {:?}",
                self.dims
            ));
        }
        if self.dims.contains(&0) {
            return Err(format!("layer sizes must be positive, got {:?}", self.dims));
        }
        Ok(())
    }
    /// `dims` written as `4-120-3`.
    pub fn label(&self) -> String {
        self.dims
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("-")
    }
}
