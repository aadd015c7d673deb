//! Memory layout of the steady-state kernel (`steady.wgsl`): where each instance keeps
//! its weights, Δ, somas, dendrites and rates in the flat f32 `state` buffer, and the word
//! `table` with these offsets and the per-instance constants. Word indices are declared once
//! and emitted as WGSL `const`s in front of the kernel.

use crate::microcircuit::full::cpu::State;
use crate::microcircuit::full::gpu::layout::{PHI_SCALED_SOFTPLUS, PHI_SIGMOID, PHI_SOFTPLUS};
use crate::microcircuit::steady::cpu::Coef;
use crate::microcircuit::{InstanceParams, LayerWeights, Mat, Shape, Transfer, Weights};

/// Declares word indices once for Rust and WGSL.
macro_rules! words {
    ($($(#[$doc:meta])* $name:ident = $val:expr),* $(,)?) => {
        // some words are read only by the kernel, through the constants
        $($(#[$doc])* #[allow(dead_code)] pub(super) const $name: usize = $val;)*
        /// Every word index by name, for the kernel's constants.
        const WORDS: &[(&str, usize)] = &[$((stringify!($name), $val)),*];
    };
}

words! {
    // ---- header of the table ----
    /// Layers with neurons, N.
    S_N = 0,
    S_N_IN = 1,
    S_N_OUT = 2,
    /// 1 when the shape has a bias unit.
    S_BIAS = 3,
    /// f32 words of state per instance.
    S_STRIDE = 4,
    /// Words from a matrix to its Δ: the words of all weights rounded up to a multiple of 4
    /// ([`Layout::delta_at`]), so that a row and its Δ share their alignment to 4 words.
    S_W_TOTAL = 5,
    /// State offsets of `r_0` (= `pre[0]`) and `u_tgt`.
    S_X = 6,
    S_TGT = 7,
    /// Where the parameter records start, and their length.
    S_PARAMS = 8,
    S_PARAMS_STRIDE = 9,
    /// φ: code, γ, β, θ (4 words).
    S_PHI = 10,
    /// Where the layer records start, and their length.
    S_LAYERS = 14,
    S_LAYER_STRIDE = 18,
    // ---- layer record (layer l of N): sizes, then state offsets ----
    /// Columns of `W_up[l]` (inputs plus bias).
    SL_NPRE = 0,
    SL_NPYR = 1,
    /// Interneurons (0 for the output layer).
    SL_NINT = 2,
    SL_HIDDEN = 3,
    SL_W_UP = 4,
    SL_W_DOWN = 5,
    SL_W_PI = 6,
    SL_W_IP = 7,
    SL_U_P = 8,
    SL_U_I = 9,
    SL_V_B = 10,
    SL_V_A = 11,
    SL_V_D = 12,
    /// `W_down[l]·φ(u^P[l+1])`, kept for the top-down rule.
    SL_V_DOWN = 13,
    /// `pre[l]`, `pre[l+1] = [φ(u^P[l]), b]`, `pre[l+2] = [φ(u^P[l+1]), b]`, `φ(u^I[l])`.
    SL_PRE = 14,
    SL_PRE_NEXT = 15,
    SL_PRE_ABOVE = 16,
    SL_R_I = 17,
    // ---- parameter record (f32 bits unless marked u32) ----
    SP_GL = 0,
    SP_GB = 1,
    SP_GA = 2,
    SP_GD = 3,
    SP_GSOM = 4,
    SP_C_HIDDEN = 5,
    SP_C_OUTPUT = 6,
    SP_C_INTER = 7,
    /// `a = dT/(τ_w + dT)`.
    SP_A = 8,
    /// Relaxation passes (u32).
    SP_PASSES = 9,
    /// Relaxation + update rounds of a training pattern: `n_exposures` when some matrix is
    /// plastic, else 1 (u32).
    SP_EXPOSURES = 10,
    /// 1 when some matrix is plastic (u32).
    SP_LEARN = 11,
    /// 1 with reset_deltas (u32).
    SP_RESET = 12,
    /// `dT·η` of kind k (0 up, 1 pi, 2 ip, 3 down) of layer l at `SP_ETA + k·N + l`.
    SP_ETA = 13,
    // ---- operations (the `op` of a dispatch) ----
    OP_UP = 0,
    OP_DOWN = 1,
    OP_LEARN = 2,
}

/// WGSL `const` declarations of every word index.
pub(super) fn wgsl_constants() -> String {
    WORDS
        .iter()
        .map(|(name, v)| format!("const {name}: u32 = {v}u;\n"))
        .collect()
}

/// Offsets of one instance's state (words from the instance's start).
#[derive(Clone, Debug)]
pub(super) struct Layout {
    pub shape: Shape,
    pub phi: Transfer,
    /// Words per instance, a multiple of 4 (every instance starts on a 16-byte boundary).
    pub stride: usize,
    /// Words of all weights.
    pub w_total: usize,
    /// Where Δ starts: `w_total` rounded up to a multiple of 4.
    pub delta_at: usize,
    /// The layer records of the table.
    layers: Vec<[u32; S_LAYER_STRIDE]>,
    u_p: Vec<usize>,
    u_i: Vec<usize>,
    /// `pre[l]` for `l = 0..=N`, each with the bias slot when the shape has one.
    pre: Vec<usize>,
    r_i: Vec<usize>,
    tgt: usize,
}

impl Layout {
    /// Weights and Δ first (matrices in the order of [`Weights::named`]), then per layer the
    /// somas, dendrites and rates, then `u_tgt`. Δ starts and the record ends on a multiple of
    /// 4 words (up to 3 unused words each), so the blocks kernel's `vec4` chunks of a W row and
    /// of its Δ line up, and lie alike in every instance of a batch.
    pub fn new(shape: &Shape, phi: Transfer) -> Self {
        let n = shape.n_layers();
        let mut at = 0;
        let mut take = |len: usize| {
            at += len;
            at - len
        };
        let zeros = Weights::<f64>::zeros(shape);
        let mut w_off = vec![[0usize; 4]; n];
        for (l, lw) in zeros.layers.iter().enumerate() {
            for (k, m) in [
                Some(&lw.up),
                lw.down.as_ref(),
                lw.pi.as_ref(),
                lw.ip.as_ref(),
            ]
            .into_iter()
            .enumerate()
            {
                if let Some(m) = m {
                    w_off[l][k] = take(m.data.len());
                }
            }
        }
        let w_total = take(0);
        let delta_at = w_total.next_multiple_of(4);
        take(delta_at - w_total);
        take(w_total);
        let pyr = |l: usize| shape.n_pyr(l);
        let inter = |l: usize| shape.n_inter(l);
        let u_p: Vec<usize> = (0..n).map(|l| take(pyr(l))).collect();
        let u_i: Vec<usize> = (0..n).map(|l| take(inter(l))).collect();
        let v_b: Vec<usize> = (0..n).map(|l| take(pyr(l))).collect();
        let v_a: Vec<usize> = (0..n).map(|l| take(pyr(l))).collect();
        let v_d: Vec<usize> = (0..n).map(|l| take(inter(l))).collect();
        let v_down: Vec<usize> = (0..n).map(|l| take(pyr(l))).collect();
        let pre: Vec<usize> = (0..=n)
            .map(|l| take(shape.with_bias(shape.dims[l])))
            .collect();
        let r_i: Vec<usize> = (0..n).map(|l| take(inter(l))).collect();
        let tgt = take(shape.n_out());
        let layers = (0..n)
            .map(|l| {
                let mut r = [0u32; S_LAYER_STRIDE];
                let hidden = shape.is_hidden(l);
                for (field, v) in [
                    (SL_NPRE, shape.with_bias(shape.dims[l])),
                    (SL_NPYR, pyr(l)),
                    (SL_NINT, inter(l)),
                    (SL_HIDDEN, usize::from(hidden)),
                    (SL_W_UP, w_off[l][0]),
                    (SL_W_DOWN, w_off[l][1]),
                    (SL_W_PI, w_off[l][2]),
                    (SL_W_IP, w_off[l][3]),
                    (SL_U_P, u_p[l]),
                    (SL_U_I, u_i[l]),
                    (SL_V_B, v_b[l]),
                    (SL_V_A, v_a[l]),
                    (SL_V_D, v_d[l]),
                    (SL_V_DOWN, v_down[l]),
                    (SL_PRE, pre[l]),
                    (SL_PRE_NEXT, pre[l + 1]),
                    (SL_PRE_ABOVE, if hidden { pre[l + 2] } else { 0 }),
                    (SL_R_I, r_i[l]),
                ] {
                    r[field] = v as u32;
                }
                r
            })
            .collect();
        Layout {
            shape: shape.clone(),
            phi,
            stride: take(0).next_multiple_of(4),
            w_total,
            delta_at,
            layers,
            u_p,
            u_i,
            pre,
            r_i,
            tgt,
        }
    }

    /// The layer records of the table (sizes and state offsets), layer by layer.
    pub fn records(&self) -> &[[u32; S_LAYER_STRIDE]] {
        &self.layers
    }

    /// Words of one parameter record.
    fn params_len(&self) -> usize {
        SP_ETA + 4 * self.shape.n_layers()
    }

    /// The table for a group of instances: header, layer records, one parameter record per
    /// instance with the CPU's f32 constants ([`Coef`]), so both backends start from
    /// bit-identical factors.
    pub fn table(&self, params: &[InstanceParams]) -> Vec<u32> {
        let n = self.shape.n_layers();
        let params_at = S_LAYERS + n * S_LAYER_STRIDE;
        let mut t = vec![0u32; params_at + params.len() * self.params_len()];
        let (code, gamma, beta, theta) = phi_words(self.phi);
        for (word, v) in [
            (S_N, n as u32),
            (S_N_IN, self.shape.n_in() as u32),
            (S_N_OUT, self.shape.n_out() as u32),
            (S_BIAS, u32::from(self.shape.bias)),
            (S_STRIDE, self.stride as u32),
            (S_W_TOTAL, self.delta_at as u32),
            (S_X, self.pre[0] as u32),
            (S_TGT, self.tgt as u32),
            (S_PARAMS, params_at as u32),
            (S_PARAMS_STRIDE, self.params_len() as u32),
            (S_PHI, code),
            (S_PHI + 1, gamma),
            (S_PHI + 2, beta),
            (S_PHI + 3, theta),
        ] {
            t[word] = v;
        }
        for (l, r) in self.layers.iter().enumerate() {
            t[S_LAYERS + l * S_LAYER_STRIDE..][..S_LAYER_STRIDE].copy_from_slice(r);
        }
        for (i, p) in params.iter().enumerate() {
            let rec = &mut t[params_at + i * self.params_len()..][..self.params_len()];
            let k = Coef::<f32>::new(p);
            let learn = k.any_plastic();
            for (word, v) in [
                (SP_GL, k.gl),
                (SP_GB, k.gb),
                (SP_GA, k.ga),
                (SP_GD, k.gd),
                (SP_GSOM, k.gsom),
                (SP_C_HIDDEN, k.c_hidden),
                (SP_C_OUTPUT, k.c_output),
                (SP_C_INTER, k.c_inter),
                (SP_A, k.a),
            ] {
                rec[word] = v.to_bits();
            }
            rec[SP_PASSES] = p.n_passes as u32;
            rec[SP_EXPOSURES] = if learn { p.n_exposures as u32 } else { 1 };
            rec[SP_LEARN] = u32::from(learn);
            rec[SP_RESET] = u32::from(p.reset_deltas);
            for (kind, etas) in [&k.eta_up, &k.eta_pi, &k.eta_ip, &k.eta_down]
                .into_iter()
                .enumerate()
            {
                for (l, e) in etas.iter().enumerate().take(n) {
                    rec[SP_ETA + kind * n + l] = e.to_bits();
                }
            }
        }
        t
    }

    /// One instance's state words: weights, Δ and somas of `st`, the rates computed from the
    /// somas (bias slots = `bias`), `r_0` and `u_tgt`; dendrites 0 (every pattern recomputes them
    /// before reading them).
    pub fn pack(&self, st: &State<f64>, bias: f64) -> anyhow::Result<Vec<f32>> {
        let shape = &self.shape;
        let mut words = vec![0f32; self.stride];
        let named = st.w.named();
        let expected = Weights::<f64>::zeros(shape);
        let want = expected.named();
        anyhow::ensure!(
            named.len() == want.len()
                && named
                    .iter()
                    .zip(&want)
                    .all(|((a, x), (b, y))| a == b && (x.rows, x.cols) == (y.rows, y.cols)),
            "the state does not fit {}",
            shape.label()
        );
        for (start, mats) in [(0, named), (self.delta_at, st.delta.named())] {
            let mut at = start;
            for (_, m) in mats {
                put(&mut words[at..], &m.data);
                at += m.data.len();
            }
        }
        let f = |v: &[f64]| -> Vec<f32> { v.iter().map(|&a| a as f32).collect() };
        let rates =
            |v: &[f64]| -> Vec<f32> { v.iter().map(|&a| self.phi.apply(a as f32)).collect() };
        for l in 0..shape.n_layers() {
            words[self.u_p[l]..][..st.u_p[l].len()].copy_from_slice(&f(&st.u_p[l]));
            let r = rates(&st.u_p[l]);
            words[self.pre[l + 1]..][..r.len()].copy_from_slice(&r);
        }
        for (l, u) in st.u_i.iter().enumerate() {
            words[self.u_i[l]..][..u.len()].copy_from_slice(&f(u));
            words[self.r_i[l]..][..u.len()].copy_from_slice(&rates(u));
        }
        words[self.pre[0]..][..st.r0.len()].copy_from_slice(&f(&st.r0));
        words[self.tgt..][..st.u_tgt.len()].copy_from_slice(&f(&st.u_tgt));
        if shape.bias {
            for (l, &p) in self.pre.iter().enumerate() {
                words[p + shape.dims[l]] = bias as f32;
            }
        }
        Ok(words)
    }

    /// The weights in an instance's leading `w_total` words.
    pub fn unpack_weights(&self, words: &[f32]) -> Weights<f64> {
        let mut w = Weights::<f64>::zeros(&self.shape);
        let mut at = 0;
        for m in w.layers.iter_mut().flat_map(LayerWeights::matrices_mut) {
            take_into(m, &words[at..]);
            at += m.data.len();
        }
        w
    }

    /// The state in an instance's words (`step` 0: nothing here counts time steps).
    pub fn unpack(&self, words: &[f32]) -> State<f64> {
        let vec = |at: usize, len: usize| -> Vec<f64> {
            words[at..at + len].iter().map(|&v| f64::from(v)).collect()
        };
        let shape = &self.shape;
        let n = shape.n_layers();
        State {
            w: self.unpack_weights(words),
            delta: self.unpack_weights(&words[self.delta_at..]),
            u_p: (0..n).map(|l| vec(self.u_p[l], shape.n_pyr(l))).collect(),
            u_i: (0..n - 1)
                .map(|l| vec(self.u_i[l], shape.n_inter(l)))
                .collect(),
            r0: vec(self.pre[0], shape.n_in()),
            u_tgt: vec(self.tgt, shape.n_out()),
            step: 0,
        }
    }

    /// Loop iterations one invocation with `wg` threads runs in the costliest dispatch (every
    /// matrix counted as plastic), mirroring the loops of the kernel.
    pub fn max_trips(&self, wg: usize) -> u64 {
        let dot = |n: u32| u64::from(n / 8 + n % 8) + 2;
        let rows = |n: u32| u64::from(n).div_ceil(wg as u64);
        let s = &self.shape;
        let copy = (s.n_in() + s.n_out()).div_ceil(wg) as u64;
        self.layers
            .iter()
            .map(|r| {
                let (npre, m, mi) = (r[SL_NPRE], r[SL_NPYR], r[SL_NINT]);
                let nip = m + u32::from(s.bias);
                let apical = if r[SL_HIDDEN] == 1 { 2 * dot(mi) } else { 0 };
                let up = copy + rows(m) * (1 + dot(npre) + apical) + rows(mi) * (1 + dot(nip));
                let down = rows(mi) + rows(m) * (1 + apical);
                let learn = rows(m)
                    * (1 + dot(npre) + u64::from(npre) + apical + 2 * u64::from(mi))
                    + rows(mi) * (1 + dot(nip) + u64::from(nip));
                up.max(down).max(learn)
            })
            .max()
            .unwrap_or(0)
    }
}

/// φ as the kernel reads it: the PHI_* code of the full model's kernels, then γ, β, θ as f32 bits.
fn phi_words(phi: Transfer) -> (u32, u32, u32, u32) {
    let f = |x: f64| (x as f32).to_bits();
    match phi {
        Transfer::Sigmoid => (PHI_SIGMOID as u32, 0, 0, 0),
        Transfer::Softplus => (PHI_SOFTPLUS as u32, 0, 0, 0),
        Transfer::ScaledSoftplus { gamma, beta, theta } => {
            (PHI_SCALED_SOFTPLUS as u32, f(gamma), f(beta), f(theta))
        }
    }
}

/// Copies `src` into the front of `dst`, rounded to f32.
fn put(dst: &mut [f32], src: &[f64]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s as f32;
    }
}

/// Fills `m` from the front of `words`.
fn take_into(m: &mut Mat<f64>, words: &[f32]) {
    for (d, &s) in m.data.iter_mut().zip(words) {
        *d = f64::from(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_and_stride_are_aligned_to_4_words_and_pack_round_trips() {
        // [4,120,3]: 2 046 weight words, Δ after 2 words of padding
        let shape = Shape::new(vec![4, 120, 3], true);
        let l = Layout::new(&shape, Transfer::Sigmoid);
        assert_eq!(l.w_total, 2046);
        assert_eq!(l.delta_at, 2048);
        assert_eq!(l.stride % 4, 0);
        assert_eq!(l.table(&[])[S_W_TOTAL], 2048);
        // distinct f32-exact values in every weight and Δ, so a shifted Δ cannot round-trip
        let mut st = State::new(&shape, Weights::<f64>::zeros(&shape));
        let mut k = 0.0;
        for w in [&mut st.w, &mut st.delta] {
            for m in w.layers.iter_mut().flat_map(LayerWeights::matrices_mut) {
                for v in &mut m.data {
                    k += 1.0;
                    *v = k;
                }
            }
        }
        let words = l.pack(&st, 1.0).unwrap();
        assert_eq!(words.len(), l.stride);
        assert_eq!(
            &words[2044..2050],
            &[2045.0, 2046.0, 0.0, 0.0, 2047.0, 2048.0]
        );
        let back = l.unpack(&words);
        assert_eq!(back.w.named(), st.w.named());
        assert_eq!(back.delta.named(), st.delta.named());
    }
}
