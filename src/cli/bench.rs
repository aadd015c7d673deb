//! `pyralnet bench`: instance-steps per second with full plasticity, for several backends, CPU
//! kernels, batch sizes, precisions and thread counts in one run, so ratios come from the same
//! run; also as GFLOP/s ([`flops_per_step`]) and, for CPU rows, as a fraction of the machine's
//! peak ([`CpuPeak`]).

use crate::bench::{flops_per_step, plastic_batch, throughput, CpuPeak};
use crate::gpu;
use crate::microcircuit::backend::{Backend, RecordSpec};
use crate::microcircuit::full::cpu::{open_cpu, CpuKernel};
use crate::microcircuit::full::gpu::{GpuBackend, GpuOptions, KernelKind};
use crate::num::Precision;
use anyhow::bail;
use clap::Args;

/// The seed's numpy code: ~63 µs per Euler step of `[4,120,3]` (MODEL.md section 9).
const SEED_US_PER_STEP: f64 = 63.0;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Backends, comma separated: cpu (every --precision × --threads), gpu.
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    pub backend: Vec<String>,
    /// GPU adapter: the first whose name contains this (default: the best, lavapipe included).
    #[arg(long)]
    pub adapter: Option<String>,
    /// GPU kernel of the GPU rows: auto (what `run` picks for the adapter); for the full model
    /// serial, workgroup, phased, resident or register (one hidden layer), for the steady model
    /// rows or blocks; refused,
    /// with the reason, where it cannot run the shape on the adapter.
    #[arg(long, default_value = "auto")]
    pub gpu_kernel: String,
    /// Hidden cells per thread of the register kernel, 1 to 4 (default: as many as fit
    /// registers, 4 on [4,120,3]; docs/gpu.md section 3.1 predicts each).
    #[arg(long)]
    pub register_cells: Option<usize>,
    /// Layer sizes, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "4,120,3")]
    pub dims: Vec<usize>,
    /// Batch sizes (instances), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
    pub batch: Vec<usize>,
    /// CPU precisions, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "f32,f64")]
    pub precision: Vec<String>,
    /// CPU kernels, comma separated, a row each (default: every kernel; auto: the one `run`
    /// picks for the batch size and thread count).
    #[arg(long, value_parser = super::cpu_kernel_parser(), value_delimiter = ',')]
    pub cpu_kernel: Option<Vec<CpuKernel>>,
    /// CPU thread counts, comma separated (default: 1 and all cores).
    #[arg(long, value_delimiter = ',')]
    pub threads: Option<Vec<usize>>,
    /// Pattern length in ms (dt 0.1).
    #[arg(long, default_value_t = 10.0)]
    pub t_pattern: f64,
    /// Noise σ of every instance (`params.noise`; 0, the default, as in every published
    /// experiment): a σ > 0 measures the noise generator's cost too (full model only).
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// Seconds to measure each configuration.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// Model: `full` (instance-steps/s) or `steady` (the steady-state model of MODEL.md
    /// section 7 with the parameters of `configs/fashion_mnist_steady.json`: patterns/s of
    /// training, a row per precision × threads × steady kernel, `reference` and `blocked`, for
    /// `--backend cpu`, and a row of the f32 GPU backend for `--backend gpu`).
    #[arg(long, default_value = "full")]
    pub model: String,
}

/// `batch` with noise σ `noise` in every instance.
fn with_noise(
    mut batch: crate::microcircuit::backend::Batch,
    noise: f64,
) -> crate::microcircuit::backend::Batch {
    batch.params.iter_mut().for_each(|p| p.noise = noise);
    batch
}

/// The kernel `--gpu-kernel NAME` forces (`None` for auto).
fn gpu_kernel(name: &str) -> anyhow::Result<Option<KernelKind>> {
    KernelKind::forced(name).map_err(|e| {
        anyhow::anyhow!(
            "--gpu-kernel: {e} (the steady model's, with --model steady: auto, rows, blocks)"
        )
    })
}

/// One measured configuration.
struct Row {
    name: String,
    gpu: bool,
    rate: f64,
}

/// What a measured backend is, for the peak column: a CPU backend on `cores` threads in f32 or
/// f64, or the GPU (no peak).
#[derive(Clone, Copy)]
enum Kind {
    Cpu { cores: usize, f64: bool },
    Gpu,
}

pub fn bench(a: BenchArgs) -> anyhow::Result<()> {
    match a.model.as_str() {
        "full" => {}
        "steady" => return bench_steady(a),
        m => bail!("--model: unknown `{m}`, allowed: full, steady"),
    }
    crate::microcircuit::Shape::new(a.dims.clone(), true)
        .validate()
        .map_err(|e| anyhow::anyhow!("--dims: {e}"))?;
    if a.batch.contains(&0) {
        bail!("--batch sizes must be at least 1");
    }
    if !(a.t_pattern >= 0.1 && a.seconds > 0.0) {
        bail!("--t-pattern must be ≥ 0.1 ms and --seconds > 0");
    }
    if !(a.noise >= 0.0 && a.noise.is_finite()) {
        bail!("--noise must be a finite σ ≥ 0, got {}", a.noise);
    }
    if let Some(b) = a
        .backend
        .iter()
        .find(|b| !["cpu", "gpu"].contains(&b.as_str()))
    {
        bail!("--backend: unknown `{b}`, allowed: cpu, gpu");
    }
    if let Some(p) = a
        .precision
        .iter()
        .find(|p| !["f32", "f64"].contains(&p.as_str()))
    {
        bail!("--precision: unknown `{p}`, allowed: f32, f64");
    }
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = a
        .threads
        .clone()
        .unwrap_or_else(|| if all > 1 { vec![1, all] } else { vec![1] });
    for &t in &threads {
        crate::session::check_threads(t)?;
    }
    let kernels = a
        .cpu_kernel
        .clone()
        .unwrap_or_else(|| CpuKernel::AVAILABLE.to_vec());
    let cpu = a.backend.iter().any(|b| b == "cpu");
    let kernel = gpu_kernel(&a.gpu_kernel)?;
    anyhow::ensure!(
        a.register_cells.is_none() || kernel == Some(KernelKind::Register),
        "--register-cells applies to the register kernel only (--gpu-kernel register)"
    );
    let gpu_opts = GpuOptions {
        kernel,
        register_cells: a.register_cells,
        ..Default::default()
    };
    let device = match a.backend.iter().any(|b| b == "gpu") {
        true => Some(gpu::open(a.adapter.as_deref())?),
        false => None,
    };
    println!(
        "dims {:?}, full plasticity, t_pattern {} ms, dt 0.1 ms, noise σ {}",
        a.dims, a.t_pattern, a.noise
    );
    let peak = CpuPeak::of_this_machine();
    let flops = {
        let batch = with_noise(plastic_batch(&a.dims, 1, a.t_pattern), a.noise);
        flops_per_step(&batch.shape, &batch.params[0])
    };
    println!(
        "GFLOP/s = inst-steps/s × {flops} FLOPs per instance-step (bench::flops_per_step: matvecs \
         2·rows·cols, 5 per plastic weight, φ 4, somas ~9)"
    );
    match &peak {
        Some(p) => println!("{}", p.describe()),
        None => println!("peak: unknown (no `cpu MHz` and `flags` in /proc/cpuinfo)"),
    }
    println!(
        "GPU rows: `device inst-steps/s` counts GPU time from timestamp queries around each \
         compute pass (`-`: no TIMESTAMP_QUERY on the adapter, and for CPU rows); `model GB/s` \
         = device (else wall) inst-steps/s × the kernel's global bytes per instance-step by the \
         traffic model of docs/gpu.md (B/step in brackets)"
    );
    println!(
        "{:<52} {:>7} {:>16} {:>14} {:>12} {:>9} {:>7} {:>19} {:>22}",
        "backend",
        "batch",
        "inst-steps/s",
        "µs/inst-step",
        "vs seed",
        "GFLOP/s",
        "% peak",
        "device inst-steps/s",
        "model GB/s (B/step)"
    );
    for &n in &a.batch {
        let batch = with_noise(plastic_batch(&a.dims, n, a.t_pattern), a.noise);
        let patterns = (4096 / n).clamp(1, 64);
        let mut rows = Vec::new();
        // prints a row: wall-clock instance-steps/s `rate`, `device` from GPU time, and the
        // traffic model's bytes per instance-step (GPU rows)
        let mut report =
            |kind: Kind, name: String, rate: f64, device: Option<f64>, bytes: Option<f64>| {
                let us = 1e6 / rate;
                let gflops = rate * flops * 1e-9;
                let of_peak = match (kind, &peak) {
                    (Kind::Cpu { cores, f64 }, Some(p)) => {
                        format!("{:.1}", 100.0 * gflops / p.gflops(cores, f64))
                    }
                    _ => "-".into(),
                };
                let traffic = bytes.map_or_else(
                    || "-".into(),
                    |b| format!("{:.2} ({b:.1})", device.unwrap_or(rate) * b * 1e-9),
                );
                let device = device.map_or_else(|| "-".into(), |d| format!("{d:.4e}"));
                println!(
                    "{:<52} {:>7} {:>16.4e} {:>14.3} {:>11.1}× {:>9.2} {:>7} {:>19} {:>22}",
                    name,
                    n,
                    rate,
                    us,
                    SEED_US_PER_STEP / us,
                    gflops,
                    of_peak,
                    device,
                    traffic
                );
                rows.push(Row {
                    name,
                    gpu: matches!(kind, Kind::Gpu),
                    rate,
                });
            };
        if cpu {
            for prec in &a.precision {
                let precision = match prec.as_str() {
                    "f32" => Precision::F32,
                    _ => Precision::F64,
                };
                for &t in &threads {
                    for &kernel in &kernels {
                        let none = RecordSpec::default();
                        let mut backend = open_cpu(kernel, precision, &batch, Some(t), none)?;
                        let kind = Kind::Cpu {
                            cores: t.min(all),
                            f64: precision == Precision::F64,
                        };
                        let name = backend.name();
                        let rate = throughput(backend.as_mut(), &batch, patterns, a.seconds)?;
                        report(kind, name, rate, None, None);
                    }
                }
            }
        }
        if let Some(g) = &device {
            let mut backend = GpuBackend::with_gpu(g.clone(), &batch, &gpu_opts)
                .map_err(|e| anyhow::anyhow!("--gpu-kernel {}: {e:#}", a.gpu_kernel))?;
            // the row names the kernel that ran (and the phased kernel's workgroups per instance)
            let name = match backend.kernel() {
                (KernelKind::Phased, tiles) => format!("{} phased×{tiles}", backend.name()),
                (KernelKind::Register, _) => {
                    let p = backend.register_cells().unwrap_or(1);
                    let cells = if p == 1 { "cell" } else { "cells" };
                    format!("{} register, {p} {cells}/thread", backend.name())
                }
                (k, _) => format!("{} {}", backend.name(), format!("{k:?}").to_lowercase()),
            };
            backend.time_device();
            let rate = throughput(&mut backend, &batch, patterns, a.seconds)?;
            let device = backend.device_time().map(|(s, steps)| steps as f64 / s);
            let bytes = backend.modeled_bytes_per_step(&batch.params[0]);
            report(Kind::Gpu, name, rate, device, Some(bytes));
        }
        let best_cpu = rows
            .iter()
            .filter(|r| !r.gpu)
            .max_by(|x, y| x.rate.total_cmp(&y.rate));
        if let (Some(c), Some(g)) = (best_cpu, rows.iter().find(|r| r.gpu)) {
            println!(
                "  batch {n}: gpu/cpu = {:.3}× ({} vs the fastest CPU row, {})",
                g.rate / c.rate,
                g.name,
                c.name
            );
        }
    }
    Ok(())
}

/// `pyralnet bench --model steady`: training patterns per second of the steady-state backend,
/// summed over the batch, for every precision × thread count × steady kernel (`reference`, the
/// original kernel, and `blocked`, the default), with the ratio to the reference row of the
/// same precision and thread count.
fn bench_steady(a: BenchArgs) -> anyhow::Result<()> {
    use crate::microcircuit::steady::gpu::{SteadyGpuBackend, SteadyGpuKernel};
    let gpu_opts = GpuOptions {
        steady_kernel: SteadyGpuKernel::forced(&a.gpu_kernel)
            .map_err(|e| anyhow::anyhow!("--gpu-kernel: {e}"))?,
        ..Default::default()
    };
    use crate::bench::{pattern_throughput, steady_batch};
    use crate::microcircuit::steady::cpu::{SteadyBackend, SteadyKernel};
    crate::microcircuit::Shape::new(a.dims.clone(), true)
        .validate()
        .map_err(|e| anyhow::anyhow!("--dims: {e}"))?;
    if a.batch.contains(&0) || a.seconds <= 0.0 {
        bail!("--batch sizes must be at least 1 and --seconds > 0");
    }
    if let Some(b) = a
        .backend
        .iter()
        .find(|b| !["cpu", "gpu"].contains(&b.as_str()))
    {
        bail!("--backend: unknown `{b}`, allowed: cpu, gpu");
    }
    let cpu = a.backend.iter().any(|b| b == "cpu");
    let device = match a.backend.iter().any(|b| b == "gpu") {
        true => Some(gpu::open(a.adapter.as_deref())?),
        false => None,
    };
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = a
        .threads
        .clone()
        .unwrap_or_else(|| if all > 1 { vec![1, all] } else { vec![1] });
    for &t in &threads {
        crate::session::check_threads(t)?;
    }
    println!(
        "steady-state model, dims {:?}, fashion_mnist_steady parameters (W_up, W_ip plastic, \
         2 passes, 1 exposure), training patterns/s summed over the batch",
        a.dims
    );
    println!(
        "{:<52} {:>7} {:>14} {:>14} {:>12}",
        "backend", "batch", "patterns/s", "ms/pattern", "vs reference"
    );
    for &n in &a.batch {
        let batch = steady_batch(&a.dims, n);
        let patterns = 16;
        // the GPU row (f32) against the first CPU reference row of this batch, if any
        let mut first_reference = None;
        for prec in a.precision.iter().filter(|_| cpu) {
            for &t in &threads {
                let mut reference = None;
                for kernel in [SteadyKernel::Reference, SteadyKernel::Blocked] {
                    let mut backend: Box<dyn Backend> = match prec.as_str() {
                        "f32" => {
                            Box::new(SteadyBackend::<f32>::with_kernel(&batch, Some(t), kernel)?)
                        }
                        "f64" => {
                            Box::new(SteadyBackend::<f64>::with_kernel(&batch, Some(t), kernel)?)
                        }
                        p => bail!("--precision: unknown `{p}`, allowed: f32, f64"),
                    };
                    let rate = pattern_throughput(backend.as_mut(), &batch, patterns, a.seconds)?;
                    let base = *reference.get_or_insert(rate);
                    first_reference.get_or_insert(rate);
                    println!(
                        "{:<52} {:>7} {:>14.1} {:>14.3} {:>11.2}×",
                        backend.name(),
                        n,
                        rate,
                        1e3 / rate * n as f64,
                        rate / base
                    );
                }
            }
        }
        if let Some(g) = &device {
            let mut backend = SteadyGpuBackend::with_gpu(g.clone(), &batch, &gpu_opts)
                .map_err(|e| anyhow::anyhow!("--gpu-kernel {}: {e:#}", a.gpu_kernel))?;
            let rate = pattern_throughput(&mut backend, &batch, patterns, a.seconds)?;
            let vs = first_reference.map_or("—".to_string(), |r| match rate / r {
                x if x < 0.01 => format!("{x:.1e}×"),
                x => format!("{x:.2}×"),
            });
            println!(
                "{:<52} {:>7} {:>14.1} {:>14.3} {:>12}",
                backend.name(),
                n,
                rate,
                1e3 / rate * n as f64,
                vs
            );
        }
    }
    Ok(())
}
