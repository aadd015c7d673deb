//! The G-clusteron (GCLUSTERON.md): kernel and forward pass by hand, the analytic regime of §4,
//! the update rules against finite differences, Adam, one training step against a direct
//! transcription of §2.2–2.4, batch invariance, f32 against f64, the XOR solvability conditions
//! of §3.3, and config / CLI errors.

use pyralnet::config::Config;
use pyralnet::gclusteron::backend::{ErrorMode, GcHyper, KernelAt, Readout};
use pyralnet::gclusteron::cpu::forward::{
    apply_kernel, centred, drives, drives_at_locations, outputs,
};
use pyralnet::gclusteron::cpu::kernel::{complement, complement_matrix};
use pyralnet::gclusteron::cpu::{GcCpu, GcReal};
use pyralnet::gclusteron::rules::{binary_error, delta_b, delta_l, delta_w, softmax_error};
use pyralnet::gclusteron::{adam, init, GcBackend, GcBatch, GcData, GcParams, GcState};
use pyralnet::gpu;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::process::Command;
use std::sync::Arc;

/// `y = sᵀ F s` of one unit, summed pair by pair (the definition, no identities).
fn y_direct(x: &[f64], w: &[f64], l: &[f64], r: f64) -> f64 {
    let n = x.len();
    let mut y = 0.0;
    for i in 0..n {
        for j in 0..n {
            y += w[i] * x[i] * (-(l[i] - l[j]).powi(2) / r).exp() * w[j] * x[j];
        }
    }
    y
}

/// `o` of one unit on one pattern through the crate's forward pass.
fn o_forward(x: &[f64], w: &[f64], l: &[f64], b: f64, r: f64) -> f64 {
    let n = x.len();
    let mut g = vec![0.0; n * n];
    complement_matrix(l, r, &mut g);
    let mut s = vec![0.0; n];
    drives(w, x, &mut s);
    let mut u = vec![0.0; n];
    apply_kernel(&s, &g, n, &mut u);
    let mut o = [0.0];
    outputs(&s, &u, b, n, &mut o);
    o[0]
}

#[test]
fn kernel_and_forward_pass_by_hand() {
    // F(d) = exp(−d²/r) = 1 − G(d): d = 1, r = 2 → e^{−1/2}
    assert!((1.0 - complement(1.0f64, -0.5) - (-0.5f64).exp()).abs() < 1e-15);
    // G keeps its relative accuracy where F rounds to 1: d = 1e-9, r = 1 → G = 1e-18
    assert!((complement(1e-9f64, -1.0) - 1e-18).abs() < 1e-32);
    // half height at d_half: r = d_half²/ln 2 gives F(d_half) = 1/2; MNIST literal r
    let r = pyralnet::gclusteron::params::r_from_half_height(0.4);
    assert!((complement(0.4, -1.0 / r) - 0.5).abs() < 1e-15);
    assert!((r - 0.23083120654223419).abs() < 1e-15);
    // two synapses: x = (1, 2), w = (0.5, −1), l = (0, 1), r = 1, b = 0.25
    // s = (0.5, −2), F_12 = e^{−1}; y = 0.25 + 4 + 2·0.5·(−2)·e^{−1} = 4.25 − 2/e
    let o = o_forward(&[1.0, 2.0], &[0.5, -1.0], &[0.0, 1.0], 0.25, 1.0);
    let want = 4.25 - 2.0 / std::f64::consts::E - 0.25;
    assert!((o - want).abs() < 1e-14, "{o} vs {want}");
    // three synapses against the pair-by-pair sum
    let (x, w, l) = ([0.3, -1.2, 0.7], [1.5, 0.4, -0.8], [0.1, -0.4, 0.9]);
    let o = o_forward(&x, &w, &l, -0.1, 0.7);
    assert!((o - (y_direct(&x, &w, &l, 0.7) + 0.1)).abs() < 1e-14);
    // v = F (s∘l): v_i − l_i u_i = Σ_j F_ij s_j (l_j − l_i)
    let mut g = vec![0.0; 9];
    complement_matrix(&l, 0.7, &mut g);
    let mut s = vec![0.0; 3];
    drives(&w, &x, &mut s);
    let (mut u, mut sl, mut v) = (vec![0.0; 3], vec![0.0; 3], vec![0.0; 3]);
    apply_kernel(&s, &g, 3, &mut u);
    drives_at_locations(&s, &l, &mut sl);
    apply_kernel(&sl, &g, 3, &mut v);
    for i in 0..3 {
        let direct: f64 = (0..3)
            .map(|j| (-(l[i] - l[j]).powi(2) / 0.7).exp() * s[j] * (l[j] - l[i]))
            .sum();
        assert!((v[i] - l[i] * u[i] - direct).abs() < 1e-14);
    }
}

#[test]
fn analytic_regime_is_a_squared_linear_unit() {
    // §4: N = 784, zero-sum x, w = 1, l ~ U[0, 0.01), r = 0.2308: y ≈ (2/r)(x·l)²
    let r = pyralnet::gclusteron::params::r_from_half_height(0.4);
    for seed in 0..10 {
        let mut rng = Pcg64::seed_from_u64(seed);
        let n = 784;
        let mut x: Vec<f64> = (0..n)
            .map(|_| {
                let (u1, u2) = (1.0 - rng.gen::<f64>(), rng.gen::<f64>());
                (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
            })
            .collect();
        let mean = x.iter().sum::<f64>() / n as f64;
        x.iter_mut().for_each(|v| *v -= mean);
        let l: Vec<f64> = (0..n).map(|_| 0.01 * rng.gen::<f64>()).collect();
        let y = o_forward(&x, &vec![1.0; n], &l, 0.0, r);
        let xl: f64 = x.iter().zip(&l).map(|(a, b)| a * b).sum();
        let approx = 2.0 / r * xl * xl;
        // the neglected terms are O(l⁴/r²), independent of x·l: measure the error against
        // the typical size of the leading term, (2/r)·E[(x·l)²] = (2/r)·Σx²·Var(l), when x·l
        // happens to be small
        let typical = 2.0 / r * x.iter().map(|v| v * v).sum::<f64>() * 0.01f64.powi(2) / 12.0;
        assert!(
            ((y - approx) / approx.max(typical)).abs() < 1e-3,
            "seed {seed}: y {y} vs (2/r)(x·l)² {approx}"
        );
    }
}

#[test]
fn update_rules_are_the_gradients_without_their_constants() {
    // §2.1/2.2 with B = 1, e = 1: Δl = −(r/4) ∂y/∂l, Δw = −(1/2) ∂y/∂w, Δb = e = −∂o/∂b·e
    let (x, w, l, r) = (
        [0.3, -1.2, 0.7, 0.5],
        [1.5, 0.4, -0.8, 1.1],
        [0.1, -0.4, 0.9, 0.35],
        0.7,
    );
    let n = 4;
    let mut g = vec![0.0; n * n];
    complement_matrix(&l, r, &mut g);
    let mut s = vec![0.0; n];
    drives(&w, &x, &mut s);
    let (mut u, mut sl, mut v) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    apply_kernel(&s, &g, n, &mut u);
    drives_at_locations(&s, &l, &mut sl);
    apply_kernel(&sl, &g, n, &mut v);
    let (mut dl, mut dw) = (vec![0.0; n], vec![0.0; n]);
    delta_l(&[1.0], &s, &u, &v, &l, &mut dl);
    delta_w(&[1.0], &x, &u, &mut dw);
    let h = 1e-6;
    for i in 0..n {
        let shifted = |v: &[f64], d: f64| {
            let mut c = v.to_vec();
            c[i] += d;
            c
        };
        let dy_dl = (y_direct(&x, &w, &shifted(&l, h), r) - y_direct(&x, &w, &shifted(&l, -h), r))
            / (2.0 * h);
        let dy_dw = (y_direct(&x, &shifted(&w, h), &l, r) - y_direct(&x, &shifted(&w, -h), &l, r))
            / (2.0 * h);
        assert!((dl[i] + r / 4.0 * dy_dl).abs() < 1e-8, "Δl_{i}");
        assert!((dw[i] + 0.5 * dy_dw).abs() < 1e-8, "Δw_{i}");
    }
    // minibatch means: two patterns with errors e = (0.5, −2) average the per-pattern rules
    assert_eq!(delta_b(&[0.5, -2.0]), -0.75);
}

/// y, Δl and Δw of one unit on the patterns `x` (rows of N) with errors `e`, through the
/// crate's forward pass and rules in precision T.
fn unit_pass<T: GcReal>(x: &[f64], w: &[f64], l: &[f64], r: f64, e: &[f64]) -> [Vec<f64>; 3] {
    let t = |v: &[f64]| v.iter().map(|&a| T::of(a)).collect::<Vec<T>>();
    let (x, w, l, e) = (t(x), t(w), t(l), t(e));
    let n = w.len();
    let mut g = vec![T::zero(); n * n];
    complement_matrix(&l, T::of(r), &mut g);
    let mut s = vec![T::zero(); x.len()];
    drives(&w, &x, &mut s);
    let mut u = vec![T::zero(); x.len()];
    apply_kernel(&s, &g, n, &mut u);
    let lc = centred(&l);
    let (mut sl, mut v) = (vec![T::zero(); x.len()], vec![T::zero(); x.len()]);
    drives_at_locations(&s, &lc, &mut sl);
    apply_kernel(&sl, &g, n, &mut v);
    let mut y = vec![T::zero(); e.len()];
    outputs(&s, &u, T::zero(), n, &mut y);
    let (mut dl, mut dw) = (vec![T::zero(); n], vec![T::zero(); n]);
    delta_l(&e, &s, &u, &v, &lc, &mut dl);
    delta_w(&e, &x, &u, &mut dw);
    let f = |v: Vec<T>| v.into_iter().map(|a| a.f64()).collect::<Vec<f64>>();
    [f(y), f(dl), f(dw)]
}

/// `sqrt(Σ(a−b)²/Σb²)`.
fn rel_rms(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    (d / b.iter().map(|y| y * y).sum::<f64>()).sqrt()
}

#[test]
fn f32_follows_f64_where_the_kernel_is_nearly_one() {
    // the MNIST regime of spec §4: N = 784, z-scored patterns (Σx = 0), w = 1, locations within
    // 0.02 and r = 0.2308, so F_ij > 0.998 and y = sᵀF s is ~1e-4 of Σ|s_i s_j|
    let (n, b, r) = (
        784,
        3,
        pyralnet::gclusteron::params::r_from_half_height(0.4),
    );
    let mut rng = Pcg64::seed_from_u64(11);
    let mut x = Vec::new();
    for _ in 0..b {
        let raw: Vec<f64> = (0..n)
            .map(|_| rng.gen_range(-1.0..1.0f64).powi(3))
            .collect();
        let mean = raw.iter().sum::<f64>() / n as f64;
        let sd = (raw.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        // inputs as f32 holds them, so that both precisions see the same values
        x.extend(raw.iter().map(|v| ((v - mean) / sd) as f32 as f64));
    }
    let l: Vec<f64> = (0..n)
        .map(|_| (0.02 * rng.gen::<f64>()) as f32 as f64)
        .collect();
    let (w, e) = (vec![1.0; n], [0.3, -0.5, 0.2]);
    let want = unit_pass::<f64>(&x, &w, &l, r, &e);
    let got = unit_pass::<f32>(&x, &w, &l, r, &e);
    for (yg, yw) in got[0].iter().zip(&want[0]) {
        assert!(((yg - yw) / yw).abs() < 1e-5, "y: f32 {yg} vs f64 {yw}");
    }
    assert!(
        rel_rms(&got[1], &want[1]) < 1e-5,
        "Δl: {}",
        rel_rms(&got[1], &want[1])
    );
    assert!(
        rel_rms(&got[2], &want[2]) < 1e-5,
        "Δw: {}",
        rel_rms(&got[2], &want[2])
    );
    // the same y summed with F itself in f32 (the form this replaces) is off by far more
    let y_f_form: Vec<f64> = x
        .chunks_exact(n)
        .map(|xp| {
            let mut y = 0.0f32;
            for i in 0..n {
                let mut ui = 0.0f32;
                for j in 0..n {
                    let d = l[i] as f32 - l[j] as f32;
                    ui += (-(d * d) / r as f32).exp() * xp[j] as f32;
                }
                y += xp[i] as f32 * ui;
            }
            y as f64
        })
        .collect();
    assert!(
        rel_rms(&y_f_form, &want[0]) > 1e-4,
        "the F form in f32 deviates by only {}",
        rel_rms(&y_f_form, &want[0])
    );
}

#[test]
fn error_terms_by_hand() {
    assert_eq!(binary_error(0.0, 1.0, ErrorMode::Thresholded), 0.0);
    assert_eq!(binary_error(-0.1, 1.0, ErrorMode::Thresholded), -1.0);
    assert_eq!(binary_error(0.3, 0.0, ErrorMode::Thresholded), 1.0);
    let p = 1.0 / (1.0 + (-0.3f64).exp());
    assert!((binary_error(0.3, 0.0, ErrorMode::Probability) - p).abs() < 1e-15);
    assert_eq!(binary_error(5.0, 0.0, ErrorMode::Fixed(-1.0)), -1.0);
    // softmax of (0, ln 2, ln 3) = (1/6, 2/6, 3/6); target class 1
    let mut e = [0.0; 3];
    softmax_error(&[0.0, 2f64.ln(), 3f64.ln()], &[0.0, 1.0, 0.0], &mut e);
    for (a, b) in e.iter().zip([1.0 / 6.0, 2.0 / 6.0 - 1.0, 0.5]) {
        assert!((a - b).abs() < 1e-15);
    }
}

#[test]
fn adam_has_no_bias_correction() {
    // first step: m = 0.1Δ, v = 0.001Δ², step = 0.1/sqrt(0.001) ≈ 3.162 whatever Δ's size
    let (mut th, mut m, mut v) = (vec![1.0, 1.0], vec![0.0; 2], vec![0.0; 2]);
    adam::update(&mut th, &[2.0, -1e-3], 0.5, Some((&mut m, &mut v)));
    let step = 0.1 / 0.001f64.sqrt();
    assert!((th[0] - (1.0 + 0.5 * step)).abs() < 1e-6);
    assert!((th[1] - (1.0 - 0.5 * step)).abs() < 1e-3);
    // second step with the same Δ: m = 0.19Δ, v = 0.001999Δ²
    adam::update(&mut th, &[2.0, -1e-3], 0.5, Some((&mut m, &mut v)));
    let second = 0.19 * 2.0 / ((0.001999f64 * 4.0).sqrt() + 1e-8);
    assert!((th[0] - (1.0 + 0.5 * step + 0.5 * second)).abs() < 1e-6);
    // SGD
    let mut th = vec![1.0];
    adam::update(&mut th, &[2.0], 0.25, None);
    assert_eq!(th, vec![1.5]);
}

/// One iteration of §2.4 transcribed directly (pair sums, no identities): every unit's o on the
/// minibatch from the pre-update state, e per readout, Δ per §2.2, then l, w, b updated.
fn reference_step(
    st: &mut GcState<f64>,
    h: &GcHyper,
    readout: Readout,
    data: &GcData,
    rows: &[u32],
) {
    let (n, k) = (data.n, data.k);
    let bsz = rows.len() as f64;
    let old = st.clone();
    let unit = |v: &[f64], u: usize| v[u * n..(u + 1) * n].to_vec();
    let o: Vec<Vec<f64>> = rows
        .iter()
        .map(|&p| {
            (0..k)
                .map(|u| {
                    y_direct(
                        data.x_row(p as usize),
                        &unit(&old.w, u),
                        &unit(&old.l, u),
                        h.r,
                    ) - old.b[u]
                })
                .collect()
        })
        .collect();
    let e: Vec<Vec<f64>> = rows
        .iter()
        .zip(&o)
        .map(|(&p, op)| {
            let t = data.t_row(p as usize);
            match readout {
                Readout::Softmax => {
                    let z: f64 = op.iter().map(|v| v.exp()).sum();
                    op.iter().zip(t).map(|(v, tk)| v.exp() / z - tk).collect()
                }
                Readout::Sigmoid => op
                    .iter()
                    .zip(t)
                    .map(|(&v, &tk)| binary_error(v, tk, h.error))
                    .collect(),
            }
        })
        .collect();
    #[allow(clippy::needless_range_loop)] // u indexes units in several arrays at once
    for u in 0..k {
        let (l, w) = (unit(&old.l, u), unit(&old.w, u));
        let (mut dl, mut dw) = (vec![0.0; n], vec![0.0; n]);
        let mut db = 0.0;
        for (q, &p) in rows.iter().enumerate() {
            let x = data.x_row(p as usize);
            let ep = e[q][u];
            db += ep / bsz;
            for i in 0..n {
                let (mut pull, mut field) = (0.0, 0.0);
                for j in 0..n {
                    let f = (-(l[i] - l[j]).powi(2) / h.r).exp();
                    pull += w[j] * x[j] * f * (l[j] - l[i]);
                    field += f * w[j] * x[j];
                }
                dl[i] -= ep * w[i] * x[i] * pull / bsz;
                dw[i] -= ep * x[i] * field / bsz;
            }
        }
        let span = u * n..(u + 1) * n;
        let apply =
            |theta: &mut [f64], d: &[f64], eta: f64, mv: Option<(&mut [f64], &mut [f64])>| match mv
            {
                None => theta.iter_mut().zip(d).for_each(|(t, di)| *t += eta * di),
                Some((m, v)) => {
                    for i in 0..theta.len() {
                        m[i] = 0.9 * m[i] + 0.1 * d[i];
                        v[i] = 0.999 * v[i] + 0.001 * d[i] * d[i];
                        theta[i] += eta * m[i] / (v[i].sqrt() + 1e-8);
                    }
                }
            };
        if h.learn_l {
            let mv = h.adam.then(|| {
                (
                    &mut st.adam_l.m[span.clone()],
                    &mut st.adam_l.v[span.clone()],
                )
            });
            apply(&mut st.l[span.clone()], &dl, h.eta_l, mv);
        }
        if h.learn_w {
            let mv = h.adam.then(|| {
                (
                    &mut st.adam_w.m[span.clone()],
                    &mut st.adam_w.v[span.clone()],
                )
            });
            apply(&mut st.w[span.clone()], &dw, h.eta_w, mv);
        }
        let mv = h
            .adam
            .then(|| (&mut st.adam_b.m[u..u + 1], &mut st.adam_b.v[u..u + 1]));
        apply(&mut st.b[u..u + 1], &[db], h.eta_b, mv);
    }
}

/// A random data set of `p` patterns, `n` inputs, `k` units with targets per readout.
fn random_data(p: usize, n: usize, k: usize, readout: Readout, seed: u64) -> GcData {
    let mut rng = Pcg64::seed_from_u64(seed);
    let x = (0..p * n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let t = (0..p)
        .flat_map(|_| {
            let c = rng.gen_range(0..k.max(2));
            (0..k).map(move |u| match (readout, k) {
                (_, 1) => (c == 1) as u8 as f64,
                _ => (u == c) as u8 as f64,
            })
        })
        .collect();
    GcData { n, k, x, t }
}

fn hyper(learn_l: bool, learn_w: bool, adam: bool, error: ErrorMode, batch: usize) -> GcHyper {
    GcHyper {
        r: 0.6,
        eta_l: 0.03,
        eta_w: 0.02,
        eta_b: 0.05,
        batch,
        learn_l,
        learn_w,
        adam,
        error,
    }
}

fn random_state(n: usize, k: usize, seed: u64) -> GcState<f64> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut g = |a: f64| {
        (0..k * n)
            .map(|_| rng.gen_range(-a..a))
            .collect::<Vec<f64>>()
    };
    let (l, w) = (g(1.0), g(1.0));
    GcState::new(l, w, vec![0.1; k])
}

#[test]
fn training_steps_follow_the_transcribed_rules() {
    let (n, k) = (5, 3);
    let cases = [
        (
            Readout::Softmax,
            hyper(true, true, true, ErrorMode::Probability, 3),
        ),
        (
            Readout::Softmax,
            hyper(true, false, false, ErrorMode::Probability, 2),
        ),
        (
            Readout::Sigmoid,
            hyper(true, true, false, ErrorMode::Thresholded, 4),
        ),
        (
            Readout::Sigmoid,
            hyper(false, true, true, ErrorMode::Probability, 1),
        ),
    ];
    for (c, (readout, h)) in cases.into_iter().enumerate() {
        let kk = if c == 3 { 1 } else { k };
        let data = random_data(8, n, kk, readout, c as u64);
        let init = random_state(n, kk, 10 + c as u64);
        let batch = GcBatch {
            n,
            k: kk,
            readout,
            hyper: vec![h],
            init: vec![init.clone()],
        };
        let mut be = GcCpu::<f64>::new(&batch, &[Arc::new(data.clone())], Some(1)).unwrap();
        let rows: Vec<u32> = (0..3 * h.batch).map(|i| ((i * 5 + c) % 8) as u32).collect();
        be.train(3, std::slice::from_ref(&rows)).unwrap();
        let mut want = init.clone();
        for step in rows.chunks(h.batch) {
            want.l_kernel = want.l.clone();
            reference_step(&mut want, &h, readout, &data, step);
        }
        let got = &be.states().unwrap()[0];
        for (name, a, b) in [
            ("l", &got.l, &want.l),
            ("w", &got.w, &want.w),
            ("b", &got.b, &want.b),
            ("l_kernel", &got.l_kernel, &want.l_kernel),
        ] {
            for (x, y) in a.iter().zip(b.iter()) {
                assert!((x - y).abs() < 1e-12, "case {c}, {name}: {x} vs {y}");
            }
        }
        if !h.learn_l {
            assert_eq!(got.l, init.l, "case {c}: locations must not move");
        }
        if !h.learn_w {
            assert_eq!(got.w, init.w, "case {c}: weights must not move");
        }
        // outputs with the current and the last step's kernel
        let o = be.outputs(0, KernelAt::Current).unwrap();
        let o_stale = be.outputs(0, KernelAt::LastStep).unwrap();
        for p in 0..data.len() {
            for u in 0..kk {
                let w = &want.w[u * n..(u + 1) * n];
                let cur = y_direct(data.x_row(p), w, &want.l[u * n..(u + 1) * n], h.r) - want.b[u];
                let old =
                    y_direct(data.x_row(p), w, &want.l_kernel[u * n..(u + 1) * n], h.r) - want.b[u];
                assert!((o[0][p * kk + u] - cur).abs() < 1e-12);
                assert!((o_stale[0][p * kk + u] - old).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn an_instance_alone_equals_the_instance_in_a_batch_and_f32_follows_f64() {
    let (n, k) = (6, 4);
    let data = Arc::new(random_data(12, n, k, Readout::Softmax, 3));
    let hs = [
        hyper(true, false, true, ErrorMode::Probability, 2),
        hyper(true, true, true, ErrorMode::Probability, 5),
        hyper(false, true, false, ErrorMode::Probability, 1),
    ];
    let inits: Vec<_> = (0..3).map(|i| random_state(n, k, 20 + i)).collect();
    let rows: Vec<Vec<u32>> = hs
        .iter()
        .enumerate()
        .map(|(i, h)| {
            (0..4 * h.batch)
                .map(|j| ((j * 7 + i) % 12) as u32)
                .collect()
        })
        .collect();
    let batch = GcBatch {
        n,
        k,
        readout: Readout::Softmax,
        hyper: hs.to_vec(),
        init: inits.clone(),
    };
    let mut all = GcCpu::<f64>::new(&batch, std::slice::from_ref(&data), Some(2)).unwrap();
    all.train(4, &rows).unwrap();
    let together = all.states().unwrap();
    let mut all32 = GcCpu::<f32>::new(&batch, std::slice::from_ref(&data), Some(2)).unwrap();
    all32.train(4, &rows).unwrap();
    let single32 = all32.states().unwrap();
    for i in 0..3 {
        let one = GcBatch {
            hyper: vec![hs[i]],
            init: vec![inits[i].clone()],
            ..batch.clone()
        };
        let mut alone = GcCpu::<f64>::new(&one, std::slice::from_ref(&data), Some(1)).unwrap();
        alone.train(4, &[rows[i].clone()]).unwrap();
        assert_eq!(alone.states().unwrap()[0], together[i], "instance {i}");
        for (a, b) in single32[i].l.iter().zip(&together[i].l) {
            assert!((a - b).abs() < 1e-5, "f32 vs f64 location: {a} vs {b}");
        }
        for (a, b) in single32[i].w.iter().zip(&together[i].w) {
            assert!((a - b).abs() < 1e-5, "f32 vs f64 weight: {a} vs {b}");
        }
    }
    // an empty index list leaves an instance unchanged
    let mut frozen = GcCpu::<f64>::new(&batch, &[data], Some(1)).unwrap();
    frozen.train(4, &[vec![], rows[1].clone(), vec![]]).unwrap();
    let st = frozen.states().unwrap();
    assert_eq!(st[0].l, inits[0].l);
    assert_eq!(st[1], together[1]);
}

/// Whether (w, b) with kernel value `f12` classify XOR: o(0,0) = −b < 0 needs b > 0;
/// o(1,0) = w1² − b ≥ 0, o(0,1) = w2² − b ≥ 0, o(1,1) = w1² + w2² + 2 w1 w2 F − b < 0.
fn solves_xor(w1: f64, w2: f64, f12: f64, b: f64) -> bool {
    let (w, l) = ([w1, w2], [0.0, (-f12.ln()).sqrt()]);
    let want = [0, 1, 1, 0];
    [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
        .iter()
        .zip(want)
        .all(|(x, t)| usize::from(o_forward(x, &w, &l, b, 1.0) >= 0.0) == t)
}

#[test]
fn xor_solvability_conditions() {
    let grid: Vec<f64> = (-20..=20)
        .map(|i| i as f64 / 10.0)
        .filter(|v| *v != 0.0)
        .collect();
    let bs: Vec<f64> = (1..=80).map(|i| i as f64 / 20.0).collect();
    let any = |f12: f64, ws: &dyn Fn(f64, f64) -> bool| {
        grid.iter().any(|&w1| {
            grid.iter()
                .any(|&w2| ws(w1, w2) && bs.iter().any(|&b| solves_xor(w1, w2, f12, b)))
        })
    };
    // weight rule (F fixed): solvable iff F_12 > 1/2
    assert!(any(0.6, &|_, _| true));
    assert!(!any(0.49, &|_, _| true));
    assert!(!any(0.3, &|_, _| true));
    // location rule (w fixed): same-sign weights never solve, whatever F
    for f12 in [0.01, 0.3, 0.7, 0.99, 1.0] {
        assert!(!any(f12, &|w1, w2| w1 * w2 > 0.0), "F = {f12}");
    }
    // opposite signs with max|w| < 2 min|w| solve for some F ≤ 1; with max|w| ≥ 2 min|w| none
    let fs: Vec<f64> = (1..=100).map(|i| i as f64 / 100.0).collect();
    let some_f = |w1: f64, w2: f64| {
        fs.iter()
            .any(|&f| bs.iter().any(|&b| solves_xor(w1, w2, f, b)))
    };
    assert!(some_f(1.0, -1.5));
    assert!(!some_f(1.0, -2.0));
    assert!(!some_f(0.4, -1.0));
    // both rules: any start can reach a solution (e.g. w = (1, −1), F = 0.6, b = 0.9)
    assert!(solves_xor(1.0, -1.0, 0.6, 0.9));
}

#[test]
fn xor_init_draws_f12_uniformly() {
    let p = GcParams {
        r: Some(1.0),
        init: pyralnet::gclusteron::InitKind::Xor,
        ..Default::default()
    };
    let n = 4000;
    let (mut below_half, mut mean) = (0, 0.0);
    for seed in 0..n {
        let st = init::initial_state(&GcParams { seed, ..p.clone() }, 2, 1);
        assert_eq!(st.l[0], 0.0);
        let f12 = (-(st.l[1] * st.l[1])).exp();
        assert!(f12 > 0.0 && f12 <= 1.0);
        assert!(st.w.iter().all(|w| (-1.0..1.0).contains(w)));
        assert_eq!(st.b, vec![0.0]);
        below_half += usize::from(f12 < 0.5);
        mean += f12 / n as f64;
    }
    assert!((mean - 0.5).abs() < 0.02, "mean F_12 {mean}");
    assert!((below_half as f64 / n as f64 - 0.5).abs() < 0.03);
    // the MNIST init: l ~ U[0, 0.01), w = 1
    let st = init::initial_state(
        &GcParams {
            r: Some(0.2),
            seed: 3,
            ..Default::default()
        },
        784,
        10,
    );
    assert!(st.l.iter().all(|l| (0.0..0.01).contains(l)));
    assert!(st.w.iter().all(|&w| w == 1.0));
}

fn cfg_err(text: &str) -> String {
    format!("{:#}", Config::from_json(text).unwrap_err())
}

#[test]
fn config_errors_name_the_key() {
    let base = |params: &str, extra: &str| {
        format!(
            r#"{{"model": "gclusteron", "network": {{"dims": [2, 2]}}, "gclusteron": {{"readout": "binary"}},
               "params": {{{params}}}, "task": {{"name": "xor"}}, "protocol": {{"iterations": 10}}{extra}}}"#
        )
    };
    assert!(Config::from_json(&base(r#""r": 1"#, "")).is_ok());
    let e = cfg_err(&base(r#""r": 1, "eta_q": 1"#, ""));
    assert!(e.contains("eta_q"), "{e}");
    let e = cfg_err(&base(r#""r": 1, "d_half": 1"#, ""));
    assert!(e.contains("r or d_half"), "{e}");
    let e = cfg_err(&base(r#""r": -1"#, ""));
    assert!(e.contains("params.r"), "{e}");
    let e = cfg_err(&base(r#""r": 1, "rule": "X""#, ""));
    assert!(e.contains("rule"), "{e}");
    let e = cfg_err(&base(r#""r": 1"#, r#", "sweep": {"eta_up": [1]}"#));
    assert!(e.contains("eta_up") && e.contains("eta_l"), "{e}");
    let e = cfg_err(&base(r#""r": 1, "batch_size": 0"#, ""));
    assert!(e.contains("batch_size"), "{e}");
    let e = cfg_err(
        &base(r#""r": 1"#, "").replace(r#""readout": "binary""#, r#""readout": "one_vs_all""#),
    );
    assert!(e.contains("positive_class"), "{e}");
    let e = cfg_err(&base(r#""r": 1"#, "").replace(r#""iterations": 10"#, r#""epochs": 10"#));
    assert!(e.contains("protocol.iterations"), "{e}");
}

#[test]
fn cli_runs_the_xor_smoke_config_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!("{}/configs/gc_xor_smoke.json", env!("CARGO_MANIFEST_DIR"));
    let out = dir.path().join("xor");
    let o = Command::new(env!("CARGO_BIN_EXE_pyralnet"))
        .args([
            "run",
            &cfg,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--backend",
            "cpu",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "instances.csv",
        "curves.csv",
        "summary.json",
        "summary.csv",
        "states/instance_0.npz",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let conv = summary["convergence"].as_array().unwrap();
    assert_eq!(conv.len(), 4);
    // the G-clusteron has no time course: --record is refused, not ignored (its --max-batch,
    // --resume, shards and merge are tests/gclusteron_runner.rs's)
    let o = Command::new(env!("CARGO_BIN_EXE_pyralnet"))
        .args(["run", &cfg, "--out", out.to_str().unwrap(), "--record"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--record"), "{err}");
}

#[test]
fn toy_demos_move_synapses_as_described() {
    // 'pos' (ascent on y) gathers synapses of a group (sign of x, or correlated inputs) within
    // the kernel's reach; 'neg' (descent) spreads them
    for demo in pyralnet::gclusteron::toy::demos(0) {
        let traj = pyralnet::gclusteron::toy::run(&demo, 0, demo.iterations).unwrap();
        let sep = |l: &[f64]| pyralnet::gclusteron::toy::clustering(l, &demo.group, demo.r);
        let (start, end) = (sep(&traj[0].1), sep(&traj[traj.len() - 1].1));
        if demo.error < 0.0 {
            assert!(end > start, "{}: clustering {start} -> {end}", demo.name);
        } else {
            assert!(end < start, "{}: clustering {start} -> {end}", demo.name);
        }
    }
}

#[test]
fn check_compares_gpu_f32_and_f64_on_a_gclusteron_config() {
    if gpu::list_adapters().is_empty() && std::env::var_os("PYRALNET_REQUIRE_GPU").is_none() {
        eprintln!("skipping GPU test: {}", gpu::device::INSTALL_HINT);
        return;
    }
    let cfg = format!("{}/configs/gc_xor_smoke.json", env!("CARGO_MANIFEST_DIR"));
    let o = Command::new(env!("CARGO_BIN_EXE_pyralnet"))
        .args(["check", &cfg, "--patterns", "30", "--instances", "8"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("ok: worst RMS deviation"), "{text}");
}

/// The training loop of a batch gives the same states, curves, convergence and divergence
/// whether it runs in one call, in calls of a few iterations, or is rebuilt half-way from its
/// progress and states (what a checkpoint holds): the runner may cut it by the wall clock and
/// resume it after kill -9.
#[test]
fn the_training_loop_cut_into_calls_or_resumed_equals_one_call() {
    use pyralnet::gclusteron::protocol::{Layout, Schedule, TrainProgress, Trainer};
    let (n, k) = (5, 3);
    let sets: Vec<Arc<GcData>> = (0..3)
        .map(|s| Arc::new(random_data(16, n, k, Readout::Softmax, 40 + s)))
        .collect();
    let labels: Vec<usize> = sets[1]
        .t
        .chunks(k)
        .map(|t| t.iter().position(|&v| v == 1.0).unwrap())
        .collect();
    let hs = [
        hyper(true, true, true, ErrorMode::Probability, 3),
        hyper(true, false, false, ErrorMode::Probability, 2),
    ];
    let batch = GcBatch {
        n,
        k,
        readout: Readout::Softmax,
        hyper: hs.to_vec(),
        init: (0..2).map(|i| random_state(n, k, 60 + i)).collect(),
    };
    let seeds = [11u64, 12];
    let bsz = [3usize, 2];
    let layout = Layout {
        seeds: &seeds,
        batch: &bsz,
        train_len: 16,
        k,
        val_labels: &labels,
    };
    let schedule = Schedule {
        iterations: 40,
        eval_every: 7,
        eval_at_start: true,
        converge_window: None,
    };
    let open = |b: &GcBatch| GcCpu::<f64>::new(b, &sets, Some(1)).unwrap();
    let mut whole = open(&batch);
    let mut t = Trainer::new(layout, schedule);
    while !t.finished() {
        t.advance(&mut whole, usize::MAX).unwrap();
    }
    let want: (TrainProgress, Vec<GcState<f64>>) = (t.progress.clone(), whole.states().unwrap());
    assert_eq!(want.0.done, 40);
    // 1 start + 40/7 = 5 points + the end, per instance
    assert_eq!(want.0.curves.len(), 2 * 7);
    for cap in [1, 3, 5] {
        let mut cut = open(&batch);
        let mut t = Trainer::new(layout, schedule);
        while !t.finished() {
            t.advance(&mut cut, cap).unwrap();
        }
        assert_eq!(
            (t.progress.clone(), cut.states().unwrap()),
            want,
            "calls of {cap}"
        );
    }
    // stop after 17 iterations, rebuild from the progress and the states, go on
    let mut first = open(&batch);
    let mut t = Trainer::new(layout, schedule);
    while t.progress.done < 17 || !t.progress.started {
        t.advance(&mut first, 17 - t.progress.done.min(16)).unwrap();
    }
    assert_eq!(t.progress.done, 17);
    let progress = t.progress.clone();
    let resumed_batch = GcBatch {
        init: first.states().unwrap(),
        ..batch.clone()
    };
    let mut second = open(&resumed_batch);
    let mut t = Trainer::resume(layout, schedule, progress);
    while !t.finished() {
        t.advance(&mut second, 4).unwrap();
    }
    assert_eq!(
        (t.progress.clone(), second.states().unwrap()),
        want,
        "resumed"
    );
    // and without drawing the streams forward the resumed run would differ
    let mut wrong = open(&resumed_batch);
    let mut skipped = TrainProgress {
        done: 0,
        ..t.progress.clone()
    };
    skipped.curves.clear();
    let mut t = Trainer::resume(layout, schedule, skipped);
    t.progress.done = 17;
    while !t.finished() {
        t.advance(&mut wrong, 4).unwrap();
    }
    assert_ne!(wrong.states().unwrap(), want.1);
}
