//! Source of the serial kernel's Euler step (`fn euler_step` of `shaders/serial.wgsl`),
//! generated for one shape and one set of pathways.
//!
//! llvmpipe (Mesa 22) runs a shader's `if` bodies under an execution mask, never branching
//! around them, and pays for every storage-buffer access with a loop over the SIMD lanes. So a
//! kernel that decides at run time between paths (short or long rows, noise or none, plastic
//! or frozen pathways) pays for all of them. The generated step instead contains only what the
//! batch needs: the layer loop is unrolled in the source with every offset and size a literal;
//! rows of at most [`SHORT_CHUNKS`] chunks of 4 words are read once into registers, their
//! presynaptic chunks once per step, and the plasticity update reuses the row; the rows of a
//! matrix with at most 4 long rows share the presynaptic reads of one loop; pathways that no
//! instance of the batch trains, and the noise when no instance is noisy, are left out.
//!
//! The arithmetic is that of MODEL.md section 3 in the reference order (see the comment at
//! the top of `shaders/serial.wgsl`).

use super::layout::{Layout, L_NOISE_I, L_NOISE_P, L_PRE, L_PRE_NEXT, L_R_I, L_U_I, L_U_P};
use super::layout::{H_R0, H_UTGT, L_W_DOWN, L_W_IP, L_W_PI, L_W_UP, P_ETA};
use crate::backend::Batch;
use crate::cpu::Consts;

/// Rows of at most this many `vec4` chunks are held in registers.
pub(crate) const SHORT_CHUNKS: usize = 4;

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

/// One matrix-row pathway as the generator sees it.
#[derive(Clone, Copy)]
struct Mat {
    /// Word offset of the matrix in the state (Δ lies `w_total` words behind).
    w: usize,
    /// Chunks of 4 words per row (the row stride is `4·n4`).
    n4: usize,
    /// Word offset of the presynaptic vector in the scratch.
    x: usize,
}

impl Mat {
    fn short(&self) -> bool {
        self.n4 <= SHORT_CHUNKS
    }
}

impl Gen {
    fn line(&mut self, text: &str) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// `for (var v = 0u; v < count; v++) { body }` (just the body, with `v = 0`, when the
    /// count is 1; nothing when it is 0).
    fn for_loop(&mut self, v: &str, count: usize, body: impl FnOnce(&mut Gen)) {
        match count {
            0 => {}
            1 => {
                self.line("{");
                self.indent += 1;
                self.line(&format!("let {v} = 0u;"));
                body(self);
                self.indent -= 1;
                self.line("}");
            }
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

    /// Reads the presynaptic chunks of a short matrix into `{p}0`, `{p}1`, …
    fn hoist(&mut self, p: &str, m: Mat) {
        if m.short() {
            for k in 0..m.n4 {
                self.line(&format!("let {p}{k} = sc[cb4 + {}u];", m.x / 4 + k));
            }
        }
    }

    /// `let {v}: f32 = W[row] · x` for the row starting at vec4 `{row}` (an expression);
    /// a short row's chunks stay in `{v}_w0`, `{v}_w1`, … and its presynaptic chunks are
    /// `{p}0`, … (see [`Gen::hoist`]).
    fn dot(&mut self, v: &str, row: &str, p: &str, m: Mat) {
        if m.short() {
            let mut sum = Vec::new();
            for k in 0..m.n4 {
                self.line(&format!("let {v}_w{k} = st[{row} + {k}u];"));
                sum.push(format!("{v}_w{k} * {p}{k}"));
            }
            self.line(&format!("let {v}_s = {};", sum.join(" + ")));
        } else {
            self.line(&format!("var {v}_s = vec4<f32>();"));
            let x = m.x / 4;
            self.for_loop("k", m.n4, |g| {
                g.line(&format!("{v}_s += st[{row} + k] * sc[cb4 + {x}u + k];"));
            });
        }
        self.line(&format!(
            "let {v} = ({v}_s.x + {v}_s.y) + ({v}_s.z + {v}_s.w);"
        ));
    }

    /// (3) for the row of `dot(v, row, p, m)` with error `e` and `dt·η` `eta`:
    /// `W += dt·η·Δ` with the old Δ, then `Δ += dt/τ_w (e r − Δ)`.
    fn learn(&mut self, v: &str, row: &str, p: &str, m: Mat, e: &str, eta: &str) {
        if m.short() {
            for k in 0..m.n4 {
                self.line("{");
                self.indent += 1;
                self.line(&format!("let d = st[{row} + dq + {k}u];"));
                self.line(&format!("st[{row} + {k}u] = {v}_w{k} + {eta} * d;"));
                self.line(&format!(
                    "st[{row} + dq + {k}u] = d + c_kw * ({e} * {p}{k} - d);"
                ));
                self.indent -= 1;
                self.line("}");
            }
        } else {
            let x = m.x / 4;
            self.for_loop("k", m.n4, |g| {
                g.line(&format!("let d = st[{row} + dq + k];"));
                g.line(&format!("st[{row} + k] = st[{row} + k] + {eta} * d;"));
                g.line(&format!(
                    "st[{row} + dq + k] = d + c_kw * ({e} * sc[cb4 + {x}u + k] - d);"
                ));
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
        if n % 4 != 0 {
            let c = ["x", "y", "z", "w"];
            let parts: Vec<String> = (0..4)
                .map(|k| match k < n % 4 {
                    true => format!("phi(u.{})", c[k]),
                    false => "0.0".into(),
                })
                .collect();
            self.line("{");
            self.indent += 1;
            self.line(&format!("let u = st[sb4 + {}u];", u / 4 + full));
            self.line(&format!(
                "sc[cb4 + {}u] = vec4<f32>({});",
                r / 4 + full,
                parts.join(", ")
            ));
            self.indent -= 1;
            self.line("}");
        }
    }
}

/// A soma's update given its dendrite(s): writes `du` and the plasticity error(s).
enum Soma {
    /// Interneuron of hidden layer l: `du = dt (−g_l u + g_D (v_D − u) + g_som (u^P[l+1] − u))`,
    /// `e_ip = φ(u^I) − φ(c_i v_D)`.
    Inter { above: usize, rates: usize },
    /// Output pyramidal cell: `du = dt (−g_l u + g_B (v_B − u) + g_nudge (u_tgt − u))`,
    /// `e_up = φ(u) − φ(c_o v_B)`; the soma after the step enters the readout sum.
    Output {
        utgt: usize,
        rates: usize,
        acc: usize,
    },
}

/// The generated `euler_step` for `layout` (a [`super::KernelKind::Serial`] layout) and the
/// pathways in `f`.
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
    let chunks = |cols: usize| cols.div_ceil(4);
    let noise = |g: &mut Gen, du: &str, index: String| {
        if f.noise {
            g.line(&format!(
                "if noisy {{ {du} += c_amp * normal(seed, step, {index}); }}"
            ));
        }
    };
    let eta = |g: &mut Gen, name: &str, k: usize, l: usize| {
        g.line(&format!(
            "let {name} = select(0.0, par({}u), plastic);",
            P_ETA + k * n + l
        ));
    };

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

    // (2)–(4) layer by layer, row by row
    for l in 0..n {
        let (np, ni) = (shape.n_pyr(l), shape.n_inter(l));
        let up = Mat {
            w: lw(l, L_W_UP),
            n4: chunks(shape.with_bias(shape.dims[l])),
            x: lw(l, L_PRE),
        };
        g.line(&format!("// layer {l}"));
        g.line("{");
        if shape.is_hidden(l) {
            let down = Mat {
                w: lw(l, L_W_DOWN),
                n4: chunks(ni),
                x: lw(l + 1, L_PRE_NEXT),
            };
            let pi = Mat {
                w: lw(l, L_W_PI),
                n4: chunks(ni),
                x: lw(l, L_R_I),
            };
            let ip = Mat {
                w: lw(l, L_W_IP),
                n4: chunks(shape.with_bias(np)),
                x: lw(l, L_PRE_NEXT),
            };
            let plastic = |k: usize| f.plastic[k][l];
            // pyramidal rows: v_B = W_up pre, v_A = W_down φ(u^P[l+1]) + W_pi φ(u^I),
            // du^P = dt (−g_l u + g_B (v_B − u) + g_A (v_A − u)),
            // e_up = φ(u) − φ(c_h v_B), e_pi = −v_A, e_down = φ(u) − φ(W_down φ(u^P[l+1]))
            g.indent += 1;
            for (k, name) in [(0, "eta_up"), (1, "eta_pi"), (3, "eta_down")] {
                if plastic(k) {
                    eta(&mut g, name, k, l);
                }
            }
            g.hoist("xu", up);
            g.hoist("xd", down);
            g.hoist("xp", pi);
            let (u_p, nx, noise_p) = (lw(l, L_U_P), lw(l, L_PRE_NEXT), lw(l, L_NOISE_P));
            g.for_loop("i", np, |g| {
                for (r, m) in [("ru", up), ("rd", down), ("rp", pi)] {
                    g.line(&format!("let {r} = sb4 + {}u + i * {}u;", m.w / 4, m.n4));
                }
                g.dot("vb", "ru", "xu", up);
                g.dot("vd", "rd", "xd", down);
                g.dot("vp", "rp", "xp", pi);
                g.line("let va = vp + vd;");
                g.line(&format!("let u = sget(sb + {u_p}u + i);"));
                g.line("var du = c_dt * (-c_gl * u + c_gb * (vb - u) + c_ga * (va - u));");
                noise(g, "du", format!("{noise_p}u + i"));
                if plastic(0) || plastic(3) {
                    g.line(&format!("let r = cget(cb + {nx}u + i);"));
                }
                let learns = [
                    (0, "eta_up", "vb", "ru", "xu", up, "r - phi(c_ch * vb)"),
                    (1, "eta_pi", "vp", "rp", "xp", pi, "-va"),
                    (3, "eta_down", "vd", "rd", "xd", down, "r - phi(vd)"),
                ];
                for (k, eta, v, row, p, m, e) in learns {
                    if plastic(k) {
                        g.line(&format!("if {eta} != 0.0 {{"));
                        g.indent += 1;
                        g.line(&format!("let e = {e};"));
                        g.learn(v, row, p, m, "e", eta);
                        g.indent -= 1;
                        g.line("}");
                    }
                }
                g.line(&format!("sset(sb + {u_p}u + i, u + du);"));
            });
            g.indent -= 1;
            // interneurons: v_D = W_ip φ(u^P[l]),
            // du^I = dt (−g_l u^I + g_D (v_D − u^I) + g_som (u^P[l+1] − u^I)),
            // e_ip = φ(u^I) − φ(c_i v_D)
            let soma = Soma::Inter {
                above: lw(l + 1, L_U_P),
                rates: lw(l, L_R_I),
            };
            rows(
                &mut g,
                f,
                ip,
                ni,
                lw(l, L_U_I),
                lw(l, L_NOISE_I),
                &soma,
                2,
                l,
                n,
            );
        } else {
            let soma = Soma::Output {
                utgt,
                rates: lw(l, L_PRE_NEXT),
                acc: layout.header_word(super::layout::H_ACC),
            };
            rows(
                &mut g,
                f,
                up,
                np,
                lw(l, L_U_P),
                lw(l, L_NOISE_P),
                &soma,
                0,
                l,
                n,
            );
        }
        g.line("}");
    }
    // main's loop runs once per step, and its three pattern-boundary loops run (masked) at
    // every step too
    g.trips += 1 + 3 * 3;
    let mut wgsl = String::from(
        "fn euler_step(xo: u32, train: bool, plastic: bool, noisy: bool, seed: vec2<u32>,\n\
         \x20             step: vec2<u32>, acc_on: bool, fold: bool) {\n",
    );
    wgsl += "    let g_nudge = select(0.0, c_gsom, train);\n";
    wgsl += &g.out;
    wgsl += "}\n";
    StepSource {
        wgsl,
        trips: g.trips,
    }
}

/// The `rows` rows of one matrix `m` (kind k of layer l) whose somas lie at state word `u`:
/// dendrite, soma increment, plasticity, soma update. With at most 4 long rows, one loop over
/// the chunks serves all rows, reading each presynaptic chunk once.
#[allow(clippy::too_many_arguments)]
fn rows(
    g: &mut Gen,
    f: &Features,
    m: Mat,
    rows: usize,
    u: usize,
    noise_index: usize,
    soma: &Soma,
    k: usize,
    l: usize,
    n: usize,
) {
    let plastic = f.plastic[k][l];
    g.indent += 1;
    if plastic {
        g.line(&format!(
            "let eta_m = select(0.0, par({}u), plastic);",
            P_ETA + k * n + l
        ));
    }
    // the soma of row `i` (an expression) given its dendrite `v`
    let update = |g: &mut Gen, i: &str, v: &str, sfx: &str| {
        g.line(&format!("let u{sfx} = sget(sb + {u}u + {i});"));
        match soma {
            Soma::Inter { above, rates } => {
                g.line(&format!(
                    "var du{sfx} = c_dt * (-c_gl * u{sfx} + c_gd * ({v} - u{sfx}) \
                     + c_gsom * (sget(sb + {above}u + {i}) - u{sfx}));"
                ));
                if f.noise {
                    g.line(&format!(
                        "if noisy {{ du{sfx} += c_amp * normal(seed, step, {noise_index}u + {i}); }}"
                    ));
                }
                if plastic {
                    g.line(&format!(
                        "let e{sfx} = cget(cb + {rates}u + {i}) - phi(c_ci * {v});"
                    ));
                }
            }
            Soma::Output { utgt, rates, .. } => {
                g.line(&format!(
                    "var du{sfx} = c_dt * (-c_gl * u{sfx} + c_gb * ({v} - u{sfx}) \
                     + g_nudge * (sget(sb + {utgt}u + {i}) - u{sfx}));"
                ));
                if f.noise {
                    g.line(&format!(
                        "if noisy {{ du{sfx} += c_amp * normal(seed, step, {noise_index}u + {i}); }}"
                    ));
                }
                if plastic {
                    g.line(&format!(
                        "let e{sfx} = cget(cb + {rates}u + {i}) - phi(c_co * {v});"
                    ));
                }
            }
        }
    };
    let store = |g: &mut Gen, i: &str, sfx: &str| {
        g.line(&format!("let un{sfx} = u{sfx} + du{sfx};"));
        g.line(&format!("sset(sb + {u}u + {i}, un{sfx});"));
        if let Soma::Output { acc, .. } = soma {
            // two-level readout sum: blocks of ACC_BLOCK steps folded into the total
            let n_out = rows;
            g.line("if acc_on {");
            g.indent += 1;
            g.line(&format!(
                "var b = cget(cb + {}u + {i}) + un{sfx};",
                acc + n_out
            ));
            g.line(&format!(
                "if fold {{ cset(cb + {acc}u + {i}, cget(cb + {acc}u + {i}) + b); b = 0.0; }}"
            ));
            g.line(&format!("cset(cb + {}u + {i}, b);", acc + n_out));
            g.indent -= 1;
            g.line("}");
        }
    };
    if !m.short() && rows <= 4 {
        // shared chunk loop over all rows
        let x = m.x / 4;
        for r in 0..rows {
            g.line(&format!("let w{r} = sb4 + {}u;", (m.w / 4) + r * m.n4));
            g.line(&format!("var s{r} = vec4<f32>();"));
        }
        g.for_loop("k", m.n4, |g| {
            g.line(&format!("let x = sc[cb4 + {x}u + k];"));
            for r in 0..rows {
                g.line(&format!("s{r} += st[w{r} + k] * x;"));
            }
        });
        for r in 0..rows {
            g.line(&format!(
                "let v{r} = (s{r}.x + s{r}.y) + (s{r}.z + s{r}.w);"
            ));
            update(g, &format!("{r}u"), &format!("v{r}"), &r.to_string());
        }
        if plastic {
            g.line("if eta_m != 0.0 {");
            g.indent += 1;
            g.for_loop("k", m.n4, |g| {
                g.line(&format!("let x = sc[cb4 + {x}u + k];"));
                for r in 0..rows {
                    g.line("{");
                    g.indent += 1;
                    g.line(&format!("let d = st[w{r} + dq + k];"));
                    g.line(&format!("st[w{r} + k] = st[w{r} + k] + eta_m * d;"));
                    g.line(&format!("st[w{r} + dq + k] = d + c_kw * (e{r} * x - d);"));
                    g.indent -= 1;
                    g.line("}");
                }
            });
            g.indent -= 1;
            g.line("}");
        }
        for r in 0..rows {
            store(g, &format!("{r}u"), &r.to_string());
        }
    } else {
        g.hoist("xm", m);
        g.for_loop("i", rows, |g| {
            g.line(&format!("let rm = sb4 + {}u + i * {}u;", m.w / 4, m.n4));
            g.dot("vm", "rm", "xm", m);
            update(g, "i", "vm", "");
            if plastic {
                g.line("if eta_m != 0.0 {");
                g.indent += 1;
                g.learn("vm", "rm", "xm", m, "e", "eta_m");
                g.indent -= 1;
                g.line("}");
            }
            store(g, "i", "");
        });
    }
    g.indent -= 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::layout::{KernelKind, WG_CPU};
    use crate::model::{init::init_weights, InstanceParams, Shape, Transfer};

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
        assert!(!train.wgsl.contains("eta_pi") && !train.wgsl.contains("eta_down"));
        let eval = step_source(&lay, &Features::evaluation(2));
        assert!(!eval.wgsl.contains("normal(") && !eval.wgsl.contains("eta_"));
        assert!(eval.trips <= train.trips);
        let quiet = step_source(&lay, &Features::training(&batch(0.0, 0.3)));
        assert!(!quiet.wgsl.contains("normal(") && quiet.wgsl.contains("eta_pi"));
    }
}
