//! Cache-blocked matrix kernels of the steady-state model on large networks (`blocked` kernel,
//! issue 23 step 5). Every row's dot product sums in exactly the order of
//! [`crate::microcircuit::weights::dot`] (eight interleaved accumulators, then the tail, then the
//! fixed pairwise combination), so the results are bit-identical to [`Mat::matvec`] and the
//! reference kernel, whatever the blocking; the plasticity update is element-wise and has no order
//! to keep.
//!
//! Compiled for AVX-512, AVX2+FMA and the baseline with `multiversion`; the best the CPU has runs.
//! Rust never contracts `a + b·c` into an FMA, so the instruction set does not change a bit.

use crate::microcircuit::weights::dot;
use crate::microcircuit::Mat;
use crate::num::Real;

/// Rows computed together by [`matvec`]: four independent dot products share every load of x.
const ROWS: usize = 4;

/// `out = m · x` (only the first `m.cols` entries of x are read), four rows at a time so each
/// load of `x` feeds four rows' accumulators; each row sums in [`dot`]'s order.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub(crate) fn matvec<F: Real>(m: &Mat<F>, x: &[F], out: &mut [F]) {
    let cols = m.cols;
    let x = &x[..cols];
    let out = &mut out[..m.rows];
    let mut blocks = m.data.chunks_exact(ROWS * cols);
    let mut outs = out.chunks_exact_mut(ROWS);
    for (block, o) in (&mut blocks).zip(&mut outs) {
        let r: [&[F]; ROWS] = std::array::from_fn(|k| &block[k * cols..(k + 1) * cols]);
        let v = dot_rows(r, x);
        o.copy_from_slice(&v);
    }
    for (o, row) in outs
        .into_remainder()
        .iter_mut()
        .zip(blocks.remainder().chunks_exact(cols))
    {
        *o = dot(row, x);
    }
}

/// `R` dot products with `x` at once, each in [`dot`]'s order (written with fixed-size arrays
/// so that LLVM keeps each row's eight accumulators in one vector; [`dot`] itself compiles to
/// scalar code in some callers).
#[inline(always)]
fn dot_rows<F: Real, const R: usize>(r: [&[F]; R], x: &[F]) -> [F; R] {
    let n = x.len();
    let r: [&[F]; R] = std::array::from_fn(|k| &r[k][..n]);
    let mut acc = [[F::zero(); 8]; R];
    let (xc, xt) = x.split_at(n / 8 * 8);
    for (c, xs) in xc.chunks_exact(8).enumerate() {
        let xs: &[F; 8] = xs.try_into().unwrap();
        for (acc, row) in acc.iter_mut().zip(&r) {
            mul_add8(acc, row[c * 8..c * 8 + 8].try_into().unwrap(), xs);
        }
    }
    std::array::from_fn(|k| {
        let mut s = F::zero();
        for (i, &xv) in xt.iter().enumerate() {
            s = s + r[k][xc.len() + i] * xv;
        }
        let a = &acc[k];
        ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])) + s
    })
}

/// `acc += a·x` lane by lane (a multiply, then an add: no FMA, as in [`dot`]); a function of
/// its own so that LLVM turns each call into one vector multiply and add instead of
/// scalarising the rows × lanes accumulator block.
#[inline(always)]
fn mul_add8<F: Real>(acc: &mut [F; 8], a: &[F; 8], x: &[F; 8]) {
    for j in 0..8 {
        acc[j] = acc[j] + a[j] * x[j];
    }
}

/// The plasticity step of one matrix, `Δ = (1−a)·Δ + a·e r_preᵀ`, then `W += eta_dt·Δ`, row by
/// row; with `next = Some((x, out))` each updated row's product with `x` is taken while the row
/// is still in L1 (`out = W_new · x`), so W and Δ are streamed from memory once per step instead
/// of once for the update and again for the next pattern's basal input. `pre` and `x` may be
/// longer than the matrix has columns.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub(crate) fn update<F: Real>(
    w: &mut Mat<F>,
    delta: &mut Mat<F>,
    e: &[F],
    pre: &[F],
    a: F,
    eta_dt: F,
    next: Option<(&[F], &mut [F])>,
) {
    let cols = w.cols;
    let pre = &pre[..cols];
    let keep = F::one() - a;
    let row_update = |w_row: &mut [F], d_row: &mut [F], ei: F| {
        let ae = a * ei;
        for ((wv, dv), &rj) in w_row.iter_mut().zip(d_row.iter_mut()).zip(pre) {
            let d = keep * *dv + ae * rj;
            *dv = d;
            *wv = *wv + eta_dt * d;
        }
    };
    match next {
        Some((x, out)) => {
            // ROWS rows updated, then their products with x taken together while they are in
            // L1: ROWS independent accumulator chains instead of one
            let x = &x[..cols];
            let out = &mut out[..w.rows];
            let mut wb = w.data.chunks_exact_mut(ROWS * cols);
            let mut db = delta.data.chunks_exact_mut(ROWS * cols);
            let mut eb = e[..w.rows].chunks_exact(ROWS);
            let mut ob = out.chunks_exact_mut(ROWS);
            for (((wr, dr), es), o) in (&mut wb).zip(&mut db).zip(&mut eb).zip(&mut ob) {
                for ((w_row, d_row), &ei) in wr
                    .chunks_exact_mut(cols)
                    .zip(dr.chunks_exact_mut(cols))
                    .zip(es)
                {
                    row_update(w_row, d_row, ei);
                }
                let r: [&[F]; ROWS] = std::array::from_fn(|k| &wr[k * cols..(k + 1) * cols]);
                o.copy_from_slice(&dot_rows(r, x));
            }
            let tail = wb
                .into_remainder()
                .chunks_exact_mut(cols)
                .zip(db.into_remainder().chunks_exact_mut(cols))
                .zip(eb.remainder())
                .zip(ob.into_remainder());
            for (((w_row, d_row), &ei), o) in tail {
                row_update(w_row, d_row, ei);
                let [v] = dot_rows([&w_row[..]], x);
                *o = v;
            }
        }
        None => {
            let rows = w
                .data
                .chunks_exact_mut(cols)
                .zip(delta.data.chunks_exact_mut(cols))
                .zip(e);
            for ((w_row, d_row), &ei) in rows {
                row_update(w_row, d_row, ei);
            }
        }
    }
}
