//! Source of the serial kernel's Euler step (`fn euler_step` of `serial.wgsl`),
//! generated for one shape and one set of pathways.
//!
//! llvmpipe (Mesa 22) runs a shader's `if` bodies under an execution mask, never branching
//! around them, and pays for every storage-buffer access with a loop over the SIMD lanes. So a
//! kernel that decides at run time between paths (short or long rows, noise or none, plastic
//! or frozen pathways) pays for all of them. The generated step instead contains only what the
//! batch needs: the layer loop is unrolled in the source with every offset and size a literal;
//! rows are processed in blocks of 4, somas and rates as `vec4`; a matrix with at most
//! [`super::layout::SHORT_COLS`] columns is stored in row blocks (see `layout::Slot`), so one
//! `vec4` load brings one column of 4 rows, the block stays in registers from the dendrite to
//! the plasticity update and the presynaptic vector is read once per step; longer rows are
//! read in chunks of 4 words, the 4 rows of a block sharing each presynaptic chunk; the
//! plasticity update reads and writes a chunk's 4 weights and their 4 Δ, which the layout keeps
//! side by side, with one 64-bit `vec4` access each (`chunk_get`, `chunk_set` of
//! `serial.wgsl`); pathways that no instance of the batch trains, and the noise when no
//! instance is noisy, are left out.
//!
//! The arithmetic is that of MODEL.md section 3 in the reference order (see the comment at
//! the top of `serial.wgsl`).

use super::layout::{Layout, H_ACC, H_ACC_BLOCK, H_PHI, H_R0, H_UTGT, L_NOISE_I, L_NOISE_P};
use super::layout::{L_PRE, PHI_SIGMOID, PHI_SOFTPLUS};
use super::layout::{L_PRE_NEXT, L_R_I, L_U_I, L_U_P, L_W_DOWN, L_W_IP, L_W_PI, L_W_UP, P_ETA};
use crate::microcircuit::backend::Batch;
use crate::microcircuit::full::cpu::Consts;

/// What the generated step has to handle, from the instances of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Features {
    /// Some instance has noise (σ ≠ 0).
    pub noise: bool,
    /// `plastic[k][l]`: some instance trains matrix kind k (0 up, 1 pi, 2 ip, 3 down) of
    /// layer l (`dt·η ≠ 0` in f32).
    pub plastic: [Vec<bool>; 4],
}

impl Features {
    /// The features training needs for `batch`.
    pub fn training(batch: &Batch) -> Self {
        let n = batch.shape.n_layers();
        let consts: Vec<Consts<f32>> = batch.params.iter().map(Consts::new).collect();
        let any = |k: usize, l: usize| {
            consts.iter().any(|c| {
                let etas = [&c.eta_dt_up, &c.eta_dt_pi, &c.eta_dt_ip, &c.eta_dt_down][k];
                etas.get(l).is_some_and(|&e| e != 0.0)
            })
        };
        Features {
            noise: batch.params.iter().any(|p| p.noise != 0.0),
            plastic: std::array::from_fn(|k| (0..n).map(|l| any(k, l)).collect()),
        }
    }

    /// Evaluation: no noise, no plasticity.
    pub fn evaluation(n_layers: usize) -> Self {
        Features {
            noise: false,
            plastic: std::array::from_fn(|_| vec![false; n_layers]),
        }
    }
}

/// The generated step and the loop iterations one invocation runs in it (every loop charged
/// two extra trips, as llvmpipe's limiter counts).
pub(crate) struct StepSource {
    pub wgsl: String,
    pub trips: u64,
}

/// Writes WGSL lines and counts the loop trips of what it wrote.
struct Gen {
    out: String,
    indent: usize,
    trips: u64,
    /// Times the code being written runs per step (product of the enclosing loop counts).
    times: u64,
}

const LANE: [&str; 4] = ["x", "y", "z", "w"];

impl Gen {
    fn line(&mut self, text: &str) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// `{ body }`.
    fn block(&mut self, body: impl FnOnce(&mut Gen)) {
        self.line("{");
        self.indent += 1;
        body(self);
        self.indent -= 1;
        self.line("}");
    }

    /// `for (var v = 0u; v < count; v++) { body }` (just the body, with `v = 0`, when the
    /// count is 1; nothing when it is 0).
    fn for_loop(&mut self, v: &str, count: usize, body: impl FnOnce(&mut Gen)) {
        match count {
            0 => {}
            1 => self.block(|g| {
                g.line(&format!("let {v} = 0u;"));
                body(g);
            }),
            _ => {
                self.trips += self.times * (count as u64 + 2);
                self.line(&format!("for (var {v} = 0u; {v} < {count}u; {v}++) {{"));
                self.indent += 1;
                let outer = self.times;
                self.times *= count as u64;
                body(self);
                self.times = outer;
                self.indent -= 1;
                self.line("}");
            }
        }
    }

    /// `body` for the chunks `k` = 0, 1, …, n4 − 1 in order, two per loop iteration (half the
    /// loop overhead and trips).
    fn chunk_loop(&mut self, n4: usize, body: impl Fn(&mut Gen)) {
        self.for_loop("k2", n4 / 2, |g| {
            for half in ["", " + 1u"] {
                g.block(|g| {
                    g.line(&format!("let k = 2u * k2{half};"));
                    body(g);
                });
            }
        });
        if n4 % 2 == 1 {
            self.block(|g| {
                g.line(&format!("let k = {}u;", n4 - 1));
                body(g);
            });
        }
    }

    /// The rates `φ(u)` of `n` somas at state word `u` into the scratch at word `r` (both
    /// aligned), four at a time; the padding of the last chunk is written as zero.
    fn rates(&mut self, u: usize, r: usize, n: usize) {
        let full = n / 4;
        self.for_loop("g", full, |g| {
            g.line(&format!(
                "sc[cb4 + {}u + g] = phi4(st[sb4 + {}u + g]);",
                r / 4,
                u / 4
            ));
        });
        if !n.is_multiple_of(4) {
            let parts: Vec<String> = (0..4)
                .map(|k| match k < n % 4 {
                    true => format!("phi_batch(u.{})", LANE[k]),
                    false => "0.0".into(),
                })
                .collect();
            self.block(|g| {
                g.line(&format!("let u = st[sb4 + {}u];", u / 4 + full));
                g.line(&format!(
                    "sc[cb4 + {}u] = vec4<f32>({});",
                    r / 4 + full,
                    parts.join(", ")
                ));
            });
        }
    }
}

/// One matrix of a row set: its rows are the row set's somas.
#[derive(Clone, Copy)]
struct Mat {
    /// Name in the generated code (`up`, `dn`, `pi`, `ip`).
    name: &'static str,
    /// Kind (0 up, 1 pi, 2 ip, 3 down), for `dt·η` and the features.
    kind: usize,
    /// Offset among the weight words (a multiple of 4: its first chunk is `w / 4`; each chunk
    /// of 4 weights lies next to its Δ, see `Layout::w_word`).
    w: usize,
    cols: usize,
    /// Word offset of the presynaptic vector in the scratch.
    x: usize,
    /// Stored in row blocks (else row-major with rows padded to whole chunks).
    blocked: bool,
    /// Some instance trains it.
    plastic: bool,
}

impl Mat {
    fn chunks(&self) -> usize {
        self.cols.div_ceil(4)
    }

    /// The presynaptic value `x[j]` of a blocked matrix (read once per step, see
    /// [`Mat::hoist`]).
    fn x_at(&self, j: usize) -> String {
        format!("x{}{}.{}", self.name, j / 4, LANE[j % 4])
    }

    /// Reads the presynaptic vector of a blocked matrix into `x{name}0`, `x{name}1`, …
    fn hoist(&self, g: &mut Gen) {
        if self.blocked {
            for c in 0..self.chunks() {
                g.line(&format!(
                    "let x{}{c} = sc[cb4 + {}u];",
                    self.name,
                    self.x / 4 + c
                ));
            }
        }
    }

    /// `v{name}`: the dendrites of the `nr` rows of block `b` (`vec4`, zero beyond `nr`).
    /// A blocked matrix keeps its columns in `{name}_w0`, … (with their Δ in `{name}_c0.d`, …
    /// when plastic) and its first chunk in `{name}_b`; a row-major one the first chunks of
    /// its rows in `{name}_r0`, …
    fn dendrite(&self, g: &mut Gen, nr: usize) {
        let n = self.name;
        if self.blocked {
            g.line(&format!(
                "let {n}_b = {}u + b * {}u;",
                self.w / 4,
                self.cols
            ));
            let mut sum = Vec::new();
            for j in 0..self.cols {
                if self.plastic {
                    g.line(&format!("let {n}_c{j} = chunk_get({n}_b + {j}u);"));
                    g.line(&format!("let {n}_w{j} = {n}_c{j}.w;"));
                } else {
                    g.line(&format!("let {n}_w{j} = w_get({n}_b + {j}u);"));
                }
                sum.push(format!("{n}_w{j} * {}", self.x_at(j)));
            }
            g.line(&format!("let v{n} = {};", sum.join(" + ")));
        } else {
            let n4 = self.chunks();
            for r in 0..nr {
                g.line(&format!(
                    "let {n}_r{r} = {}u + (b * 4u + {r}u) * {n4}u;",
                    self.w / 4
                ));
                g.line(&format!("var {n}_s{r} = vec4<f32>();"));
            }
            let x = self.x / 4;
            g.chunk_loop(n4, |g| {
                g.line(&format!("let x = sc[cb4 + {x}u + k];"));
                for r in 0..nr {
                    g.line(&format!("{n}_s{r} += w_get({n}_r{r} + k) * x;"));
                }
            });
            let parts: Vec<String> = (0..4)
                .map(|r| match r < nr {
                    true => format!("({n}_s{r}.x + {n}_s{r}.y) + ({n}_s{r}.z + {n}_s{r}.w)"),
                    false => "0.0".into(),
                })
                .collect();
            g.line(&format!("let v{n} = vec4<f32>({});", parts.join(", ")));
        }
    }

    /// (3) for the block with errors `e{name}` (per row): `W += dt·η·Δ` with the old Δ, then
    /// `Δ += dt/τ_w (e r − Δ)`, each chunk's W and Δ written with one access.
    fn learn(&self, g: &mut Gen, nr: usize) {
        let n = self.name;
        g.line(&format!("if eta_{n} != 0.0 {{"));
        g.indent += 1;
        if self.blocked {
            for j in 0..self.cols {
                g.block(|g| {
                    g.line(&format!("let d = {n}_c{j}.d;"));
                    g.line(&format!(
                        "chunk_set({n}_b + {j}u, {n}_w{j} + eta_{n} * d, \
                         d + c_kw * (e{n} * {} - d));",
                        self.x_at(j)
                    ));
                });
            }
        } else {
            let x = self.x / 4;
            g.chunk_loop(self.chunks(), |g| {
                g.line(&format!("let x = sc[cb4 + {x}u + k];"));
                for (r, lane) in LANE.iter().enumerate().take(nr) {
                    g.block(|g| {
                        g.line(&format!("let c = chunk_get({n}_r{r} + k);"));
                        g.line(&format!(
                            "chunk_set({n}_r{r} + k, c.w + eta_{n} * c.d, \
                             c.d + c_kw * (e{n}.{lane} * x - c.d));"
                        ));
                    });
                }
            });
        }
        g.indent -= 1;
        g.line("}");
    }
}

/// What the somas of a row set are, with the equations of their increments and errors.
enum Soma {
    /// Hidden pyramidal cells (matrices up, dn, pi): `v_A = v_pi + v_dn`,
    /// `du = dt (−g_l u + g_B (v_B − u) + g_A (v_A − u))`,
    /// `e_up = φ(u) − φ(c_h v_B)`, `e_pi = −v_A`, `e_dn = φ(u) − φ(v_dn)`.
    Hidden,
    /// Interneurons (matrix ip) below the pyramidal somas at state word `above`:
    /// `du = dt (−g_l u + g_D (v_D − u) + g_som (u^P[l+1] − u))`, `e_ip = φ(u) − φ(c_i v_D)`.
    Inter { above: usize },
    /// Output pyramidal cells (matrix up): `du = dt (−g_l u + g_B (v_B − u) + g_nudge (u_tgt − u))`,
    /// `e_up = φ(u) − φ(c_o v_B)`; after the step the soma enters the readout sums.
    Output,
}

/// Rows that share somas: their matrices, somas at state word `u`, rates `φ(u)` at scratch
/// word `rates`, noise indices from `noise`.
struct RowSet {
    rows: usize,
    mats: Vec<Mat>,
    soma: Soma,
    u: usize,
    rates: usize,
    noise: usize,
}

/// Everything about the batch the row code needs besides the row set.
struct Ctx<'a> {
    f: &'a Features,
    layout: &'a Layout,
}

impl RowSet {
    /// Writes the row set: full blocks of 4 rows in a loop, then the partial block.
    fn emit(&self, g: &mut Gen, ctx: &Ctx, l: usize) {
        let n = ctx.layout.shape.n_layers();
        g.block(|g| {
            for m in self.mats.iter().filter(|m| m.plastic) {
                g.line(&format!(
                    "let eta_{} = select(0.0, par({}u), plastic);",
                    m.name,
                    P_ETA + m.kind * n + l
                ));
            }
            for m in &self.mats {
                m.hoist(g);
            }
            g.for_loop("b", self.rows / 4, |g| self.emit_block(g, ctx, 4));
            if !self.rows.is_multiple_of(4) {
                g.block(|g| {
                    g.line(&format!("let b = {}u;", self.rows / 4));
                    self.emit_block(g, ctx, self.rows % 4);
                });
            }
        });
    }

    /// One block `b` of `nr` rows.
    fn emit_block(&self, g: &mut Gen, ctx: &Ctx, nr: usize) {
        for m in &self.mats {
            m.dendrite(g, nr);
        }
        let u4 = self.u / 4;
        g.line(&format!("let u = st[sb4 + {u4}u + b];"));
        let du = match self.soma {
            Soma::Hidden => {
                g.line("let va = vpi + vdn;");
                "c_dt * (-c_gl * u + c_gb * (vup - u) + c_ga * (va - u))".to_string()
            }
            Soma::Inter { above } => {
                g.line(&format!("let ua = st[sb4 + {}u + b];", above / 4));
                "c_dt * (-c_gl * u + c_gd * (vip - u) + c_gsom * (ua - u))".to_string()
            }
            Soma::Output => {
                let utgt = ctx.layout.header_word(H_UTGT);
                g.line(&format!("let ut = st[sb4 + {}u + b];", utgt / 4));
                "c_dt * (-c_gl * u + c_gb * (vup - u) + g_nudge * (ut - u))".to_string()
            }
        };
        g.line(&format!("var du = {du};"));
        if ctx.f.noise {
            let xi: Vec<String> = (0..4)
                .map(|r| match r < nr {
                    true => format!("normal(seed, step, {}u + b * 4u + {r}u)", self.noise),
                    false => "0.0".into(),
                })
                .collect();
            g.line(&format!(
                "if noisy {{ du += c_amp * vec4<f32>({}); }}",
                xi.join(", ")
            ));
        }
        // padding rows of a partial block stay exactly zero
        let mask = (nr < 4).then(|| {
            let m: Vec<&str> = (0..4).map(|r| if r < nr { "1.0" } else { "0.0" }).collect();
            format!(" * vec4<f32>({})", m.join(", "))
        });
        let mask = mask.unwrap_or_default();
        if nr < 4 {
            g.line(&format!("du = du{mask};"));
        }
        let plastic: Vec<&Mat> = self.mats.iter().filter(|m| m.plastic).collect();
        if !plastic.is_empty() {
            g.line(&format!("let r = sc[cb4 + {}u + b];", self.rates / 4));
        }
        for m in &plastic {
            let e = match (&self.soma, m.name) {
                (Soma::Hidden, "up") => "r - phi4(c_ch * vup)",
                (Soma::Hidden, "pi") => "-va",
                (Soma::Hidden, _) => "r - phi4(vdn)",
                (Soma::Inter { .. }, _) => "r - phi4(c_ci * vip)",
                (Soma::Output, _) => "r - phi4(c_co * vup)",
            };
            g.line(&format!("let e{} = ({e}){mask};", m.name));
        }
        for m in &plastic {
            m.learn(g, nr);
        }
        g.line("let un = u + du;");
        g.line(&format!("st[sb4 + {u4}u + b] = un;"));
        if let Soma::Output = self.soma {
            // two-level readout sum: blocks of ACC_BLOCK steps folded into the total
            let acc = ctx.layout.header_word(H_ACC) / 4;
            let blk = ctx.layout.header_word(H_ACC_BLOCK) / 4;
            g.line("if acc_on {");
            g.indent += 1;
            g.line(&format!("var s = sc[cb4 + {blk}u + b] + un;"));
            g.line(&format!(
                "if fold {{ sc[cb4 + {acc}u + b] = sc[cb4 + {acc}u + b] + s; s = vec4<f32>(); }}"
            ));
            g.line(&format!("sc[cb4 + {blk}u + b] = s;"));
            g.indent -= 1;
            g.line("}");
        }
    }
}

/// The generated `phi_batch` and `euler_step` for `layout` (a [`super::KernelKind::Serial`]
/// layout) and the pathways in `f`.
pub(crate) fn step_source(layout: &Layout, f: &Features) -> StepSource {
    let shape = &layout.shape;
    let n = shape.n_layers();
    let mut g = Gen {
        out: String::new(),
        indent: 1,
        trips: 0,
        times: 1,
    };
    let lw = |l: usize, field: usize| layout.layer_word(l, field);

    // (1) stimulus filter: r_0 += dt/τ0 (x − r_0), also the first presynaptic vector;
    // u_tgt += dt/τ0 (y − u_tgt)
    let (n_in, n_out) = (shape.n_in(), shape.n_out());
    let (r0, utgt) = (layout.header_word(H_R0), layout.header_word(H_UTGT));
    g.for_loop("j", n_in, |g| {
        g.line(&format!("let a = sb + {r0}u + j;"));
        g.line("let r = sget(a) + c_k0 * (patterns[xo + j] - sget(a));");
        g.line("sset(a, r);");
        g.line(&format!("cset(cb + {}u + j, r);", lw(0, L_PRE)));
    });
    g.for_loop("j", n_out, |g| {
        g.line(&format!("let a = sb + {utgt}u + j;"));
        g.line(&format!(
            "sset(a, sget(a) + c_k0 * (patterns[xo + {n_in}u + j] - sget(a)));"
        ));
    });

    // rates of the old somas, then the bias slots
    for l in 0..n {
        g.rates(lw(l, L_U_P), lw(l, L_PRE_NEXT), shape.n_pyr(l));
        g.rates(lw(l, L_U_I), lw(l, L_R_I), shape.n_inter(l));
    }
    if shape.bias {
        for l in 0..=n {
            let slot = match l {
                l if l < n => lw(l, L_PRE) + shape.dims[l],
                _ => lw(n - 1, L_PRE_NEXT) + shape.n_pyr(n - 1),
            };
            g.line(&format!("cset(cb + {slot}u, c_bias);"));
        }
    }

    // (2)–(4) layer by layer: pyramidal rows, then interneurons
    let ctx = Ctx { f, layout };
    for l in 0..n {
        let (np, ni) = (shape.n_pyr(l), shape.n_inter(l));
        let mat = |name: &'static str, kind: usize, field: usize, cols: usize, x: usize| Mat {
            name,
            kind,
            w: lw(l, field),
            cols,
            x,
            blocked: layout.blocked(&format!(
                "layer{l}.{}",
                ["W_up", "W_pi", "W_ip", "W_down"][kind]
            )),
            plastic: f.plastic[kind][l],
        };
        let up = mat(
            "up",
            0,
            L_W_UP,
            shape.with_bias(shape.dims[l]),
            lw(l, L_PRE),
        );
        g.line(&format!("// layer {l}"));
        if shape.is_hidden(l) {
            let pyramidal = RowSet {
                rows: np,
                mats: vec![
                    up,
                    mat("dn", 3, L_W_DOWN, ni, lw(l + 1, L_PRE_NEXT)),
                    mat("pi", 1, L_W_PI, ni, lw(l, L_R_I)),
                ],
                soma: Soma::Hidden,
                u: lw(l, L_U_P),
                rates: lw(l, L_PRE_NEXT),
                noise: lw(l, L_NOISE_P),
            };
            pyramidal.emit(&mut g, &ctx, l);
            let inter = RowSet {
                rows: ni,
                mats: vec![mat("ip", 2, L_W_IP, shape.with_bias(np), lw(l, L_PRE_NEXT))],
                soma: Soma::Inter {
                    above: lw(l + 1, L_U_P),
                },
                u: lw(l, L_U_I),
                rates: lw(l, L_R_I),
                noise: lw(l, L_NOISE_I),
            };
            inter.emit(&mut g, &ctx, l);
        } else {
            let output = RowSet {
                rows: np,
                mats: vec![up],
                soma: Soma::Output,
                u: lw(l, L_U_P),
                rates: lw(l, L_PRE_NEXT),
                noise: lw(l, L_NOISE_P),
            };
            output.emit(&mut g, &ctx, l);
        }
    }
    // main's loop runs once per step, and its three pattern-boundary loops run (masked) at
    // every step too
    g.trips += 1 + 3 * 3;
    // φ of the batch (common.wgsl): llvmpipe would run all three branches of `phi`
    let phi = match layout.header_word(H_PHI) {
        PHI_SIGMOID => "sigmoid",
        PHI_SOFTPLUS => "softplus",
        _ => "scaled_softplus",
    };
    let mut wgsl = format!("fn phi_batch(x: f32) -> f32 {{\n    return {phi}(x);\n}}\n\n");
    wgsl += "fn euler_step(xo: u32, train: bool, plastic: bool, noisy: bool, seed: vec2<u32>,\n\
             \x20             step: vec2<u32>, acc_on: bool, fold: bool) {\n";
    wgsl += "    let g_nudge = select(0.0, c_gsom, train);\n";
    wgsl += &g.out;
    wgsl += "}\n";
    StepSource {
        wgsl,
        trips: g.trips,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::compute::WG_CPU;
    use crate::microcircuit::full::gpu::layout::KernelKind;
    use crate::microcircuit::{init::init_weights, InstanceParams, Shape, Transfer};

    fn batch(noise: f64, eta_pi: f64) -> Batch {
        let shape = Shape::new(vec![4, 120, 3], true);
        let mut p = InstanceParams::reference(2);
        p.eta_up = vec![0.5, 0.1];
        p.eta_pi = vec![eta_pi];
        p.noise = noise;
        let mut q = p.clone();
        q.noise = 0.0;
        q.eta_ip = vec![0.2];
        let params = vec![p, q];
        Batch {
            init: params.iter().map(|p| init_weights(&shape, p)).collect(),
            shape,
            phi: Transfer::Sigmoid,
            params,
        }
    }

    #[test]
    fn only_what_the_batch_needs_is_generated() {
        let b = batch(0.1, 0.0);
        let f = Features::training(&b);
        assert!(f.noise);
        // up in both layers, ip (second instance), no pi, no down
        assert_eq!(f.plastic[0], vec![true, true]);
        assert_eq!(f.plastic[1], vec![false, false]);
        assert_eq!(f.plastic[2], vec![true, false]);
        assert_eq!(f.plastic[3], vec![false, false]);
        let lay = Layout::new(&b.shape, b.phi, WG_CPU, KernelKind::Serial);
        let train = step_source(&lay, &f);
        assert!(train.wgsl.contains("normal(") && train.wgsl.contains("eta_up"));
        assert!(!train.wgsl.contains("eta_pi") && !train.wgsl.contains("eta_dn"));
        let eval = step_source(&lay, &Features::evaluation(2));
        assert!(!eval.wgsl.contains("normal(") && !eval.wgsl.contains("eta_"));
        // only the batch's transfer function
        assert!(train.wgsl.contains("return sigmoid(x);") && !train.wgsl.contains("softplus"));
        assert!(eval.trips <= train.trips);
        let quiet = step_source(&lay, &Features::training(&batch(0.0, 0.3)));
        assert!(!quiet.wgsl.contains("normal(") && quiet.wgsl.contains("eta_pi"));
    }
}
