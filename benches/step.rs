//! Criterion benchmark of the CPU integrator: one pattern (100 Euler steps of 0.1 ms) of a
//! [4,120,3] network with full plasticity, single instance, f32 and f64.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pyralnet::bench::{plastic_batch, random_chunk};
use pyralnet::microcircuit::backend::Backend;
use pyralnet::microcircuit::backend::RecordSpec;
use pyralnet::microcircuit::full::cpu::CpuBackend;

fn step(c: &mut Criterion) {
    let batch = plastic_batch(&[4, 120, 3], 1, 10.0);
    let chunk = random_chunk(&batch, 1);
    let mut g = c.benchmark_group("yinyang_4_120_3_full_plasticity");
    g.throughput(Throughput::Elements(100));
    let mut b32 = CpuBackend::<f32>::new(&batch, Some(1), RecordSpec::default()).unwrap();
    g.bench_function("f32_100_steps", |b| b.iter(|| b32.train(&chunk).unwrap()));
    let mut b64 = CpuBackend::<f64>::new(&batch, Some(1), RecordSpec::default()).unwrap();
    g.bench_function("f64_100_steps", |b| b.iter(|| b64.train(&chunk).unwrap()));
    g.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
