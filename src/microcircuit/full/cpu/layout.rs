//! How a CPU instance stores its weight matrices, and the dendrite and plasticity loops over
//! each storage order. The reference kernel keeps every matrix row-major; the vector kernel
//! (`--cpu-kernel vector`) stores each matrix with its longer axis contiguous, so that the
//! inner loop of `v = W·r` and of the low-pass update runs over many entries (vectorised)
//! whether the matrix is wide (`W_up` of an output layer, 3 × 121) or tall (`W_up` of a hidden
//! layer over few inputs, 120 × 5; `W_pi`, `W_down`, 120 × 3).
//!
//! Both orders compute every dendrite with the same additions in the same order as
//! [`crate::microcircuit::dot`] (eight partial sums over the entries `j ≡ k mod 8`, the tail summed
//! in order, combined as `((s0+s4)+(s1+s5))+((s2+s6)+(s3+s7)) + tail`) and every W and Δ entry with
//! the same expression, so the two layouts give the same bits.

// The row loops index the rows of several fixed-size arrays at once.
#![allow(clippy::needless_range_loop)]

use super::low_pass_update;
use crate::microcircuit::{LayerWeights, Mat, Weights};
use crate::num::Real;

/// The storage order of an instance's matrices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// Every matrix row-major, as [`Weights`] holds it (the reference kernel).
    #[default]
    RowMajor,
    /// Each matrix with its longer axis contiguous: matrices with more rows than columns are
    /// stored transposed (column-major), the others row-major (the vector kernel).
    LongAxis,
}

/// Which matrices of one layer are stored transposed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transposed {
    pub up: bool,
    pub down: bool,
    pub pi: bool,
    pub ip: bool,
}

impl Layout {
    /// Whether a `rows × cols` matrix is stored transposed.
    fn transposes(self, rows: usize, cols: usize) -> bool {
        self == Layout::LongAxis && rows > cols
    }

    /// The transposition of every matrix of weights shaped like `w` (standard layout).
    pub fn plan<F: Real>(self, w: &Weights<F>) -> Vec<Transposed> {
        let t = |m: Option<&Mat<F>>| m.is_some_and(|m| self.transposes(m.rows, m.cols));
        w.layers
            .iter()
            .map(|lw| Transposed {
                up: t(Some(&lw.up)),
                down: t(lw.down.as_ref()),
                pi: t(lw.pi.as_ref()),
                ip: t(lw.ip.as_ref()),
            })
            .collect()
    }
}

/// Transposes the matrices `plan` marks: standard layout → stored layout and back (a
/// transposition is its own inverse).
pub fn transpose_marked<F: Real>(w: &Weights<F>, plan: &[Transposed]) -> Weights<F> {
    let t = |m: &Mat<F>, on: bool| if on { transpose(m) } else { m.clone() };
    Weights {
        layers: w
            .layers
            .iter()
            .zip(plan)
            .map(|(lw, p)| LayerWeights {
                up: t(&lw.up, p.up),
                down: lw.down.as_ref().map(|m| t(m, p.down)),
                pi: lw.pi.as_ref().map(|m| t(m, p.pi)),
                ip: lw.ip.as_ref().map(|m| t(m, p.ip)),
            })
            .collect(),
    }
}

fn transpose<F: Real>(m: &Mat<F>) -> Mat<F> {
    let mut t = Mat::zeros(m.cols, m.rows);
    for i in 0..m.rows {
        for j in 0..m.cols {
            t.data[j * m.rows + i] = m.data[i * m.cols + j];
        }
    }
    t
}

/// `out = W · x` (x may be longer than W has columns) with `w` stored transposed when
/// `transposed`; the same bits either way (see the module documentation).
#[inline(always)]
pub fn matvec<F: Real>(w: &Mat<F>, transposed: bool, x: &[F], out: &mut [F]) {
    if transposed {
        matvec_columns(w, x, out);
    } else {
        matvec_rows(w, x, out);
    }
}

/// `out = W · x` for row-major `w`, each row as [`crate::microcircuit::dot`] computes it; rows four
/// at a time, so that their chains of additions run side by side instead of one after the other.
#[inline(always)]
fn matvec_rows<F: Real>(w: &Mat<F>, x: &[F], out: &mut [F]) {
    let cols = w.cols;
    let x = &x[..cols];
    let chunks = cols / 8;
    for (rows, o) in w.data.chunks(4 * cols).zip(out[..w.rows].chunks_mut(4)) {
        let n = o.len();
        let mut acc = [[F::zero(); 8]; 4];
        for c in 0..chunks {
            let xc = &x[c * 8..c * 8 + 8];
            for (r, a) in acc[..n].iter_mut().enumerate() {
                let row = &rows[r * cols + c * 8..r * cols + c * 8 + 8];
                for k in 0..8 {
                    a[k] = a[k] + row[k] * xc[k];
                }
            }
        }
        for (r, o) in o.iter_mut().enumerate() {
            let a = &acc[r];
            let mut tail = F::zero();
            for j in chunks * 8..cols {
                tail = tail + rows[r * cols + j] * x[j];
            }
            *o = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])) + tail;
        }
    }
}

/// Rows per block of [`matvec_columns`]: one AVX-512 vector of f32.
const ROWS: usize = 16;

/// `out = W · x` for `wt = Wᵀ` (column j of W contiguous), a block of [`ROWS`] rows at a time:
/// for each row the eight partial sums and the tail of [`crate::microcircuit::dot`], accumulated
/// column by column so that every addition runs over the block's rows at once. When `ROWS` does not
/// divide the rows, the last block overlaps the one before it (its rows are computed twice, with
/// the same bits); a matrix of fewer than `ROWS` rows is padded with zeros.
#[inline(always)]
fn matvec_columns<F: Real>(wt: &Mat<F>, x: &[F], out: &mut [F]) {
    let rows = wt.cols;
    if rows >= ROWS {
        for r0 in (0..rows).step_by(ROWS) {
            let r0 = r0.min(rows - ROWS);
            let load = |j: usize| -> [F; ROWS] {
                let at = j * rows + r0;
                wt.data[at..at + ROWS].try_into().expect("ROWS entries")
            };
            out[r0..r0 + ROWS].copy_from_slice(&column_block(wt.rows, x, load));
        }
    } else {
        let load = |j: usize| {
            let mut c = [F::zero(); ROWS];
            c[..rows].copy_from_slice(&wt.data[j * rows..(j + 1) * rows]);
            c
        };
        out[..rows].copy_from_slice(&column_block(wt.rows, x, load)[..rows]);
    }
}

/// The sums of one block of [`matvec_columns`] over `cols` columns, `load(j)` giving the block's
/// entries of column j; whole arrays of [`ROWS`], so that they stay in registers.
#[inline(always)]
fn column_block<F: Real>(cols: usize, x: &[F], load: impl Fn(usize) -> [F; ROWS]) -> [F; ROWS] {
    let x = &x[..cols];
    let chunks = cols / 8;
    let mut tail = [F::zero(); ROWS];
    for (j, &xj) in x.iter().enumerate().skip(chunks * 8) {
        let c = load(j);
        for t in 0..ROWS {
            tail[t] = tail[t] + c[t] * xj;
        }
    }
    let mut sum = [F::zero(); ROWS];
    if chunks == 0 {
        // every partial sum is +0: ((0+0)+(0+0))+((0+0)+(0+0)) + tail
        for t in 0..ROWS {
            sum[t] = F::zero() + tail[t];
        }
    } else {
        let mut acc = [[F::zero(); ROWS]; 8];
        for c in 0..chunks {
            for (k, a) in acc.iter_mut().enumerate() {
                let j = c * 8 + k;
                let (w, xj) = (load(j), x[j]);
                for t in 0..ROWS {
                    a[t] = a[t] + w[t] * xj;
                }
            }
        }
        for t in 0..ROWS {
            let a = |k: usize| acc[k][t];
            sum[t] = ((a(0) + a(4)) + (a(1) + a(5))) + ((a(2) + a(6)) + (a(3) + a(7))) + tail[t];
        }
    }
    sum
}

/// [`low_pass_update`] for `w`, `delta` stored transposed when `transposed`: per entry
/// `W += η_dt·Δ` with the old Δ, then `Δ += k_w (e_i r_j − Δ)`.
#[inline(always)]
pub fn low_pass<F: Real>(
    w: &mut Mat<F>,
    delta: &mut Mat<F>,
    transposed: bool,
    e: &[F],
    pre: &[F],
    eta_dt: F,
    kw: F,
) {
    if !transposed {
        low_pass_update(w, delta, e, pre, eta_dt, kw);
        return;
    }
    let rows = w.cols;
    let e = &e[..rows];
    for ((w_col, d_col), &rj) in w
        .data
        .chunks_exact_mut(rows)
        .zip(delta.data.chunks_exact_mut(rows))
        .zip(pre)
    {
        for ((wv, dv), &ei) in w_col.iter_mut().zip(d_col.iter_mut()).zip(e) {
            let d = *dv;
            *wv = *wv + eta_dt * d;
            *dv = d + kw * (ei * rj - d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mat(rows: usize, cols: usize, salt: u64) -> Mat<f64> {
        let mut m = Mat::zeros(rows, cols);
        for (k, v) in m.data.iter_mut().enumerate() {
            let h = (k as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15 ^ salt);
            *v = (h >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        }
        m
    }

    #[test]
    fn both_orders_add_in_the_order_of_dot_bit_for_bit() {
        let shapes = [
            (120, 5),
            (120, 3),
            (7, 1),
            (33, 8),
            (40, 21),
            (17, 16),
            (3, 121),
            (5, 30),
            (9, 17),
            (1, 7),
        ];
        for (rows, cols) in shapes {
            let w = mat(rows, cols, 3);
            let x: Vec<f64> = mat(1, cols + 2, 5).data;
            let mut want = vec![0.0; rows];
            w.matvec(&x, &mut want);
            let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
            let mut rows_major = vec![1.0; rows];
            matvec(&w, false, &x, &mut rows_major);
            assert_eq!(bits(&rows_major), bits(&want), "{rows}×{cols} row-major");
            let mut cols_major = vec![1.0; rows];
            matvec(&transpose(&w), true, &x, &mut cols_major);
            assert_eq!(bits(&cols_major), bits(&want), "{rows}×{cols} transposed");
        }
    }

    #[test]
    fn transposed_low_pass_updates_every_entry_as_the_row_major_one() {
        let (rows, cols) = (19, 4);
        let (mut w, mut d) = (mat(rows, cols, 1), mat(rows, cols, 2));
        let (mut wt, mut dt) = (transpose(&w), transpose(&d));
        let e = mat(1, rows, 7).data;
        let pre = mat(1, cols + 1, 9).data;
        low_pass(&mut w, &mut d, false, &e, &pre, 0.3, 0.05);
        low_pass(&mut wt, &mut dt, true, &e, &pre, 0.3, 0.05);
        assert_eq!(transpose(&wt), w);
        assert_eq!(transpose(&dt), d);
    }

    #[test]
    fn long_axis_transposes_tall_matrices_only_and_round_trips() {
        let shape = crate::microcircuit::Shape::new(vec![4, 120, 3], true);
        let mut w = Weights::<f64>::zeros(&shape);
        for (k, v) in w.layers[0].up.data.iter_mut().enumerate() {
            *v = k as f64;
        }
        let plan = Layout::LongAxis.plan(&w);
        assert_eq!(
            plan[0],
            Transposed {
                up: true,
                down: true,
                pi: true,
                ip: false
            }
        );
        assert_eq!(plan[1], Transposed::default());
        assert!(Layout::RowMajor
            .plan(&w)
            .iter()
            .all(|t| *t == Transposed::default()));
        let stored = transpose_marked(&w, &plan);
        assert_eq!(stored.layers[0].up.at(1, 0), w.layers[0].up.at(0, 1));
        assert_eq!(transpose_marked(&stored, &plan), w);
    }
}
