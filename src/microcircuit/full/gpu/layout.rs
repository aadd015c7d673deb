//! Memory layout shared by the host and the kernels: where each instance keeps its weights, Δ,
//! somas and work vectors in the flat f32 buffers, and the `meta` word table that tells the
//! kernel these offsets and the per-instance parameters.
//!
//! The word indices are Rust constants; `wgsl_prelude` emits the same names as WGSL `const`
//! declarations that are prepended to every kernel, so the two sides cannot drift apart.

use crate::gpu::compute::LOOP_BUDGET;
use crate::microcircuit::full::cpu::{Consts, State};
use crate::microcircuit::{InstanceParams, Mat, Shape, Transfer, Weights};

/// Declares word indices once for Rust and WGSL.
macro_rules! words {
    ($($(#[$doc:meta])* $name:ident = $val:expr),* $(,)?) => {
        // some words are read only by the kernels, through the prelude
        $($(#[$doc])* #[allow(dead_code)] pub(crate) const $name: usize = $val;)*
        /// Every word index by name, for the WGSL prelude.
        const WORDS: &[(&str, usize)] = &[$((stringify!($name), $val)),*];
    };
}

words! {
    /// Steps per block of the two-level readout sum.
    ACC_BLOCK = 64,
    // ---- header of the meta table ----
    /// Layers with neurons, N.
    H_N = 0,
    H_N_IN = 1,
    H_N_OUT = 2,
    /// 1 when the shape has a bias unit.
    H_BIAS = 3,
    /// f32 words of state per instance.
    H_STATE_STRIDE = 4,
    /// f32 words of scratch per instance.
    H_SCRATCH_STRIDE = 5,
    /// Words of all weights of one instance; Δ of a matrix lies this far after the matrix
    /// (serial kernel: W and Δ interleaved in chunks of 4 words, see [`Layout::w_word`]).
    H_W_TOTAL = 6,
    /// State offset of the filtered input `r_0`.
    H_R0 = 7,
    /// State offset of the filtered target `u_tgt`.
    H_UTGT = 8,
    /// Scratch offset of the readout sums (n_out words); the workgroup kernel keeps the sums of
    /// the current block of ACC_BLOCK steps right behind them.
    H_ACC = 9,
    /// Word where the per-instance parameter records start.
    H_PARAMS = 10,
    /// Words per parameter record.
    H_PARAMS_STRIDE = 11,
    /// φ: one of the PHI_* codes, then γ, β, θ as f32 bits.
    H_PHI = 12,
    H_PHI_GAMMA = 13,
    H_PHI_BETA = 14,
    H_PHI_THETA = 15,
    /// Scratch offset of the block sums of the readout (n_out words).
    H_ACC_BLOCK = 16,
    /// Word where the per-layer records start.
    H_LAYERS = 17,
    PHI_SIGMOID = 0,
    PHI_SOFTPLUS = 1,
    PHI_SCALED_SOFTPLUS = 2,
    // ---- per-layer record (layer l of N) ----
    /// Columns of `W_up[l]` (inputs plus bias).
    L_NPRE = 0,
    L_NPYR = 1,
    /// Interneurons (0 for the output layer).
    L_NINT = 2,
    /// 1 for hidden layers.
    L_HIDDEN = 3,
    /// State offsets of the matrices (Δ at +H_W_TOTAL) and somas.
    L_W_UP = 4,
    L_W_DOWN = 5,
    L_W_PI = 6,
    L_W_IP = 7,
    L_U_P = 8,
    L_U_I = 9,
    /// Scratch offsets: `pre[l]` (presynaptic vector of `W_up[l]`), `pre[l+1]` (= `φ(u^P[l])`
    /// plus bias), `φ(u^I[l])`, soma increments and plasticity errors.
    L_PRE = 10,
    L_PRE_NEXT = 11,
    L_R_I = 12,
    L_DU_P = 13,
    L_DU_I = 14,
    L_E_UP = 15,
    L_E_PI = 16,
    L_E_IP = 17,
    L_E_DOWN = 18,
    /// Noise index of the first pyramidal cell / interneuron of the layer.
    L_NOISE_P = 19,
    L_NOISE_I = 20,
    /// Columns of `u^P[l]` and `u^I[l]` in a trace sample (see [`Layout::record_columns`]).
    L_REC_P = 21,
    L_REC_I = 22,
    L_STRIDE = 23,
    // ---- per-instance parameter record ----
    P_GL = 0,
    P_GB = 1,
    P_GA = 2,
    P_GD = 3,
    P_GSOM = 4,
    P_DT = 5,
    /// `dt/τ0`
    P_K0 = 6,
    /// `dt/τ_w`
    P_KW = 7,
    P_C_HIDDEN = 8,
    P_C_OUTPUT = 9,
    P_C_INTER = 10,
    /// `sqrt(dt)·σ`
    P_NOISE = 11,
    P_BIAS = 12,
    /// Steps per pattern, learning lag and readout lag in steps (u32).
    P_STEPS = 13,
    P_LAG = 14,
    P_OUT_LAG = 15,
    /// 1 when Δ is zeroed after each training pattern.
    P_RESET = 16,
    P_SEED_LO = 17,
    P_SEED_HI = 18,
    /// `dt·η` for kind k (0 up, 1 pi, 2 ip, 3 down) of layer l at `P_ETA + k·N + l`.
    P_ETA = 19,
}

/// WGSL `const` declarations of every word index and of `WG`, the threads per workgroup
/// (one workgroup runs one instance).
pub(crate) fn wgsl_prelude(wg: usize) -> String {
    let mut out = format!("const WG: u32 = {wg}u;\n");
    for (name, v) in WORDS {
        out += &format!("const {name}: u32 = {v}u;\n");
    }
    out
}

/// Which integrator kernel runs the instances; it decides the layout's alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelKind {
    /// `step.wgsl`, fused: one workgroup per instance, whose threads share the rows
    /// and matrix entries, with barriers between the phases of a step, many steps per
    /// dispatch. For GPUs and networks whose step is small.
    Workgroup,
    /// `step.wgsl`, phased: several workgroups per instance sharing its rows and
    /// entries, one dispatch per phase of a step. For networks whose step is too much work
    /// for one workgroup (or, on CPU drivers, for llvmpipe's loop limit).
    Phased,
    /// `serial.wgsl`: one invocation per instance runs the whole step, rows padded to
    /// multiples of 4 words and read as `vec4`, each chunk of 4 weights followed by its 4 Δ so
    /// that one 64-bit `vec4` access moves both. For CPU drivers, which run the invocations of
    /// a workgroup as SIMD lanes and pay per vector memory access, not per lane.
    Serial,
    /// `resident.wgsl` (generated per shape by the `resident` module): the fused kernel's
    /// steps with the instance's W, Δ, somas and work vectors held in workgroup memory for a
    /// whole dispatch window, read from and written back to the state buffer only at the
    /// window's ends, `workgroupBarrier()` between the phases. For GPUs, where the instance's
    /// state fits `max_compute_workgroup_storage_size`.
    Resident,
    /// `register.wgsl` (generated per shape by the `register` module): networks with one
    /// hidden layer, one workgroup per instance whose thread i owns hidden cell i (its soma,
    /// its rows of `W_up0`, `W_down0`, `W_pi0` and its columns of `W_ip0`, `W_up1`, with Δ) in
    /// registers for a whole dispatch window; row sums over the hidden cells by a fixed-order
    /// tree in workgroup memory. For GPUs (docs/gpu.md section 3.1); only when forced.
    Register,
}

impl KernelKind {
    /// Every kernel, in the order `--gpu-kernel` lists them.
    pub const ALL: [KernelKind; 5] = [
        KernelKind::Serial,
        KernelKind::Workgroup,
        KernelKind::Phased,
        KernelKind::Resident,
        KernelKind::Register,
    ];

    /// The name `--gpu-kernel` takes: `serial`, `workgroup`, `phased`, `resident`,
    /// `register`.
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Serial => "serial",
            KernelKind::Workgroup => "workgroup",
            KernelKind::Phased => "phased",
            KernelKind::Resident => "resident",
            KernelKind::Register => "register",
        }
    }

    /// The kernel `--gpu-kernel NAME` forces: `None` for `auto` (the backend chooses by the
    /// adapter), an error naming the allowed names for anything else.
    pub fn forced(name: &str) -> Result<Option<KernelKind>, String> {
        if name == "auto" {
            return Ok(None);
        }
        KernelKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .map(Some)
            .ok_or_else(|| {
                let names: Vec<&str> = KernelKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown `{name}`, allowed: auto, {}", names.join(", "))
            })
    }

    /// Alignment (words) of matrix rows and scratch vectors.
    fn align(self) -> usize {
        match self {
            KernelKind::Workgroup
            | KernelKind::Phased
            | KernelKind::Resident
            | KernelKind::Register => 1,
            KernelKind::Serial => 4,
        }
    }

    /// Alignment (words) of an instance's state: the serial kernel reads W and Δ as 64-bit
    /// `vec4`s (8 words).
    fn state_align(self) -> usize {
        match self {
            KernelKind::Workgroup
            | KernelKind::Phased
            | KernelKind::Resident
            | KernelKind::Register => 1,
            KernelKind::Serial => 8,
        }
    }
}

/// Columns up to which the serial kernel stores a matrix in blocks of 4 rows (see [`Slot`]) and
/// holds a row block in registers.
pub(crate) const SHORT_COLS: usize = 16;

/// Where one weight matrix lives among the `w_total` weight words of an instance (which
/// [`Layout::w_word`] places in the state, with their Δ): row-major with rows `stride` words
/// apart, or `blocked`: in blocks of 4 rows stored column by column, entry (i, j) at
/// `offset + (i/4)·4·cols + 4j + i%4`, so that one `vec4` holds one column of a row block.
/// Padding is zero.
#[derive(Clone, Debug)]
struct Slot {
    name: String,
    offset: usize,
    rows: usize,
    cols: usize,
    stride: usize,
    blocked: bool,
}

impl Slot {
    fn index(&self, i: usize, j: usize) -> usize {
        match self.blocked {
            true => self.offset + (i / 4) * 4 * self.cols + 4 * j + i % 4,
            false => self.offset + i * self.stride + j,
        }
    }

    /// Words taken, padding included.
    fn len(&self) -> usize {
        match self.blocked {
            true => self.rows.next_multiple_of(4) * self.cols,
            false => self.rows * self.stride,
        }
    }
}

/// The per-instance layout of the state and scratch buffers for one shape.
///
/// State of an instance: `[W | Δ | u^P of every layer | u^I of every hidden layer | r_0 | u_tgt]`,
/// the matrices in the order of [`Weights::named`] (layer by layer: up, down, pi, ip), each
/// row-major with rows aligned for the kernel or, for the serial kernel and at most
/// [`SHORT_COLS`] columns, in row blocks; vectors and the per-instance length are aligned too.
/// The serial kernel interleaves W and Δ in chunks of 4 words (`[W 0..4 | Δ 0..4 | W 4..8 |
/// Δ 4..8 | …]`, see [`Layout::w_word`]), the same `2·w_total` words in all.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub shape: Shape,
    /// Threads per workgroup of the kernel this layout is used with.
    pub wg: usize,
    pub kernel: KernelKind,
    /// f32 words of state per instance.
    pub state_len: usize,
    /// f32 words of scratch per instance.
    pub scratch_len: usize,
    /// Words of all weights (= words of all Δ).
    pub w_total: usize,
    /// The resident kernel's spilled matrices: indices (in [`Weights::named`] order) of the
    /// matrices whose W and Δ stay in the state buffer while everything else is in workgroup
    /// memory (`resident::check_fits` picks them for a device; empty: the whole state is
    /// resident, and always for the other kernels).
    pub spilled: Vec<usize>,
    /// Header and layer records of the meta table (the parameter records follow).
    table: Vec<u32>,
    slots: Vec<Slot>,
}

impl Layout {
    pub fn new(shape: &Shape, phi: Transfer, wg: usize, kernel: KernelKind) -> Self {
        let n = shape.n_layers();
        let wb = |k: usize| shape.with_bias(k);
        let pad = |k: usize| k.next_multiple_of(kernel.align());
        let mut table = vec![0u32; H_LAYERS + n * L_STRIDE];
        let mut slots = Vec::new();
        // weights, in the order of Weights::named
        let mut off = 0;
        let zeros = Weights::<f32>::zeros(shape);
        for (name, m) in zeros.named() {
            let slot = Slot {
                name,
                offset: off,
                rows: m.rows,
                cols: m.cols,
                stride: pad(m.cols),
                blocked: kernel == KernelKind::Serial && m.cols <= SHORT_COLS,
            };
            off += slot.len();
            slots.push(slot);
        }
        let w_total = off;
        let slot = |name: String| slots.iter().find(|s| s.name == name).map(|s| s.offset);
        let mut st = 2 * w_total; // after W and Δ
        let mut sc = 0;
        // a scratch vector of k words, aligned
        let mut take = |k: usize| {
            let o = sc;
            sc += pad(k);
            o
        };
        // pre[l] for l = 0..=N, each with room for the bias unit
        let pre: Vec<usize> = (0..=n).map(|l| take(wb(shape.dims[l]))).collect();
        let mut noise = 0;
        for l in 0..n {
            let (np, ni) = (shape.n_pyr(l), shape.n_inter(l));
            let rec = &mut table[H_LAYERS + l * L_STRIDE..H_LAYERS + (l + 1) * L_STRIDE];
            let mut put = |field: usize, v: usize| rec[field] = v as u32;
            put(L_NPRE, wb(shape.dims[l]));
            put(L_NPYR, np);
            put(L_NINT, ni);
            put(L_HIDDEN, usize::from(shape.is_hidden(l)));
            put(L_W_UP, slot(format!("layer{l}.W_up")).unwrap());
            for (field, kind) in [(L_W_DOWN, "W_down"), (L_W_PI, "W_pi"), (L_W_IP, "W_ip")] {
                put(field, slot(format!("layer{l}.{kind}")).unwrap_or(0));
            }
            st = pad(st);
            put(L_U_P, st);
            st += np;
            put(L_PRE, pre[l]);
            put(L_PRE_NEXT, pre[l + 1]);
            for field in [L_DU_P, L_E_UP, L_E_PI, L_E_DOWN] {
                put(field, take(np));
            }
            for field in [L_R_I, L_DU_I, L_E_IP] {
                put(field, take(ni));
            }
            put(L_NOISE_P, noise);
            noise += np;
        }
        // interneuron somas after all pyramidal somas; noise indices likewise
        for l in 0..n {
            let ni = shape.n_inter(l);
            st = pad(st);
            table[H_LAYERS + l * L_STRIDE + L_U_I] = st as u32;
            table[H_LAYERS + l * L_STRIDE + L_NOISE_I] = noise as u32;
            st += ni;
            noise += ni;
        }
        // columns of the somas in a trace sample: u_out first, hidden layers after u_tgt and r_0
        let mut col = 2 * shape.n_out() + shape.n_in();
        for l in 0..n {
            let rec = &mut table[H_LAYERS + l * L_STRIDE..H_LAYERS + (l + 1) * L_STRIDE];
            if shape.is_hidden(l) {
                rec[L_REC_P] = col as u32;
                rec[L_REC_I] = (col + shape.n_pyr(l)) as u32;
                col += shape.n_pyr(l) + shape.n_inter(l);
            }
        }
        let r0 = pad(st);
        let utgt = pad(r0 + shape.n_in());
        let st = pad(utgt + shape.n_out()).next_multiple_of(kernel.state_align());
        let acc = take(shape.n_out());
        let acc_block = take(shape.n_out());
        let (code, gamma, beta, theta) = match phi {
            Transfer::Sigmoid => (PHI_SIGMOID, 0.0, 0.0, 0.0),
            Transfer::Softplus => (PHI_SOFTPLUS, 0.0, 0.0, 0.0),
            Transfer::ScaledSoftplus { gamma, beta, theta } => {
                (PHI_SCALED_SOFTPLUS, gamma, beta, theta)
            }
        };
        let f = |x: f64| (x as f32).to_bits();
        let header = [
            (H_N, n as u32),
            (H_N_IN, shape.n_in() as u32),
            (H_N_OUT, shape.n_out() as u32),
            (H_BIAS, u32::from(shape.bias)),
            (H_STATE_STRIDE, st as u32),
            (H_SCRATCH_STRIDE, sc as u32),
            (H_W_TOTAL, w_total as u32),
            (H_R0, r0 as u32),
            (H_UTGT, utgt as u32),
            (H_ACC, acc as u32),
            (H_ACC_BLOCK, acc_block as u32),
            (H_PARAMS, table.len() as u32),
            (H_PARAMS_STRIDE, (P_ETA + 4 * n) as u32),
            (H_PHI, code as u32),
            (H_PHI_GAMMA, f(gamma)),
            (H_PHI_BETA, f(beta)),
            (H_PHI_THETA, f(theta)),
        ];
        for (i, v) in header {
            table[i] = v;
        }
        Layout {
            shape: shape.clone(),
            wg,
            kernel,
            state_len: st,
            scratch_len: sc,
            w_total,
            spilled: Vec::new(),
            table,
            slots,
        }
    }

    /// Each weight matrix's name, first state word and words (padding included), in
    /// [`Weights::named`] order; its Δ is the same words `w_total` further on (kernels other
    /// than the serial one).
    pub fn matrices(&self) -> Vec<(&str, usize, usize)> {
        self.slots
            .iter()
            .map(|s| (s.name.as_str(), s.offset, s.len()))
            .collect()
    }

    /// Words of W of the resident kernel's spilled matrices ([`Layout::spilled`]): the
    /// workgroup copy of the state is `state_len − 2·spilled_words()` words.
    pub fn spilled_words(&self) -> usize {
        self.spilled.iter().map(|&i| self.slots[i].len()).sum()
    }

    /// The state word of weight word `w` (an offset among the `w_total` weight words, as the
    /// layer records give them), or of its Δ when `delta`: `w` and `w + w_total`, or for the
    /// serial kernel, which keeps each chunk of 4 weights next to its 4 Δ, `8⌊w/4⌋ + w mod 4`
    /// and 4 words further.
    pub fn w_word(&self, w: usize, delta: bool) -> usize {
        match self.kernel {
            KernelKind::Workgroup
            | KernelKind::Phased
            | KernelKind::Resident
            | KernelKind::Register => w + usize::from(delta) * self.w_total,
            KernelKind::Serial => 8 * (w / 4) + w % 4 + usize::from(delta) * 4,
        }
    }

    /// Words at the start of an instance's state that hold all its weights: `w_total`, or
    /// `2·w_total` where W and Δ are interleaved (serial kernel).
    pub fn weight_words(&self) -> usize {
        match self.kernel {
            KernelKind::Workgroup
            | KernelKind::Phased
            | KernelKind::Resident
            | KernelKind::Register => self.w_total,
            KernelKind::Serial => 2 * self.w_total,
        }
    }

    /// Word `field` (an `L_*` index) of layer `l`'s record: an offset or a size.
    pub fn layer_word(&self, l: usize, field: usize) -> usize {
        self.table[H_LAYERS + l * L_STRIDE + field] as usize
    }

    /// Whether matrix `name` (e.g. `layer0.W_up`) is stored in row blocks.
    pub fn blocked(&self, name: &str) -> bool {
        self.slots.iter().any(|s| s.name == name && s.blocked)
    }

    /// Word `field` (an `H_*` index) of the header.
    pub fn header_word(&self, field: usize) -> usize {
        self.table[field] as usize
    }

    /// Words of one parameter record.
    pub fn params_len(&self) -> usize {
        P_ETA + 4 * self.shape.n_layers()
    }

    /// Upper bound of the loop iterations one thread of `step.wgsl` runs in one
    /// Euler step when `threads` threads share an instance: every loop counted with two extra
    /// trips (what llvmpipe's limiter charges: measured 106 per step for 3-9-2 where the trips
    /// alone are 90), every thread assumed to get the most rows of every layer. (The serial
    /// kernel's count comes with its source, [`super::serial::step_source`].)
    pub fn workgroup_trips_per_step(&self, threads: usize) -> u64 {
        let s = &self.shape;
        let n = s.n_layers() as u64;
        let per_thread = |k: usize| k.div_ceil(threads) as u64 + 2;
        let dot = |k: usize| (k / 4 + k % 4) as u64 + 4;
        let mut trips = 2 + per_thread(s.n_in()) + per_thread(s.n_out()) + 3 * (n + 2);
        for l in 0..s.n_layers() {
            let (np, ni, ncol) = (s.n_pyr(l), s.n_inter(l), s.with_bias(s.dims[l]));
            // phase A rates, phase C soma updates
            trips += 2 * (per_thread(np) + per_thread(ni));
            if s.is_hidden(l) {
                let nip = s.with_bias(np);
                trips += per_thread(np) * (dot(ncol) + 2 * dot(ni));
                trips += per_thread(ni) * dot(nip);
                // plasticity of up, ip, pi, down
                trips += per_thread(np * ncol) + per_thread(ni * nip) + 2 * per_thread(np * ni);
            } else {
                trips += per_thread(np) * dot(ncol) + per_thread(np * ncol);
            }
            trips += n + 2; // bias slots (one thread)
        }
        trips
    }

    /// Upper bound of the extra loop iterations at a pattern boundary with `threads` threads
    /// per instance (serial kernel: one): zeroing the readout sums, writing the readout, zeroing
    /// Δ (one loop per matrix in `step.wgsl`).
    pub fn loop_trips_per_pattern(&self, threads: usize) -> u64 {
        let n_out = self.shape.n_out();
        match self.kernel {
            KernelKind::Workgroup
            | KernelKind::Phased
            | KernelKind::Resident
            | KernelKind::Register => {
                let per_thread = |k: usize| k.div_ceil(threads) as u64 + 2;
                per_thread(2 * n_out) + per_thread(self.w_total) + 8 * self.shape.n_layers() as u64
            }
            // scalar loops over the readout, Δ zeroed in vec4 chunks
            KernelKind::Serial => (3 * n_out + self.w_total / 4) as u64 + 6,
        }
    }

    /// The arrays of a trace sample in order, with their widths: `u_out`, `u_tgt`, `r0`, then,
    /// when `all`, `layer{l}.u_p` and `layer{l}.u_i` of every hidden layer (what the CPU
    /// backend records). The layer records hold the columns of the somas (`L_REC_P`,
    /// `L_REC_I`).
    pub fn record_columns(&self, all: bool) -> Vec<(String, usize)> {
        let s = &self.shape;
        let mut out = vec![
            ("u_out".to_string(), s.n_out()),
            ("u_tgt".to_string(), s.n_out()),
            ("r0".to_string(), s.n_in()),
        ];
        if all {
            for l in 0..s.n_layers() - 1 {
                out.push((format!("layer{l}.u_p"), s.n_pyr(l)));
                out.push((format!("layer{l}.u_i"), s.n_inter(l)));
            }
        }
        out
    }

    /// Upper bound of the extra loop iterations of recording a sample of `width` words at a
    /// step, with `threads` threads per instance (0 when `width` is 0: nothing recorded).
    pub fn record_trips_per_step(&self, threads: usize, width: usize) -> u64 {
        let (n_in, n_out) = (self.shape.n_in(), self.shape.n_out());
        if width == 0 {
            return 0;
        }
        match self.kernel {
            // somas written where they are updated, u_tgt and r_0 in loops of their own
            KernelKind::Workgroup
            | KernelKind::Phased
            | KernelKind::Resident
            | KernelKind::Register => (n_out.div_ceil(threads) + n_in.div_ceil(threads)) as u64 + 4,
            // a scalar copy loop per array, a loop over the hidden layers
            KernelKind::Serial => (width + 3 * (2 + 2 * self.shape.n_layers())) as u64,
        }
    }

    /// Stream steps per dispatch such that no invocation exceeds [`LOOP_BUDGET`] loop
    /// iterations when the shortest pattern has `min_steps` steps (at least 1) and one step
    /// takes up to `step` loop iterations.
    pub fn steps_per_dispatch(&self, min_steps: usize, step: u64, threads: usize) -> usize {
        let pattern = self.loop_trips_per_pattern(threads);
        let m = min_steps.max(1) as u64;
        // window of S steps: S·step + (S/m + 2)·pattern + io ≤ budget
        // the resident kernel copies the state in and out once per window
        let io = match self.kernel {
            KernelKind::Resident => super::resident::io_trips(self, threads),
            // the most hidden cells a thread may own: a bound for every placement
            KernelKind::Register => super::register::io_trips(self, super::register::MAX_CELLS),
            _ => 0,
        };
        let room = LOOP_BUDGET.saturating_sub(2 * pattern + io);
        ((room * m) / (step * m + pattern)).max(1) as usize
    }

    /// The meta table for a group of instances: header, layer records, then one parameter
    /// record per instance. Constants are the CPU's f32 [`Consts`], so both backends start from
    /// bit-identical factors.
    pub fn meta(&self, params: &[InstanceParams]) -> Vec<u32> {
        let n = self.shape.n_layers();
        let mut out = self.table.clone();
        for p in params {
            let c = Consts::<f32>::new(p);
            let mut rec = vec![0u32; self.params_len()];
            let fields = [
                (P_GL, c.gl),
                (P_GB, c.gb),
                (P_GA, c.ga),
                (P_GD, c.gd),
                (P_GSOM, c.gsom),
                (P_DT, c.dt),
                (P_K0, c.k0),
                (P_KW, c.kw),
                (P_C_HIDDEN, c.c_hidden),
                (P_C_OUTPUT, c.c_output),
                (P_C_INTER, c.c_inter),
                (P_NOISE, c.noise_amp),
                (P_BIAS, c.bias),
            ];
            for (i, v) in fields {
                rec[i] = v.to_bits();
            }
            rec[P_STEPS] = p.steps_per_pattern() as u32;
            rec[P_LAG] = p.lag_steps() as u32;
            rec[P_OUT_LAG] = p.out_lag_steps() as u32;
            rec[P_RESET] = u32::from(p.reset_deltas);
            rec[P_SEED_LO] = p.seed as u32;
            rec[P_SEED_HI] = (p.seed >> 32) as u32;
            for (k, etas) in [&c.eta_dt_up, &c.eta_dt_pi, &c.eta_dt_ip, &c.eta_dt_down]
                .into_iter()
                .enumerate()
            {
                for (l, e) in etas.iter().enumerate().take(n) {
                    rec[P_ETA + k * n + l] = e.to_bits();
                }
            }
            out.extend(rec);
        }
        out
    }

    /// The vectors of an instance's state after W and Δ, each with its offset: `u^P` of every
    /// layer, `u^I` of every hidden layer, `r_0`, `u_tgt` (the order of [`State`]'s fields).
    fn vectors<'a, F>(&self, st: &'a State<F>) -> Vec<(usize, &'a [F])> {
        let mut out: Vec<(usize, &[F])> = Vec::new();
        out.extend(
            st.u_p
                .iter()
                .enumerate()
                .map(|(l, v)| (self.layer_word(l, L_U_P), &v[..])),
        );
        out.extend(
            st.u_i
                .iter()
                .enumerate()
                .map(|(l, v)| (self.layer_word(l, L_U_I), &v[..])),
        );
        out.push((self.header_word(H_R0), &st.r0));
        out.push((self.header_word(H_UTGT), &st.u_tgt));
        out
    }

    /// Whether `st` has the shape of this layout (every matrix and vector the right size).
    fn fits(&self, st: &State<f64>) -> bool {
        let reference = State::new(&self.shape, Weights::<f64>::zeros(&self.shape));
        let dims = |s: &State<f64>| {
            let mats = [&s.w, &s.delta]
                .into_iter()
                .flat_map(|w| w.named().into_iter().map(|(n, m)| (n, m.rows, m.cols)));
            let vecs = self.vectors(s).into_iter().map(|(o, v)| (o, v.len()));
            (mats.collect::<Vec<_>>(), vecs.collect::<Vec<_>>())
        };
        dims(st) == dims(&reference)
    }

    /// The state words of one instance: W and Δ (see [`Layout::w_word`]), then the somas and
    /// the filtered stimulus, each value rounded to f32 (exact for states that came from f32).
    /// Errors when `st` has another shape.
    pub fn pack(&self, st: &State<f64>) -> anyhow::Result<Vec<f32>> {
        anyhow::ensure!(
            self.fits(st),
            "the state does not have the shape {}",
            self.shape.label()
        );
        let mut out = vec![0.0f32; self.state_len];
        for (delta, w) in [(false, &st.w), (true, &st.delta)] {
            for ((_, m), s) in w.named().into_iter().zip(&self.slots) {
                for (i, row) in m.data.chunks_exact(s.cols).enumerate() {
                    for (j, &v) in row.iter().enumerate() {
                        out[self.w_word(s.index(i, j), delta)] = v as f32;
                    }
                }
            }
        }
        for (offset, v) in self.vectors(st) {
            for (d, &x) in out[offset..].iter_mut().zip(v) {
                *d = x as f32;
            }
        }
        Ok(out)
    }

    /// The state of one instance from its `state_len` words (widened to f64, exact) and its
    /// training step counter.
    pub fn unpack(&self, words: &[f32], step: u64) -> State<f64> {
        let mut st = State::new(&self.shape, self.unpack_matrices(words, false));
        st.delta = self.unpack_matrices(words, true);
        let slots: Vec<(usize, usize)> = self
            .vectors(&st)
            .into_iter()
            .map(|(o, v)| (o, v.len()))
            .collect();
        let targets = st
            .u_p
            .iter_mut()
            .chain(st.u_i.iter_mut())
            .chain([&mut st.r0, &mut st.u_tgt]);
        for (v, (offset, len)) in targets.zip(slots) {
            for (d, &x) in v.iter_mut().zip(&words[offset..offset + len]) {
                *d = f64::from(x);
            }
        }
        st.step = step;
        st
    }

    /// The weights from the first [`Layout::weight_words`] words of an instance's state.
    pub fn unpack_weights(&self, words: &[f32]) -> Weights<f64> {
        self.unpack_matrices(words, false)
    }

    /// The weights, or the Δ when `delta`, from an instance's state words.
    fn unpack_matrices(&self, words: &[f32], delta: bool) -> Weights<f64> {
        let mut w = Weights::<f64>::zeros(&self.shape);
        for s in &self.slots {
            let m: &mut Mat<f64> = w.get_mut(&s.name).expect("layout matches shape");
            for (i, row) in m.data.chunks_exact_mut(s.cols).enumerate() {
                for (j, d) in row.iter_mut().enumerate() {
                    *d = f64::from(words[self.w_word(s.index(i, j), delta)]);
                }
            }
        }
        w
    }
}

/// Patterns of the slowest instance that one dispatch window of the resident kernel should
/// cover on a GPU (issue 14: W and Δ go back to global memory once per window).
pub const GPU_WINDOW_PATTERNS: usize = 16;

/// Most weight-steps (instances × steps × weights per instance) one dispatch of the resident
/// kernel may run on a GPU: 2^36 ≈ 6.9·10^10 (see [`window_steps`]).
pub const GPU_WINDOW_WEIGHT_STEPS: u64 = 1 << 36;

/// Stream steps per dispatch window of kernel `kind` (a pure function of its arguments, so that
/// the backend and its tests agree).
///
/// * **CPU drivers** and every kernel other than the resident and register ones:
///   `budget_window`, the window [`Layout::steps_per_dispatch`] derives from llvmpipe's loop
///   limit ([`LOOP_BUDGET`]; a longer window would be cut short silently on lavapipe); on GPUs
///   the other kernels move W and Δ through global memory at every step anyway, so their
///   windows stay as they were.
/// * **The resident and register kernels on a GPU**: [`GPU_WINDOW_PATTERNS`] (16) patterns of
///   the slowest instance (`max_steps` steps each), since W and Δ cross global memory once per
///   window (resident: 2·4·(state_len + scratch_len) bytes per instance per window; register:
///   W, Δ, somas, filters and readout sums, a little less), capped so that one dispatch
///   of `instances` instances with `w_total` weights each runs at most
///   [`GPU_WINDOW_WEIGHT_STEPS`] weight-steps, and never shorter than `budget_window`.
///   Window boundaries only move where the state is written back and read in again, so the
///   numbers do not depend on the window (`tests/gpu.rs` checks this bit for bit). Each piece
///   of patterns (what one upload holds, at most 64 MiB of patterns, see
///   `GpuBackend::piece_cap`) is cut into windows afresh, so a window never runs past its
///   piece: a piece shorter than the window is one dispatch.
///
/// **Watchdog.** GPUs that drive a display are reset when one dispatch runs too long (Windows'
/// TDR after 2 s, NVIDIA's Linux driver under X after a few seconds; compute-only boards such as
/// an H100 have no such limit), and a long dispatch also delays everything else queued on the
/// device. A weight-step costs about 7 FLOP (the dendrite's multiply–add and the plasticity
/// update) and one global access per window only, so the kernel is bound by issue, not memory:
/// the design of docs/gpu.md section 3 predicts ~10^9 [4,120,3] instance-steps/s on an H100, i.e.
/// 2·10^12 weight-steps/s; this first slice, or a small integrated GPU, may be 10× slower
/// (≥ 2·10^11/s). 2^36 weight-steps are then at most ~0.35 s per dispatch, ~35 ms at the
/// target: well under any watchdog. For [4,120,3] (2046 weights) and 1000-step patterns the cap
/// allows 16 400 steps at 2048 instances per sub-batch (so the full 16 patterns), 4100 at 8192
/// and 2050 at 16 384, where the write-back still moves less than the pattern rows
/// (2·19 448 B / 2050 ≈ 19 B per instance-step against 28 B).
pub fn window_steps(
    kind: KernelKind,
    cpu_driver: bool,
    budget_window: usize,
    max_steps: usize,
    instances: usize,
    w_total: usize,
) -> usize {
    let budget_window = budget_window.max(1);
    if cpu_driver || !matches!(kind, KernelKind::Resident | KernelKind::Register) {
        return budget_window;
    }
    let want = GPU_WINDOW_PATTERNS.saturating_mul(max_steps.max(1));
    let per_step = (instances.max(1) as u64).saturating_mul(w_total.max(1) as u64);
    let cap = usize::try_from(GPU_WINDOW_WEIGHT_STEPS / per_step).unwrap_or(usize::MAX);
    want.min(cap).max(budget_window)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::compute::WG_GPU;
    use crate::microcircuit::init::init_weights;

    /// The window of a [4,120,3]-like or [3,5,2] layout on a CPU driver and on a GPU: the loop
    /// budget's window on CPU drivers and for non-resident kernels, 16 patterns of the slowest
    /// instance for the resident kernel on a GPU, capped by the weight-steps of a dispatch.
    #[test]
    fn window_steps_by_adapter_class_shape_and_pattern_length() {
        let yy = Layout::new(
            &Shape::new(vec![4, 120, 3], true),
            Transfer::Sigmoid,
            WG_GPU,
            KernelKind::Resident,
        );
        let trips = yy.workgroup_trips_per_step(WG_GPU);
        let budget = yy.steps_per_dispatch(1000, trips, WG_GPU);
        assert!((140..=160).contains(&budget), "{budget}");
        let w = yy.w_total;
        assert_eq!(w, 2046);
        use KernelKind::*;
        // CPU drivers keep the loop budget's window, whatever the kernel and batch
        for kind in [Serial, Workgroup, Resident] {
            assert_eq!(window_steps(kind, true, budget, 1000, 2048, w), budget);
        }
        // GPUs: other kernels keep it too
        assert_eq!(
            window_steps(Workgroup, false, budget, 1000, 2048, w),
            budget
        );
        // resident on a GPU: 16 patterns of the slowest instance (1000 steps, t_pattern 100 ms)
        assert_eq!(window_steps(Resident, false, budget, 1000, 2048, w), 16_000);
        assert_eq!(window_steps(Resident, false, budget, 1000, 1, w), 16_000);
        // shorter patterns (t_pattern 10 ms): still 16 of them
        assert_eq!(window_steps(Resident, false, budget, 100, 2048, w), 1600);
        // larger batches: capped at 2^36 weight-steps per dispatch
        assert_eq!(
            window_steps(Resident, false, budget, 1000, 8192, w),
            (GPU_WINDOW_WEIGHT_STEPS / (8192 * 2046)) as usize
        );
        assert_eq!(window_steps(Resident, false, budget, 1000, 16_384, w), 2050);
        // never shorter than the loop budget's window, never 0
        assert_eq!(window_steps(Resident, false, budget, 1, 2048, w), budget);
        assert_eq!(
            window_steps(Resident, false, budget, 1000, 1 << 30, w),
            budget
        );
        assert_eq!(window_steps(Resident, false, 0, 0, 0, 0), 16);
        assert_eq!(window_steps(Resident, true, 0, 1000, 1, w), 1);
        // a small network ([3,5,2], 5·4 + 2·6 + … weights): 16 patterns at any usual batch
        let small = Layout::new(
            &Shape::new(vec![3, 5, 2], true),
            Transfer::Sigmoid,
            WG_GPU,
            KernelKind::Resident,
        );
        let b = small.steps_per_dispatch(60, small.workgroup_trips_per_step(WG_GPU), WG_GPU);
        assert_eq!(
            window_steps(Resident, false, b, 60, 65_535, small.w_total),
            (16 * 60).max(b)
        );
    }

    #[test]
    fn pack_then_unpack_returns_the_state() {
        let shape = Shape::new(vec![4, 7, 5, 3], true);
        let p = InstanceParams::reference(3);
        let w = init_weights(&shape, &p);
        // a state whose every value differs and is an f32, so the round trip must be exact
        let mut st = State::new(&shape, w).cast::<f32>().cast::<f64>();
        st.delta = st.w.cast();
        st.delta.layers[0].up.data[1] = 0.25;
        let mut k = 0.0;
        for v in st.u_p.iter_mut().chain(st.u_i.iter_mut()) {
            for x in v.iter_mut() {
                k += 1.0;
                *x = k / 8.0;
            }
        }
        st.r0 = vec![-1.5; shape.n_in()];
        st.u_tgt = vec![0.75; shape.n_out()];
        let values = 2 * st
            .w
            .named()
            .iter()
            .map(|(_, m)| m.data.len())
            .sum::<usize>()
            + shape.n_somas()
            + shape.n_in()
            + shape.n_out();
        for kernel in [KernelKind::Workgroup, KernelKind::Serial] {
            let lay = Layout::new(&shape, Transfer::Sigmoid, WG_GPU, kernel);
            let words = lay.pack(&st).unwrap();
            assert_eq!(
                lay.unpack(&words, 42),
                State {
                    step: 42,
                    ..st.clone()
                }
            );
            assert_eq!(lay.unpack_weights(&words), st.w);
            let other_shape = Shape::new(vec![4, 7, 3], true);
            let other = State::new(&other_shape, Weights::zeros(&other_shape));
            assert!(lay.pack(&other).is_err());
            let a = kernel.align();
            assert_eq!(
                (lay.state_len % a, lay.w_total % a, lay.scratch_len % a),
                (0, 0, 0)
            );
            assert_eq!(lay.state_len % kernel.state_align(), 0);
            // weight word 5 and its Δ: chunk 1, word 1 of W, or of Δ
            let expected = match kernel {
                KernelKind::Serial => (9, 13),
                _ => (5, 5 + lay.w_total),
            };
            assert_eq!((lay.w_word(5, false), lay.w_word(5, true)), expected);
            // the first weight words hold all the weights
            let mut w_only = words.clone();
            w_only[lay.weight_words()..].fill(0.0);
            assert_eq!(lay.unpack_weights(&w_only), st.w);
            // every value has its own word, the padding (serial kernel only) is zero
            let nonzero = words.iter().filter(|&&v| v != 0.0).count();
            assert_eq!(nonzero, values);
            if kernel == KernelKind::Workgroup {
                assert_eq!(lay.state_len, values);
            }
            assert_eq!(
                lay.meta(&[p.clone(), p.clone()]).len(),
                lay.table.len() + 2 * lay.params_len()
            );
        }
    }

    #[test]
    fn prelude_declares_every_word() {
        let pre = wgsl_prelude(WG_GPU);
        assert!(pre.contains("const L_STRIDE: u32 = 23u;"));
        assert!(pre.contains("const WG: u32 = 64u;"));
    }

    #[test]
    fn loop_bound_covers_what_llvmpipe_counted() {
        // lavapipe stopped a whole-pattern dispatch after 618 steps of 3-9-2 (bias) and 71
        // steps of 784-20-10 (bias): 65535 loop iterations, ≈106 and ≈923 per step
        for (dims, measured) in [(vec![3, 9, 2], 106), (vec![784, 20, 10], 923)] {
            let lay = Layout::new(
                &Shape::new(dims, true),
                Transfer::Sigmoid,
                WG_GPU,
                KernelKind::Workgroup,
            );
            assert!(lay.workgroup_trips_per_step(WG_GPU) >= measured);
        }
    }
}
