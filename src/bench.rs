//! Throughput measurement shared by `pyralnet bench` and the criterion benchmark: instance-steps
//! per second of a backend with every standard pathway plastic, the FLOPs of a step
//! ([`flops_per_step`]) and the machine's peak ([`CpuPeak`]) that turn it into GFLOP/s and a
//! fraction of the peak.

use crate::microcircuit::backend::{Backend, Batch, Chunk};
use crate::microcircuit::{InitMode, InstanceParams, Shape, Transfer};
use std::time::Instant;

/// A batch of `n` instances of `dims` (sigmoid, bias) with the Yin-Yang parameters of
/// experiment C: random start, W_up, W_pi and W_ip all plastic, no learning lag.
pub fn plastic_batch(dims: &[usize], n: usize, t_pattern: f64) -> Batch {
    let shape = Shape::new(dims.to_vec(), true);
    let layers = shape.n_layers();
    let params: Vec<InstanceParams> = (0..n)
        .map(|i| {
            let mut p = InstanceParams::reference(layers);
            p.ga = 0.28;
            p.gsom = 0.34;
            p.t_pattern = t_pattern;
            p.out_lag = 0.8 * t_pattern;
            p.eta_up = (0..layers)
                .map(|l| if l + 1 == layers { 7.32e-4 } else { 6.1 })
                .collect();
            p.eta_pi = vec![4.22e-4; layers - 1];
            p.eta_ip = vec![1.464e-3; layers - 1];
            p.init = InitMode::Random;
            p.init_up = 0.1;
            p.init_ip = 0.1;
            p.seed = i as u64;
            p
        })
        .collect();
    Batch::from_params(shape, Transfer::Sigmoid, params)
}

/// A batch of `n` steady-state instances of `dims` (sigmoid, bias) with the parameters of
/// `configs/fashion_mnist_steady.json`: W_up and W_ip plastic (η_up 0.03 in the first layer,
/// 0.0005 above, η_ip 0.002), W_pi not, 2 passes, 1 exposure, t_pattern 100 ms, lag 20 ms,
/// random start.
pub fn steady_batch(dims: &[usize], n: usize) -> Batch {
    let shape = Shape::new(dims.to_vec(), true);
    let layers = shape.n_layers();
    let params: Vec<InstanceParams> = (0..n)
        .map(|i| {
            let mut p = InstanceParams::reference(layers);
            p.ga = 0.28;
            p.gsom = 0.34;
            p.t_pattern = 100.0;
            p.learning_lag = 20.0;
            p.out_lag = 80.0;
            p.eta_up = (0..layers)
                .map(|l| if l == 0 { 0.03 } else { 0.0005 })
                .collect();
            p.eta_pi = vec![0.0; layers - 1];
            p.eta_ip = vec![0.002; layers - 1];
            p.eta_down = vec![0.0; layers - 1];
            p.n_passes = 2;
            p.n_exposures = 1;
            p.init = InitMode::Random;
            p.init_up = 0.1;
            p.init_ip = 0.1;
            p.seed = i as u64;
            p
        })
        .collect();
    Batch::from_params(shape, Transfer::Sigmoid, params)
}

/// Trains `backend` (a steady-state backend) on chunks of `patterns` patterns until at least
/// `min_seconds` have passed (after one warm-up chunk) and returns patterns per second, summed
/// over the instances.
pub fn pattern_throughput(
    backend: &mut dyn Backend,
    batch: &Batch,
    patterns: usize,
    min_seconds: f64,
) -> anyhow::Result<f64> {
    let chunk = random_chunk(batch, patterns);
    backend.train(&chunk)?;
    let per_chunk = (batch.len() * patterns) as f64;
    let start = Instant::now();
    let mut done = 0.0;
    while start.elapsed().as_secs_f64() < min_seconds || done == 0.0 {
        backend.train(&chunk)?;
        done += per_chunk;
    }
    Ok(done / start.elapsed().as_secs_f64())
}

/// `patterns` random input patterns for every instance of `batch`.
pub fn random_chunk(batch: &Batch, patterns: usize) -> Chunk {
    let (n_in, n_out) = (batch.shape.n_in(), batch.shape.n_out());
    let val = |i: usize, k: usize| ((i * 31 + k * 17) % 97) as f64 / 97.0;
    Chunk {
        x: (0..batch.len())
            .map(|i| (0..patterns * n_in).map(|k| val(i, k)).collect())
            .collect(),
        y: (0..batch.len())
            .map(|i| {
                (0..patterns * n_out)
                    .map(|k| if (i + k) % n_out == 0 { 1.0 } else { 0.1 })
                    .collect()
            })
            .collect(),
    }
}

/// Trains `backend` on chunks of `patterns` patterns until at least `min_seconds` have passed
/// (after one warm-up chunk) and returns instance-steps per second.
pub fn throughput(
    backend: &mut dyn Backend,
    batch: &Batch,
    patterns: usize,
    min_seconds: f64,
) -> anyhow::Result<f64> {
    let chunk = random_chunk(batch, patterns);
    backend.train(&chunk)?;
    let steps_per_chunk: f64 = batch
        .params
        .iter()
        .map(|p| (p.steps_per_pattern() * patterns) as f64)
        .sum();
    let start = Instant::now();
    let mut steps = 0.0;
    while start.elapsed().as_secs_f64() < min_seconds || steps == 0.0 {
        backend.train(&chunk)?;
        steps += steps_per_chunk;
    }
    Ok(steps / start.elapsed().as_secs_f64())
}

/// FLOPs a φ evaluation counts as (sigmoid `1/(1+exp(−x))`: the exponential, an add and a
/// divide, the exponential counted as 2).
pub const PHI_FLOPS: f64 = 4.0;

/// FLOPs a plastic matrix entry counts per step: `W += ηdt·Δ` is 2 (one multiply–add) and
/// `Δ += kw (e_i r_j − Δ)`, written `Δ = (1−kw)·Δ + (kw e_i)·r_j` with `kw e_i` once per row,
/// is 3: the fewest operations the update needs (the reference kernel spends 6), so that no
/// kernel is credited for extra work.
pub const PLASTIC_FLOPS_PER_ENTRY: f64 = 5.0;

/// Floating-point operations of one training Euler step of one instance of the full model
/// (MODEL.md section 3) with plasticity on, counted from the shape and the pathways whose η is
/// not 0 in `params`. Every `+ − × ÷` counts 1 (a negation 0, a multiply–add 2):
///
/// - each matrix–vector product (`W_up`, and in hidden layers `W_down`, `W_pi`, `W_ip`, biases
///   included): `2·rows·cols`;
/// - each plastic matrix: [`PLASTIC_FLOPS_PER_ENTRY`] (5) per entry, plus its error vector per
///   row: `φ(u) − φ(c·v)` is `2 +` [`PHI_FLOPS`] (`W_up`, `W_ip`, `W_down`; `W_down`'s
///   `φ(v_down)` has no factor but is counted alike), `−v_A` 0 (`W_pi`);
/// - φ of every pyramidal and interneuron soma (the rates): [`PHI_FLOPS`] each;
/// - the stimulus filters `r_0`, `u_tgt`: 3 per entry;
/// - soma updates `du = dt(−g_l u + g_B (v_B − u) + g_X (v_X − u))`: 8, plus 1 to apply it;
///   hidden pyramidal cells 1 more for `v_A = W_down·r + W_pi·r_I`;
/// - noise (when σ ≠ 0): 2 per soma (`du += amp·ξ`), the generator itself not counted.
///
/// Readout sums and anything once per pattern are left out. For `[4,120,3]` with bias and
/// `W_up`, `W_pi`, `W_ip` plastic (what `pyralnet bench` runs) this is 15 057.
pub fn flops_per_step(shape: &Shape, params: &InstanceParams) -> f64 {
    let plastic = InstanceParams::learns;
    let entries = |rows: usize, cols: usize| (rows * cols) as f64;
    let error = 2.0 + PHI_FLOPS;
    let mut flops = 3.0 * (shape.n_in() + shape.n_out()) as f64;
    for l in 0..shape.n_layers() {
        let (m, pre) = (shape.n_pyr(l), shape.with_bias(shape.dims[l]));
        let up = entries(m, pre);
        flops += 2.0 * up + PHI_FLOPS * m as f64;
        if plastic(&params.eta_up, l) {
            flops += PLASTIC_FLOPS_PER_ENTRY * up + error * m as f64;
        }
        if !shape.is_hidden(l) {
            flops += 9.0 * m as f64;
            continue;
        }
        let mi = shape.n_inter(l);
        let (down, pi, ip) = (
            entries(m, mi),
            entries(m, mi),
            entries(mi, shape.with_bias(m)),
        );
        flops += 2.0 * (down + pi + ip) + PHI_FLOPS * mi as f64;
        flops += 10.0 * m as f64 + 9.0 * mi as f64;
        if plastic(&params.eta_down, l) {
            flops += PLASTIC_FLOPS_PER_ENTRY * down + error * m as f64;
        }
        if plastic(&params.eta_pi, l) {
            flops += PLASTIC_FLOPS_PER_ENTRY * pi;
        }
        if plastic(&params.eta_ip, l) {
            flops += PLASTIC_FLOPS_PER_ENTRY * ip + error * mi as f64;
        }
    }
    if params.noise != 0.0 {
        flops += 2.0 * shape.n_somas() as f64;
    }
    flops
}

/// Peak floating-point rate of one core, from `/proc/cpuinfo`: SIMD lanes × FMA units × 2
/// (a multiply–add is 2 FLOPs) × clock.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuPeak {
    /// The widest vector instruction set in the flags: `avx512f`, `avx2` or `sse`.
    pub isa: &'static str,
    /// Lanes of one vector register in f32 and in f64: 16/8 (AVX-512), 8/4 (AVX2), 4/2 (SSE).
    pub lanes_f32: usize,
    pub lanes_f64: usize,
    /// Vector FMA units per core: 2 assumed where the `fma` flag is set (Haswell and later,
    /// Zen 2 and later have two), else 1 (a separate adder and multiplier then give the 2).
    pub fma_units: usize,
    /// Clock in MHz: the highest `cpu MHz` line (the cores' current clocks as the kernel reads
    /// them; turbo is not known from there).
    pub mhz: f64,
}

impl CpuPeak {
    /// The peak of the machine whose `/proc/cpuinfo` reads `text`; `None` without a `cpu MHz`
    /// or a `flags` line (e.g. not x86).
    pub fn from_cpuinfo(text: &str) -> Option<CpuPeak> {
        let value = |line: &str, key: &str| {
            let (k, v) = line.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        };
        let mhz = text
            .lines()
            .filter_map(|l| value(l, "cpu MHz")?.parse::<f64>().ok())
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))?;
        let flags = text.lines().find_map(|l| value(l, "flags"))?;
        let has = |f: &str| flags.split_whitespace().any(|x| x == f);
        let (isa, lanes_f32, lanes_f64) = if has("avx512f") {
            ("avx512f", 16, 8)
        } else if has("avx2") {
            ("avx2", 8, 4)
        } else {
            ("sse", 4, 2)
        };
        Some(CpuPeak {
            isa,
            lanes_f32,
            lanes_f64,
            fma_units: if has("fma") { 2 } else { 1 },
            mhz,
        })
    }

    /// The peak of this machine (`None` where `/proc/cpuinfo` is missing or unreadable).
    pub fn of_this_machine() -> Option<CpuPeak> {
        CpuPeak::from_cpuinfo(&std::fs::read_to_string("/proc/cpuinfo").ok()?)
    }

    /// GFLOP/s at most on `cores` cores in f32 (`f64 = false`) or f64.
    pub fn gflops(&self, cores: usize, f64: bool) -> f64 {
        let lanes = if f64 { self.lanes_f64 } else { self.lanes_f32 };
        (cores * lanes * self.fma_units * 2) as f64 * self.mhz * 1e-3
    }

    /// One line saying how the peak is computed, for `pyralnet bench`'s header.
    pub fn describe(&self) -> String {
        format!(
            "peak = cores × {} lanes f32 / {} f64 ({}) × {} FMA units{} × 2 × {:.0} MHz \
             (highest `cpu MHz` in /proc/cpuinfo) = {:.1} GFLOP/s f32, {:.1} f64 per core",
            self.lanes_f32,
            self.lanes_f64,
            self.isa,
            self.fma_units,
            if self.fma_units == 2 {
                " (assumed 2 with the fma flag)"
            } else {
                " (no fma flag)"
            },
            self.mhz,
            self.gflops(1, false),
            self.gflops(1, true)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_of_4_120_3_match_a_hand_count() {
        let batch = plastic_batch(&[4, 120, 3], 1, 10.0);
        // matrices (bias on): W_up0 120×5, W_down0 120×3, W_pi0 120×3, W_ip0 3×121, W_up1 3×121
        let matvecs = 2 * (600 + 360 + 360 + 363 + 363);
        // plastic: W_up0, W_up1, W_pi0, W_ip0 (W_down fixed), 5 per entry
        let plastic = 5 * (600 + 363 + 360 + 363);
        // errors φ(u) − φ(c·v) of W_up0 (120), W_up1 (3), W_ip0 (3): 2 + φ (4)
        let errors = 6 * (120 + 3 + 3);
        // rates φ of 120 + 3 pyramidal and 3 interneuron somas
        let rates = 4 * (120 + 3 + 3);
        // stimulus filters of 4 inputs and 3 targets
        let filters = 3 * (4 + 3);
        // soma updates: 120 hidden pyramidal (10), 3 output (9), 3 interneurons (9)
        let somas = 10 * 120 + 9 * 3 + 9 * 3;
        let hand = matvecs + plastic + errors + rates + filters + somas;
        assert_eq!(hand, 15_057);
        assert_eq!(flops_per_step(&batch.shape, &batch.params[0]), hand as f64);
        // noise adds 2 per soma (126), W_down plastic its 360 entries and 120 errors
        let mut p = batch.params[0].clone();
        p.noise = 0.1;
        p.eta_down = vec![0.1];
        assert_eq!(
            flops_per_step(&batch.shape, &p),
            (hand + 2 * 126 + 5 * 360 + 6 * 120) as f64
        );
    }

    const CPUINFO: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\n\
        model name\t: Intel(R) Xeon(R) CPU @ 2.30GHz\ncpu MHz\t\t: 2299.998\n\
        flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512dq\n\n\
        processor\t: 1\ncpu MHz\t\t: 2300.000\n\
        flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512dq\n";

    #[test]
    fn peak_from_a_sample_cpuinfo() {
        let p = CpuPeak::from_cpuinfo(CPUINFO).unwrap();
        assert_eq!(
            (p.isa, p.lanes_f32, p.lanes_f64, p.fma_units),
            ("avx512f", 16, 8, 2)
        );
        assert_eq!(p.mhz, 2300.0);
        // 2 cores × 16 lanes × 2 FMA units × 2 × 2.3 GHz
        assert!((p.gflops(2, false) - 294.4).abs() < 1e-9);
        assert!((p.gflops(1, true) - 73.6).abs() < 1e-9);
        assert!(p.describe().contains("assumed 2"));
        // AVX2 without FMA; SSE only; no clock at all
        let avx2 = CPUINFO.replace(" fma", "").replace(" avx512f avx512dq", "");
        let p = CpuPeak::from_cpuinfo(&avx2).unwrap();
        assert_eq!((p.isa, p.lanes_f32, p.fma_units), ("avx2", 8, 1));
        assert!((p.gflops(1, false) - 8.0 * 2.0 * 2.3).abs() < 1e-9);
        let sse = CPUINFO.replace(" avx fma avx2 avx512f avx512dq", "");
        assert_eq!(CpuPeak::from_cpuinfo(&sse).unwrap().lanes_f64, 2);
        assert_eq!(CpuPeak::from_cpuinfo("flags : avx2\n"), None);
    }
}
