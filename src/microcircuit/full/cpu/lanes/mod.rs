//! The lane kernel of the full model (`--cpu-kernel lanes`): instances in SIMD lanes. A batch is
//! cut into blocks of `L` instances with the same pattern length (16 in f32, 8 in f64: one
//! 64-byte vector), each block laid out structure-of-arrays ([`Block`]), so every dendrite,
//! soma, error, Δ and W update is one vector operation over the block's instances whatever the
//! row length. Blocks run in parallel with rayon; the instruction set is chosen at run time
//! (`multiversion`: AVX-512, AVX2+FMA or the baseline).
//!
//! It computes the reference kernel's step (MODEL.md section 3) in the same order with the
//! same per-instance parameters, lags, noise stream, readout, recording and checkpoints, adding
//! each dendrite's terms in the reference's order and with the same `e^x`
//! ([`crate::microcircuit::full::cpu::CpuReal::exp_poly`]), so it computes the reference kernel's
//! bits. Lanes never interact, so an instance computes the same bits alone as in any block of any
//! batch.

mod block;
mod math;

pub use block::Block;
pub use math::V;

use super::{CpuKernel, CpuReal, State};
use crate::microcircuit::backend::{Backend, Batch, Chunk, RecordSpec, Trace};
use crate::microcircuit::{Shape, Transfer, Weights};
use crate::num::Precision;
use crate::pool::Pool;
use rayon::prelude::*;

/// The lane kernel in f32 with the widest blocks: 16 instances per block.
pub type Lanes32 = LanesBackend<f32, 16>;
/// The lane kernel in f64 with the widest blocks: 8 instances per block.
pub type Lanes64 = LanesBackend<f64, 8>;

/// Instances per block for a batch of `batch_len` on `threads` threads: the smallest vector
/// width (16, 32 or 64 bytes: 4, 8 or 16 f32, 2, 4 or 8 f64) that holds the instances one thread
/// gets, so that a small batch still spreads over the threads and does not pay for idle lanes.
/// Every width computes the same bits for an instance (lanes are independent and every
/// operation is an exactly rounded IEEE operation, the same whatever the width), so the choice
/// never changes a result.
pub fn width(f64: bool, batch_len: usize, threads: usize) -> usize {
    let per_thread = batch_len.div_ceil(threads.max(1)).max(1);
    let (narrow, wide) = if f64 { (2, 8) } else { (4, 16) };
    per_thread.next_power_of_two().clamp(narrow, wide)
}

/// Opens the lane kernel for `batch` in `precision` with the block width [`width`] picks for
/// `threads` (`None`: rayon's global pool).
pub fn open(
    precision: Precision,
    batch: &Batch,
    threads: Option<usize>,
    record: RecordSpec,
) -> anyhow::Result<Box<dyn Backend + Send>> {
    let n = threads.unwrap_or_else(rayon::current_num_threads);
    let f64 = precision == Precision::F64;
    Ok(match (f64, width(f64, batch.len(), n)) {
        (false, 4) => Box::new(LanesBackend::<f32, 4>::new(batch, threads, record)?),
        (false, 8) => Box::new(LanesBackend::<f32, 8>::new(batch, threads, record)?),
        (false, _) => Box::new(LanesBackend::<f32, 16>::new(batch, threads, record)?),
        (true, 2) => Box::new(LanesBackend::<f64, 2>::new(batch, threads, record)?),
        (true, 4) => Box::new(LanesBackend::<f64, 4>::new(batch, threads, record)?),
        (true, _) => Box::new(LanesBackend::<f64, 8>::new(batch, threads, record)?),
    })
}

/// The lane-kernel backend in precision `F` with `L` lanes per block.
pub struct LanesBackend<F, const L: usize> {
    shape: Shape,
    phi: Transfer,
    blocks: Vec<Block<F, L>>,
    /// `(block, lane)` of every instance of the batch, in batch order.
    place: Vec<(usize, usize)>,
    /// Instances of every block, in lane order.
    members: Vec<Vec<usize>>,
    record: RecordSpec,
    pool: Pool,
}

impl<F: CpuReal, const L: usize> LanesBackend<F, L> {
    /// Builds the blocks of `batch`: instances in batch order, grouped by pattern length (a
    /// block's lanes step through their patterns together), `L` per block.
    pub fn new(batch: &Batch, threads: Option<usize>, record: RecordSpec) -> anyhow::Result<Self> {
        let states: Vec<State<F>> = batch
            .init
            .iter()
            .map(|w| State::new(&batch.shape, w.cast()))
            .collect();
        let mut backend = LanesBackend {
            shape: batch.shape.clone(),
            phi: batch.phi,
            blocks: Vec::new(),
            place: Vec::new(),
            members: Vec::new(),
            record,
            pool: Pool::new(threads)?,
        };
        backend.build(batch, &states);
        Ok(backend)
    }

    fn build(&mut self, batch: &Batch, states: &[State<F>]) {
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by_key(|&i| batch.params[i].steps_per_pattern());
        let mut members: Vec<Vec<usize>> = Vec::new();
        for i in order {
            let steps = batch.params[i].steps_per_pattern();
            match members.last_mut() {
                Some(m) if m.len() < L && batch.params[m[0]].steps_per_pattern() == steps => {
                    m.push(i)
                }
                _ => members.push(vec![i]),
            }
        }
        self.place = vec![(0, 0); batch.len()];
        self.blocks = members
            .iter()
            .enumerate()
            .map(|(b, m)| {
                for (k, &i) in m.iter().enumerate() {
                    self.place[i] = (b, k);
                }
                let params: Vec<_> = m.iter().map(|&i| &batch.params[i]).collect();
                let sts: Vec<State<F>> = m.iter().map(|&i| states[i].clone()).collect();
                Block::new(&batch.shape, batch.phi, &params, &sts)
            })
            .collect();
        self.members = members;
    }

    /// Runs every block through the chunk's patterns and returns the readouts in batch order.
    fn run(&mut self, chunk: &Chunk, train: bool) -> Vec<Vec<f64>> {
        let (n_in, n_out) = (self.shape.n_in(), self.shape.n_out());
        let patterns = chunk.patterns(n_in);
        let record = if train {
            self.record.clone()
        } else {
            RecordSpec::default()
        };
        let mut blocks = std::mem::take(&mut self.blocks);
        let members = &self.members;
        let per_block: Vec<Vec<Vec<f64>>> = self.pool.install(|| {
            blocks
                .par_iter_mut()
                .zip(members.par_iter())
                .map(|(blk, m)| {
                    let mut copy;
                    let blk = if train {
                        blk
                    } else {
                        copy = blk.clone();
                        &mut copy
                    };
                    let mut out = vec![vec![0.0; patterns * n_out]; m.len()];
                    let mut readout = vec![vec![0.0; n_out]; m.len()];
                    for p in 0..patterns {
                        let x: Vec<&[f64]> = m
                            .iter()
                            .map(|&i| &chunk.x[i][p * n_in..(p + 1) * n_in])
                            .collect();
                        let y: Vec<&[f64]> = m
                            .iter()
                            .map(|&i| &chunk.y[i][p * n_out..(p + 1) * n_out])
                            .collect();
                        if train && p == 0 {
                            blk.start_filters(&x, &y);
                        }
                        blk.run_pattern(&x, &y, train, &mut readout, &record);
                        for (o, r) in out.iter_mut().zip(&readout) {
                            o[p * n_out..(p + 1) * n_out].copy_from_slice(r);
                        }
                    }
                    out
                })
                .collect()
        });
        self.blocks = blocks;
        let mut out = vec![Vec::new(); self.place.len()];
        for (m, block_out) in self.members.iter().zip(per_block) {
            for (&i, o) in m.iter().zip(block_out) {
                out[i] = o;
            }
        }
        out
    }
}

impl<F: CpuReal, const L: usize> Backend for LanesBackend<F, L> {
    fn name(&self) -> String {
        format!("cpu-{} lanes×{L} ({})", F::NAME, self.pool.label())
    }

    fn cpu_kernel(&self) -> Option<CpuKernel> {
        Some(CpuKernel::Lanes)
    }

    fn train(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>> {
        Ok(self.run(chunk, true))
    }

    fn evaluate(&mut self, chunk: &Chunk) -> anyhow::Result<Vec<Vec<f64>>> {
        Ok(self.run(chunk, false))
    }

    fn weights(&mut self) -> anyhow::Result<Vec<Weights<f64>>> {
        Ok(self
            .place
            .iter()
            .map(|&(b, k)| self.blocks[b].weights(k).cast())
            .collect())
    }

    fn snapshot(&mut self) -> anyhow::Result<Vec<State<f64>>> {
        Ok(self
            .place
            .iter()
            .map(|&(b, k)| self.blocks[b].state(k).cast())
            .collect())
    }

    fn restore(&mut self, states: &[State<f64>]) -> anyhow::Result<()> {
        crate::microcircuit::backend::check_restore_len(states.len(), self.place.len())?;
        let states: Vec<State<F>> = states.iter().map(State::cast).collect();
        for (m, blk) in self.members.iter().zip(self.blocks.iter_mut()) {
            let params = blk.params().to_vec();
            let sts: Vec<State<F>> = m.iter().map(|&i| states[i].clone()).collect();
            let refs: Vec<_> = params.iter().collect();
            let traces = std::mem::take(&mut blk.traces);
            *blk = Block::new(&self.shape, self.phi, &refs, &sts);
            blk.traces = traces;
        }
        Ok(())
    }

    fn take_traces(&mut self) -> Vec<Trace> {
        let mut out = vec![Trace::default(); self.place.len()];
        for (m, blk) in self.members.iter().zip(self.blocks.iter_mut()) {
            for (&i, tr) in m.iter().zip(blk.traces.iter_mut()) {
                out[i] = std::mem::take(tr);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::width;

    #[test]
    fn blocks_hold_one_threads_share_between_sse_and_avx512_widths() {
        assert_eq!(width(false, 1, 1), 4);
        assert_eq!(width(false, 3, 2), 4);
        assert_eq!(width(false, 16, 2), 8);
        assert_eq!(width(false, 16, 1), 16);
        assert_eq!(width(false, 4096, 2), 16);
        assert_eq!(width(true, 1, 2), 2);
        assert_eq!(width(true, 3, 1), 4);
        assert_eq!(width(true, 9, 2), 8);
        assert_eq!(width(true, 100, 64), 2);
    }
}
