//! The blocks kernel (`blocks.wgsl`), the steady-state kernel for GPUs: a team of `team` lanes
//! per matrix row reading consecutive aligned `vec4` chunks of it (coalesced 16-byte loads, the
//! neighbouring rows' words of its first and last chunk masked), partial sums combined by a fixed tree
//! in workgroup memory, a grid over (row blocks, instances), `v_B[0] = W_up[0]·r_0` computed
//! once per exposure and read by the later passes and the plasticity step (computed by the
//! plasticity step before, from the W_up[0] it writes, except for the first pattern of an upload,
//! evaluation and instances that do not learn, where pass 1 computes it), and per exposure
//! `n_passes·(2N−1) + 1` dispatches (the rows kernel: `n_passes·(2N−1) + N`).
//!
//! **Dispatch plan** (N layers with neurons). Each pass: `K_UP` of layer 0; `K_UP` of layer
//! `l = 1..N−1`, whose team `i` first updates interneuron `i` of layer `l−1` (it needs all of
//! `φ(u^P[l−1])` from the dispatch before, and the old `u^P[l][i]`, which only the same team
//! then overwrites; `n_inter(l−1) = n_pyr(l)`) and then pyramidal cell `i` of layer `l`;
//! `K_DOWN` of the hidden layers `l = N−2, …, 0`, each workgroup computing all interneurons of
//! `l` into workgroup memory first (they need all of `u^P[l+1]`, and the pyramidal rows all of
//! `φ(u^I[l])`; the interneurons are few and cheap, so recomputing them per workgroup saves a
//! dispatch), the first block storing them. The plasticity step is one dispatch over the rows of
//! every matrix of every layer (a row's update reads only rates, which the step does not change,
//! and its own weights), in [`SEG_CAP`]-segment pieces for deep networks. A row's sums have a
//! fixed order (lane `k` sums the 4 words of chunks `c0+k, c0+k+team, …` in order, then the
//! tree; `c0` is the chunk of the row's first word, and the layout starts every instance and
//! every Δ on a multiple of 4 words, so the chunks are the same in every instance), so an
//! instance gives the same bits alone and in any batch.

use super::layout::{Layout, SL_HIDDEN, SL_NINT, SL_NPRE, SL_NPYR};

/// Segment kinds (`seg.x` in the kernel).
const K_UP: u32 = 0;
const K_DOWN: u32 = 1;
const K_LEARN_PYR: u32 = 2;
const K_LEARN_INT: u32 = 3;
/// Segment flag: the layer is hidden.
const F_HIDDEN: u32 = 1;
/// Segments per dispatch record: 8 header words and `SEG_CAP` vec4s fill its 256 bytes.
pub(super) const SEG_CAP: usize = 14;
/// Bytes of a dispatch record as the kernel reads it.
pub(super) const JOB_BYTES: u64 = 32 + 16 * SEG_CAP as u64;
/// Largest team: a warp.
const MAX_TEAM: usize = 32;

/// One dispatch: its segments `[kind, layer, first block, flags]` and its workgroups along x.
pub(super) struct Dispatch {
    pub segs: Vec<[u32; 4]>,
    pub blocks: u32,
}

/// The kernel's sizes for one shape.
#[derive(Clone, Debug)]
pub(super) struct Blocks {
    /// Threads per workgroup and lanes per row (both powers of two, `team ≤ wg`).
    pub wg: usize,
    pub team: usize,
    /// Words of the shared vector `wv`: the most interneurons of a layer (at least 1).
    wv: usize,
    /// Per layer: pyramidal cells, interneurons, columns of W_up, W_ip, W_down / W_pi.
    layers: Vec<[usize; 5]>,
    io: usize,
}

impl Blocks {
    /// The sizes for `layout` with `wg` threads per workgroup: the team is the power of two
    /// nearest a quarter of the widest row, at least 4 and at most 32 (or `wg`).
    pub fn new(layout: &Layout, wg: usize) -> anyhow::Result<Self> {
        anyhow::ensure!(
            wg.is_power_of_two(),
            "the blocks kernel needs a power-of-two workgroup size, not {wg}"
        );
        let bias = usize::from(layout.shape.bias);
        let layers: Vec<[usize; 5]> = layout
            .records()
            .iter()
            .map(|r| {
                let (m, mi) = (r[SL_NPYR] as usize, r[SL_NINT] as usize);
                let hidden = r[SL_HIDDEN] == 1;
                [
                    m,
                    mi,
                    r[SL_NPRE] as usize,
                    if hidden { m + bias } else { 0 },
                    mi,
                ]
            })
            .collect();
        let widest = layers
            .iter()
            .flat_map(|r| r[2..].to_vec())
            .max()
            .unwrap_or(1);
        let team = widest
            .div_ceil(4)
            .next_power_of_two()
            .clamp(4, MAX_TEAM)
            .min(wg);
        let wv = layers.iter().map(|r| r[1]).max().unwrap_or(0).max(1);
        let s = &layout.shape;
        Ok(Blocks {
            wg,
            team,
            wv,
            layers,
            io: s.n_in() + s.n_out(),
        })
    }

    /// Bytes of workgroup memory a workgroup uses.
    pub fn workgroup_bytes(&self) -> u64 {
        4 * (self.wg + self.wv + 4) as u64
    }

    /// The kernel's constants and its team reduction, unrolled (a loop around a barrier would
    /// not pass naga's uniformity analysis).
    pub fn wgsl(&self) -> String {
        let mut s = String::new();
        for (name, v) in [
            ("TEAM", self.team),
            ("WV", self.wv),
            ("SEG_CAP", SEG_CAP),
            ("K_UP", K_UP as usize),
            ("K_DOWN", K_DOWN as usize),
            ("K_LEARN_PYR", K_LEARN_PYR as usize),
            ("K_LEARN_INT", K_LEARN_INT as usize),
            ("F_HIDDEN", F_HIDDEN as usize),
        ] {
            s += &format!("const {name}: u32 = {v}u;\n");
        }
        s += "// Sum of v over the lanes of each team, combined in a fixed tree; every lane gets its\n\
              // team's total. Call in uniform control flow.\n\
              fn team_sum(v: f32) -> f32 {\n    part[tid] = v;\n    workgroupBarrier();\n";
        let mut half = self.team / 2;
        while half > 0 {
            s += &format!(
                "    if lane < {half}u {{\n        part[tid] += part[tid + {half}u];\n    }}\n    \
                 workgroupBarrier();\n"
            );
            half /= 2;
        }
        s += "    let total = part[tid - lane];\n    workgroupBarrier();\n    return total;\n}\n";
        s
    }

    fn rows_per_wg(&self) -> usize {
        self.wg / self.team
    }

    /// Workgroups for `rows` rows.
    fn blocks(&self, rows: usize) -> u32 {
        rows.div_ceil(self.rows_per_wg()) as u32
    }

    /// The dispatches of one relaxation pass: up through every layer, down through the hidden
    /// ones.
    pub fn pass(&self) -> Vec<Dispatch> {
        let n = self.layers.len();
        let hidden = |l: usize| if l + 1 < n { F_HIDDEN } else { 0 };
        let one = |kind: u32, l: usize| Dispatch {
            segs: vec![[kind, l as u32, 0, hidden(l)]],
            blocks: self.blocks(self.layers[l][0]),
        };
        let mut out: Vec<Dispatch> = (0..n).map(|l| one(K_UP, l)).collect();
        out.extend((0..n - 1).rev().map(|l| one(K_DOWN, l)));
        out
    }

    /// The dispatches of the plasticity step: the rows of every matrix, in pieces of at most
    /// [`SEG_CAP`] segments.
    pub fn learn(&self) -> Vec<Dispatch> {
        let n = self.layers.len();
        let mut segs = Vec::new();
        for (l, r) in self.layers.iter().enumerate() {
            let flags = if l + 1 < n { F_HIDDEN } else { 0 };
            segs.push((K_LEARN_PYR, l, r[0], flags));
            if r[1] > 0 {
                segs.push((K_LEARN_INT, l, r[1], flags));
            }
        }
        segs.chunks(SEG_CAP)
            .map(|piece| {
                let mut first = 0;
                let segs = piece
                    .iter()
                    .map(|&(kind, l, rows, flags)| {
                        let s = [kind, l as u32, first, flags];
                        first += self.blocks(rows);
                        s
                    })
                    .collect();
                Dispatch {
                    segs,
                    blocks: first,
                }
            })
            .collect()
    }

    /// Most workgroups along x in one dispatch.
    pub fn max_blocks(&self) -> u32 {
        self.pass()
            .into_iter()
            .chain(self.learn())
            .map(|d| d.blocks)
            .max()
            .unwrap_or(0)
    }

    /// Loop iterations one invocation runs in the costliest dispatch (every matrix counted as
    /// plastic), mirroring the loops of the kernel.
    pub fn max_trips(&self) -> u64 {
        // a row of n words spans at most ⌈(n+3)/4⌉ chunks (the kernel's `chunk_end`)
        let lanes = |cols: usize| (cols + 3).div_ceil(4).div_ceil(self.team) as u64;
        let spread = |k: usize| k.div_ceil(self.wg) as u64;
        let seg_scan = SEG_CAP as u64;
        let mut worst = 0;
        for (l, r) in self.layers.iter().enumerate() {
            let [_, mi, npre, nip, _] = *r;
            // the interneurons of the layer below share the up dispatch
            let below_ip = if l > 0 {
                lanes(self.layers[l - 1][3])
            } else {
                0
            };
            let up = below_ip + spread(self.io) + lanes(npre) + spread(mi) + 2 * lanes(mi);
            let down = spread(mi) + 2 * lanes(mi);
            let learn = (2 * lanes(npre) + 2 * lanes(mi)).max(2 * lanes(nip));
            worst = worst.max(up).max(down).max(learn);
        }
        worst + seg_scan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::microcircuit::{Shape, Transfer};

    fn sizes(dims: &[usize], wg: usize) -> Blocks {
        let layout = Layout::new(&Shape::new(dims.to_vec(), true), Transfer::Sigmoid);
        Blocks::new(&layout, wg).unwrap()
    }

    #[test]
    fn plan_counts_dispatches_segments_and_blocks() {
        // [784,500,10]: 32 lanes per row, 2 rows per workgroup of 64
        let b = sizes(&[784, 500, 10], 64);
        assert_eq!(b.team, 32);
        let pass = b.pass();
        assert_eq!(pass.len(), 3, "up 0, up 1, down 0");
        assert_eq!(pass[0].blocks, 250);
        assert_eq!(pass[1].blocks, 5);
        let learn = b.learn();
        assert_eq!(learn.len(), 1);
        // W_up0 rows, W_ip0 rows, W_up1 rows: 250 + 5 + 5 workgroups
        let firsts: Vec<u32> = learn[0].segs.iter().map(|s| s[2]).collect();
        assert_eq!(firsts, [0, 250, 255]);
        assert_eq!(learn[0].blocks, 260);
        assert_eq!(b.workgroup_bytes(), 4 * (64 + 10 + 4));
        // 9 layers: 17 learn segments, two records
        let deep = sizes(&[3, 5, 4, 5, 4, 5, 4, 5, 4, 2], 64);
        let learn = deep.learn();
        assert_eq!(
            learn.iter().map(|d| d.segs.len()).collect::<Vec<_>>(),
            [14, 3]
        );
        assert_eq!(deep.pass().len(), 9 + 8);
        // short rows: teams of 4
        assert_eq!(sizes(&[2, 3, 2], 64).team, 4);
        let layout = Layout::new(&Shape::new(vec![2, 3, 2], true), Transfer::Sigmoid);
        assert!(
            Blocks::new(&layout, 48).is_err(),
            "48 threads: not a power of two"
        );
    }

    #[test]
    fn kernel_validates_on_every_team_size() {
        // teams of 32 ([784,20,10]) and of 4 ([2,3,2]), the state read as vec4 chunks
        for (dims, wg) in [(&[784, 20, 10][..], 64), (&[2, 3, 2][..], 16)] {
            let layout = Layout::new(&Shape::new(dims.to_vec(), true), Transfer::Sigmoid);
            let sizes = Blocks::new(&layout, wg).unwrap();
            let body = format!(
                "{}\n{}\n{}",
                super::super::layout::wgsl_constants(),
                sizes.wgsl(),
                super::super::BLOCKS
            );
            crate::microcircuit::full::gpu::kernel::assert_valid(&body, wg);
        }
    }

    #[test]
    fn trips_count_vec4_chunks() {
        // [784,500,10]: the up dispatch of layer 0 copies the 794 pattern words (13 per
        // thread), reads ⌈⌈788/4⌉/32⌉ = 7 chunks of W_up[0] per lane (scalar columns: 25), then
        // 1 + 2 for the apical rows of 10 words; plus the segment scan
        assert_eq!(sizes(&[784, 500, 10], 64).max_trips(), 23 + SEG_CAP as u64);
    }

    #[test]
    fn team_sum_is_an_unrolled_tree() {
        let w = sizes(&[784, 500, 10], 64).wgsl();
        for half in [16, 8, 4, 2, 1] {
            assert!(w.contains(&format!("if lane < {half}u {{")), "{w}");
        }
        assert!(!w.contains("if lane < 32u"));
        assert!(w.contains("const TEAM: u32 = 32u;"));
    }
}
