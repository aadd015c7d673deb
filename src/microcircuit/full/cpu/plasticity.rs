//! The low-pass filtered plasticity update shared by every pathway (MODEL.md sections 2–3).

use crate::microcircuit::Mat;
use crate::num::Real;

/// One Euler step of `τ_w dΔ/dt = -Δ + e r_preᵀ`, `dW/dt = η Δ` in the reference order:
/// `W += dt·η·Δ` with the **old** Δ, then `Δ += dt/τ_w · (e r_preᵀ − Δ)`.
/// `eta_dt = dt·η`, `kw = dt/τ_w`; `pre` may be longer than the matrix has columns.
#[inline]
pub fn low_pass_update<F: Real>(
    w: &mut Mat<F>,
    delta: &mut Mat<F>,
    e: &[F],
    pre: &[F],
    eta_dt: F,
    kw: F,
) {
    let cols = w.cols;
    let pre = &pre[..cols];
    for ((w_row, d_row), &ei) in w
        .data
        .chunks_exact_mut(cols)
        .zip(delta.data.chunks_exact_mut(cols))
        .zip(e)
    {
        for ((wv, dv), &rj) in w_row.iter_mut().zip(d_row.iter_mut()).zip(pre) {
            let d = *dv;
            *wv = *wv + eta_dt * d;
            *dv = d + kw * (ei * rj - d);
        }
    }
}

/// A plasticity step of one matrix held back until the matrix is next read (the fused update
/// of the lane kernel): the rates `(η_dt, k_w)` and the step's errors `e` (one per row); the
/// presynaptic rates are the step's rate vectors, which the kernel keeps for one more step.
/// Step t's update is applied inside step t + 1's dendrite sum `W·r`, which reads W after it
/// (MODEL.md section 3), so each W and Δ entry is loaded once per step instead of twice. The
/// errors are written here directly (no copy). `T` is a scalar or a lane vector.
#[derive(Clone, Debug)]
pub struct Held<T> {
    pub rate: Option<(T, T)>,
    pub e: Vec<T>,
}

impl<T: Copy> Held<T> {
    /// Nothing held, an error buffer for a matrix of `rows` rows.
    pub fn new(rows: usize, zero: T) -> Self {
        Held {
            rate: None,
            e: vec![zero; rows],
        }
    }

    /// Where a step's errors of this matrix go: straight into the held-back update's buffer
    /// when the update is deferred, else `scratch` (its first `rows` entries in both cases).
    #[inline(always)]
    pub fn errors<'a>(&'a mut self, scratch: &'a mut [T], rows: usize, defer: bool) -> &'a mut [T] {
        if defer {
            &mut self.e[..rows]
        } else {
            &mut scratch[..rows]
        }
    }
}

/// The held-back updates of one layer's matrices (buffers empty for absent pathways).
#[derive(Clone, Debug)]
pub struct LayerHeld<T> {
    pub up: Held<T>,
    pub down: Held<T>,
    pub pi: Held<T>,
    pub ip: Held<T>,
}

impl<T: Copy> LayerHeld<T> {
    /// Buffers for matrices of these numbers of rows (`None`: pathway absent).
    pub fn new(
        up: usize,
        down: Option<usize>,
        pi: Option<usize>,
        ip: Option<usize>,
        zero: T,
    ) -> Self {
        let h = |rows: Option<usize>| Held::new(rows.unwrap_or(0), zero);
        LayerHeld {
            up: h(Some(up)),
            down: h(down),
            pi: h(pi),
            ip: h(ip),
        }
    }

    /// Whether any update is held.
    pub fn any(&self) -> bool {
        [&self.up, &self.down, &self.pi, &self.ip]
            .iter()
            .any(|h| h.rate.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_uses_old_delta_then_delta_relaxes_towards_e_r() {
        let mut w = Mat {
            rows: 1,
            cols: 2,
            data: vec![1.0f64, 2.0],
        };
        let mut d = Mat {
            rows: 1,
            cols: 2,
            data: vec![0.5f64, -1.0],
        };
        low_pass_update(&mut w, &mut d, &[2.0], &[3.0, 4.0, 99.0], 0.1, 0.25);
        assert_eq!(w.data, vec![1.0 + 0.1 * 0.5, 2.0 - 0.1]);
        assert_eq!(
            d.data,
            vec![0.5 + 0.25 * (6.0 - 0.5), -1.0 + 0.25 * (8.0 + 1.0)]
        );
    }
}
